//! A server's page: its identity and agent (admins rotate the agent's
//! credential here), its patches ranked by risk with installing them (an
//! owner first sees the ones published for them), its reboot booking and
//! jobs, and its installed packages (folded).

#[cfg(feature = "ssr")]
use super::visible_server;
use crate::errors::AppError;
use crate::ui::{FormError, Pager};
use leptos::prelude::*;
use patchport_core::view::ServerPatch;
use serde::{Deserialize, Serialize};

/// A server's details, as its page shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Identity and status (flattened: the JSON keeps one level).
    #[serde(flatten)]
    pub server: patchport_core::view::ServerDetail,
    /// Patches, open ones first.
    pub patches: Vec<PatchView>,
    /// It has a maintenance window (its own or a group's): installing "in
    /// the next window" is offered only then.
    pub has_window: bool,
}

/// One of a server's patches, with what it fixes there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchView {
    /// The patch and its state on the server (flattened), `security` also
    /// set when an advisory makes it a security update.
    #[serde(flatten)]
    pub patch: ServerPatch,
    /// Advisories it fixes on this server, the most severe first (the
    /// first few; the patch page lists them all).
    pub advisories: Vec<String>,
    /// How many advisories it fixes on this server.
    pub advisory_count: i64,
    /// CVEs it fixes on this server.
    pub cves: Vec<String>,
    /// Some CVE is known exploited.
    pub known_exploited: bool,
    /// Risk priority on this server.
    pub risk: patchport_core::risk::Risk,
    /// Its owner may install it: published for them, or published and
    /// its install failed (they try again).
    pub owner_may_install: bool,
}

/// A page of a server's installed packages: (name, arch, version, source).
pub type PackagePage = patchport_core::view::Page<(String, String, String, Option<String>)>;

/// One server's details and patches.
#[server(endpoint = "servers/detail")]
pub async fn server_detail(id: i64) -> Result<ServerInfo, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
        let mut server = visible_server(&mut conn, &me, id).await?;
        let now = state.clock.now();
        let mut summaries = patchport_db::advisories::summaries_for_server(&mut conn, id).await?;
        let critical = server.row.criticality == "critical";
        let owner_may = patchport_db::servers::owner_installable(&mut conn, id).await?;
        let mut patches: Vec<PatchView> = patchport_db::servers::patch_rows(&mut conn, id)
            .await?
            .into_iter()
            .map(|mut p| {
                let summary = summaries.remove(&p.patch_id).unwrap_or_default();
                // What the update fixes on *this* server, from the version
                // it has installed.
                p.security |= summary.security;
                let risk = patchport_core::risk::assess(&patchport_core::risk::RiskInput {
                    cvss: summary.cvss,
                    severity: summary.severity.clone(),
                    security: p.security,
                    known_exploited: summary.known_exploited,
                    age_days: (now - p.first_seen).max(0) / 86_400,
                    critical_server: critical,
                });
                PatchView {
                    advisories: summary.advisories,
                    advisory_count: summary.advisory_count,
                    cves: summary.cves,
                    known_exploited: summary.known_exploited,
                    risk,
                    owner_may_install: owner_may.contains(&p.patch_id),
                    patch: p,
                }
            })
            .collect();
        // Open patches first, the riskiest on top.
        patches.sort_by(|a, b| {
            b.patch
                .is_open()
                .cmp(&a.patch.is_open())
                .then(b.risk.score.cmp(&a.risk.score))
                .then(a.patch.package.cmp(&b.patch.package))
        });
        server.row.judge(now);
        let has_window = patchport_db::windows::has_any(&mut conn, id).await?;
        Ok(ServerInfo {
            server,
            patches,
            has_window,
        })
    })
    .await
}

/// Rows per page of installed packages.
pub const PACKAGES_PER_PAGE: i64 = 100;

/// Searches a server's installed packages.
#[server(endpoint = "servers/packages")]
pub async fn server_packages(id: i64, search: String, page: i64) -> Result<PackagePage, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
        super::check_visible(&mut conn, &me, id).await?;
        Ok(
            patchport_db::servers::search_packages(&mut conn, id, &search, page, PACKAGES_PER_PAGE)
                .await?,
        )
    })
    .await
}

/// Asks for a new agent credential: handed to the agent at its next
/// check-in; the old one stops working once the agent uses the new one.
#[server(endpoint = "admin/servers/rotate_credential")]
pub async fn rotate_credential(server_id: i64) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        if !patchport_db::agents::request_rotation(&mut w.tx, server_id, w.now).await? {
            return Err(AppError::Conflict(
                "this server has no live agent credential to rotate (revoked: enrol it again)"
                    .into(),
            ));
        }
        let host = ssr::host_name(&mut w.tx, server_id).await;
        w.commit("agent.rotation_requested", &host, "").await?;
        Ok(())
    })
    .await
}

/// A server's page: identity, patches, jobs, installed packages.
#[component]
pub fn ServerPage() -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let id = move || {
        params.with(|p| {
            p.get("id")
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(-1)
        })
    };
    let admin = use_context::<crate::accounts::UserView>()
        .is_some_and(|u| u.role == patchport_core::Role::Admin);
    let queue = ServerAction::<crate::jobs::QueueJob>::new();
    let cancel = ServerAction::<crate::jobs::CancelJob>::new();
    let rotate = ServerAction::<RotateCredential>::new();
    let jobs_changed = RwSignal::new(0_u64);
    let installing = ServerAction::<crate::jobs::InstallPatches>::new();
    let detail = Resource::new(
        move || {
            (
                id(),
                queue.version().get(),
                cancel.version().get(),
                jobs_changed.get(),
                rotate.version().get(),
                installing.version().get(),
            )
        },
        |(i, ..)| server_detail(i),
    );
    let selected = RwSignal::new(std::collections::BTreeSet::<i64>::new());
    let search = RwSignal::new(String::new());
    let page = RwSignal::new(1_i64);
    let packages = Resource::new(
        move || (id(), search.get(), page.get()),
        |(i, s, p)| server_packages(i, s, p),
    );
    let when = RwSignal::new("now".to_owned());
    let install_at = RwSignal::new(String::new());
    // A queued install clears the selection and shows in the jobs card.
    Effect::new(move |_| {
        if let Some(Ok(_)) = installing.value().get() {
            selected.set(Default::default());
            jobs_changed.update(|n| *n += 1);
        }
    });
    // Owners see first what they can act on (the patches published for
    // them, the reboot, their jobs); the full list and the packages fold.
    let toolbar = move |published: Vec<i64>, has_window: bool, hint: String| {
        view! {
            <InstallToolbar selected installing when install_at has_window published hint
                on_install=Callback::new(move |ids: Vec<i64>| {
                    installing.dispatch(crate::jobs::InstallPatches {
                        server_id: id(),
                        patch_ids: ids,
                        when: when.get_untracked(),
                        at: install_at.get_untracked(),
                    });
                }) />
        }
    };
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move { match detail.await {
                Err(e) => view! { <section class="card"><p class="error">{e.to_string()}</p><a href="/servers">"Back to servers"</a></section> }.into_any(),
                Ok(d) => {
                    let open: Vec<PatchView> = d.patches.iter().filter(|p| p.patch.is_open()).cloned().collect();
                    let closed = d.patches.len() - open.len();
                    let server_id = d.server.row.id;
                    let has_window = d.has_window;
                    let underway = open.iter().filter(|p| matches!(p.patch.state.as_str(), "queued" | "installing")).count();
                    let heading = format!("Missing patches ({}, {} security)", d.server.row.missing, d.server.row.missing_security);
                    let patches = if admin {
                        let installable: Vec<i64> = open.iter().filter(|p| p.patch.installable()).map(|p| p.patch.patch_id).collect();
                        view! {
                            <section class="card" id="missing-patches">
                                <h2>{heading}</h2>
                                {if open.is_empty() {
                                    view! { <p class="empty">"Nothing missing: the package manager offers no updates."</p> }.into_any()
                                } else {
                                    let hint = format!("Installs exactly these versions with the server's package manager; {} can be installed.", installable.len());
                                    view! {
                                        {toolbar(Vec::new(), has_window, hint)}
                                        <PatchTable id="patches" rows=open server_id selected=Some(selected) can_select=|p: &PatchView| p.patch.installable() />
                                    }.into_any()
                                }}
                                {(closed > 0).then(|| view! { <p class="hint">{format!("{closed} earlier patches were installed or superseded.")}</p> })}
                            </section>
                        }.into_any()
                    } else {
                        let published: Vec<PatchView> = open.iter().filter(|p| p.owner_may_install).cloned().collect();
                        let ids: Vec<i64> = published.iter().map(|p| p.patch.patch_id).collect();
                        let failed = published.iter().filter(|p| p.patch.state == "failed").count();
                        let hint = if failed > 0 {
                            format!("{} patch(es) wait for you to install; the install of {failed} failed (see its log under Jobs): install again, or ask an admin if it fails again.", published.len())
                        } else if published.is_empty() && underway > 0 {
                            format!("Nothing more to install now: {underway} patch(es) are queued or being installed (see Jobs).")
                        } else if published.is_empty() {
                            "No published patch waits to be installed: your administrators publish patches once they have been tested.".to_owned()
                        } else {
                            format!("{} patch(es) were published for you to install: install them all, or choose some, then when.", published.len())
                        };
                        view! {
                            <section class="card" id="to-install">
                                <h2>{format!("To install ({})", published.len())}</h2>
                                {toolbar(ids, has_window, hint)}
                                {(!published.is_empty()).then(|| view! {
                                    <PatchTable id="published-patches" rows=published server_id selected=Some(selected) can_select=|_: &PatchView| true />
                                })}
                            </section>
                        }.into_any()
                    };
                    view! {
                        <section class="card">
                            <p><a href="/servers">"‹ Servers"</a></p>
                            <h1 id="server-name">{d.server.row.hostname.clone()}</h1>
                            <dl class="facts">
                                <dt>"OS"</dt><dd>{d.server.row.os_name.clone()}</dd>
                                <dt>"Kernel"</dt><dd>{d.server.kernel.clone()}</dd>
                                <dt>"Architecture"</dt><dd>{format!("{} ({})", d.server.arch, d.server.package_format)}</dd>
                                <dt>"Owner"</dt><dd>{d.server.row.owner.clone().unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Criticality"</dt><dd>{d.server.row.criticality.clone()}</dd>
                                <dt>"Agent"</dt><dd>
                                    <span class=format!("dot {}", d.server.row.status)></span>{d.server.row.status.clone()}
                                    {if d.server.row.agent_active { "" } else { " · credential revoked" }}
                                    {d.server.rotation_pending.then_some(" · new credential waiting for the next check-in")}
                                    {(admin && d.server.row.agent_active && !d.server.rotation_pending).then(|| {
                                        let server_id = d.server.row.id;
                                        view! { " " <RotateButton server_id rotate /> }
                                    })}
                                    <FormError action=rotate />
                                </dd>
                                <dt>"Groups"</dt><dd>{if d.server.row.groups.is_empty() { "—".to_owned() } else { d.server.row.groups.iter().map(|g| g.1.clone()).collect::<Vec<_>>().join(", ") }}</dd>
                                <dt>"Last check-in"</dt><dd>{d.server.row.last_check_in.map(crate::ui::when).unwrap_or_else(|| "never".into())}</dd>
                                <dt>"Last full report"</dt><dd>{d.server.last_report_at.map(crate::ui::when).unwrap_or_else(|| "none yet".into())}</dd>
                                <dt>"Reboot"</dt><dd>{if d.server.row.reboot_required {
                                    format!("required {}", d.server.reboot_required_packages)
                                } else { "not required".to_owned() }}</dd>
                                <dt>"Boot id"</dt><dd><code>{d.server.boot_id.clone()}</code></dd>
                            </dl>
                        </section>
                        {patches}
                    }.into_any()
                }
            }})}
        </Transition>
        {move || (id() > 0).then(|| view! { <crate::booking::RebootCard server_id=id() /> })}
        {move || (id() > 0).then(|| view! { <crate::jobs::JobsCard server_id=id() admin queue cancel changed=jobs_changed /> })}
        // Owners: every missing patch, folded below what they act on.
        {(!admin).then(|| view! {
            <Transition fallback=|| ()>
                {move || Suspend::new(async move { detail.await.ok().map(|d| {
                    let server_id = d.server.row.id;
                    let open: Vec<PatchView> = d.patches.iter().filter(|p| p.patch.is_open()).cloned().collect();
                    let closed = d.patches.len() - open.len();
                    let total = open.len();
                    let heading = format!("Missing patches ({}, {} security)", d.server.row.missing, d.server.row.missing_security);
                    view! {
                        <details class="card fold" id="missing-patches">
                            <summary><h2>{heading}</h2></summary>
                            <p class="hint">{format!("Every update the package manager offers for this server ({total}), the riskiest first; your administrators decide which are published for you.")}</p>
                            {if open.is_empty() {
                                view! { <p class="empty">"Nothing missing: the package manager offers no updates."</p> }.into_any()
                            } else {
                                view! { <PatchTable id="patches" rows=open server_id selected=None can_select=|_: &PatchView| false /> }.into_any()
                            }}
                            {(closed > 0).then(|| view! { <p class="hint">{format!("{closed} earlier patches were installed or superseded.")}</p> })}
                        </details>
                    }
                }) })}
            </Transition>
        })}
        <details class="card fold" id="installed-packages">
            <summary><h2>"Installed packages"</h2></summary>
            <div class="toolbar">
                <input type="search" placeholder="Search package name" aria-label="Search packages"
                    prop:value=search on:input=move |ev| { search.set(event_target_value(&ev)); page.set(1); } />
            </div>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match packages.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.items.is_empty() => view! { <p class="empty">"No packages match."</p> }.into_any(),
                    Ok(p) => view! {
                        <Pager page per_page=PACKAGES_PER_PAGE total=p.total />
                        <div class="table-scroll"><table class="data" id="packages">
                            <thead><tr><th>"Package"</th><th>"Version"</th><th>"Arch"</th><th>"Source"</th></tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|(n, a, v, src)| view! {
                                    <tr><td>{n}</td><td>{v}</td><td>{a}</td><td>{src.unwrap_or_default()}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                }})}
            </Transition>
        </details>
    }
}

/// What to install and when: "Install all published" (owners), "Install
/// selected", and now / in the next maintenance window (only offered when
/// the server has one) / at a time in the reader's zone. The outcome
/// (the queued job) shows below it.
#[component]
fn InstallToolbar(
    selected: RwSignal<std::collections::BTreeSet<i64>>,
    installing: ServerAction<crate::jobs::InstallPatches>,
    when: RwSignal<String>,
    install_at: RwSignal<String>,
    has_window: bool,
    /// The published patches "Install all published" installs (none:
    /// the button is not shown).
    published: Vec<i64>,
    hint: String,
    on_install: Callback<Vec<i64>>,
) -> impl IntoView {
    let all = published.len();
    view! {
        <div class="toolbar" id="install-toolbar">
            {(all > 0).then(|| view! {
                <button type="button" class="primary" id="install-published"
                    disabled=move || installing.pending().get()
                    on:click=move |_| on_install.run(published.clone())>
                    {format!("Install all published ({all})")}
                </button>
            })}
            <button type="button" class={if all > 0 { "" } else { "primary" }} id="install-selected"
                disabled=move || selected.with(|s| s.is_empty()) || installing.pending().get()
                on:click=move |_| on_install.run(selected.get_untracked().into_iter().collect())>
                {move || format!("Install selected ({})", selected.with(|s| s.len()))}
            </button>
            <label class="inline">
                <select name="when" aria-label="When to install" on:change=move |ev| when.set(event_target_value(&ev))>
                    <option value="now" selected=true>"now"</option>
                    {has_window.then(|| view! { <option value="window">"in the next maintenance window"</option> })}
                    <option value="at">{format!("at a time ({})…", crate::ui::reader_zone())}</option>
                </select>
            </label>
            <Show when=move || when.get() == "at">
                <input type="datetime-local" name="install_at" aria-label="Install at"
                    prop:value=install_at on:input=move |ev| install_at.set(event_target_value(&ev)) />
            </Show>
            <span class="hint">{hint}</span>
        </div>
        <FormError action=installing />
        {move || installing.value().get().and_then(Result::ok).map(|q| view! {
            <p class="ok" role="status" id="install-queued">{format!(
                "Install queued as job {}: it starts from {} (until {}). Its progress shows under Jobs.",
                q.job_id, crate::ui::when(q.starts_at), crate::ui::when(q.until)
            )}</p>
        })}
    }
}

/// A table of a server's patches, the riskiest first. With `selected`,
/// rows `can_select` accepts have a checkbox that adds them to it.
#[component]
fn PatchTable(
    id: &'static str,
    rows: Vec<PatchView>,
    server_id: i64,
    selected: Option<RwSignal<std::collections::BTreeSet<i64>>>,
    can_select: fn(&PatchView) -> bool,
) -> impl IntoView {
    view! {
        <div class="table-scroll"><table class="data" id=id>
            <thead><tr>
                {selected.is_some().then(|| view! { <th><span class="visually-hidden">"Select"</span></th> })}
                <th>"Risk"</th><th>"Package"</th><th>"Installed"</th><th>"Update to"</th><th>"Advisories"</th><th>"Missing since"</th><th>"State"</th>
            </tr></thead>
            <tbody>
                {rows.into_iter().map(|p| {
                    let pid = p.patch.patch_id;
                    let can = can_select(&p);
                    view! {
                        <tr data-package=p.patch.package.clone() data-state=p.patch.state.clone()>
                            {selected.map(|selected| view! {
                                <td><input type="checkbox" aria-label=format!("Select {}", p.patch.package) disabled=!can
                                    prop:checked=move || selected.with(|s| s.contains(&pid))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        selected.update(|s| { if on { s.insert(pid); } else { s.remove(&pid); } });
                                    } /></td>
                            })}
                            <td class="risk" title=p.risk.explanation.clone()>
                                <span class=format!("badge risk-{}", p.risk.level)>{p.risk.score}</span>
                                <br/><small>{p.risk.explanation.clone()}</small>
                            </td>
                            <td><a href=format!("/patches/{pid}?server={server_id}")>{p.patch.package.clone()}</a></td>
                            <td>{p.patch.installed_version.clone().unwrap_or_default()}</td>
                            <td>{p.patch.version.clone()}</td>
                            <td class="advisories">
                                {if p.advisories.is_empty() {
                                    view! { <span class:warn=p.patch.security>{if p.patch.security { "security update" } else { "" }}</span> }.into_any()
                                } else {
                                    let more = p.advisory_count - p.advisories.len() as i64;
                                    view! {
                                        <span>{p.advisories.join(", ")}</span>
                                        {(more > 0).then(|| view! {
                                            " " <a href=format!("/patches/{pid}?server={server_id}")>{format!("and {more} more")}</a>
                                        })}
                                    }.into_any()
                                }}
                                {p.known_exploited.then(|| view! { " " <span class="badge kev">"known exploited"</span> })}
                                {(!p.cves.is_empty()).then(|| {
                                    let shown: Vec<String> = p.cves.iter().take(6).cloned().collect();
                                    let rest = p.cves.len().saturating_sub(shown.len());
                                    view! { <br/><small>{shown.join(" ")}{(rest > 0).then(|| format!(" (+{rest} CVEs)"))}</small> }
                                })}
                            </td>
                            <td class="nowrap"><small><crate::ui::Time ts={p.patch.first_seen} /></small></td>
                            <td><span class=format!("badge patch-{}", p.patch.state)>{p.patch.state.clone()}</span></td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table></div>
    }
}

#[component]
fn RotateButton(server_id: i64, rotate: ServerAction<RotateCredential>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    view! {
        <Show when=move || confirming.get() fallback=move || view! {
            <button type="button" class="small" on:click=move |_| confirming.set(true)>"Rotate credential"</button>
        }>
            <span class="confirm" role="alertdialog">
                "Give the agent a new credential at its next check-in? The old one stops working once the agent uses the new one."
                <button type="button" class="primary" on:click=move |_| {
                    rotate.dispatch(RotateCredential { server_id });
                    confirming.set(false);
                }>"Rotate"</button>
                <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
            </span>
        </Show>
    }
}
