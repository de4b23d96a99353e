//! The Patches Missing report (admins): which patches are missing where,
//! how severe, since when; filtered, sorted and paged in the database.

use crate::errors::AppError;
use crate::ui::Time;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Filters and order, as the page sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportFilter {
    /// Substring of the package name.
    pub search: String,
    /// Only security patches (security origin or an advisory).
    pub security_only: bool,
    /// Only patches fixing a known-exploited CVE.
    pub known_exploited: bool,
    /// At least this severity: critical, high, medium, low or empty.
    pub severity: String,
    /// Only this release, e.g. `debian:12`.
    pub release: String,
    /// Only servers in this group.
    pub group_id: Option<i64>,
    /// Only critical or standard servers.
    pub criticality: String,
    /// Only servers of this owner (user name).
    pub owner: String,
    /// Only this state (missing, published, queued, installing, failed).
    pub state: String,
    /// Only patches missing on a server for at least this many days.
    pub min_age_days: Option<i64>,
    /// `patch` (default) or `server`: what a row is.
    pub view: String,
    /// Sort column: severity, package, release, servers, oldest, cvss (by
    /// patch); severity, hostname, missing, kev, oldest (by server).
    pub sort: String,
    /// Largest first.
    pub descending: bool,
}

impl ReportFilter {
    /// The query string (without `?`) of this filter on `page`: only the
    /// fields that differ from the default, in a fixed order, so equal
    /// filters give equal addresses. The CSV export reads the same keys.
    pub fn to_query(&self, page: i64) -> String {
        let flag = |on: bool| on.then(|| "true".to_owned());
        let text = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        let pairs: Vec<(&str, String)> = [
            ("view", text(&self.view).filter(|v| v == "server")),
            ("search", text(&self.search)),
            ("severity", text(&self.severity)),
            ("criticality", text(&self.criticality)),
            ("group_id", self.group_id.map(|g| g.to_string())),
            ("state", text(&self.state)),
            ("release", text(&self.release)),
            ("owner", text(&self.owner)),
            ("min_age_days", self.min_age_days.map(|d| d.to_string())),
            ("security_only", flag(self.security_only)),
            ("known_exploited", flag(self.known_exploited)),
            ("sort", text(&self.sort)),
            ("descending", flag(self.descending && !self.sort.is_empty())),
            ("page", (page > 1).then(|| page.to_string())),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }

    /// The filter and page a query string names (with or without `?`), as
    /// [`Self::to_query`] writes it or the filter form sends it without
    /// JavaScript (empty fields, `on` for a ticked box). Read leniently: a
    /// number that does not parse is no filter, an unknown key is ignored,
    /// and the page is at least 1; values the storage query refuses (an
    /// unknown severity, say) stay, so the page can say what is wrong.
    pub fn from_query(query: &str) -> (Self, i64) {
        let q = crate::ui::QueryPairs::parse(query);
        let get = |key: &str| q.get(key);
        let flag = |key: &str| q.flag(key);
        let number = |key: &str| q.number(key);
        let sort = get("sort").to_owned();
        let filter = ReportFilter {
            search: get("search").to_owned(),
            security_only: flag("security_only"),
            known_exploited: flag("known_exploited"),
            severity: get("severity").to_owned(),
            release: get("release").to_owned(),
            group_id: number("group_id"),
            criticality: get("criticality").to_owned(),
            owner: get("owner").to_owned(),
            state: get("state").to_owned(),
            min_age_days: number("min_age_days"),
            view: if get("view") == "server" {
                "server".into()
            } else {
                String::new()
            },
            descending: flag("descending") && !sort.is_empty(),
            sort,
        };
        (filter, number("page").unwrap_or(1).max(1))
    }
}

/// The report's address for `filter` on `page`.
pub fn report_href(filter: &ReportFilter, page: i64) -> String {
    match filter.to_query(page) {
        q if q.is_empty() => "/report".to_owned(),
        q => format!("/report?{q}"),
    }
}

/// The report address a page was opened from (its `?from=`), rebuilt from
/// the filters it names; `None` for anything but `/report`, so the link
/// back never leads off the portal (`//elsewhere`, `https://…`,
/// `javascript:`) nor carries keys the report does not know.
pub fn report_back(from: &str) -> Option<String> {
    let (path, query) = from.split_once('?').unwrap_or((from, ""));
    (path == "/report").then(|| {
        let (filter, page) = ReportFilter::from_query(query);
        report_href(&filter, page)
    })
}

/// A row of the report by patch.
pub use patchport_core::view::PatchReportRow as ReportRow;

/// A page of the report by patch.
pub type ReportPage = patchport_core::view::Page<ReportRow>;

/// Rows per page.
pub const REPORT_PER_PAGE: i64 = 50;

/// Turns the page's filter into the storage query, checking every field.
#[cfg(feature = "ssr")]
pub async fn patch_query(
    filter: ReportFilter,
    conn: &mut patchport_db::Conn,
    now: i64,
) -> Result<patchport_db::report::PatchQuery, AppError> {
    use patchport_db::report::{PatchQuery, PatchSort};
    let min_severity = match filter.severity.as_str() {
        "" => 0,
        "critical" => 5,
        "high" => 4,
        "medium" => 3,
        "low" => 2,
        _ => {
            return Err(AppError::invalid(
                "severity",
                "severity must be critical, high, medium or low",
            ));
        }
    };
    let sort = match (filter.view.as_str(), filter.sort.as_str()) {
        ("server", _) | (_, "") => PatchSort::default(),
        ("" | "patch", s) => PatchSort::parse(s)
            .ok_or_else(|| AppError::invalid("sort", format!("cannot sort by '{s}'")))?,
        _ => return Err(AppError::invalid("view", "view must be patch or server")),
    };
    let criticality = crate::servers::criticality_filter(&filter.criticality)?;
    let state_filter = match filter.state.as_str() {
        "" => None,
        s @ ("missing" | "published" | "queued" | "installing" | "failed") => Some(s.to_owned()),
        _ => return Err(AppError::invalid("state", "unknown state")),
    };
    if filter
        .min_age_days
        .is_some_and(|d| !(0..=3650).contains(&d))
    {
        return Err(AppError::invalid(
            "min_age_days",
            "age must be 0 to 3650 days",
        ));
    }
    let owner_id = match filter.owner.trim() {
        "" => None,
        name => Some(crate::servers::account_named(conn, name).await?),
    };
    Ok(PatchQuery {
        search: filter.search,
        security_only: filter.security_only,
        known_exploited: filter.known_exploited,
        min_severity,
        release: (!filter.release.trim().is_empty()).then(|| filter.release.trim().to_owned()),
        group_id: filter.group_id,
        criticality,
        owner_id,
        state: state_filter,
        older_than: filter.min_age_days.map(|d| now - d * 86_400),
        sort,
        descending: filter.descending || filter.sort.is_empty(),
    })
}

/// The report by patch.
#[server(endpoint = "admin/report/patches", input = server_fn::codec::Json)]
pub async fn report_patches(filter: ReportFilter, page: i64) -> Result<ReportPage, AppError> {
    use crate::ssr;
    ssr::run(async move {
        ssr::require_admin()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        let mut conn = state.db.read().await?;
        let q = patch_query(filter, &mut conn, now).await?;
        Ok(patchport_db::report::by_patch(&mut conn, &q, page, REPORT_PER_PAGE).await?)
    })
    .await
}

/// A row of the report by server.
pub use patchport_core::view::ServerReportRow;

/// A page of the report by server.
pub type ServerReportPage = patchport_core::view::Page<ServerReportRow>;

/// The report by server.
#[server(endpoint = "admin/report/servers", input = server_fn::codec::Json)]
pub async fn report_servers(filter: ReportFilter, page: i64) -> Result<ServerReportPage, AppError> {
    use crate::ssr;
    use patchport_db::report::ServerSort;
    ssr::run(async move {
        ssr::require_admin()?;
        let sort = match filter.sort.as_str() {
            "" => ServerSort::default(),
            s => ServerSort::parse(s)
                .ok_or_else(|| AppError::invalid("sort", format!("cannot sort by '{s}'")))?,
        };
        let descending = filter.descending || filter.sort.is_empty();
        let state = ssr::state()?;
        let now = state.clock.now();
        let mut conn = state.db.read().await?;
        let q = patch_query(
            ReportFilter {
                view: "server".into(),
                ..filter
            },
            &mut conn,
            now,
        )
        .await?;
        Ok(
            patchport_db::report::by_server(&mut conn, &q, sort, descending, page, REPORT_PER_PAGE)
                .await?,
        )
    })
    .await
}

/// The dashboard's counts and trend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MorningFigures {
    /// Open server-patch rows: critical, high, medium, low, other.
    pub missing_by_severity: [i64; 5],
    /// Distinct patches by the same severities.
    pub patches_by_severity: [i64; 5],
    /// Open rows fixing a known-exploited CVE.
    pub missing_known_exploited: i64,
    /// Servers.
    pub servers: i64,
    /// Servers with nothing open.
    pub servers_patched: i64,
    /// The "older than" of the next two counts, in days.
    pub overdue_days: i64,
    /// Critical patches detected longer ago than that.
    pub critical_overdue_patches: i64,
    /// Server-patch rows of those.
    pub critical_overdue_rows: i64,
    /// Daily snapshots of the last eight weeks: (day start, counts by
    /// severity, servers, servers patched).
    pub trend: Vec<(i64, [i64; 5], i64, i64)>,
}

/// Counts for the admin's morning look; `overdue_days` from 1 to 365.
#[server(endpoint = "admin/report/dashboard", input = server_fn::codec::Json)]
pub async fn morning_counts(overdue_days: i64) -> Result<MorningFigures, AppError> {
    use crate::ssr;
    ssr::run(async move {
        ssr::require_admin()?;
        if !(1..=365).contains(&overdue_days) {
            return Err(AppError::invalid("overdue_days", "days must be 1 to 365"));
        }
        let state = ssr::state()?;
        let now = state.clock.now();
        let mut conn = state.db.read().await?;
        let d = patchport_db::report::dashboard(&mut conn, now - overdue_days * 86_400).await?;
        let trend = patchport_db::report::trend(&mut conn, now.div_euclid(86_400) - 55).await?;
        Ok(MorningFigures {
            missing_by_severity: d.missing_by_severity,
            patches_by_severity: d.patches_by_severity,
            missing_known_exploited: d.missing_known_exploited,
            servers: d.servers,
            servers_patched: d.servers_patched,
            overdue_days,
            critical_overdue_patches: d.critical_overdue_patches,
            critical_overdue_rows: d.critical_overdue_rows,
            trend: trend
                .into_iter()
                .map(|t| {
                    (
                        t.day * 86_400,
                        t.missing_by_severity,
                        t.servers,
                        t.servers_patched,
                    )
                })
                .collect(),
        })
    })
    .await
}

const SEVERITIES: [&str; 5] = ["critical", "high", "medium", "low", "other"];

/// The admin's morning look: what is missing by severity, how much of the
/// fleet is fully patched, critical patches left too long, and the trend.
#[component]
pub fn MorningLook() -> impl IntoView {
    let days = RwSignal::new(30_i64);
    let counts = Resource::new(move || days.get(), morning_counts);
    view! {
        <section class="card" id="morning">
            <h2>"This morning"</h2>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match counts.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(c) => {
                        let percent = if c.servers == 0 { 100.0 } else { c.servers_patched as f64 * 100.0 / c.servers as f64 };
                        view! {
                            <div class="stats">
                                {SEVERITIES.iter().enumerate().map(|(i, sev)| {
                                    let href = if i < 4 { format!("/report?severity={sev}") } else { "/report".to_owned() };
                                    view! {
                                        <a class=format!("stat sev-box-{sev}") href=href data-severity=*sev>
                                            <strong>{c.missing_by_severity[i]}</strong>
                                            <span>{format!("{sev} missing")}</span>
                                            <small>{format!("{} patches", c.patches_by_severity[i])}</small>
                                        </a>
                                    }
                                }).collect_view()}
                                <a class="stat" href="/report?known_exploited=true" id="stat-kev">
                                    <strong>{c.missing_known_exploited}</strong><span>"known exploited missing"</span>
                                </a>
                                <a class="stat" href="/servers" id="stat-patched">
                                    <strong>{format!("{percent:.0} %")}</strong>
                                    <span>"servers fully patched"</span>
                                    <small>{format!("{} of {}", c.servers_patched, c.servers)}</small>
                                </a>
                                <a class="stat" id="stat-overdue" href=format!("/report?severity=critical&min_age_days={}", c.overdue_days)>
                                    <strong>{c.critical_overdue_patches}</strong>
                                    <span>{format!("critical patches older than {} days", c.overdue_days)}</span>
                                    <small>{format!("on {} server-patches", c.critical_overdue_rows)}</small>
                                </a>
                            </div>
                            <label class="inline">"Older than "
                                <select aria-label="Overdue after days" on:change=move |ev| {
                                    if let Ok(d) = event_target_value(&ev).parse() { days.set(d) }
                                }>
                                    {[7_i64, 14, 30, 60, 90].into_iter().map(|d| view! {
                                        <option value=d.to_string() selected=d == c.overdue_days>{format!("{d} days")}</option>
                                    }).collect_view()}
                                </select>
                            </label>
                            <Trend points=c.trend />
                        }.into_any()
                    }
                }})}
            </Transition>
        </section>
    }
}

/// Stacked daily bars of what was missing, by severity, over eight weeks.
#[component]
fn Trend(points: Vec<(i64, [i64; 5], i64, i64)>) -> impl IntoView {
    if points.is_empty() {
        return view! { <p class="empty">"The trend starts with today's first snapshot (refreshed every five minutes)."</p> }.into_any();
    }
    let max = points
        .iter()
        .map(|p| p.1.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h) = (560.0_f64, 120.0_f64);
    let bar = w / 56.0;
    let first_day = points.first().map(|p| p.0).unwrap_or(0);
    let last_day = points.last().map(|p| p.0).unwrap_or(0);
    let start = last_day - 55 * 86_400;
    view! {
        <figure class="trend">
            <svg viewBox=format!("0 0 {w} {}", h + 2.0) role="img" aria-label="Missing server-patches per day, by severity">
                {points.into_iter().map(|(day, counts, servers, patched)| {
                    let x = ((day - start) / 86_400) as f64 * bar;
                    let mut y = h;
                    let total: i64 = counts.iter().sum();
                    let title = format!("{}: {} missing ({} critical, {} high), {} of {} servers patched",
                        utc_day(day), total, counts[0], counts[1], patched, servers);
                    view! {
                        <g><title>{title}</title>
                        {counts.into_iter().enumerate().map(|(i, n)| {
                            let bh = n as f64 / max as f64 * h;
                            y -= bh;
                            view! { <rect x=format!("{x:.1}") y=format!("{y:.1}") width=format!("{:.1}", bar - 1.0) height=format!("{bh:.1}") class=format!("bar-{}", SEVERITIES[i]) /> }
                        }).collect_view()}
                        </g>
                    }
                }).collect_view()}
            </svg>
            <figcaption>{format!("Missing server-patches per UTC day since {} (peak {max})", utc_day(first_day))}</figcaption>
        </figure>
    }.into_any()
}

/// The date of a day of the trend: snapshots are counted per UTC day, so
/// the date is the UTC one, whatever the reader's zone.
fn utc_day(day_start: i64) -> String {
    patchport_core::clock::iso_utc(day_start)
        .get(..10)
        .unwrap_or_default()
        .to_owned()
}

/// What the report shows: the filter and page it was asked for, with their
/// rows (by patch `Ok`, by server `Err`), so links in the table are built
/// from the rows' own filter even while the next one loads.
type Shown = (
    ReportFilter,
    i64,
    Result<Result<ReportPage, ServerReportPage>, AppError>,
);

// Ticked rows, kept in the browser's memory while the page is left for a
// patch or a server, so Back finds them still ticked; forgotten once a
// deployment is sent. Never kept on the server, where it would be shared.
#[cfg(feature = "hydrate")]
thread_local! {
    static KEPT: std::cell::RefCell<std::collections::BTreeSet<i64>> = Default::default();
}

fn kept_selection() -> std::collections::BTreeSet<i64> {
    #[cfg(feature = "hydrate")]
    {
        KEPT.with(|k| k.borrow().clone())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Default::default()
    }
}

fn keep_selection(selection: &std::collections::BTreeSet<i64>) {
    #[cfg(feature = "hydrate")]
    KEPT.with(|k| k.borrow_mut().clone_from(selection));
    #[cfg(not(feature = "hydrate"))]
    let _ = selection;
}

/// The Patches Missing page. Its filters, order, view and page live in
/// the address (see [`ReportFilter::to_query`]): the server renders the
/// rows they ask for, and reloading, a shared link or Back show the same.
#[component]
pub fn ReportPage() -> impl IntoView {
    let query = crate::ui::page_query("/report");
    let place = Memo::new(move |_| query.with(|q| ReportFilter::from_query(q)));
    let filter = Memo::new(move |_| place.with(|p| p.0.clone()));
    let selected = RwSignal::new(kept_selection());
    Effect::new(move |_| selected.with(keep_selection));
    // Live once hydrated (effects run in the browser only). The server's
    // HTML, and the hydrating page, show the layout without JavaScript; a
    // page made in the browser turns live before it is first painted.
    let groups: crate::groups::Groups = Resource::new(|| (), |_| crate::groups::list_groups());
    let live = RwSignal::new(false);
    Effect::new(move |_| live.set(true));
    let rows: Resource<Shown> = Resource::new(
        move || place.get(),
        |(f, p)| async move {
            let rows = if f.view == "server" {
                report_servers(f.clone(), p).await.map(Err)
            } else {
                report_patches(f.clone(), p).await.map(Ok)
            };
            (f, p, rows)
        },
    );
    let by_server = move || filter.with(|f| f.view == "server");
    let tab = move |view: &'static str| {
        move || {
            let mut f = filter.get();
            f.view = view.to_owned();
            f.sort.clear();
            f.descending = false;
            report_href(&f, 1)
        }
    };
    view! {
        <section class="card">
            <h1>"Patches missing"</h1>
            // Past the tabs and filters in one key (`target`: see `a.skip`
            // in the shell).
            <a class="skip-to" href="#report-rows" target="_self">"Skip to the rows"</a>
            <div class="tabs" role="tablist">
                <a role="tab" id="view-patch" data-noscroll="" href=tab("patch") aria-selected=move || (!by_server()).to_string()>"By patch"</a>
                <a role="tab" id="view-server" data-noscroll="" href=tab("server") aria-selected=move || by_server().to_string()>"By server"</a>
            </div>
            <ReportFilters filter live groups />
            <p class="toolbar">
                <a id="csv" href=move || format!("/export/patches.csv?{}", filter.with(|f| f.to_query(1)))
                    download>{move || if by_server() { "Download CSV of this filter (one row per server and patch, times in UTC)" } else { "Download CSV of this filter (times in UTC)" }}</a>
            </p>
            <div id="report-rows" tabindex="-1">
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let (shown, page, rows) = rows.await;
                    match rows {
                        Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                        Ok(Ok(p)) if p.items.is_empty() => view! { <p class="empty">"No missing patches match these filters."</p> }.into_any(),
                        Ok(Err(p)) if p.items.is_empty() => view! { <p class="empty">"No server misses a patch matching these filters."</p> }.into_any(),
                        Ok(Ok(p)) => view! {
                            <ReportPager filter=shown.clone() page total=p.total />
                            <PatchRows filter=shown page rows=p.items selected />
                        }.into_any(),
                        Ok(Err(p)) => view! {
                            <ReportPager filter=shown.clone() page total=p.total />
                            <ServerRows filter=shown rows=p.items />
                        }.into_any(),
                    }
                })}
            </Transition>
            </div>
            <SelectionBar selected live groups />
        </section>
    }
}

/// The filters: a GET form to `/report`, so they work without JavaScript
/// (its Apply button); with it, each change replaces the address (no
/// history entry per keystroke or choice) and the rows follow.
#[component]
fn ReportFilters(
    filter: Memo<ReportFilter>,
    live: RwSignal<bool>,
    groups: crate::groups::Groups,
) -> impl IntoView {
    let go = crate::ui::replace_filter(|f: &ReportFilter| report_href(f, 1));
    let set = {
        let go = go.clone();
        move |change: fn(&mut ReportFilter, String)| {
            crate::ui::on_filter_value(filter, go.clone(), change)
        }
    };
    let check = move |change: fn(&mut ReportFilter, bool)| {
        crate::ui::on_filter_checked(filter, go.clone(), change)
    };
    let text = move |get: fn(&ReportFilter) -> String| move || filter.with(get);
    let is =
        move |get: fn(&ReportFilter) -> &str, v: &'static str| move || filter.with(|f| get(f) == v);
    view! {
        <form method="get" action="/report" class="toolbar filters" id="report-filters" on:submit=|ev| ev.prevent_default()>
            // The view and order are kept when the form is sent; the page is not.
            <input type="hidden" name="view" prop:value=text(|f| f.view.clone()) value=text(|f| f.view.clone()) />
            <input type="hidden" name="sort" prop:value=text(|f| f.sort.clone()) value=text(|f| f.sort.clone()) />
            <input type="hidden" name="descending" prop:value=text(|f| f.descending.to_string()) value=text(|f| f.descending.to_string()) />
            <input type="search" name="search" placeholder="Search package" aria-label="Search package"
                value=text(|f| f.search.clone()) prop:value=text(|f| f.search.clone()) on:input=set(|f, v| f.search = v) />
            <select name="severity" aria-label="Severity" prop:value=text(|f| f.severity.clone()) on:change=set(|f, v| f.severity = v)>
                {[("", "Any severity"), ("critical", "critical"), ("high", "high or worse"), ("medium", "medium or worse"), ("low", "low or worse")]
                    .into_iter().map(|(v, l)| view! { <option value=v selected=is(|f| &f.severity, v)>{l}</option> }).collect_view()}
            </select>
            <select name="criticality" aria-label="Server criticality" prop:value=text(|f| f.criticality.clone()) on:change=set(|f, v| f.criticality = v)>
                {[("", "All servers"), ("critical", "critical servers"), ("standard", "standard servers")]
                    .into_iter().map(|(v, l)| view! { <option value=v selected=is(|f| &f.criticality, v)>{l}</option> }).collect_view()}
            </select>
            <select name="group_id" aria-label="Group" prop:value=text(|f| f.group_id.map(|g| g.to_string()).unwrap_or_default())
                on:change=set(|f, v| f.group_id = v.parse().ok())>
                <option value="">"Any group"</option>
                <Transition>
                    {move || Suspend::new(async move {
                        groups.await.unwrap_or_default().into_iter().map(|g| view! {
                            <option value=g.id.to_string() selected=move || filter.with(|f| f.group_id == Some(g.id))>{g.name}</option>
                        }).collect_view()
                    })}
                </Transition>
            </select>
            <select name="state" aria-label="State" prop:value=text(|f| f.state.clone()) on:change=set(|f, v| f.state = v)>
                {[("", "Any state"), ("missing", "missing"), ("published", "published"), ("queued", "queued"), ("installing", "installing"), ("failed", "failed")]
                    .into_iter().map(|(v, l)| view! { <option value=v selected=is(|f| &f.state, v)>{l}</option> }).collect_view()}
            </select>
            <input type="text" name="release" placeholder="Release, e.g. debian:12" aria-label="Release"
                value=text(|f| f.release.clone()) prop:value=text(|f| f.release.clone()) on:change=set(|f, v| f.release = v) />
            <input type="text" name="owner" placeholder="Owner" aria-label="Owner"
                value=text(|f| f.owner.clone()) prop:value=text(|f| f.owner.clone()) on:change=set(|f, v| f.owner = v) />
            <input type="number" name="min_age_days" min="0" placeholder="Min. days" aria-label="Missing at least days" class="narrow"
                value=text(|f| f.min_age_days.map(|d| d.to_string()).unwrap_or_default())
                prop:value=text(|f| f.min_age_days.map(|d| d.to_string()).unwrap_or_default())
                on:change=set(|f, v| f.min_age_days = v.parse().ok()) />
            <label class="check"><input type="checkbox" name="security_only" value="true"
                checked=move || filter.with(|f| f.security_only) prop:checked=move || filter.with(|f| f.security_only)
                on:change=check(|f, on| f.security_only = on) />" security only"</label>
            <label class="check"><input type="checkbox" name="known_exploited" value="true"
                checked=move || filter.with(|f| f.known_exploited) prop:checked=move || filter.with(|f| f.known_exploited)
                on:change=check(|f, on| f.known_exploited = on) />" known exploited"</label>
            // Needed without JavaScript only; kept in place (invisible) once
            // live, so the rows below do not move.
            <button type="submit" id="apply-filters" class:live=move || live.get()>"Apply filters"</button>
        </form>
    }
}

/// A column heading that sorts by `column`: a link to the same filter in
/// that order (the opposite one if it is already sorted so), replacing the
/// address as a filter change does.
fn sort_header(
    shown: &ReportFilter,
    label: &'static str,
    column: &'static str,
) -> impl IntoView + use<> {
    let active = shown.sort == column || (shown.sort.is_empty() && column == "severity");
    let descending = shown.descending || shown.sort.is_empty();
    let mut next = shown.clone();
    next.sort = column.to_owned();
    next.descending = if active {
        !descending
    } else {
        !matches!(column, "package" | "release" | "hostname")
    };
    let arrow = match (active, descending) {
        (false, _) => "",
        (true, true) => " ▼",
        (true, false) => " ▲",
    };
    let sorted = active.then_some(if descending {
        "descending"
    } else {
        "ascending"
    });
    view! {
        <th aria-sort=sorted><a class="sort" data-sort=column data-noscroll="" prop:replace=true href=report_href(&next, 1)>{label}{arrow}</a></th>
    }
}

/// Previous / next page: links, so each page is its own address (and a
/// history entry, as a page of results usually is).
#[component]
fn ReportPager(filter: ReportFilter, page: i64, total: i64) -> impl IntoView {
    let pages = ((total + REPORT_PER_PAGE - 1) / REPORT_PER_PAGE).max(1);
    let link = move |to: i64, label: &'static str, rel: &'static str| {
        if (1..=pages).contains(&to) && to != page {
            view! { <a href=report_href(&filter, to) rel=rel data-noscroll="">{label}</a> }
                .into_any()
        } else {
            view! { <span class="muted">{label}</span> }.into_any()
        }
    };
    view! {
        <nav class="pager" aria-label="Pages">
            {link(page - 1, "‹ Previous", "prev")}
            <span id="report-page">{format!("Page {page} of {pages} · {total} in all")}</span>
            {link(page + 1, "Next ›", "next")}
        </nav>
    }
}

/// The report by patch, each row with its box for the selection bar.
#[component]
fn PatchRows(
    filter: ReportFilter,
    page: i64,
    rows: Vec<ReportRow>,
    selected: RwSignal<std::collections::BTreeSet<i64>>,
) -> impl IntoView {
    let ids: Vec<i64> = rows.iter().map(|r| r.patch_id).collect();
    let all_on_page = {
        let ids = ids.clone();
        move || selected.with(|s| ids.iter().all(|id| s.contains(id)))
    };
    // A patch's page links back to exactly this report.
    let from =
        serde_urlencoded::to_string([("from", report_href(&filter, page))]).unwrap_or_default();
    view! {
        <div class="table-scroll"><table class="data" id="report">
            <thead><tr>
                <th><input type="checkbox" aria-label="Select all on this page" prop:checked=all_on_page
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        selected.update(|s| for id in &ids { if on { s.insert(*id); } else { s.remove(id); } });
                    } /></th>
                {sort_header(&filter, "Severity", "severity")}
                {sort_header(&filter, "Package", "package")}
                <th>"Version"</th>
                {sort_header(&filter, "Release", "release")}
                {sort_header(&filter, "CVSS", "cvss")}
                <th title="Advisories the update fixes, on the server where it fixes the most">"Advisories"</th>
                {sort_header(&filter, "Servers", "servers")}
                {sort_header(&filter, "Missing since", "oldest")}
                <th>"Rollout"</th>
            </tr></thead>
            <tbody>
                {rows.into_iter().map(|r| {
                    let id = r.patch_id;
                    view! {
                    <tr data-package=r.package.clone() data-security=r.security.to_string()>
                        <td><input type="checkbox" aria-label=format!("Select {}", r.package)
                            name="patch_ids[]" value=id.to_string() form="deploy-form"
                            prop:checked=move || selected.with(|s| s.contains(&id))
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                selected.update(|s| { if on { s.insert(id); } else { s.remove(&id); } });
                            } /></td>
                        <td>
                            {if r.severity.is_empty() {
                                view! { <span>{if r.security { "security" } else { "" }}</span> }.into_any()
                            } else {
                                view! { <span class=format!("badge sev-{}", r.severity)>{r.severity.clone()}</span> }.into_any()
                            }}
                            {r.known_exploited.then(|| view! { " " <span class="badge kev">"known exploited"</span> })}
                        </td>
                        <td><a href=format!("/patches/{id}?{from}")>{r.package.clone()}</a></td>
                        <td>{r.version.clone()}<small>{format!(" ({})", r.arch)}</small></td>
                        <td>{r.release.clone()}</td>
                        <td>{r.cvss.map(|c| format!("{c:.1}")).unwrap_or_default()}</td>
                        <td>{r.advisories}</td>
                        <td>{r.servers}</td>
                        <td class="nowrap"><small><Time ts=r.oldest /></small></td>
                        <td>{r.rollout_id.map(|id| {
                            let label = patchport_core::rollout::RolloutState::parse(&r.rollout).map(|s| s.label()).unwrap_or("");
                            view! { <a class=format!("badge rollout-{}", r.rollout) href=format!("/rollouts/{id}")>{label}</a> }
                        })}</td>
                    </tr>
                }}).collect_view()}
            </tbody>
        </table></div>
    }
}

/// The report by server.
#[component]
fn ServerRows(filter: ReportFilter, rows: Vec<ServerReportRow>) -> impl IntoView {
    view! {
        <div class="table-scroll"><table class="data" id="report-servers">
            <thead><tr>
                {sort_header(&filter, "Worst", "severity")}
                {sort_header(&filter, "Server", "hostname")}
                <th>"Release"</th>
                <th>"Criticality"</th>
                <th>"Owner"</th>
                {sort_header(&filter, "Missing", "missing")}
                <th>"Security"</th>
                {sort_header(&filter, "Known exploited", "kev")}
                {sort_header(&filter, "Missing since", "oldest")}
            </tr></thead>
            <tbody>
                {rows.into_iter().map(|r| view! {
                    <tr data-hostname=r.hostname.clone()>
                        <td>{(!r.worst.is_empty()).then(|| view! { <span class=format!("badge sev-{}", r.worst)>{r.worst.clone()}</span> })}</td>
                        <td><a href=format!("/servers/{}", r.server_id)>{r.hostname.clone()}</a></td>
                        <td>{r.release.clone()}</td>
                        <td>{r.criticality.clone()}</td>
                        <td>{r.owner.clone()}</td>
                        <td>{r.missing}</td>
                        <td>{r.security}</td>
                        <td>{r.known_exploited}</td>
                        <td class="nowrap"><small><Time ts=r.oldest /></small></td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table></div>
    }
}

/// The selection and what to do with it. Live, it is a bar stuck to the
/// bottom of the window, after the table in the page, shown once a row is
/// ticked: the rows never move under the pointer. Without JavaScript it is
/// the plain publish / deploy form under the table.
#[component]
fn SelectionBar(
    selected: RwSignal<std::collections::BTreeSet<i64>>,
    live: RwSignal<bool>,
    groups: crate::groups::Groups,
) -> impl IntoView {
    let count = move || selected.with(|s| s.len());
    view! {
        // Sending the form forgets the kept selection (a deployment is made).
        <div id="selection-bar" class="selection-bar" class:live=move || live.get()
            hidden=move || live.get() && count() == 0
            on:submit=|_| keep_selection(&Default::default())>
            <p id="selection" class="muted" hidden=move || count() == 0>
                {move || match count() { 1 => "1 patch selected ".to_owned(), n => format!("{n} patches selected ") }}
                <button type="button" class="link" on:click=move |_| selected.set(Default::default())>"Clear"</button>
            </p>
            <crate::rollouts::DeployPanel selected groups />
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::{ReportFilter, report_back, report_href};

    fn filter() -> ReportFilter {
        ReportFilter {
            search: "open ssl&x=1 é".into(),
            security_only: true,
            known_exploited: true,
            severity: "high".into(),
            release: "debian:12".into(),
            group_id: Some(3),
            criticality: "critical".into(),
            owner: "owner".into(),
            state: "queued".into(),
            min_age_days: Some(30),
            view: "server".into(),
            sort: "hostname".into(),
            descending: true,
        }
    }

    #[test]
    fn a_filter_survives_its_query() {
        let cases = [
            (ReportFilter::default(), 1),
            (filter(), 1),
            (filter(), 7),
            (
                ReportFilter {
                    view: String::new(),
                    sort: "cvss".into(),
                    descending: false,
                    ..filter()
                },
                2,
            ),
            (
                ReportFilter {
                    search: " trailing ".into(),
                    ..Default::default()
                },
                1,
            ),
        ];
        for (f, page) in cases {
            let query = f.to_query(page);
            assert_eq!(
                ReportFilter::from_query(&query),
                (f.clone(), page),
                "query {query}"
            );
            assert_eq!(
                ReportFilter::from_query(&format!("?{query}")),
                (f, page),
                "with ?"
            );
        }
    }

    #[test]
    fn the_query_names_only_what_differs_from_the_default() {
        assert_eq!(ReportFilter::default().to_query(1), "");
        assert_eq!(report_href(&ReportFilter::default(), 1), "/report");
        let f = ReportFilter {
            severity: "critical".into(),
            min_age_days: Some(30),
            ..Default::default()
        };
        assert_eq!(f.to_query(2), "severity=critical&min_age_days=30&page=2");
        // The CSV export reads the same keys with serde.
        let read: ReportFilter = serde_urlencoded::from_str(&filter().to_query(1)).unwrap();
        assert_eq!(read, filter());
    }

    #[test]
    fn the_plain_form_and_odd_links_read_leniently() {
        let (f, page) = ReportFilter::from_query(
            "view=&sort=&descending=false&search=&severity=critical&criticality=&group_id=&state=\
             &release=&owner=&min_age_days=&security_only=true&__err=x",
        );
        assert_eq!(
            f,
            ReportFilter {
                severity: "critical".into(),
                security_only: true,
                ..Default::default()
            }
        );
        assert_eq!(page, 1);
        let cases = [
            ("page=0", 1, "a page below 1 is the first"),
            ("page=-4", 1, "a negative page is the first"),
            ("page=x", 1, "an unreadable page is the first"),
            ("page=3&page=4", 4, "the last value counts"),
        ];
        for (query, want, why) in cases {
            assert_eq!(ReportFilter::from_query(query).1, want, "{why}");
        }
        let (f, _) = ReportFilter::from_query(
            "view=nonsense&group_id=abc&descending=true&known_exploited=on",
        );
        assert_eq!(f.view, "", "an unknown view is by patch");
        assert_eq!(f.group_id, None, "an unreadable group is no filter");
        assert!(!f.descending, "no order without a sort column");
        assert!(f.known_exploited, "a ticked box without a value");
    }

    #[test]
    fn back_to_the_report_only() {
        assert_eq!(report_back("/report").as_deref(), Some("/report"));
        let href = report_href(&filter(), 3);
        assert_eq!(report_back(&href), Some(href.clone()));
        assert_eq!(
            report_back("/report?severity=high&evil=%3Cscript%3E&page=2").as_deref(),
            Some("/report?severity=high&page=2"),
            "unknown keys are dropped"
        );
        let refused = [
            "",
            "//evil.example/report",
            "https://evil.example/report?x",
            "http:/report",
            "javascript:alert(1)//report",
            "/\\evil.example",
            "/report/../admin/users",
            "/reports",
            "report",
            "/servers/3",
            " /report",
        ];
        for from in refused {
            assert_eq!(report_back(from), None, "{from:?} is not the report");
        }
    }
}
