//! The rollout workflow for admins: policies, rollouts with their history
//! and decisions, publishing and deploying selected patches, and the live
//! status of a deployment.

use crate::errors::AppError;
use crate::ui::{FormError, Pager};
use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};
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
        ssr::require_admin()?;
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
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
    /// Last change.
    pub updated_at: i64,
}

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
        updated_at: r.updated_at,
    }
}

/// A page of rollouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutPage {
    /// Rollouts.
    pub items: Vec<RolloutView>,
    /// In all.
    pub total: i64,
}

/// Rollouts per page.
pub const ROLLOUTS_PER_PAGE: i64 = 50;

/// Rollouts, latest change first; `state` "" for all.
#[server(endpoint = "admin/rollouts/list")]
pub async fn list_rollouts(state: String, page: i64) -> Result<RolloutPage, AppError> {
    use crate::ssr;
    ssr::run(async move {
        ssr::require_admin()?;
        let filter = if state.is_empty() {
            None
        } else {
            Some(
                RolloutState::parse(&state)
                    .ok_or_else(|| AppError::invalid("state", "unknown rollout state"))?,
            )
        };
        let app = ssr::state()?;
        let mut conn = app.db.read().await?;
        let p = patchport_db::rollouts::list(&mut conn, filter, page, ROLLOUTS_PER_PAGE).await?;
        Ok(RolloutPage {
            items: p.items.into_iter().map(rollout_view).collect(),
            total: p.total,
        })
    })
    .await
}

/// A decision in the history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventView {
    /// From.
    pub from: Option<String>,
    /// To.
    pub to: String,
    /// Who.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: i64,
}

/// A test install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestView {
    /// Server id.
    pub server_id: i64,
    /// Host.
    pub hostname: String,
    /// Job state.
    pub state: String,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// Log.
    pub log: String,
}

/// A rollout with history and tests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutDetailView {
    /// The rollout.
    pub rollout: RolloutView,
    /// History.
    pub events: Vec<EventView>,
    /// Test installs.
    pub tests: Vec<TestView>,
    /// Deployments it made.
    pub deployments: Vec<i64>,
}

/// One rollout.
#[server(endpoint = "admin/rollouts/get")]
pub async fn get_rollout(id: i64) -> Result<RolloutDetailView, AppError> {
    use crate::ssr;
    ssr::run(async move {
        ssr::require_admin()?;
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
        let d = patchport_db::rollouts::get(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound)?;
        Ok(RolloutDetailView {
            rollout: rollout_view(d.rollout),
            events: d
                .events
                .into_iter()
                .map(|e| EventView {
                    from: e.from,
                    to: e.to,
                    actor: e.actor,
                    reason: e.reason,
                    at: e.at,
                })
                .collect(),
            tests: d
                .tests
                .into_iter()
                .map(|t| TestView {
                    server_id: t.server_id,
                    hostname: t.hostname,
                    state: t.state,
                    exit_code: t.exit_code,
                    log: t.log,
                })
                .collect(),
            deployments: d.deployments,
        })
    })
    .await
}

/// An admin's decision on a rollout: `approve`, `decline` (a reason is
/// required) or `retest`.
#[server(endpoint = "admin/rollouts/decide")]
pub async fn decide_rollout(id: i64, decision: String, reason: String) -> Result<(), AppError> {
    use crate::ssr;
    use patchport_db::rollouts::{self, Actor};
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let reason = reason.trim();
        if reason.chars().count() > 1000 {
            return Err(AppError::invalid(
                "reason",
                "a reason is at most 1,000 characters",
            ));
        }
        let actor = Actor::Person {
            id: w.me.id,
            name: &w.me.username,
        };
        match decision.as_str() {
            "approve" => {
                let why = if reason.is_empty() {
                    "approved early by an admin"
                } else {
                    reason
                };
                rollouts::approve(&mut w.tx, id, actor, why, w.now).await?
            }
            "decline" => {
                if reason.is_empty() {
                    return Err(AppError::invalid("reason", "say why the patch is declined"));
                }
                rollouts::decline(&mut w.tx, id, actor, reason, w.now).await?
            }
            "retest" => rollouts::retest(&mut w.tx, id, actor, w.now).await?,
            _ => {
                return Err(AppError::invalid(
                    "decision",
                    "decision must be approve, decline or retest",
                ));
            }
        }
        w.commit_unaudited().await?;
        crate::ui::back_to_page(None);
        Ok(())
    })
    .await
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

/// A server in a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetView {
    /// Server id.
    pub server_id: i64,
    /// Host.
    pub hostname: String,
    /// Patches.
    pub patches: Vec<String>,
    /// queued, installing, installed, failed, reboot pending, rebooting,
    /// rebooted, published.
    pub state: String,
    /// Install log.
    pub log: String,
    /// Why its install job ended as it did when something else decided
    /// (a decline, an expiry); empty otherwise.
    pub reason: String,
}

/// A deployment's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentView {
    /// Id.
    pub id: i64,
    /// publish or deploy.
    pub kind: String,
    /// Who.
    pub created_by: String,
    /// Rollout behind it.
    pub rollout_id: Option<i64>,
    /// Install not before.
    pub not_before: i64,
    /// none, after, at.
    pub reboot: String,
    /// Reboot time.
    pub reboot_at: Option<i64>,
    /// Created.
    pub created_at: i64,
    /// Per server.
    pub targets: Vec<TargetView>,
    /// Something is still moving (the page keeps refreshing).
    pub active: bool,
}

/// One deployment with every server's state.
#[server(endpoint = "admin/deployments/get")]
pub async fn get_deployment(id: i64) -> Result<DeploymentView, AppError> {
    use crate::ssr;
    ssr::run(async move {
        ssr::require_admin()?;
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
        let d = patchport_db::rollouts::deployment(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let active = d.kind == "deploy"
            && d.targets.iter().any(|t| {
                matches!(
                    t.state.as_str(),
                    "queued" | "installing" | "reboot pending" | "rebooting"
                )
            });
        Ok(DeploymentView {
            id: d.id,
            kind: d.kind,
            created_by: d.created_by,
            rollout_id: d.rollout_id,
            not_before: d.not_before,
            reboot: d.reboot,
            reboot_at: d.reboot_at,
            created_at: d.created_at,
            active,
            targets: d
                .targets
                .into_iter()
                .map(|t| TargetView {
                    server_id: t.server_id,
                    hostname: t.hostname,
                    patches: t.patches,
                    state: t.state,
                    log: t.log,
                    reason: t.reason,
                })
                .collect(),
        })
    })
    .await
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
        ssr::require_admin()?;
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
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

fn state_badge(state: RolloutState) -> impl IntoView {
    view! { <span class=format!("badge rollout-{}", state.as_str())>{state.label()}</span> }
}

/// `/rollouts`: every rollout, filterable by state.
#[component]
pub fn RolloutsPage() -> impl IntoView {
    // A link may ask for one state (`/rollouts?state=observing`).
    let state = RwSignal::new(
        leptos_router::hooks::use_query_map()
            .get_untracked()
            .get("state")
            .unwrap_or_default(),
    );
    let page = RwSignal::new(1i64);
    let rollouts = Resource::new(
        move || (state.get(), page.get()),
        |(state, page)| list_rollouts(state, page),
    );
    view! {
        <section class="card">
            <h1>"Rollouts"</h1>
            <p class="hint">"Each patch a policy covers goes new → testing → observing → approved, unless a test install fails or an admin declines it. "
                <a href="/policies">"Policies"</a>" · "<a href="/windows">"Maintenance windows"</a>" · "<a href="/notifications">"Notifications"</a></p>
            <div class="filters">
                <select aria-label="State" on:change=move |ev| { state.set(event_target_value(&ev)); page.set(1); }>
                    <option value="">"Any state"</option>
                    {RolloutState::ALL.into_iter().map(|s| view! { <option value=s.as_str() selected=s.as_str() == state.get_untracked()>{s.label()}</option> }).collect_view()}
                </select>
            </div>
            <Transition fallback=|| view! { <p>"Loading…"</p> }>
                {move || Suspend::new(async move { match rollouts.await {
                    Err(e) => view! { <p class="error">{e.to_string()}</p> }.into_any(),
                    Ok(p) if p.items.is_empty() => view! { <p class="empty">"No rollouts. Patches covered by a policy appear here once a server misses them."</p> }.into_any(),
                    Ok(p) => view! {
                        <Pager page per_page=ROLLOUTS_PER_PAGE total=p.total />
                        <div class="table-scroll"><table class="data" id="rollouts">
                            <thead><tr><th>"Patch"</th><th>"Severity"</th><th>"State"</th><th>"Policy"</th><th>"Servers"</th><th>"Observed until"</th><th>"Changed"</th></tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|r| view! {
                                    <tr data-package=r.package.clone() data-state=r.state.as_str()>
                                        <td><a href=format!("/rollouts/{}", r.id)>{format!("{} {}", r.package, r.version)}</a><small>{format!(" {}", r.release)}</small></td>
                                        <td>{(!r.severity.is_empty()).then(|| view! { <span class=format!("badge sev-{}", r.severity)>{r.severity.clone()}</span> })}
                                            {r.known_exploited.then(|| view! { " " <span class="badge kev">"known exploited"</span> })}</td>
                                        <td>{state_badge(r.state)}</td>
                                        <td>{r.policy.clone()}</td>
                                        <td>{r.servers}</td>
                                        <td class="nowrap"><small>{r.observe_until.map(crate::ui::when).unwrap_or_default()}</small></td>
                                        <td class="nowrap"><small><crate::ui::Time ts={r.updated_at} /></small></td>
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

/// `/rollouts/:id`: state, decisions, history and test installs.
#[component]
pub fn RolloutPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let decide = ServerAction::<DecideRollout>::new();
    let rollout = Resource::new(
        move || (id(), decide.version().get()),
        |(id, _)| get_rollout(id),
    );
    // The decision being confirmed ("approve" or "decline") and the reason
    // typed: in place, or without JavaScript from the page's query
    // (`?confirm=decline&reason=…`, see `ui::StepButton`).
    let query = leptos_router::hooks::use_query_map().get_untracked();
    let reason = RwSignal::new(query.get("reason").unwrap_or_default());
    let confirming = RwSignal::new(
        ["approve", "decline"]
            .into_iter()
            .find(|d| crate::ui::step_open(d))
            .unwrap_or_default()
            .to_owned(),
    );
    let close = Callback::new(move |_| confirming.set(String::new()));
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move { match rollout.await {
                Err(e) => view! { <section class="card"><p class="error">{e.to_string()}</p></section> }.into_any(),
                Ok(d) => {
                    let r = d.rollout.clone();
                    let rid = r.id;
                    let open = !r.state.is_final();
                    let can_retest = matches!(r.state, RolloutState::New | RolloutState::TestFailed);
                    view! {
                    <section class="card">
                        <h1 id="rollout-name">{format!("{} {}", r.package, r.version)}</h1>
                        <p>{state_badge(r.state)}" "
                            <span>{format!("{} · policy {} · {} servers missing it", r.release, if r.policy.is_empty() { "none".to_owned() } else { r.policy.clone() }, r.servers)}</span>
                            {r.observe_until.filter(|_| r.state == RolloutState::Observing).map(|t| view! { <span>{format!(" · observed until {}", crate::ui::when(t))}</span> })}
                            " · "<a href=format!("/patches/{}", r.patch_id)>"patch details"</a></p>
                        <Show when=move || open>
                            <div class="actions" id="decisions">
                                // The reason belongs to the step form, or to the
                                // decision's form while it is being confirmed.
                                <label>"Reason "<input type="text" name="reason" maxlength="1000" placeholder="Why (required to decline)"
                                    form=move || if confirming.get().is_empty() { "decision-step" } else { "decision-form" }
                                    value=reason.get_untracked()
                                    on:input=move |ev| reason.set(event_target_value(&ev)) /></label>
                                <Show when=move || confirming.get().is_empty() fallback=move || view! {
                                    // Sending the form closes it (its submit bubbles up here).
                                    <span class="confirm" role="alertdialog" on:submit=move |_| confirming.set(String::new())>
                                        {move || format!("{} this patch?", if confirming.get() == "approve" { "Approve" } else { "Decline" })}
                                        <ActionForm action=decide attr:class="inline" attr:id="decision-form">
                                            <NoEnterSubmit />
                                            <input type="hidden" name="id" value=rid.to_string() />
                                            <input type="hidden" name="decision" value=confirming.get_untracked() />
                                            // Approving is the constructive choice; only declining is red.
                                            <button type="submit" class=move || if confirming.get() == "approve" { "primary" } else { "danger" }>
                                                {move || if confirming.get() == "approve" { "Yes, approve" } else { "Yes, decline" }}
                                            </button>
                                        </ActionForm>
                                        <crate::ui::CancelStep close />
                                    </span>
                                }>
                                    // Without JavaScript: the page again, with the
                                    // question open and the reason kept.
                                    <form method="get" class="inline" id="decision-step">
                                        <NoEnterSubmit />
                                        <button type="submit" name=crate::ui::CONFIRM value="approve" class="primary"
                                            on:click=move |ev| { ev.prevent_default(); confirming.set("approve".into()); }>"Approve now"</button>
                                        <button type="submit" name=crate::ui::CONFIRM value="decline"
                                            on:click=move |ev| { ev.prevent_default(); confirming.set("decline".into()); }>"Decline"</button>
                                    </form>
                                    <Show when=move || can_retest>
                                        <ActionForm action=decide attr:class="inline">
                                            <input type="hidden" name="id" value=rid.to_string() />
                                            <input type="hidden" name="decision" value="retest" />
                                            <input type="hidden" name="reason" value="" />
                                            <button type="submit">"Install on the test group"</button>
                                        </ActionForm>
                                    </Show>
                                </Show>
                            </div>
                        </Show>
                        <FormError action=decide />
                    </section>
                    <section class="card">
                        <h2>"History"</h2>
                        <div class="table-scroll"><table class="data" id="history">
                            <thead><tr><th>"When"</th><th>"From"</th><th>"To"</th><th>"Who"</th><th>"Why"</th></tr></thead>
                            <tbody>
                                {d.events.into_iter().map(|e| view! {
                                    <tr data-to=e.to.clone()>
                                        <td class="nowrap"><small><crate::ui::Time ts={e.at} /></small></td>
                                        <td>{e.from.clone().unwrap_or_default()}</td>
                                        <td>{e.to.clone()}</td>
                                        <td>{e.actor.clone()}</td>
                                        <td>{e.reason.clone()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    </section>
                    <section class="card">
                        <h2>"Test installs"</h2>
                        {if d.tests.is_empty() {
                            view! { <p class="empty">"No test installs."</p> }.into_any()
                        } else {
                            view! {
                            <div class="table-scroll"><table class="data" id="tests">
                                <thead><tr><th>"Server"</th><th>"Job"</th><th>"Log"</th></tr></thead>
                                <tbody>
                                    {d.tests.into_iter().map(|t| view! {
                                        <tr data-server=t.hostname.clone()>
                                            <td><a href=format!("/servers/{}", t.server_id)>{t.hostname.clone()}</a></td>
                                            <td>{t.state.clone()}{t.exit_code.map(|c| format!(" (exit code {c})"))}</td>
                                            <td>{(!t.log.is_empty()).then(|| view! { <details><summary>"log"</summary><pre>{t.log.clone()}</pre></details> })}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                        }.into_any() }}
                        {(!d.deployments.is_empty()).then(|| view! {
                            <p>"Deployments: "{d.deployments.iter().map(|id| view! { <a href=format!("/deployments/{id}")>{format!("#{id}")}</a>" " }).collect_view()}</p>
                        })}
                    </section>
                }.into_any() }
            }})}
        </Transition>
    }
}

/// The first submit button of a form that the reason field belongs to:
/// disabled, so Enter in that field sends nothing (as before the field
/// belonged to a form); the buttons are clicked.
#[component]
fn NoEnterSubmit() -> impl IntoView {
    view! { <button type="submit" disabled hidden aria-hidden="true"></button> }
}

/// `/deployments/:id`: each server's state, refreshed every two seconds
/// while anything is still moving.
#[component]
pub fn DeploymentPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || {
        params
            .read()
            .get("id")
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
    };
    let tick = RwSignal::new(0u32);
    let deployment = Resource::new(move || (id(), tick.get()), |(id, _)| get_deployment(id));
    // Poll while the deployment is active (in the browser only).
    Effect::new(move |_| {
        let active = deployment
            .get()
            .and_then(|r| r.ok())
            .is_some_and(|d| d.active);
        if active {
            set_timeout(
                move || tick.update(|t| *t += 1),
                std::time::Duration::from_secs(2),
            );
        }
    });
    view! {
        <Transition fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move { match deployment.await {
                Err(e) => view! { <section class="card"><p class="error">{e.to_string()}</p></section> }.into_any(),
                Ok(d) => view! {
                    <section class="card">
                        <h1>{format!("Deployment #{} ({})", d.id, d.kind)}</h1>
                        <p>{format!("by {} on {}", d.created_by, crate::ui::when(d.created_at))}
                            {(d.kind == "deploy").then(|| format!(" · install from {} · reboot: {}", crate::ui::when(d.not_before), match (d.reboot.as_str(), d.reboot_at) {
                                ("after", _) => "right after install".to_owned(),
                                ("at", Some(t)) => format!("at {}", crate::ui::when(t)),
                                _ => "none (owners are asked to schedule it)".to_owned(),
                            }))}
                            {d.rollout_id.map(|r| view! { " · " <a href=format!("/rollouts/{r}")>"rollout"</a> })}</p>
                        <p class="hint" id="live">{if d.active { "Updating live…" } else { "Done." }}</p>
                        <div class="table-scroll"><table class="data" id="deployment">
                            <thead><tr><th>"Server"</th><th>"Patches"</th><th>"State"</th><th>"Log"</th></tr></thead>
                            <tbody>
                                {d.targets.into_iter().map(|t| view! {
                                    <tr data-server=t.hostname.clone() data-state=t.state.clone()>
                                        <td><a href=format!("/servers/{}", t.server_id)>{t.hostname.clone()}</a></td>
                                        <td>{t.patches.join(", ")}</td>
                                        <td><span class=format!("badge state-{}", t.state.replace(' ', "-"))>{t.state.clone()}</span>
                                            {(!t.reason.is_empty()).then(|| view! { <br /><small class="reason">{t.reason.clone()}</small> })}</td>
                                        <td>{(!t.log.is_empty()).then(|| view! { <details><summary>"log"</summary><pre>{t.log.clone()}</pre></details> })}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    </section>
                }.into_any(),
            }})}
        </Transition>
    }
}

/// The publish / deploy form under the report, acting on its selection:
/// the report's check boxes belong to it (`form="deploy-form"`), so it
/// works before (and without) hydration too.
#[component]
pub fn DeployPanel(selected: RwSignal<std::collections::BTreeSet<i64>>) -> impl IntoView {
    let groups = Resource::new(|| (), |_| crate::groups::list_groups());
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
                        {list.into_iter().map(|p| view! { <PolicyForm save view=Some(p) position=0 /> }).collect_view()}
                        <h2>"New policy"</h2>
                        <PolicyForm save view=None position=next />
                    }.into_any() }
                }})}
            </Transition>
        </section>
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
