//! Servers and their agents: the list (admins see all, owners their own),
//! and enrolment tokens for new agents (admins).

use crate::errors::AppError;
use crate::ui::{FormError, Pager};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// One server in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRow {
    /// Server id.
    pub id: i64,
    /// Host name.
    pub hostname: String,
    /// Operating system.
    pub os_name: String,
    /// Owner's user name.
    pub owner: Option<String>,
    /// critical or standard.
    pub criticality: String,
    /// Last check-in (seconds since the epoch).
    pub last_check_in: Option<i64>,
    /// online, stale, offline or never.
    pub status: String,
    /// The OS asks for a reboot.
    pub reboot_required: bool,
    /// Patches not on the server yet.
    pub missing: i64,
    /// Of those, security patches.
    pub missing_security: i64,
    /// The agent's credential is live.
    pub agent_active: bool,
    /// Groups: (id, name).
    pub groups: Vec<(i64, String)>,
    /// Patches published for the owner to install.
    pub published: i64,
    /// The maintenance window open now or next: (start, end).
    pub next_window: Option<(i64, i64)>,
    /// That window is open now.
    pub window_open: bool,
    /// When its booked reboot is.
    pub booked_reboot: Option<i64>,
}

#[cfg(feature = "ssr")]
impl ServerRow {
    fn from_db(s: patchport_db::servers::ServerRow, now: i64) -> Self {
        Self {
            status: patchport_db::servers::CheckInStatus::of(s.last_check_in, now)
                .as_str()
                .to_owned(),
            groups: s.groups,
            id: s.id,
            hostname: s.hostname,
            os_name: s.os_name,
            owner: s.owner,
            criticality: s.criticality,
            last_check_in: s.last_check_in,
            reboot_required: s.reboot_required,
            missing: s.missing,
            missing_security: s.missing_security,
            agent_active: s.agent_active,
            published: s.published,
            next_window: None,
            window_open: false,
            booked_reboot: None,
        }
    }
}

/// A page of servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerPage {
    /// Servers on this page.
    pub items: Vec<ServerRow>,
    /// Matching servers in all.
    pub total: i64,
}

/// An enrolment token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRow {
    /// Token id.
    pub id: i64,
    /// Label.
    pub label: String,
    /// Creator.
    pub created_by: String,
    /// Expiry (seconds since the epoch).
    pub expires_at: i64,
    /// Uses so far / allowed.
    pub uses: i64,
    /// Allowed uses.
    pub max_uses: i64,
    /// usable, expired, used up or revoked.
    pub status: String,
}

/// Rows per page on the servers page.
pub const PER_PAGE: i64 = 50;

/// Filters and order of the servers list, as the page sends them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerFilter {
    /// Substring of the host name.
    pub search: String,
    /// Only members of this group.
    pub group_id: Option<i64>,
    /// `critical`, `standard` or empty for both.
    pub criticality: String,
    /// `online`, `stale`, `offline`, `never` or empty for any.
    pub status: String,
    /// `yes`, `no` or empty for any.
    pub reboot: String,
    /// Only servers missing at least one patch.
    pub missing_only: bool,
    /// Sort column: hostname, os, owner, criticality, last_seen, missing,
    /// security.
    pub sort: String,
    /// Largest first.
    pub descending: bool,
}

/// A criticality filter as the pages send it: empty for any.
#[cfg(feature = "ssr")]
pub(crate) fn criticality_filter(value: &str) -> Result<Option<String>, AppError> {
    match value {
        "" => Ok(None),
        c @ ("critical" | "standard") => Ok(Some(c.to_owned())),
        _ => Err(AppError::invalid(
            "criticality",
            "criticality must be critical or standard",
        )),
    }
}

/// The id of the account named `name` (an owner typed into a form).
#[cfg(feature = "ssr")]
pub(crate) async fn account_named(
    conn: &mut patchport_db::Conn,
    name: &str,
) -> Result<i64, AppError> {
    let name = patchport_core::Username::parse(name)?;
    let found = patchport_db::accounts::find_for_login(conn, name.as_str()).await?;
    Ok(found
        .ok_or_else(|| AppError::invalid("owner", format!("no user named '{name}'")))?
        .0
        .id)
}

#[cfg(feature = "ssr")]
impl ServerFilter {
    fn query(
        self,
        me: &crate::accounts::UserView,
        now: i64,
    ) -> Result<patchport_db::servers::ServerQuery, AppError> {
        use patchport_db::servers::{CheckInStatus, ServerSort};
        let criticality = criticality_filter(&self.criticality)?;
        let status = match self.status.as_str() {
            "" => None,
            s => Some(CheckInStatus::parse(s).ok_or_else(|| {
                AppError::invalid("status", "status must be online, stale, offline or never")
            })?),
        };
        let reboot_required = match self.reboot.as_str() {
            "" => None,
            "yes" => Some(true),
            "no" => Some(false),
            _ => return Err(AppError::invalid("reboot", "reboot must be yes or no")),
        };
        let sort = match self.sort.as_str() {
            "" => ServerSort::default(),
            s => ServerSort::parse(s)
                .ok_or_else(|| AppError::invalid("sort", format!("cannot sort by '{s}'")))?,
        };
        Ok(patchport_db::servers::ServerQuery {
            search: self.search,
            owner_id: (me.role != patchport_core::Role::Admin).then_some(me.id),
            id: None,
            group_id: self.group_id,
            criticality,
            status,
            reboot_required,
            missing_only: self.missing_only,
            now,
            sort,
            descending: self.descending,
        })
    }
}

/// Lists servers: all of them for admins, their own for owners.
#[server(endpoint = "servers/list", input = server_fn::codec::Json)]
pub async fn list_servers(filter: ServerFilter, page: i64) -> Result<ServerPage, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        let q = filter.query(&me, now)?;
        let mut conn = state.db.read().await?;
        let found = patchport_db::servers::list(&mut conn, &q, page, PER_PAGE).await?;
        let ids: Vec<i64> = found.items.iter().map(|s| s.id).collect();
        let windows = patchport_db::windows::next_for_servers(&mut conn, &ids, now).await?;
        let bookings = patchport_db::windows::first_bookings(&mut conn, &ids).await?;
        let items = found
            .items
            .into_iter()
            .map(|s| {
                let mut row = ServerRow::from_db(s, now);
                row.next_window = windows.get(&row.id).map(|o| (o.start, o.end));
                row.window_open = row.next_window.is_some_and(|(start, _)| start <= now);
                row.booked_reboot = bookings.get(&row.id).copied();
                row
            })
            .collect();
        Ok(ServerPage {
            total: found.total,
            items,
        })
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
        w.commit(
            "agent.rotation_requested",
            &format!("server {server_id}"),
            "",
        )
        .await?;
        Ok(())
    })
    .await
}

/// Creates an enrolment token and returns it: the only time it is shown.
#[server(endpoint = "admin/enrollment/create")]
pub async fn create_enrollment_token(
    label: String,
    valid_hours: i64,
    max_uses: i64,
) -> Result<String, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let label = label.trim();
        if label.chars().count() > 100 {
            return Err(AppError::invalid(
                "label",
                "label must be at most 100 characters",
            ));
        }
        if !(1..=720).contains(&valid_hours) {
            return Err(AppError::invalid(
                "valid_hours",
                "validity must be 1 to 720 hours",
            ));
        }
        if !(1..=1000).contains(&max_uses) {
            return Err(AppError::invalid("max_uses", "uses must be 1 to 1000"));
        }
        let (token, id) = ssr::issue_enrollment_token(
            &mut w.tx,
            label,
            Some(w.me.id),
            valid_hours,
            max_uses,
            w.now,
        )
        .await?;
        let detail = format!("token {id}, {max_uses} uses, valid {valid_hours} h");
        w.commit("agent.token_created", label, &detail).await?;
        Ok(token)
    })
    .await
}

/// Lists enrolment tokens, newest first.
#[server(endpoint = "admin/enrollment/list")]
pub async fn list_enrollment_tokens() -> Result<Vec<TokenRow>, AppError> {
    use crate::ssr;
    ssr::run(async move {
        ssr::require_admin()?;
        let state = ssr::state()?;
        let now = state.clock.now();
        let mut conn = state.db.read().await?;
        let tokens = patchport_db::agents::list_tokens(&mut conn).await?;
        Ok(tokens
            .into_iter()
            .map(|t| TokenRow {
                status: if t.revoked_at.is_some() {
                    "revoked"
                } else if t.expires_at <= now {
                    "expired"
                } else if t.uses >= t.max_uses {
                    "used up"
                } else {
                    "usable"
                }
                .to_owned(),
                id: t.id,
                label: t.label,
                created_by: t.created_by,
                expires_at: t.expires_at,
                uses: t.uses,
                max_uses: t.max_uses,
            })
            .collect())
    })
    .await
}

/// Revokes an enrolment token.
#[server(endpoint = "admin/enrollment/revoke")]
pub async fn revoke_enrollment_token(id: i64) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        if !patchport_db::agents::revoke_token(&mut w.tx, id, w.now).await? {
            return Err(AppError::NotFound);
        }
        w.commit("agent.token_revoked", &format!("token {id}"), "")
            .await?;
        Ok(())
    })
    .await
}

/// Revokes a server's agent credential: its check-ins are refused until it
/// is enrolled again.
#[server(endpoint = "admin/servers/revoke_agent")]
pub async fn revoke_agent(server_id: i64) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        if !patchport_db::agents::revoke_credential(&mut w.tx, server_id, w.now).await? {
            return Err(AppError::NotFound);
        }
        w.commit("agent.revoked", &format!("server {server_id}"), "")
            .await?;
        Ok(())
    })
    .await
}

/// Assigns a server to an owner (empty for none) and sets its criticality.
#[server(endpoint = "admin/servers/assign")]
pub async fn assign_server(
    server_id: i64,
    owner: String,
    criticality: String,
) -> Result<(), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        if !matches!(criticality.as_str(), "critical" | "standard") {
            return Err(AppError::invalid(
                "criticality",
                "criticality must be critical or standard",
            ));
        }
        let owner_id = match owner.trim() {
            "" => None,
            name => Some(account_named(&mut w.tx, name).await?),
        };
        patchport_db::servers::set_assignment(&mut w.tx, server_id, owner_id, &criticality).await?;
        let detail = format!("owner '{}', {criticality}", owner.trim());
        w.commit("server.assigned", &format!("server {server_id}"), &detail)
            .await?;
        Ok(())
    })
    .await
}

/// A server's details, as its page shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// The list row (counts, owner, status).
    pub row: ServerRow,
    /// Running kernel.
    pub kernel: String,
    /// Architecture.
    pub arch: String,
    /// Current boot id.
    pub boot_id: String,
    /// deb or rpm.
    pub package_format: String,
    /// Packages that asked for a reboot.
    pub reboot_required_packages: String,
    /// Last full report.
    pub last_report_at: Option<i64>,
    /// Enrolled at.
    pub created_at: i64,
    /// A credential rotation waits for the agent's next check-in.
    pub rotation_pending: bool,
    /// Patches, open ones first.
    pub patches: Vec<PatchView>,
}

/// One of a server's patches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PatchView {
    /// Catalog id.
    pub patch_id: i64,
    /// Package.
    pub package: String,
    /// Installed version when first seen missing.
    pub installed_version: Option<String>,
    /// Target version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// From a security origin.
    pub security: bool,
    /// missing, queued, installing, installed, failed, superseded, …
    pub state: String,
    /// Missing since.
    pub first_seen: i64,
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
}

impl PatchView {
    /// Not on the server yet.
    pub fn is_open(&self) -> bool {
        !matches!(self.state.as_str(), "installed" | "superseded")
    }

    /// An install job may be queued for it.
    pub fn installable(&self) -> bool {
        matches!(self.state.as_str(), "missing" | "published" | "failed")
    }
}

/// A page of a server's installed packages: (name, arch, version, source).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagePage {
    /// Packages on this page.
    pub items: Vec<(String, String, String, Option<String>)>,
    /// Matching packages in all.
    pub total: i64,
}

/// Loads a server the caller may see: any for admins, their own for
/// owners. Others get "not found", so owners cannot probe for ids.
#[cfg(feature = "ssr")]
pub async fn visible_server(
    conn: &mut patchport_db::Conn,
    me: &crate::accounts::UserView,
    id: i64,
) -> Result<patchport_db::servers::ServerDetail, AppError> {
    let server = patchport_db::servers::get(conn, id)
        .await?
        .ok_or(AppError::NotFound)?;
    if me.role != patchport_core::Role::Admin && server.owner_id != Some(me.id) {
        return Err(AppError::NotFound);
    }
    Ok(server)
}

/// One server's details and patches.
#[server(endpoint = "servers/detail")]
pub async fn server_detail(id: i64) -> Result<ServerInfo, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::user()?;
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
        let s = visible_server(&mut conn, &me, id).await?;
        let now = state.clock.now();
        let mut summaries = patchport_db::advisories::summaries_for_server(&mut conn, id).await?;
        let critical = s.row.criticality == "critical";
        let mut patches: Vec<PatchView> = patchport_db::servers::patch_rows(&mut conn, id)
            .await?
            .into_iter()
            .map(|p| {
                let summary = summaries.remove(&p.patch_id).unwrap_or_default();
                // What the update fixes on *this* server, from the version
                // it has installed.
                let risk = patchport_core::risk::assess(&patchport_core::risk::RiskInput {
                    cvss: summary.cvss,
                    severity: summary.severity.clone(),
                    security: p.security || summary.security,
                    known_exploited: summary.known_exploited,
                    age_days: (now - p.first_seen).max(0) / 86_400,
                    critical_server: critical,
                });
                PatchView {
                    patch_id: p.patch_id,
                    package: p.package,
                    installed_version: p.installed_version,
                    version: p.version,
                    arch: p.arch,
                    security: p.security || summary.security,
                    state: p.state,
                    first_seen: p.first_seen,
                    advisories: summary.advisories,
                    advisory_count: summary.advisory_count,
                    cves: summary.cves,
                    known_exploited: summary.known_exploited,
                    risk,
                }
            })
            .collect();
        // Open patches first, the riskiest on top.
        patches.sort_by(|a, b| {
            b.is_open()
                .cmp(&a.is_open())
                .then(b.risk.score.cmp(&a.risk.score))
                .then(a.package.cmp(&b.package))
        });
        Ok(ServerInfo {
            row: ServerRow::from_db(s.row, now),
            kernel: s.kernel,
            arch: s.arch,
            boot_id: s.boot_id,
            package_format: s.package_format,
            reboot_required_packages: s.reboot_required_packages,
            last_report_at: s.last_report_at,
            created_at: s.created_at,
            rotation_pending: s.rotation_pending,
            patches,
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
        visible_server(&mut conn, &me, id).await?;
        let found =
            patchport_db::servers::search_packages(&mut conn, id, &search, page, PACKAGES_PER_PAGE)
                .await?;
        Ok(PackagePage {
            items: found.items,
            total: found.total,
        })
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
    let install = move |_| {
        let chosen: Vec<i64> = selected.get_untracked().into_iter().collect();
        installing.dispatch(crate::jobs::InstallPatches {
            server_id: id(),
            patch_ids: chosen,
            when: when.get_untracked(),
            at: install_at.get_untracked(),
        });
    };
    // A queued install clears the selection and shows in the jobs card.
    Effect::new(move |_| {
        if let Some(Ok(_)) = installing.value().get() {
            selected.set(Default::default());
            jobs_changed.update(|n| *n += 1);
        }
    });
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move { match detail.await {
                Err(e) => view! { <section class="card"><p class="error">{e.to_string()}</p><a href="/servers">"Back to servers"</a></section> }.into_any(),
                Ok(d) => {
                    let open: Vec<PatchView> = d.patches.iter().filter(|p| p.is_open()).cloned().collect();
                    let closed = d.patches.len() - open.len();
                    let server_id = d.row.id;
                    view! {
                        <section class="card">
                            <p><a href="/servers">"‹ Servers"</a></p>
                            <h1 id="server-name">{d.row.hostname.clone()}</h1>
                            <dl class="facts">
                                <dt>"OS"</dt><dd>{d.row.os_name.clone()}</dd>
                                <dt>"Kernel"</dt><dd>{d.kernel.clone()}</dd>
                                <dt>"Architecture"</dt><dd>{format!("{} ({})", d.arch, d.package_format)}</dd>
                                <dt>"Owner"</dt><dd>{d.row.owner.clone().unwrap_or_else(|| "—".into())}</dd>
                                <dt>"Criticality"</dt><dd>{d.row.criticality.clone()}</dd>
                                <dt>"Agent"</dt><dd>
                                    <span class=format!("dot {}", d.row.status)></span>{d.row.status.clone()}
                                    {if d.row.agent_active { "" } else { " · credential revoked" }}
                                    {d.rotation_pending.then_some(" · new credential waiting for the next check-in")}
                                    {(admin && d.row.agent_active && !d.rotation_pending).then(|| {
                                        let server_id = d.row.id;
                                        view! { " " <RotateButton server_id rotate /> }
                                    })}
                                    <FormError action=rotate />
                                </dd>
                                <dt>"Groups"</dt><dd>{if d.row.groups.is_empty() { "—".to_owned() } else { d.row.groups.iter().map(|g| g.1.clone()).collect::<Vec<_>>().join(", ") }}</dd>
                                <dt>"Last check-in"</dt><dd>{d.row.last_check_in.map(patchport_core::clock::format_utc).unwrap_or_else(|| "never".into())}</dd>
                                <dt>"Last full report"</dt><dd>{d.last_report_at.map(patchport_core::clock::format_utc).unwrap_or_else(|| "none yet".into())}</dd>
                                <dt>"Reboot"</dt><dd>{if d.row.reboot_required {
                                    format!("required {}", d.reboot_required_packages)
                                } else { "not required".to_owned() }}</dd>
                                <dt>"Boot id"</dt><dd><code>{d.boot_id.clone()}</code></dd>
                            </dl>
                        </section>
                        <section class="card">
                            <h2>{format!("Missing patches ({}, {} security)", d.row.missing, d.row.missing_security)}</h2>
                            {if open.is_empty() {
                                view! { <p class="empty">"Nothing missing: the package manager offers no updates."</p> }.into_any()
                            } else {
                                // Owners install what was published for them;
                                // admins anything not installed or underway.
                                let selectable = move |p: &PatchView| if admin { p.installable() } else { p.state == "published" };
                                let installable = open.iter().filter(|p| selectable(p)).count();
                                let hint = if admin {
                                    format!("Installs exactly these versions with the server's package manager; {installable} can be installed.")
                                } else if installable == 0 {
                                    "Nothing is published for you to install yet: your administrators publish patches once they have been tested.".to_owned()
                                } else {
                                    format!("{installable} patch(es) were published for you to install: choose them, then when.")
                                };
                                view! {
                                    <div class="toolbar" id="install-toolbar">
                                        <button type="button" class="primary" id="install-selected"
                                            disabled=move || selected.with(|s| s.is_empty()) || installing.pending().get()
                                            on:click=install>
                                            {move || format!("Install selected ({})", selected.with(|s| s.len()))}
                                        </button>
                                        <label class="inline">
                                            <select name="when" aria-label="When to install" on:change=move |ev| when.set(event_target_value(&ev))>
                                                <option value="now" selected=true>"now"</option>
                                                <option value="window">"in the next maintenance window"</option>
                                                <option value="at">"at a time (UTC)…"</option>
                                            </select>
                                        </label>
                                        <Show when=move || when.get() == "at">
                                            <input type="datetime-local" name="install_at" aria-label="Install at (UTC)"
                                                prop:value=install_at on:input=move |ev| install_at.set(event_target_value(&ev)) />
                                        </Show>
                                        <span class="hint">{hint}</span>
                                    </div>
                                    <FormError action=installing />
                                    {move || installing.value().get().and_then(Result::ok).map(|q| view! {
                                        <p class="ok" role="status" id="install-queued">{format!(
                                            "Install queued as job {}: it starts from {} (until {}). Its progress shows under Jobs.",
                                            q.job_id, patchport_core::clock::format_utc(q.starts_at), patchport_core::clock::format_utc(q.until)
                                        )}</p>
                                    })}
                                    <table class="data" id="patches">
                                        <thead><tr>
                                            <th></th>
                                            <th>"Risk"</th><th>"Package"</th><th>"Installed"</th><th>"Update to"</th><th>"Advisories"</th><th>"Missing since"</th><th>"State"</th>
                                        </tr></thead>
                                        <tbody>
                                            {open.into_iter().map(|p| {
                                                let pid = p.patch_id;
                                                let can = selectable(&p);
                                                view! {
                                                    <tr data-package=p.package.clone() data-state=p.state.clone()>
                                                        <td><input type="checkbox" aria-label=format!("Select {}", p.package) disabled=!can
                                                            prop:checked=move || selected.with(|s| s.contains(&pid))
                                                            on:change=move |ev| {
                                                                let on = event_target_checked(&ev);
                                                                selected.update(|s| { if on { s.insert(pid); } else { s.remove(&pid); } });
                                                            } /></td>
                                                        <td class="risk" title=p.risk.explanation.clone()>
                                                            <span class=format!("badge risk-{}", p.risk.level)>{p.risk.score}</span>
                                                            <br/><small>{p.risk.explanation.clone()}</small>
                                                        </td>
                                                        <td><a href=format!("/patches/{pid}?server={server_id}")>{p.package.clone()}</a></td>
                                                        <td>{p.installed_version.clone().unwrap_or_default()}</td>
                                                        <td>{p.version.clone()}</td>
                                                        <td class="advisories">
                                                            {if p.advisories.is_empty() {
                                                                view! { <span class:warn=p.security>{if p.security { "security update" } else { "" }}</span> }.into_any()
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
                                                        <td class="nowrap"><small>{patchport_core::clock::format_utc(p.first_seen)}</small></td>
                                                        <td><span class=format!("badge patch-{}", p.state)>{p.state.clone()}</span></td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                }.into_any()
                            }}
                            {(closed > 0).then(|| view! { <p class="hint">{format!("{closed} earlier patches were installed or superseded.")}</p> })}
                        </section>
                    }.into_any()
                }
            }})}
        </Transition>
        {move || (id() > 0).then(|| view! { <crate::jobs::JobsCard server_id=id() admin queue cancel changed=jobs_changed /> })}
        {move || (id() > 0).then(|| view! { <crate::booking::RebootCard server_id=id() /> })}
        <section class="card">
            <h2>"Installed packages"</h2>
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
                        <table class="data" id="packages">
                            <thead><tr><th>"Package"</th><th>"Version"</th><th>"Arch"</th><th>"Source"</th></tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|(n, a, v, src)| view! {
                                    <tr><td>{n}</td><td>{v}</td><td>{a}</td><td>{src.unwrap_or_default()}</td></tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }})}
            </Transition>
        </section>
    }
}

/// A column header that sorts the list by `column`; a second click turns
/// the order round.
#[component]
fn SortHeader(
    label: &'static str,
    column: &'static str,
    filter: RwSignal<ServerFilter>,
    page: RwSignal<i64>,
) -> impl IntoView {
    let active =
        move || filter.with(|f| f.sort == column || (f.sort.is_empty() && column == "hostname"));
    let arrow = move || match (active(), filter.with(|f| f.descending)) {
        (false, _) => "",
        (true, false) => " ▲",
        (true, true) => " ▼",
    };
    view! {
        <th aria-sort=move || match (active(), filter.with(|f| f.descending)) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        }>
            <button type="button" class="sort" on:click=move |_| {
                filter.update(|f| {
                    if active() {
                        f.descending = !f.descending;
                    } else {
                        f.sort = column.to_owned();
                        // Counts and recency read best largest first.
                        f.descending = matches!(column, "missing" | "security" | "last_seen");
                    }
                });
                page.set(1);
            }>{label}{arrow}</button>
        </th>
    }
}

/// The servers page.
#[component]
pub fn ServersPage() -> impl IntoView {
    use crate::groups::{
        CreateGroup, DeleteGroup, GroupsCard, SetServerGroups, SetTestGroup, list_groups,
    };
    let revoke = ServerAction::<RevokeAgent>::new();
    let assign = ServerAction::<AssignServer>::new();
    let set_groups = ServerAction::<SetServerGroups>::new();
    let create_group = ServerAction::<CreateGroup>::new();
    let delete_group = ServerAction::<DeleteGroup>::new();
    let set_test = ServerAction::<SetTestGroup>::new();
    let filter = RwSignal::new(ServerFilter::default());
    let page = RwSignal::new(1_i64);
    let servers = Resource::new(
        move || {
            (
                filter.get(),
                page.get(),
                revoke.version().get(),
                assign.version().get(),
                set_groups.version().get(),
                delete_group.version().get(),
            )
        },
        |(f, p, ..)| list_servers(f, p),
    );
    let admin = use_context::<crate::accounts::UserView>()
        .is_some_and(|u| u.role == patchport_core::Role::Admin);
    let groups = Resource::new(
        move || {
            (
                create_group.version().get(),
                delete_group.version().get(),
                set_test.version().get(),
                set_groups.version().get(),
            )
        },
        move |_| async move {
            if admin {
                list_groups().await
            } else {
                Ok(Vec::new())
            }
        },
    );
    let set = move |change: fn(&mut ServerFilter, String)| {
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev);
            filter.update(|f| change(f, value));
            page.set(1);
        }
    };
    view! {
        <section class="card">
            <h1>{if admin { "Servers" } else { "My servers" }}</h1>
            <div class="toolbar filters" id="server-filters">
                <input type="search" placeholder="Search host name" aria-label="Search servers"
                    prop:value=move || filter.with(|f| f.search.clone())
                    on:input=set(|f, v| f.search = v) />
                {admin.then(|| view! {
                    <Transition fallback=|| ()>
                        {move || Suspend::new(async move {
                            let list = groups.await.unwrap_or_default();
                            view! {
                                <select aria-label="Group" on:change=set(|f, v| f.group_id = v.parse().ok())>
                                    <option value="">"All groups"</option>
                                    {list.into_iter().map(|g| view! {
                                        <option value=g.id.to_string() selected=move || filter.with(|f| f.group_id == Some(g.id))>
                                            {if g.is_test_group { format!("{} (test)", g.name) } else { g.name.clone() }}
                                        </option>
                                    }).collect_view()}
                                </select>
                            }
                        })}
                    </Transition>
                })}
                <select aria-label="Criticality" on:change=set(|f, v| f.criticality = v)>
                    <option value="">"Any criticality"</option>
                    <option value="critical">"critical"</option>
                    <option value="standard">"standard"</option>
                </select>
                <select aria-label="Status" on:change=set(|f, v| f.status = v)>
                    <option value="">"Any status"</option>
                    <option value="online">"online"</option>
                    <option value="stale">"stale (over 10 min)"</option>
                    <option value="offline">"offline (over a day)"</option>
                    <option value="never">"never checked in"</option>
                </select>
                <select aria-label="Reboot" on:change=set(|f, v| f.reboot = v)>
                    <option value="">"Reboot: any"</option>
                    <option value="yes">"reboot required"</option>
                    <option value="no">"no reboot required"</option>
                </select>
                <label class="check">
                    <input type="checkbox" prop:checked=move || filter.with(|f| f.missing_only)
                        on:change=move |ev| { let on = event_target_checked(&ev); filter.update(|f| f.missing_only = on); page.set(1); } />
                    " missing patches only"
                </label>
            </div>
            <FormError action=revoke />
            <FormError action=assign />
            <FormError action=set_groups />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let all_groups = groups.await.unwrap_or_default();
                    let filtered = filter.with_untracked(|f| *f != ServerFilter { sort: f.sort.clone(), descending: f.descending, ..Default::default() });
                    match servers.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.items.is_empty() && filtered => view! {
                        <p class="empty">"No servers match these filters."</p>
                    }.into_any(),
                    Ok(p) if p.items.is_empty() => view! {
                        <p class="empty">{if admin {
                            "No servers yet. Create an enrolment token below and run the agent's enroll command on a server."
                        } else {
                            "No servers are assigned to you yet. Your administrators assign them."
                        }}</p>
                    }.into_any(),
                    Ok(p) => view! {
                        <Pager page per_page=PER_PAGE total=p.total />
                        <div class="table-scroll"><table class="data" id="servers">
                            <thead><tr>
                                <SortHeader label="Host" column="hostname" filter page />
                                <SortHeader label="OS" column="os" filter page />
                                <th>"Groups"</th>
                                {admin.then(|| view! { <SortHeader label="Owner" column="owner" filter page /> })}
                                <SortHeader label="Criticality" column="criticality" filter page />
                                <SortHeader label="Last seen" column="last_seen" filter page />
                                <SortHeader label="Missing" column="missing" filter page />
                                <SortHeader label="Security" column="security" filter page />
                                <th>"Published"</th><th>"Reboot"</th><th>"Next window"</th><th>"Agent"</th>
                            </tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|s| {
                                    let id = s.id;
                                    view! {
                                        <tr data-server=s.hostname.clone()>
                                            <td><a href=format!("/servers/{id}")>{s.hostname.clone()}</a></td>
                                            <td>{s.os_name.clone()}</td>
                                            {if admin {
                                                view! { <GroupCell id current=s.groups.clone() all=all_groups.clone() set_groups /> }.into_any()
                                            } else {
                                                view! { <td>{s.groups.iter().map(|g| g.1.clone()).collect::<Vec<_>>().join(", ")}</td> }.into_any()
                                            }}
                                            {if admin {
                                                view! { <AssignCells id owner=s.owner.clone().unwrap_or_default() criticality=s.criticality.clone() assign /> }.into_any()
                                            } else {
                                                // An owner's list holds only their servers: no owner column.
                                                view! {
                                                    <td><span class=format!("badge crit-{}", s.criticality)>{s.criticality.clone()}</span></td>
                                                }.into_any()
                                            }}
                                            <td class="nowrap">
                                                <span class=format!("dot {}", s.status)></span>
                                                {s.status.clone()} " "
                                                <small>{s.last_check_in.map(patchport_core::clock::format_utc).unwrap_or_default()}</small>
                                            </td>
                                            <td>{s.missing}</td>
                                            <td class:warn=move || { s.missing_security > 0 }>{s.missing_security}</td>
                                            <td class="published" class:warn=move || { s.published > 0 }>
                                                {(s.published > 0).then(|| view! { <a href=format!("/servers/{id}")>{format!("{} to install", s.published)}</a> })}
                                            </td>
                                            <td class="reboot">{match (s.booked_reboot, s.reboot_required) {
                                                (Some(at), _) => format!("booked {}", patchport_core::clock::format_utc(at)),
                                                (None, true) => "required: book it".to_owned(),
                                                (None, false) => String::new(),
                                            }}</td>
                                            <td class="window"><small>{match s.next_window {
                                                Some((_, end)) if s.window_open => format!("open until {}", patchport_core::clock::format_utc(end)),
                                                Some((start, _)) => patchport_core::clock::format_utc(start),
                                                None => "none".to_owned(),
                                            }}</small></td>
                                            <td>
                                                {if !s.agent_active {
                                                    view! { <span class="badge">"revoked"</span> }.into_any()
                                                } else if admin {
                                                    view! { <RevokeButton id revoke /> }.into_any()
                                                } else {
                                                    view! { <span>"active"</span> }.into_any()
                                                }}
                                            </td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                }})}
            </Transition>
        </section>
        {admin.then(|| view! {
            <GroupsCard create=create_group delete=delete_group set_test groups />
            <EnrollmentTokens />
        })}
    }
}

/// A server's groups, which an admin can change in place.
#[component]
fn GroupCell(
    id: i64,
    current: Vec<(i64, String)>,
    all: Vec<crate::groups::GroupView>,
    set_groups: ServerAction<crate::groups::SetServerGroups>,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    let chosen = RwSignal::new(
        current
            .iter()
            .map(|g| g.0)
            .collect::<std::collections::BTreeSet<i64>>(),
    );
    let shown = if current.is_empty() {
        "—".to_owned()
    } else {
        current
            .iter()
            .map(|g| g.1.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let any_groups = !all.is_empty();
    view! {
        <td>
            <Show when=move || editing.get() fallback=move || view! {
                {shown.clone()}" "
                {any_groups.then(|| view! {
                    <button type="button" class="small" aria-label="Edit groups" on:click=move |_| editing.set(true)>"Edit"</button>
                })}
            }>
                <form class="inline groups" on:submit=move |ev| {
                    ev.prevent_default();
                    set_groups.dispatch(crate::groups::SetServerGroups { server_id: id, group_ids: chosen.get_untracked().into_iter().collect() });
                    editing.set(false);
                }>
                    {all.iter().map(|g| {
                        let gid = g.id;
                        view! {
                            <label class="check">
                                <input type="checkbox" prop:checked=move || chosen.with(|c| c.contains(&gid))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        chosen.update(|c| { if on { c.insert(gid); } else { c.remove(&gid); } });
                                    } />
                                {g.name.clone()}
                            </label>
                        }
                    }).collect_view()}
                    <button type="submit" class="primary small">"Save"</button>
                    <button type="button" class="small" on:click=move |_| editing.set(false)>"Cancel"</button>
                </form>
            </Show>
        </td>
    }
}

/// Owner and criticality cells that an admin can edit in place.
#[component]
fn AssignCells(
    id: i64,
    owner: String,
    criticality: String,
    assign: ServerAction<AssignServer>,
) -> impl IntoView {
    let editing = RwSignal::new(false);
    let new_owner = RwSignal::new(owner.clone());
    let new_crit = RwSignal::new(criticality.clone());
    let shown_owner = if owner.is_empty() {
        "—".to_owned()
    } else {
        owner
    };
    view! {
        <Show when=move || editing.get() fallback=move || {
            let (o, c) = (shown_owner.clone(), criticality.clone());
            view! {
                <td>{o}</td>
                <td>
                    <span class=format!("badge crit-{c}")>{c.clone()}</span>" "
                    <button type="button" class="small" aria-label="Edit owner and criticality" on:click=move |_| editing.set(true)>"Edit"</button>
                </td>
            }
        }>
            <td colspan="2">
                <form class="inline" on:submit=move |ev| {
                    ev.prevent_default();
                    assign.dispatch(AssignServer { server_id: id, owner: new_owner.get_untracked(), criticality: new_crit.get_untracked() });
                    editing.set(false);
                }>
                    <input type="text" placeholder="owner's user name" aria-label="Owner"
                        prop:value=new_owner on:input=move |ev| new_owner.set(event_target_value(&ev)) />
                    <select aria-label="Criticality" prop:value=new_crit on:change=move |ev| new_crit.set(event_target_value(&ev))>
                        <option value="standard">"standard"</option>
                        <option value="critical">"critical"</option>
                    </select>
                    <button type="submit" class="primary">"Save"</button>
                    <button type="button" on:click=move |_| editing.set(false)>"Cancel"</button>
                </form>
            </td>
        </Show>
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

#[component]
fn RevokeButton(id: i64, revoke: ServerAction<RevokeAgent>) -> impl IntoView {
    let confirming = RwSignal::new(false);
    view! {
        <Show when=move || confirming.get() fallback=move || view! {
            <button type="button" on:click=move |_| confirming.set(true)>"Revoke"</button>
        }>
            <span class="confirm" role="alertdialog">
                "Refuse this agent's check-ins?"
                <button type="button" class="danger" on:click=move |_| {
                    revoke.dispatch(RevokeAgent { server_id: id });
                    confirming.set(false);
                }>"Revoke"</button>
                <button type="button" on:click=move |_| confirming.set(false)>"Cancel"</button>
            </span>
        </Show>
    }
}

#[component]
fn EnrollmentTokens() -> impl IntoView {
    let create = ServerAction::<CreateEnrollmentToken>::new();
    let revoke = ServerAction::<RevokeEnrollmentToken>::new();
    let tokens = Resource::new(
        move || (create.version().get(), revoke.version().get()),
        |_| list_enrollment_tokens(),
    );
    let portal = move || {
        web_sys::window()
            .and_then(|w| w.location().origin().ok())
            .unwrap_or_else(|| "https://patchport.example".into())
    };
    view! {
        <section class="card">
            <h2>"Enrol a server"</h2>
            <p class="hint">
                "Create a token, then run the enroll command as root on the server. The token is shown once; "
                "the portal keeps only its hash."
            </p>
            <ActionForm action=create attr:class="grid-form" attr:id="create-token">
                <label>"Label" <input type="text" name="label" placeholder="e.g. web servers" /></label>
                <label>"Valid for (hours)" <input type="number" name="valid_hours" value="24" min="1" max="720" required /></label>
                <label>"Servers it may enrol" <input type="number" name="max_uses" value="1" min="1" max="1000" required /></label>
                <button type="submit" class="primary">"Create token"</button>
            </ActionForm>
            <FormError action=create />
            {move || create.value().get().and_then(Result::ok).map(|token| view! {
                <div class="token" role="status">
                    <p><strong>"Copy this now; it will not be shown again:"</strong></p>
                    <pre>{format!("patchport-agent enroll --url {} --token {token}", portal())}</pre>
                </div>
            })}
            <FormError action=revoke />
            <Transition fallback=|| ()>
                {move || Suspend::new(async move { match tokens.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(list) if list.is_empty() => view! { <p class="empty">"No enrolment tokens yet."</p> }.into_any(),
                    Ok(list) => view! {
                        <table class="data" id="tokens">
                            <thead><tr><th>"Label"</th><th>"Created by"</th><th>"Expires (UTC)"</th><th>"Used"</th><th>"Status"</th><th></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|t| {
                                    let id = t.id;
                                    let usable = t.status == "usable";
                                    view! {
                                        <tr>
                                            <td>{t.label}</td>
                                            <td>{t.created_by}</td>
                                            <td class="nowrap">{patchport_core::clock::format_utc(t.expires_at)}</td>
                                            <td>{format!("{} of {}", t.uses, t.max_uses)}</td>
                                            <td>{t.status}</td>
                                            <td>{usable.then(|| view! {
                                                <button type="button" on:click=move |_| { revoke.dispatch(RevokeEnrollmentToken { id }); }>"Revoke"</button>
                                            })}</td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                }})}
            </Transition>
        </section>
    }
}
