//! The Patches Missing report (admins): which patches are missing where,
//! how severe, since when; filtered, sorted and paged in the database.

use crate::errors::AppError;
use crate::ui::Pager;
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
                        &patchport_core::clock::format_utc(day)[..10], total, counts[0], counts[1], patched, servers);
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
            <figcaption>{format!("Missing server-patches per day since {} (peak {max})", &patchport_core::clock::format_utc(first_day)[..10])}</figcaption>
        </figure>
    }.into_any()
}

/// The filter a link asked for (`/report?severity=critical&…`), read once.
fn filter_from_query() -> ReportFilter {
    let query = leptos_router::hooks::use_query_map().get_untracked();
    let get = |k: &str| query.get(k).unwrap_or_default();
    ReportFilter {
        search: get("search"),
        security_only: get("security_only") == "true",
        known_exploited: get("known_exploited") == "true",
        severity: get("severity"),
        release: get("release"),
        group_id: get("group_id").parse().ok(),
        criticality: get("criticality"),
        owner: get("owner"),
        state: get("state"),
        min_age_days: get("min_age_days").parse().ok(),
        sort: String::new(),
        descending: false,
        view: get("view"),
    }
}

/// The Patches Missing page.
#[component]
pub fn ReportPage() -> impl IntoView {
    let filter = RwSignal::new(filter_from_query());
    let page = RwSignal::new(1_i64);
    let selected = RwSignal::new(std::collections::BTreeSet::<i64>::new());
    let groups = Resource::new(|| (), |_| crate::groups::list_groups());
    let by_server = move || filter.with(|f| f.view == "server");
    let rows = Resource::new(
        move || (filter.get(), page.get()),
        |(f, p)| async move {
            if f.view == "server" {
                report_servers(f, p).await.map(Err)
            } else {
                report_patches(f, p).await.map(Ok)
            }
        },
    );
    let set = move |change: fn(&mut ReportFilter, String)| {
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            filter.update(|f| change(f, value));
            page.set(1);
        }
    };
    let check = move |change: fn(&mut ReportFilter, bool)| {
        move |ev: leptos::ev::Event| {
            let on = event_target_checked(&ev);
            filter.update(|f| change(f, on));
            page.set(1);
        }
    };
    let header = move |label: &'static str, column: &'static str| {
        let active = move || {
            filter.with(|f| f.sort == column || (f.sort.is_empty() && column == "severity"))
        };
        view! {
            <th><button type="button" class="sort" on:click=move |_| {
                filter.update(|f| {
                    if active() { f.descending = !f.descending } else { f.sort = column.to_owned(); f.descending = !matches!(column, "package" | "release" | "hostname"); }
                });
                page.set(1);
            }>{label}{move || if active() { if filter.with(|f| f.descending || f.sort.is_empty()) { " ▼" } else { " ▲" } } else { "" }}</button></th>
        }
    };
    let initial = filter.get_untracked();
    let switch_view = move |view: &'static str| {
        move |_| {
            filter.update(|f| {
                f.view = view.to_owned();
                f.sort.clear();
                f.descending = false;
            });
            page.set(1);
        }
    };
    view! {
        <section class="card">
            <h1>"Patches missing"</h1>
            <div class="tabs" role="tablist">
                <button type="button" role="tab" id="view-patch" aria-selected=move || (!by_server()).to_string() on:click=switch_view("patch")>"By patch"</button>
                <button type="button" role="tab" id="view-server" aria-selected=move || by_server().to_string() on:click=switch_view("server")>"By server"</button>
            </div>
            <div class="toolbar filters" id="report-filters">
                <input type="search" placeholder="Search package" aria-label="Search package" prop:value=initial.search.clone() on:input=set(|f, v| f.search = v) />
                <select aria-label="Severity" on:change=set(|f, v| f.severity = v)>
                    {[("", "Any severity"), ("critical", "critical"), ("high", "high or worse"), ("medium", "medium or worse"), ("low", "low or worse")]
                        .into_iter().map(|(v, l)| view! { <option value=v selected=v == initial.severity>{l}</option> }).collect_view()}
                </select>
                <select aria-label="Server criticality" on:change=set(|f, v| f.criticality = v)>
                    {[("", "All servers"), ("critical", "critical servers"), ("standard", "standard servers")]
                        .into_iter().map(|(v, l)| view! { <option value=v selected=v == initial.criticality>{l}</option> }).collect_view()}
                </select>
                <select aria-label="Group" on:change=set(|f, v| f.group_id = v.parse().ok())>
                    <option value="">"Any group"</option>
                    <Transition>
                        {move || Suspend::new(async move {
                            groups.await.unwrap_or_default().into_iter().map(|g| view! {
                                <option value=g.id.to_string() selected=Some(g.id) == initial.group_id>{g.name}</option>
                            }).collect_view()
                        })}
                    </Transition>
                </select>
                <select aria-label="State" on:change=set(|f, v| f.state = v)>
                    {[("", "Any state"), ("missing", "missing"), ("published", "published"), ("queued", "queued"), ("installing", "installing"), ("failed", "failed")]
                        .into_iter().map(|(v, l)| view! { <option value=v selected=v == initial.state>{l}</option> }).collect_view()}
                </select>
                <input type="text" placeholder="Release, e.g. debian:12" aria-label="Release" prop:value=initial.release.clone() on:change=set(|f, v| f.release = v) />
                <input type="text" placeholder="Owner" aria-label="Owner" prop:value=initial.owner.clone() on:change=set(|f, v| f.owner = v) />
                <input type="number" min="0" placeholder="Min. days" aria-label="Missing at least days" class="narrow"
                    prop:value=initial.min_age_days.map(|d| d.to_string()).unwrap_or_default()
                    on:change=set(|f, v| f.min_age_days = v.parse().ok()) />
                <label class="check"><input type="checkbox" prop:checked=initial.security_only on:change=check(|f, on| f.security_only = on) />" security only"</label>
                <label class="check"><input type="checkbox" prop:checked=initial.known_exploited on:change=check(|f, on| f.known_exploited = on) />" known exploited"</label>
            </div>
            <p class="toolbar">
                <a id="csv" href=move || format!("/export/patches.csv?{}", serde_urlencoded::to_string(filter.get()).unwrap_or_default())
                    download>{move || if by_server() { "Download CSV of this filter (one row per server and patch)" } else { "Download CSV of this filter" }}</a>
                <span id="selection" class="muted" hidden=move || selected.with(|s| s.is_empty())>
                    {move || format!("{} patches selected ", selected.with(|s| s.len()))}
                    <button type="button" class="link" on:click=move |_| selected.set(Default::default())>"Clear"</button>
                </span>
            </p>
            <crate::rollouts::DeployPanel selected />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match rows.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(Ok(p)) if p.items.is_empty() => view! { <p class="empty">"No missing patches match these filters."</p> }.into_any(),
                    Ok(Err(p)) if p.items.is_empty() => view! { <p class="empty">"No server misses a patch matching these filters."</p> }.into_any(),
                    Ok(Ok(p)) => {
                        let ids: Vec<i64> = p.items.iter().map(|r| r.patch_id).collect();
                        let all_on_page = {
                            let ids = ids.clone();
                            move || selected.with(|s| ids.iter().all(|id| s.contains(id)))
                        };
                        view! {
                        <Pager page per_page=REPORT_PER_PAGE total=p.total />
                        <table class="data" id="report">
                            <thead><tr>
                                <th><input type="checkbox" aria-label="Select all on this page" prop:checked=all_on_page.clone()
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        selected.update(|s| for id in &ids { if on { s.insert(*id); } else { s.remove(id); } });
                                    } /></th>
                                {header("Severity", "severity")}
                                {header("Package", "package")}
                                <th>"Version"</th>
                                {header("Release", "release")}
                                {header("CVSS", "cvss")}
                                <th title="Advisories the update fixes, on the server where it fixes the most">"Advisories"</th>
                                {header("Servers", "servers")}
                                {header("Missing since", "oldest")}
                                <th>"Rollout"</th>
                            </tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|r| {
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
                                        <td><a href=format!("/patches/{}", r.patch_id)>{r.package.clone()}</a></td>
                                        <td>{r.version.clone()}<small>{format!(" ({})", r.arch)}</small></td>
                                        <td>{r.release.clone()}</td>
                                        <td>{r.cvss.map(|c| format!("{c:.1}")).unwrap_or_default()}</td>
                                        <td>{r.advisories}</td>
                                        <td>{r.servers}</td>
                                        <td class="nowrap"><small>{patchport_core::clock::format_utc(r.oldest)}</small></td>
                                        <td>{r.rollout_id.map(|id| {
                                            let label = patchport_core::rollout::RolloutState::parse(&r.rollout).map(|s| s.label()).unwrap_or("");
                                            view! { <a class=format!("badge rollout-{}", r.rollout) href=format!("/rollouts/{id}")>{label}</a> }
                                        })}</td>
                                    </tr>
                                }}).collect_view()}
                            </tbody>
                        </table>
                    }.into_any() }
                    Ok(Err(p)) => view! {
                        <Pager page per_page=REPORT_PER_PAGE total=p.total />
                        <table class="data" id="report-servers">
                            <thead><tr>
                                {header("Worst", "severity")}
                                {header("Server", "hostname")}
                                <th>"Release"</th>
                                <th>"Criticality"</th>
                                <th>"Owner"</th>
                                {header("Missing", "missing")}
                                <th>"Security"</th>
                                {header("Known exploited", "kev")}
                                {header("Missing since", "oldest")}
                            </tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|r| view! {
                                    <tr data-hostname=r.hostname.clone()>
                                        <td>{(!r.worst.is_empty()).then(|| view! { <span class=format!("badge sev-{}", r.worst)>{r.worst.clone()}</span> })}</td>
                                        <td><a href=format!("/servers/{}", r.server_id)>{r.hostname.clone()}</a></td>
                                        <td>{r.release.clone()}</td>
                                        <td>{r.criticality.clone()}</td>
                                        <td>{r.owner.clone()}</td>
                                        <td>{r.missing}</td>
                                        <td>{r.security}</td>
                                        <td>{r.known_exploited}</td>
                                        <td class="nowrap"><small>{patchport_core::clock::format_utc(r.oldest)}</small></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }})}
            </Transition>
        </section>
    }
}
