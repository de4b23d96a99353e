//! A patch's page: what it updates, what it fixes on the servers that miss
//! it (advisories, CVEs with links, known exploitation, ratings and where
//! they came from) and which servers miss it. What an update fixes depends
//! on the version a server has installed, so the page shows it for one
//! server (`?server=N`, linked from a server's page) or for all the servers
//! it is open on, each advisory with the number of servers it applies to.
//! Admins see every server; owners only their own, and no page for a patch
//! none of their servers misses.

use crate::errors::AppError;
use crate::ui::Time;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// Advisories per page of the patch page: a kernel update can fix
/// hundreds.
pub const ADVISORIES_PER_PAGE: i64 = 20;

/// An advisory as the patch page shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdvisoryView {
    /// Its id, e.g. DSA-5678-1.
    pub id: String,
    /// One line.
    pub summary: String,
    /// Full text.
    pub details: String,
    /// critical … unknown.
    pub severity: String,
    /// Where the rating was read ("Ubuntu priority high", "AlmaLinux
    /// rating Important", "CVSS 3.1 base score 7.5").
    pub severity_source: String,
    /// security, bugfix or enhancement.
    pub kind: String,
    /// CVSS vector.
    pub cvss_vector: Option<String>,
    /// CVSS base score.
    pub cvss_score: Option<f64>,
    /// Published (seconds since the epoch).
    pub published: Option<i64>,
    /// CVE ids.
    pub cves: Vec<String>,
    /// Those in the Known Exploited Vulnerabilities catalog.
    pub known_exploited: Vec<String>,
    /// Servers (in scope) on which the update fixes it.
    pub servers: i64,
}

/// A server missing the patch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingView {
    /// Server id.
    pub server_id: i64,
    /// Host name.
    pub hostname: String,
    /// critical or standard.
    pub criticality: String,
    /// Owner.
    pub owner: Option<String>,
    /// Installed version.
    pub installed_version: Option<String>,
    /// State of the patch there.
    pub state: String,
    /// Missing since.
    pub first_seen: i64,
    /// Highest rating of what the update fixes there, or empty.
    pub severity: String,
    /// Advisories it fixes there.
    pub advisories: i64,
    /// One of them is known exploited.
    pub known_exploited: bool,
}

/// Everything on a patch's page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchInfo {
    /// Release, e.g. debian:12.
    pub release: String,
    /// Binary package.
    pub package: String,
    /// Source package.
    pub source_package: Option<String>,
    /// Target version.
    pub version: String,
    /// Its source version, when known.
    pub source_version: Option<String>,
    /// Architecture.
    pub arch: String,
    /// Where it comes from.
    pub origin: String,
    /// From a security origin.
    pub security: bool,
    /// First seen.
    pub first_seen: i64,
    /// The one server the page is about, when asked: (id, host name,
    /// installed version).
    pub scope: Option<(i64, String, Option<String>)>,
    /// This page of the advisories it fixes (in scope), security ones
    /// first, then the most severe and newest.
    pub advisories: Vec<AdvisoryView>,
    /// How many it fixes in all (in scope).
    pub advisory_total: i64,
    /// The page shown (1-based).
    pub page: i64,
    /// Servers it is open on (the caller's only, for owners).
    pub servers: Vec<MissingView>,
}

/// A patch's page data: what it fixes on one server (`server`) or on all
/// the servers it is open on (`None`), a page of advisories at a time.
#[server(endpoint = "patches/detail")]
pub async fn patch_detail(id: i64, server: Option<i64>, page: i64) -> Result<PatchInfo, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
        let p = patchport_db::advisories::patch(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let owner = (me.role != patchport_core::Role::Admin).then_some(me.id);
        let servers = patchport_db::advisories::servers_missing(&mut conn, id, owner).await?;
        if owner.is_some() && servers.is_empty() {
            return Err(AppError::NotFound);
        }
        // A server in scope must be one the caller may see that misses it.
        let scope = match server {
            None => None,
            Some(sid) => Some(
                servers
                    .iter()
                    .find(|s| s.server_id == sid)
                    .map(|s| (s.server_id, s.hostname.clone(), s.installed_version.clone()))
                    .ok_or(AppError::NotFound)?,
            ),
        };
        let (limit, offset) = patchport_db::limit_offset(page, ADVISORIES_PER_PAGE);
        let page = page.max(1);
        let (advisories, advisory_total) =
            patchport_db::advisories::of_patch(&mut conn, id, server, owner, limit, offset).await?;
        Ok(PatchInfo {
            release: p.release,
            package: p.package,
            source_package: p.source_package,
            version: p.version,
            source_version: p.source_version,
            arch: p.arch,
            origin: p.origin,
            security: p.security,
            first_seen: p.first_seen,
            scope,
            advisories: advisories
                .into_iter()
                .map(|a| AdvisoryView {
                    id: a.advisory_id,
                    summary: a.summary,
                    details: a.details,
                    severity: a.severity,
                    severity_source: a.severity_source,
                    kind: a.kind,
                    cvss_vector: a.cvss_vector,
                    cvss_score: a.cvss_score,
                    published: a.published,
                    cves: a.cves,
                    known_exploited: a.known_exploited,
                    servers: a.servers,
                })
                .collect(),
            advisory_total,
            page,
            servers: servers
                .into_iter()
                .map(|s| MissingView {
                    server_id: s.server_id,
                    hostname: s.hostname,
                    criticality: s.criticality,
                    owner: s.owner,
                    installed_version: s.installed_version,
                    state: s.state,
                    first_seen: s.first_seen,
                    severity: s.severity,
                    advisories: s.advisories,
                    known_exploited: s.known_exploited,
                })
                .collect(),
        })
    })
    .await
}

/// CVE links shown before the rest are folded away.
const CVES_SHOWN: usize = 12;

/// One advisory on the page.
#[component]
fn AdvisoryCard(a: AdvisoryView, scoped: bool, of: usize) -> impl IntoView {
    let (shown, folded): (Vec<String>, Vec<String>) = {
        let mut all = a.cves.clone();
        let rest = all.split_off(all.len().min(CVES_SHOWN));
        (all, rest)
    };
    let cve = move |c: String, kev: &[String]| {
        let exploited = kev.contains(&c);
        view! {
            <a href=format!("https://www.cve.org/CVERecord?id={c}") rel="noopener noreferrer" target="_blank">{c.clone()}</a>
            {exploited.then_some(" (known exploited)")}
            " "
        }
    };
    let kev = a.known_exploited.clone();
    let kev_folded = a.known_exploited.clone();
    let rated = if a.severity_source.is_empty() {
        "not rated".to_owned()
    } else {
        format!("rating: {}", a.severity_source)
    };
    view! {
        <article class="advisory" data-advisory=a.id.clone() data-kind=a.kind.clone()>
            <h3>
                {a.id.clone()} " "
                {match a.kind.as_str() {
                    "bugfix" => view! { <span class="badge">"bug fix"</span> " " }.into_any(),
                    "enhancement" => view! { <span class="badge">"enhancement"</span> " " }.into_any(),
                    _ => view! { <span class=format!("badge sev-{}", a.severity) title=rated.clone()>{a.severity.clone()}</span> " " }.into_any(),
                }}
                {a.cvss_score.map(|s| view! { <span class="badge">{format!("CVSS {s:.1}")}</span> " " })}
                {(!a.known_exploited.is_empty()).then(|| view! { <span class="badge kev">"known exploited"</span> })}
            </h3>
            <p><strong>{a.summary.clone()}</strong></p>
            <p class="hint">
                {rated}
                {a.published.map(|t| format!(" · published {}", crate::ui::when(t)))}
                {(!scoped).then(|| format!(" · fixed by this update on {} of {of} servers", a.servers))}
            </p>
            {a.cvss_vector.clone().map(|v| view! { <p><small><code>{v}</code></small></p> })}
            <p class="cves">
                {shown.into_iter().map(|c| cve(c, &kev)).collect_view()}
            </p>
            {(!folded.is_empty()).then(|| view! {
                <details class="cves"><summary>{format!("{} more CVEs", folded.len())}</summary>
                    <p>{folded.into_iter().map(|c| cve(c, &kev_folded)).collect_view()}</p>
                </details>
            })}
            <details><summary>"Details"</summary><pre class="details">{a.details.clone()}</pre></details>
        </article>
    }
}

/// The patch page.
#[component]
pub fn PatchPage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let query = leptos_router::hooks::use_query_map();
    let id = move || {
        params.with(|p| {
            p.get("id")
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(-1)
        })
    };
    let server = move || query.with(|q| q.get("server").and_then(|v| v.parse::<i64>().ok()));
    let page = move || {
        query.with(|q| {
            q.get("page")
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(1)
        })
    };
    // The report this page was opened from (`?from=`, see
    // `report::report_back`): the way back, carried by the page's own links.
    let from = move || query.with(|q| q.get("from").and_then(|f| crate::report::report_back(&f)));
    let admin = use_context::<crate::accounts::UserView>()
        .is_some_and(|u| u.role == patchport_core::Role::Admin);
    let detail = Resource::new(
        move || (id(), server(), page()),
        |(id, server, page)| patch_detail(id, server, page),
    );
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move { match detail.await {
                Err(e) => view! { <section class="card"><p class="error">{e.to_string()}</p><p><BackLink from=from() scope=None admin /></p></section> }.into_any(),
                Ok(d) => {
                    let pid = id();
                    let from = from();
                    // `from=…&` for the page's own links, so the way back stays.
                    let keep = from.as_ref()
                        .map(|f| format!("{}&", serde_urlencoded::to_string([("from", f)]).unwrap_or_default()))
                        .unwrap_or_default();
                    let scoped = d.scope.is_some();
                    let of = d.servers.len();
                    let pages = (d.advisory_total + ADVISORIES_PER_PAGE - 1) / ADVISORIES_PER_PAGE;
                    let scope_param = d.scope.as_ref().map(|s| format!("{keep}server={}&", s.0)).unwrap_or_else(|| keep.clone());
                    let back = view! { <BackLink from scope=d.scope.as_ref().map(|s| (s.0, s.1.clone())) admin /> };
                    let heading = match &d.scope {
                        Some((_, host, installed)) => format!(
                            "What it fixes on {host} (installed: {})",
                            installed.clone().unwrap_or_else(|| "unknown".into())
                        ),
                        None => format!("What it fixes on the {of} servers missing it"),
                    };
                    view! {
                    <section class="card">
                        <p id="back">{back}</p>
                        <h1 id="patch-name">{format!("{} {}", d.package, d.version)}</h1>
                        <dl class="facts">
                            <dt>"Release"</dt><dd>{d.release.clone()}</dd>
                            <dt>"Source package"</dt><dd>{match (&d.source_package, &d.source_version) {
                                (Some(name), Some(v)) => format!("{name} {v}"),
                                (Some(name), None) => name.clone(),
                                _ => "—".into(),
                            }}</dd>
                            <dt>"Architecture"</dt><dd>{d.arch.clone()}</dd>
                            <dt>"Origin"</dt><dd>{d.origin.clone()}{d.security.then_some(" (security)")}</dd>
                            <dt>"First seen"</dt><dd><Time ts=d.first_seen /></dd>
                        </dl>
                    </section>
                    <section class="card">
                        <h2 id="fixes-heading">{heading}</h2>
                        {scoped.then(|| view! { <p class="hint"><a href=format!("/patches/{pid}{}", if keep.is_empty() { String::new() } else { format!("?{}", keep.trim_end_matches('&')) })>"Show what it fixes on every server missing it"</a></p> })}
                        {if d.advisories.is_empty() {
                            view! { <p class="empty">{if d.security {
                                "No imported advisory is fixed by this update here, but it comes from a security origin."
                            } else {
                                "No imported advisory is fixed by this update here: a regular update."
                            }}</p> }.into_any()
                        } else {
                            view! {
                                <p class="hint">{format!(
                                    "{} advisories, the most severe first; advisories whose fix is already installed are not listed.",
                                    d.advisory_total
                                )}</p>
                                <div id="advisories">
                                    {d.advisories.into_iter().map(|a| view! { <AdvisoryCard a scoped of /> }).collect_view()}
                                </div>
                                {(pages > 1).then(|| view! {
                                    <nav class="pager" aria-label="Advisory pages">
                                        {(d.page > 1).then(|| view! { <a href=format!("/patches/{pid}?{scope_param}page={}", d.page - 1)>"‹ Previous"</a> " " })}
                                        <span>{format!("Page {} of {pages}", d.page)}</span>
                                        {(d.page < pages).then(|| view! { " " <a href=format!("/patches/{pid}?{scope_param}page={}", d.page + 1)>"Next ›"</a> })}
                                    </nav>
                                })}
                            }.into_any()
                        }}
                    </section>
                    <section class="card">
                        <h2>{format!("Servers missing it ({of})")}</h2>
                        {if d.servers.is_empty() {
                            view! { <p class="empty">"No server misses this patch now."</p> }.into_any()
                        } else {
                            view! {
                                <div class="table-scroll"><table class="data" id="missing-on">
                                    <thead><tr><th>"Server"</th><th>"Criticality"</th><th>"Owner"</th><th>"Installed"</th><th>"Fixes there"</th><th>"State"</th><th>"Missing since"</th></tr></thead>
                                    <tbody>
                                        {d.servers.into_iter().map(|s| view! {
                                            <tr data-server=s.hostname.clone()>
                                                <td><a href=format!("/servers/{}", s.server_id)>{s.hostname.clone()}</a></td>
                                                <td><span class=format!("badge crit-{}", s.criticality)>{s.criticality.clone()}</span></td>
                                                <td>{s.owner.clone().unwrap_or_else(|| "—".into())}</td>
                                                <td>{s.installed_version.clone().unwrap_or_default()}</td>
                                                <td class="fixes">
                                                    {(!s.severity.is_empty()).then(|| view! { <span class=format!("badge sev-{}", s.severity)>{s.severity.clone()}</span> " " })}
                                                    <a href=format!("/patches/{pid}?{keep}server={}", s.server_id)>{match s.advisories {
                                                        0 => "no advisory".to_owned(),
                                                        1 => "1 advisory".to_owned(),
                                                        n => format!("{n} advisories"),
                                                    }}</a>
                                                    {s.known_exploited.then(|| view! { " " <span class="badge kev">"known exploited"</span> })}
                                                </td>
                                                <td><span class=format!("badge patch-{}", s.state)>{s.state.clone()}</span></td>
                                                <td class="nowrap"><small><Time ts=s.first_seen /></small></td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table></div>
                            }.into_any()
                        }}
                    </section>
                }.into_any() }
            }})}
        </Transition>
    }
}

/// The way back from a patch: to the report it was opened from (`from`,
/// already checked), else to the server the page is about, else to the
/// report (admins) or the servers list (owners).
#[component]
fn BackLink(from: Option<String>, scope: Option<(i64, String)>, admin: bool) -> impl IntoView {
    match (from, scope) {
        (Some(from), _) => view! { <a href=from rel="prev">"‹ Back to the report"</a> }.into_any(),
        (None, Some((sid, host))) => {
            view! { <a href=format!("/servers/{sid}")>{format!("‹ {host}")}</a> }.into_any()
        }
        (None, None) if admin => view! { <a href="/report">"‹ Patches missing"</a> }.into_any(),
        (None, None) => view! { <a href="/servers">"‹ My servers"</a> }.into_any(),
    }
}
