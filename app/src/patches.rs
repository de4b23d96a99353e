//! A patch's page: what it updates, why it matters (advisories, CVEs with
//! links, known exploitation, CVSS) and which servers miss it. Admins see
//! every server; owners only their own, and no page for a patch none of
//! their servers misses.

use crate::errors::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

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
    /// Architecture.
    pub arch: String,
    /// Where it comes from.
    pub origin: String,
    /// From a security origin.
    pub security: bool,
    /// First seen.
    pub first_seen: i64,
    /// Advisories it fixes, most severe first.
    pub advisories: Vec<AdvisoryView>,
    /// Servers it is open on (the caller's only, for owners).
    pub servers: Vec<MissingView>,
}

/// A patch's page data.
#[server(endpoint = "patches/detail")]
pub async fn patch_detail(id: i64) -> Result<PatchInfo, AppError> {
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
        let advisories = patchport_db::advisories::of_patch(&mut conn, id).await?;
        Ok(PatchInfo {
            release: p.release,
            package: p.package,
            source_package: p.source_package,
            version: p.version,
            arch: p.arch,
            origin: p.origin,
            security: p.security,
            first_seen: p.first_seen,
            advisories: advisories
                .into_iter()
                .map(|a| AdvisoryView {
                    id: a.advisory_id,
                    summary: a.summary,
                    details: a.details,
                    severity: a.severity,
                    cvss_vector: a.cvss_vector,
                    cvss_score: a.cvss_score,
                    published: a.published,
                    cves: a.cves,
                    known_exploited: a.known_exploited,
                })
                .collect(),
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
                })
                .collect(),
        })
    })
    .await
}

/// The patch page.
#[component]
pub fn PatchPage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let id = move || {
        params.with(|p| {
            p.get("id")
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(-1)
        })
    };
    let detail = Resource::new(id, patch_detail);
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move { match detail.await {
                Err(e) => view! { <section class="card"><p class="error">{e.to_string()}</p><a href="/servers">"Back to servers"</a></section> }.into_any(),
                Ok(d) => view! {
                    <section class="card">
                        <p><a href="/servers">"‹ Servers"</a></p>
                        <h1 id="patch-name">{format!("{} {}", d.package, d.version)}</h1>
                        <dl class="facts">
                            <dt>"Release"</dt><dd>{d.release.clone()}</dd>
                            <dt>"Source package"</dt><dd>{d.source_package.clone().unwrap_or_else(|| "—".into())}</dd>
                            <dt>"Architecture"</dt><dd>{d.arch.clone()}</dd>
                            <dt>"Origin"</dt><dd>{d.origin.clone()}{d.security.then_some(" (security)")}</dd>
                            <dt>"First seen"</dt><dd>{patchport_core::clock::format_utc(d.first_seen)}</dd>
                        </dl>
                    </section>
                    <section class="card">
                        <h2>"Why it matters"</h2>
                        {if d.advisories.is_empty() {
                            view! { <p class="empty">{if d.security {
                                "No imported advisory names this update, but it comes from a security origin."
                            } else {
                                "No advisory names this update: a regular update."
                            }}</p> }.into_any()
                        } else {
                            view! {
                                <div id="advisories">
                                    {d.advisories.into_iter().map(|a| view! {
                                        <article class="advisory" data-advisory=a.id.clone()>
                                            <h3>
                                                {a.id.clone()} " "
                                                <span class=format!("badge sev-{}", a.severity)>{a.severity.clone()}</span>
                                                {a.cvss_score.map(|s| view! { " " <span class="badge">{format!("CVSS {s:.1}")}</span> })}
                                                {(!a.known_exploited.is_empty()).then(|| view! { " " <span class="badge kev">"known exploited"</span> })}
                                            </h3>
                                            <p><strong>{a.summary.clone()}</strong></p>
                                            {a.cvss_vector.clone().map(|v| view! { <p><small><code>{v}</code></small></p> })}
                                            <p class="cves">
                                                {a.cves.iter().map(|c| {
                                                    let exploited = a.known_exploited.contains(c);
                                                    view! {
                                                        <a href=format!("https://www.cve.org/CVERecord?id={c}") rel="noopener noreferrer" target="_blank">{c.clone()}</a>
                                                        {exploited.then_some(" (known exploited)")}
                                                        " "
                                                    }
                                                }).collect_view()}
                                            </p>
                                            <pre class="details">{a.details.clone()}</pre>
                                        </article>
                                    }).collect_view()}
                                </div>
                            }.into_any()
                        }}
                    </section>
                    <section class="card">
                        <h2>{format!("Servers missing it ({})", d.servers.len())}</h2>
                        {if d.servers.is_empty() {
                            view! { <p class="empty">"No server misses this patch now."</p> }.into_any()
                        } else {
                            view! {
                                <table class="data" id="missing-on">
                                    <thead><tr><th>"Server"</th><th>"Criticality"</th><th>"Owner"</th><th>"Installed"</th><th>"State"</th><th>"Missing since"</th></tr></thead>
                                    <tbody>
                                        {d.servers.into_iter().map(|s| view! {
                                            <tr data-server=s.hostname.clone()>
                                                <td><a href=format!("/servers/{}", s.server_id)>{s.hostname.clone()}</a></td>
                                                <td><span class=format!("badge crit-{}", s.criticality)>{s.criticality.clone()}</span></td>
                                                <td>{s.owner.clone().unwrap_or_else(|| "—".into())}</td>
                                                <td>{s.installed_version.clone().unwrap_or_default()}</td>
                                                <td><span class=format!("badge patch-{}", s.state)>{s.state.clone()}</span></td>
                                                <td class="nowrap"><small>{patchport_core::clock::format_utc(s.first_seen)}</small></td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            }.into_any()
                        }}
                    </section>
                }.into_any(),
            }})}
        </Transition>
    }
}
