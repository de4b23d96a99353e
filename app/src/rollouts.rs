//! The rollout workflow for admins: policies, rollouts with their history
//! and decisions, publishing and deploying selected patches, and the live
//! status of a deployment. The rollouts list (`list`), a rollout's page
//! (`detail`), decisions with what they did (`decisions`) and a
//! deployment's page with its rollback (`deployment`) are parts of their
//! own, re-exported here.

mod decisions;
mod deployment;
mod detail;
mod list;

pub use decisions::*;
pub use deployment::*;
pub use detail::*;
pub use list::*;

use crate::errors::AppError;
use crate::ui::{FormError, Pager};
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use patchport_core::rollout::{Policy, RolloutState};
#[cfg(feature = "ssr")]
use patchport_db::rollouts::{Kind, Reboot};
use serde::{Deserialize, Serialize};

/// A policy as edited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView {
    /// Id.
    pub id: i64,
    /// Name.
    pub name: String,
    /// Asked in this order.
    pub position: i64,
    /// Takes new patches.
    pub enabled: bool,
    /// What it covers and does.
    pub policy: Policy,
    /// Last change.
    pub updated_at: i64,
    /// Who changed it.
    pub updated_by: String,
}

/// Every policy.
#[server(endpoint = "admin/policies/list")]
pub async fn list_policies() -> Result<Vec<PolicyView>, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut conn = ssr::admin_read().await?;
        Ok(patchport_db::rollouts::policies(&mut conn)
            .await?
            .into_iter()
            .map(|p| PolicyView {
                id: p.id,
                name: p.name,
                position: p.position,
                enabled: p.enabled,
                policy: p.policy,
                updated_at: p.updated_at,
                updated_by: p.updated_by,
            })
            .collect())
    })
    .await
}

/// Creates (`id` 0) or changes a policy.
#[server(endpoint = "admin/policies/save", input = server_fn::codec::Json)]
pub async fn save_policy(
    id: i64,
    name: String,
    position: i64,
    enabled: bool,
    policy: Policy,
) -> Result<i64, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let name = AppError::named("name", "a policy", &name)?;
        let policy = policy
            .validated()
            .map_err(|e| AppError::invalid("policy", e.to_string()))?;
        let id = patchport_db::rollouts::save_policy(
            &mut w.tx,
            (id > 0).then_some(id),
            &patchport_db::rollouts::PolicyInput {
                name: &name,
                position,
                enabled,
                policy: &policy,
            },
            w.me.id,
            w.now,
        )
        .await?;
        w.commit(
            "policy.saved",
            &name,
            &serde_json::to_string(&policy).unwrap_or_default(),
        )
        .await?;
        Ok(id)
    })
    .await
}

pub use policy_form::*;

/// The form-posted policy (its own module: one argument per form field is
/// more than clippy's limit, and the macro's copies of the function do not
/// carry an `allow`).
#[allow(clippy::too_many_arguments)]
mod policy_form {
    use super::*;

    /// A policy's form, posted URL-encoded (by the hydrated page or, without
    /// JavaScript, by the browser): `id` (0 for a new policy), the fields as
    /// typed, each ticked check box as `true` (absent when not ticked), the
    /// pattern and release lists one per line. Saves it as [`save_policy`]
    /// does; an unreadable number is refused by its checks.
    #[server(endpoint = "admin/policies/submit")]
    pub async fn submit_policy(
        #[server(default)] id: i64,
        #[server(default)] name: String,
        #[server(default)] position: String,
        #[server(default)] enabled: bool,
        #[server(default)] min_severity: String,
        #[server(default)] security_only: bool,
        #[server(default)] include: String,
        #[server(default)] exclude: String,
        #[server(default)] releases: String,
        #[server(default)] auto_test: bool,
        #[server(default)] observation_days: String,
        #[server(default)] auto_approve: bool,
        #[server(default)] publish_critical: bool,
        #[server(default)] deploy_standard: bool,
    ) -> Result<i64, AppError> {
        let id = save_policy(
            id,
            name,
            position.trim().parse().unwrap_or(0),
            enabled,
            Policy {
                min_severity,
                security_only,
                include: split_lines(&include),
                exclude: split_lines(&exclude),
                releases: split_lines(&releases),
                auto_test,
                observation_days: observation_days.trim().parse().unwrap_or(0),
                auto_approve,
                publish_critical,
                deploy_standard,
            },
        )
        .await?;
        crate::ui::back_to_page(None);
        Ok(id)
    }
}

/// A rollout as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutView {
    /// Id.
    pub id: i64,
    /// Patch id.
    pub patch_id: i64,
    /// Package.
    pub package: String,
    /// Target version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Severity.
    pub severity: String,
    /// Known exploited.
    pub known_exploited: bool,
    /// Servers missing it.
    pub servers: i64,
    /// State.
    pub state: RolloutState,
    /// Policy.
    pub policy: String,
    /// Observation end.
    pub observe_until: Option<i64>,
    /// When the policy took it.
    #[serde(default)]
    pub created_at: i64,
    /// Last change.
    pub updated_at: i64,
}

/// A stored rollout as the pages show it.
#[cfg(feature = "ssr")]
fn rollout_view(r: patchport_db::rollouts::RolloutRow) -> RolloutView {
    RolloutView {
        id: r.id,
        patch_id: r.patch_id,
        package: r.package,
        version: r.version,
        release: r.release,
        severity: r.severity,
        known_exploited: r.known_exploited,
        servers: r.servers,
        state: r.state,
        policy: r.policy,
        observe_until: r.observe_until,
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// The publish / deploy form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRequest {
    /// publish or deploy.
    pub mode: String,
    /// The selected patches.
    pub patch_ids: Vec<i64>,
    /// Servers chosen one by one.
    pub server_ids: Vec<i64>,
    /// Groups whose servers are chosen.
    pub group_ids: Vec<i64>,
    /// Owners whose servers are chosen.
    pub owner_ids: Vec<i64>,
    /// Servers chosen by host name.
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// Owners chosen by user name.
    #[serde(default)]
    pub owners: Vec<String>,
    /// Empty for now, or `YYYY-MM-DDTHH:MM` UTC.
    pub install_at: String,
    /// none, after or at.
    pub reboot: String,
    /// With `at`: `YYYY-MM-DDTHH:MM` UTC.
    pub reboot_at: String,
    /// The form's one-time key: sending the same form twice makes one
    /// deployment.
    pub request_key: String,
}

/// Publishes or deploys the chosen patches to the chosen servers, groups
/// and owners. Returns the deployment and what was left out; with nothing
/// left to do it is refused, and says why.
#[server(endpoint = "admin/deployments/create", input = server_fn::codec::Json)]
pub async fn create_deployment(request: DeploymentRequest) -> Result<DeploymentCreated, AppError> {
    use crate::ssr;
    use patchport_db::rollouts::{self, NewDeployment};
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let hostnames = non_blank(&request.hostnames);
        let owners = non_blank(&request.owners);
        let (kind, not_before, reboot) =
            checked_choices(&request, hostnames.len() + owners.len(), w.now, &w.me.zone)?;
        let servers = chosen_servers(&mut w.tx, &request, &hostnames, &owners).await?;
        let DeploymentRequest {
            mode,
            patch_ids,
            request_key,
            ..
        } = request;
        let done = rollouts::deploy(
            &mut w.tx,
            &NewDeployment {
                kind,
                patch_ids: &patch_ids,
                server_ids: &servers,
                not_before,
                in_windows: false,
                reboot,
                rollout_id: None,
                created_by: Some(w.me.id),
                request_key: Some(&request_key),
                note: "",
            },
            w.now,
        )
        .await?;
        if done.created && done.targets == 0 {
            // Dropping the transaction leaves no empty deployment behind.
            return Err(AppError::Conflict(format!(
                "nothing to do: {}",
                done.skipped.join("; ")
            )));
        }
        if done.created {
            w.audit(
                &format!("deployment.{mode}"),
                &format!("deployment {}", done.id),
                &format!(
                    "{} server-patches, {} jobs, {} left out",
                    done.targets,
                    done.jobs,
                    done.skipped.len()
                ),
            )
            .await?;
        }
        w.commit_unaudited().await?;
        Ok(DeploymentCreated {
            id: done.id,
            created: done.created,
            targets: done.targets,
            jobs: done.jobs,
            skipped: done.skipped,
        })
    })
    .await
}

pub use submit::*;

/// The form-posted deployment (its own module: one argument per form
/// field is more than clippy's limit, and the macro's copies of the
/// function do not carry an `allow`).
#[allow(clippy::too_many_arguments)]
mod submit {
    use super::*;

    /// The report's publish / deploy form, posted URL-encoded: by the
    /// hydrated page or, without JavaScript, by the browser itself. Makes the
    /// same deployment as [`create_deployment`] and then goes to its page;
    /// an error comes back to the report (in the query string without
    /// JavaScript, shown under the form).
    #[server(endpoint = "admin/deployments/submit")]
    pub async fn submit_deployment(
        mode: String,
        #[server(default)] patch_ids: Vec<i64>,
        #[server(default)] group_id: i64,
        #[server(default)] hostnames: String,
        #[server(default)] owners: String,
        #[server(default)] install_at: String,
        #[server(default)] reboot: String,
        #[server(default)] reboot_at: String,
        #[server(default)] request_key: String,
    ) -> Result<DeploymentCreated, AppError> {
        use crate::ssr;
        ssr::run(async move {
            let mut patch_ids = patch_ids;
            patch_ids.sort_unstable();
            patch_ids.dedup();
            if patch_ids.is_empty() {
                return Err(AppError::invalid(
                    "patch_ids",
                    "tick the patches to publish or deploy",
                ));
            }
            let split = |v: &str| {
                v.split([',', ' '])
                    .map(str::trim)
                    .filter(|x| !x.is_empty())
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            };
            let request_key = if request_key.trim().is_empty() {
                new_key()
            } else {
                request_key
            };
            let done = create_deployment(DeploymentRequest {
                mode,
                patch_ids,
                server_ids: vec![],
                group_ids: (group_id > 0).then_some(group_id).into_iter().collect(),
                owner_ids: vec![],
                hostnames: split(&hostnames),
                owners: split(&owners),
                install_at,
                reboot: if reboot.trim().is_empty() {
                    "none".to_owned()
                } else {
                    reboot
                },
                reboot_at,
                request_key,
            })
            .await?;
            leptos_axum::redirect(&format!("/deployments/{}", done.id));
            Ok(done)
        })
        .await
    }
}

/// The servers a deployment form chooses: by id, by group, by owner, by
/// host name and by owner name (`hostnames`, `owners`: non-blank); none
/// is refused.
#[cfg(feature = "ssr")]
async fn chosen_servers(
    conn: &mut patchport_db::Conn,
    r: &DeploymentRequest,
    hostnames: &[String],
    owners: &[String],
) -> Result<Vec<i64>, AppError> {
    use patchport_db::rollouts;
    let mut server_ids = r.server_ids.clone();
    server_ids.extend(
        rollouts::servers_named(conn, hostnames)
            .await
            .map_err(|e| AppError::invalid("hostnames", AppError::from(e).to_string()))?,
    );
    let mut owner_ids = r.owner_ids.clone();
    for name in owners {
        owner_ids.push(
            crate::servers::account_named(conn, name)
                .await
                .map_err(|e| AppError::invalid("owners", e.to_string()))?,
        );
    }
    let servers = rollouts::resolve_servers(conn, &server_ids, &r.group_ids, &owner_ids).await?;
    if servers.is_empty() {
        return Err(AppError::invalid(
            "targets",
            "the chosen groups and owners have no servers",
        ));
    }
    Ok(servers)
}

/// The entries of a list that are not blank, trimmed.
#[cfg(feature = "ssr")]
fn non_blank(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .collect()
}

/// Checks a deployment form's choices (`named` targets: the non-blank host
/// and owner names) and returns its kind, install time and reboot.
#[cfg(feature = "ssr")]
fn checked_choices(
    r: &DeploymentRequest,
    named: usize,
    now: i64,
    zone: &str,
) -> Result<(Kind, i64, Reboot), AppError> {
    let kind = match r.mode.as_str() {
        "publish" => Kind::Publish,
        "deploy" => Kind::Deploy,
        _ => return Err(AppError::invalid("mode", "choose publish or deploy")),
    };
    if r.patch_ids.is_empty() || r.patch_ids.len() > 1000 {
        return Err(AppError::invalid("patch_ids", "select 1 to 1,000 patches"));
    }
    if r.server_ids.len() + r.group_ids.len() + r.owner_ids.len() + named == 0 {
        return Err(AppError::invalid(
            "targets",
            "choose the servers, groups or owners to act on",
        ));
    }
    if r.request_key.len() < 8
        || r.request_key.len() > 64
        || !r
            .request_key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(AppError::invalid(
            "request_key",
            "the form is stale: reload the page",
        ));
    }
    let not_before =
        crate::jobs::parse_time("install_at", "install time", &r.install_at, now, zone)?;
    let reboot = match (kind, r.reboot.as_str()) {
        (Kind::Publish, _) | (_, "none") => Reboot::None,
        (_, "after") => Reboot::AfterInstall,
        (_, "at") => {
            if r.reboot_at.trim().is_empty() {
                return Err(AppError::invalid("reboot_at", "choose the reboot time"));
            }
            let at = crate::jobs::parse_time("reboot_at", "reboot time", &r.reboot_at, now, zone)?;
            if at < not_before {
                return Err(AppError::invalid(
                    "reboot_at",
                    "the reboot time is before the install time",
                ));
            }
            Reboot::At(at)
        }
        _ => {
            return Err(AppError::invalid(
                "reboot",
                "reboot must be none, after or at",
            ));
        }
    };
    Ok((kind, not_before, reboot))
}

/// What creating a deployment did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentCreated {
    /// Deployment id.
    pub id: i64,
    /// False when this form had already been sent.
    pub created: bool,
    /// Server-patches acted on.
    pub targets: u32,
    /// Install jobs queued.
    pub jobs: u32,
    /// Left out, with why.
    pub skipped: Vec<String>,
}

/// A recorded notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationView {
    /// Recipient.
    pub username: String,
    /// Kind.
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// Link.
    pub link: String,
    /// When.
    pub created_at: i64,
}

/// Notifications recorded for everyone (admins), newest first.
#[server(endpoint = "admin/notifications/list")]
pub async fn list_notifications(page: i64) -> Result<(Vec<NotificationView>, i64), AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut conn = ssr::admin_read().await?;
        let p = patchport_db::rollouts::notifications(&mut conn, None, page, 50).await?;
        Ok((
            p.items
                .into_iter()
                .map(|n| NotificationView {
                    username: n.username,
                    kind: n.kind,
                    subject: n.subject,
                    body: n.body,
                    link: n.link,
                    created_at: n.created_at,
                })
                .collect(),
            p.total,
        ))
    })
    .await
}

/// A rollout's state as a badge.
fn state_badge(state: RolloutState) -> impl IntoView {
    view! { <span class=format!("badge rollout-{}", state.as_str())>{state.label()}</span> }
}

/// The publish / deploy form under the report, acting on its selection:
/// the report's check boxes belong to it (`form="deploy-form"`), so it
/// works before (and without) hydration too.
#[component]
pub fn DeployPanel(
    selected: RwSignal<std::collections::BTreeSet<i64>>,
    /// The groups (the page's list, shared with its filters).
    groups: crate::groups::Groups,
) -> impl IntoView {
    let create = ServerAction::<SubmitDeployment>::new();
    let mode = RwSignal::new("deploy".to_owned());
    let request_key = RwSignal::new(new_key());
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(done)) = create.value().get() {
            navigate(&format!("/deployments/{}", done.id), Default::default());
        }
    });
    view! {
        <section class="card" id="deploy-panel">
            <h2>{move || match selected.with(|s| s.len()) {
                0 => "Publish or deploy the patches ticked below".to_owned(),
                n => format!("Publish or deploy {n} selected patch(es)"),
            }}</h2>
            <ActionForm action=create attr:id="deploy-form">
                // The selection, also from other pages of the report (the
                // server drops the doubles).
                {move || selected.get().into_iter().map(|id| view! {
                    <input type="hidden" name="patch_ids[]" value=id.to_string() />
                }).collect_view()}
                <input type="hidden" name="request_key" prop:value=move || request_key.get() />
                <label>"Action "<select name="mode" aria-label="Action" on:change=move |ev| mode.set(event_target_value(&ev))>
                    <option value="deploy" selected=true>"Deploy (install)"</option>
                    <option value="publish">"Publish to the self-service portal"</option>
                </select></label>
                <label>"Group "<select name="group_id" aria-label="Target group">
                    <option value="0">"—"</option>
                    <Suspense fallback=|| ()>
                        {move || Suspend::new(async move { groups.await.map(|list| list.into_iter().map(|g| view! {
                            <option value=g.id.to_string()>{g.name}</option>
                        }).collect_view()).unwrap_or_default() })}
                    </Suspense>
                </select></label>
                <label>"Servers "<input type="text" name="hostnames" aria-label="Servers" placeholder="host names or #numbers, e.g. web-01, #12" /></label>
                <label>"Owners' servers "<input type="text" name="owners" aria-label="Owners" placeholder="user names" /></label>
                <Show when=move || mode.get() == "deploy">
                    <label>{format!("Install at ({}, empty: now) ", crate::ui::reader_zone())}<input type="datetime-local" name="install_at" aria-label="Install at" /></label>
                    <label>"Reboot "<select name="reboot" aria-label="Reboot">
                        <option value="none">"No reboot (owners are asked to schedule it)"</option>
                        <option value="after">"Right after install"</option>
                        <option value="at">"At a time"</option>
                    </select></label>
                    <label>{format!("Reboot at ({}, with “At a time”) ", crate::ui::reader_zone())}<input type="datetime-local" name="reboot_at" aria-label="Reboot at" /></label>
                </Show>
                <button type="submit" class="primary" disabled=move || create.pending().get()>
                    {move || if mode.get() == "deploy" { "Deploy" } else { "Publish" }}
                </button>
            </ActionForm>
            <FormError action=create />
        </section>
    }
}

/// A one-time key for a form: a double submit reuses it. Made in the
/// browser, where the form is sent from.
fn new_key() -> String {
    #[cfg(feature = "hydrate")]
    {
        let a = (js_sys::Math::random() * 1e15) as u64;
        let b = (js_sys::Math::random() * 1e15) as u64;
        format!("{a:x}-{b:x}")
    }
    #[cfg(not(feature = "hydrate"))]
    {
        // Rendered on the server: the form without JavaScript sends this.
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        format!("{nanos:x}-{:x}", COUNT.fetch_add(1, Ordering::Relaxed))
    }
}

fn lines(v: &[String]) -> String {
    v.join("\n")
}

#[cfg(feature = "ssr")]
fn split_lines(s: &str) -> Vec<String> {
    s.lines().map(str::to_owned).collect()
}

/// `/policies`: every policy, editable, and a form for a new one.
#[component]
pub fn PoliciesPage() -> impl IntoView {
    let save = ServerAction::<SubmitPolicy>::new();
    let policies = Resource::new(move || save.version().get(), |_| list_policies());
    view! {
        <section class="card">
            <h1>"Rollout policies"</h1>
            <p class="hint">"The first enabled policy (lowest position) that covers a newly missing patch takes it into a rollout. Patches no policy covers wait for the manual approach in the report."</p>
            <FormError action=save />
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match policies.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(list) => {
                        let next = list.iter().map(|p| p.position).max().unwrap_or(0) + 1;
                        view! {
                        <h2>"Policies, in the order they are tried"</h2>
                        {list.into_iter().map(|p| view! { <PolicyForm save view=Some(p) position=0 /> }).collect_view()}
                        <h2>"New policy"</h2>
                        <PolicyForm save view=None position=next />
                    }.into_any() }
                }})}
            </Transition>
        </section>
        <OwnerRollbackCard />
    }
}

#[component]
fn PolicyForm(
    save: ServerAction<SubmitPolicy>,
    view: Option<PolicyView>,
    position: i64,
) -> impl IntoView {
    let id = view.as_ref().map(|v| v.id).unwrap_or(0);
    let p = view.as_ref().map(|v| v.policy.clone()).unwrap_or_default();
    let first_name = view.as_ref().map(|v| v.name.clone()).unwrap_or_default();
    // The legend and `data-policy` follow the name as it is typed.
    let name = RwSignal::new(first_name.clone());
    let position = view.as_ref().map(|v| v.position).unwrap_or(position);
    let enabled = view.as_ref().map(|v| v.enabled).unwrap_or(true);
    // A policy nobody changed yet was written by setup (at time 0 for the
    // default one): say so instead of showing 1970.
    let changed = view.as_ref().map(|v| {
        if v.updated_by.is_empty() {
            "as set up, not changed since".to_owned()
        } else {
            format!(
                "changed {} by {}",
                crate::ui::when(v.updated_at),
                v.updated_by
            )
        }
    });
    // A ticked box sends `true`; an unticked one nothing (false).
    let check = |field: &'static str, label: &'static str, on: bool| {
        view! {
            <label class="check"><input type="checkbox" name=field value="true" checked=on />" "{label}</label>
        }
    };
    let min_severity = p.min_severity.clone();
    view! {
        <ActionForm action=save attr:class="policy" attr:data-policy=move || name.get()>
            <input type="hidden" name="id" value=id.to_string() />
            <fieldset>
                <legend>{move || if id > 0 { name.get() } else { "New policy".to_owned() }}</legend>
                <label>"Name "<input type="text" name="name" required maxlength="64" value=first_name on:input=move |ev| name.set(event_target_value(&ev)) /></label>
                <label>"Position "<input type="number" name="position" value=position.to_string() /></label>
                {check("enabled", "enabled", enabled)}
                <h3>"Covers"</h3>
                <label>"Minimum severity "<select name="min_severity">
                    {[("", "any"), ("low", "low"), ("medium", "medium"), ("high", "high"), ("critical", "critical")].into_iter()
                        .map(|(v, l)| view! { <option value=v selected=min_severity == v>{l}</option> }).collect_view()}
                </select></label>
                {check("security_only", "security patches only", p.security_only)}
                <label>"Packages (patterns with * and ?, one per line; empty: all) "<textarea name="include" rows="2">{lines(&p.include)}</textarea></label>
                <label>"Never these packages "<textarea name="exclude" rows="2">{lines(&p.exclude)}</textarea></label>
                <label>"Releases (os:version, one per line; empty: all) "<textarea name="releases" rows="2">{lines(&p.releases)}</textarea></label>
                <h3>"Does"</h3>
                {check("auto_test", "install new patches on the test group automatically", p.auto_test)}
                <label>"Observation period (7 to 30 days) "<input type="number" name="observation_days" min="7" max="30" aria-label="Observation days" value=p.observation_days.to_string() /></label>
                {check("auto_approve", "approve automatically after observation (else an admin approves)", p.auto_approve)}
                {check("publish_critical", "on approval, publish to the self-service portal for critical servers", p.publish_critical)}
                {check("deploy_standard", "on approval, deploy to standard servers in their next maintenance window without a forced reboot and ask owners to book it (a standard server without a window gets the patch published instead)", p.deploy_standard)}
                <p><button type="submit" class="primary">{if id > 0 { "Save policy" } else { "Add policy" }}</button>" "<small>{changed}</small></p>
            </fieldset>
        </ActionForm>
    }
}

/// `/notifications`: who was told what (the mail issue sends them).
#[component]
pub fn NotificationsPage() -> impl IntoView {
    let page = RwSignal::new(1i64);
    let list = Resource::new(move || page.get(), list_notifications);
    view! {
        <section class="card">
            <h1>"Notifications"</h1>
            <p class="hint">"Recorded as things happen: test installs that failed, observations waiting for approval, patches published, reboots to schedule."</p>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match list.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok((items, _)) if items.is_empty() => view! { <p class="empty">"Nothing to tell anyone yet."</p> }.into_any(),
                    Ok((items, total)) => view! {
                        <Pager page per_page=50 total />
                        <div class="table-scroll"><table class="data" id="notifications">
                            <thead><tr><th>"When"</th><th>"To"</th><th>"Subject"</th><th>"Message"</th></tr></thead>
                            <tbody>
                                {items.into_iter().map(|n| view! {
                                    <tr data-kind=n.kind.clone()>
                                        <td class="nowrap"><small><crate::ui::Time ts={n.created_at} /></small></td>
                                        <td>{n.username.clone()}</td>
                                        <td>{if n.link.is_empty() { view! { <span>{n.subject.clone()}</span> }.into_any() } else { view! { <a href=n.link.clone()>{n.subject.clone()}</a> }.into_any() }}</td>
                                        <td><small>{n.body.clone()}</small></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                }})}
            </Transition>
        </section>
    }
}
