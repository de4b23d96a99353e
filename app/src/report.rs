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
    /// Only patches missing at least this many days.
    pub min_age_days: Option<i64>,
    /// Sort column: severity, package, release, servers, oldest, cvss.
    pub sort: String,
    /// Largest first.
    pub descending: bool,
}

/// A report row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportRow {
    /// Patch id.
    pub patch_id: i64,
    /// Release.
    pub release: String,
    /// Package.
    pub package: String,
    /// Target version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// Security origin.
    pub security: bool,
    /// Servers missing it.
    pub servers: i64,
    /// Oldest detection.
    pub oldest: i64,
    /// Highest advisory severity.
    pub severity: String,
    /// Highest CVSS.
    pub cvss: Option<f64>,
    /// Fixes a known-exploited CVE.
    pub known_exploited: bool,
    /// Advisories it fixes.
    pub advisories: i64,
}

/// A page of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportPage {
    /// Rows.
    pub items: Vec<ReportRow>,
    /// Matching patches in all.
    pub total: i64,
}

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
    let sort = match filter.sort.as_str() {
        "" => PatchSort::default(),
        s => PatchSort::parse(s)
            .ok_or_else(|| AppError::invalid("sort", format!("cannot sort by '{s}'")))?,
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
        let found = patchport_db::report::by_patch(&mut conn, &q, page, REPORT_PER_PAGE).await?;
        Ok(ReportPage {
            total: found.total,
            items: found
                .items
                .into_iter()
                .map(|r| ReportRow {
                    patch_id: r.patch_id,
                    release: r.release,
                    package: r.package,
                    version: r.version,
                    arch: r.arch,
                    security: r.security,
                    servers: r.servers,
                    oldest: r.oldest,
                    severity: r.severity,
                    cvss: r.cvss,
                    known_exploited: r.known_exploited,
                    advisories: r.advisories,
                })
                .collect(),
        })
    })
    .await
}

/// The Patches Missing page.
#[component]
pub fn ReportPage() -> impl IntoView {
    let filter = RwSignal::new(ReportFilter::default());
    let page = RwSignal::new(1_i64);
    let rows = Resource::new(
        move || (filter.get(), page.get()),
        |(f, p)| report_patches(f, p),
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
                    if active() { f.descending = !f.descending } else { f.sort = column.to_owned(); f.descending = !matches!(column, "package" | "release"); }
                });
                page.set(1);
            }>{label}{move || if active() { if filter.with(|f| f.descending || f.sort.is_empty()) { " ▼" } else { " ▲" } } else { "" }}</button></th>
        }
    };
    view! {
        <section class="card">
            <h1>"Patches missing"</h1>
            <div class="toolbar filters" id="report-filters">
                <input type="search" placeholder="Search package" aria-label="Search package" on:input=set(|f, v| f.search = v) />
                <select aria-label="Severity" on:change=set(|f, v| f.severity = v)>
                    <option value="">"Any severity"</option>
                    <option value="critical">"critical"</option>
                    <option value="high">"high or worse"</option>
                    <option value="medium">"medium or worse"</option>
                    <option value="low">"low or worse"</option>
                </select>
                <select aria-label="Server criticality" on:change=set(|f, v| f.criticality = v)>
                    <option value="">"All servers"</option>
                    <option value="critical">"critical servers"</option>
                    <option value="standard">"standard servers"</option>
                </select>
                <input type="text" placeholder="Release, e.g. debian:12" aria-label="Release" on:change=set(|f, v| f.release = v) />
                <input type="text" placeholder="Owner" aria-label="Owner" on:change=set(|f, v| f.owner = v) />
                <input type="number" min="0" placeholder="Min. days" aria-label="Missing at least days" class="narrow"
                    on:change=set(|f, v| f.min_age_days = v.parse().ok()) />
                <label class="check"><input type="checkbox" on:change=check(|f, on| f.security_only = on) />" security only"</label>
                <label class="check"><input type="checkbox" on:change=check(|f, on| f.known_exploited = on) />" known exploited"</label>
            </div>
            <p><a id="csv" href=move || format!("/export/patches.csv?{}", serde_urlencoded::to_string(filter.get()).unwrap_or_default())
                download="patches-missing.csv">"Download CSV of this filter"</a></p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match rows.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.items.is_empty() => view! { <p class="empty">"No missing patches match these filters."</p> }.into_any(),
                    Ok(p) => view! {
                        <Pager page per_page=REPORT_PER_PAGE total=p.total />
                        <table class="data" id="report">
                            <thead><tr>
                                {header("Severity", "severity")}
                                {header("Package", "package")}
                                <th>"Version"</th>
                                {header("Release", "release")}
                                {header("CVSS", "cvss")}
                                <th>"Advisories"</th>
                                {header("Servers", "servers")}
                                {header("Missing since", "oldest")}
                            </tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|r| view! {
                                    <tr data-package=r.package.clone()>
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
