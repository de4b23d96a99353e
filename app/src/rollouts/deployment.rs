//! `/deployments/:id`: a publication's or deployment's servers, each in
//! the state its jobs give it, refreshed while anything moves, and the
//! rollback of its installs (issue 18): per server or for the whole
//! deployment, after a confirmation, as [`patchport_core::rollback`]
//! plans it.

use crate::errors::AppError;
use crate::ui::FormError;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

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
    /// The newest rollback of its install, if any.
    pub rollback: Option<RollbackView>,
    /// A rollback may be asked for now (the install succeeded, the
    /// versions before it are known, none is under way or done).
    pub can_roll_back: bool,
}

/// A rollback of a deployment's install on one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackView {
    /// queued, running, succeeded, failed, expired, cancelled.
    pub state: String,
    /// The package manager's output, or the agent's refusal.
    pub log: String,
    /// Why it ended as it did when something else decided.
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
    /// What it left out and why ("web-2: xz 1.0-2 is not offered to this
    /// server"), in the order it was planned.
    pub skipped: Vec<String>,
}

/// One deployment with every server's state.
#[server(endpoint = "admin/deployments/get")]
pub async fn get_deployment(id: i64) -> Result<DeploymentView, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut conn = ssr::admin_read().await?;
        let d = patchport_db::rollouts::deployment(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let skipped = patchport_db::rollouts::skips(&mut conn, id)
            .await?
            .iter()
            .map(ToString::to_string)
            .collect();
        let now = ssr::state()?.clock.now();
        let candidates = patchport_db::rollouts::rollback_candidates(&mut conn, id, None).await?;
        let plan = patchport_core::rollback::plan(&candidates, now);
        let active = d.kind == "deploy"
            && d.targets.iter().any(|t| {
                matches!(
                    t.state.as_str(),
                    "queued" | "installing" | "reboot pending" | "rebooting"
                ) || t
                    .rollback
                    .as_ref()
                    .is_some_and(|r| matches!(r.state.as_str(), "queued" | "running"))
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
            skipped,
            targets: d
                .targets
                .into_iter()
                .map(|t| TargetView {
                    can_roll_back: plan.jobs.iter().any(|j| j.server_id == t.server_id),
                    server_id: t.server_id,
                    hostname: t.hostname,
                    patches: t.patches,
                    state: t.state,
                    log: t.log,
                    reason: t.reason,
                    rollback: t.rollback.map(|r| RollbackView {
                        state: r.state,
                        log: r.log,
                        reason: r.reason,
                    }),
                })
                .collect(),
        })
    })
    .await
}

/// What a rollback request did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RollbackDone {
    /// Servers where a rollback job was queued.
    pub queued: Vec<String>,
    /// Servers left alone, each with why.
    pub refused: Vec<String>,
}

/// Rolls deployment `deployment_id` back on server `server_id`, or on all
/// its servers when it is 0: a rollback job per server whose install
/// succeeded, to the versions it had before. Refused (409, nothing
/// queued) when no server can be rolled back, with each server's reason.
#[server(endpoint = "admin/deployments/rollback")]
pub async fn roll_back(
    deployment_id: i64,
    #[server(default)] server_id: i64,
) -> Result<RollbackDone, AppError> {
    use crate::ssr;
    use patchport_db::rollouts::{self, Actor};
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        let actor = Actor::Person {
            id: w.me.id,
            name: &w.me.username,
        };
        let only = (server_id > 0).then_some(server_id);
        let done = rollouts::rollback(&mut w.tx, deployment_id, only, actor, w.now)
            .await?
            .ok_or(AppError::NotFound)?;
        if done.queued.is_empty() {
            return Err(AppError::Conflict(format!(
                "nothing to roll back: {}",
                done.refused.join("; ")
            )));
        }
        w.commit(
            "deployment.rolled_back",
            &format!("deployment {deployment_id}"),
            &done.queued.join(", "),
        )
        .await?;
        crate::ui::back_to_page(Some("rollback"));
        Ok(RollbackDone {
            queued: done.queued,
            refused: done.refused,
        })
    })
    .await
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
    let rollback = ServerAction::<RollBack>::new();
    let deployment = Resource::new(
        move || (id(), tick.get(), rollback.version().get()),
        |(id, _, _)| get_deployment(id),
    );
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
                            <thead><tr><th>"Server"</th><th>"Patches"</th><th>"State"</th><th>"Log"</th><th>"Rollback"</th></tr></thead>
                            <tbody>
                                {d.targets.iter().map(|t| view! {
                                    <tr data-server=t.hostname.clone() data-state=t.state.clone()>
                                        <td><a href=format!("/servers/{}", t.server_id)>{t.hostname.clone()}</a></td>
                                        <td>{t.patches.join(", ")}</td>
                                        <td><span class=format!("badge state-{}", t.state.replace(' ', "-"))>{t.state.clone()}</span>
                                            {(!t.reason.is_empty()).then(|| view! { <br /><small class="reason">{t.reason.clone()}</small> })}</td>
                                        <td>{(!t.log.is_empty()).then(|| view! { <details><summary>"log"</summary><pre>{t.log.clone()}</pre></details> })}</td>
                                        <td><TargetRollback deployment=d.id target=t.clone() rollback /></td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table></div>
                        <RollbackAll deployment=d.id servers=d.targets.iter().filter(|t| t.can_roll_back).count() rollback />
                        {(!d.skipped.is_empty()).then(|| view! {
                            <details id="skipped">
                                <summary>{format!("Left out ({})", d.skipped.len())}</summary>
                                <ul>{d.skipped.iter().map(|why| view! { <li>{why.clone()}</li> }).collect_view()}</ul>
                            </details>
                        })}
                    </section>
                }.into_any(),
            }})}
        </Transition>
    }
}

/// A server's rollback: the newest one's state and log, and the button
/// that asks for one where it can be.
#[component]
fn TargetRollback(
    deployment: i64,
    target: TargetView,
    rollback: ServerAction<RollBack>,
) -> impl IntoView {
    let question = format!(
        "Roll {} back on {} to the versions it had before this deployment?",
        target.patches.join(", "),
        target.hostname
    );
    view! {
        {target.rollback.map(|r| view! {
            <span class=format!("badge state-{}", r.state)>{format!("rollback {}", r.state)}</span>
            {(!r.reason.is_empty()).then(|| view! { <br /><small class="reason">{r.reason.clone()}</small> })}
            {(!r.log.is_empty()).then(|| view! { <details><summary>"rollback log"</summary><pre>{r.log.clone()}</pre></details> })}
        })}
        {target.can_roll_back.then(|| view! {
            <crate::ui::Confirm question step=format!("rollback-{}", target.server_id) label="Roll back…".to_owned()>
                <ActionForm action=rollback attr:class="inline">
                    <input type="hidden" name="deployment_id" value=deployment.to_string() />
                    <input type="hidden" name="server_id" value=target.server_id.to_string() />
                    <button type="submit" class="danger">"Roll back"</button>
                </ActionForm>
            </crate::ui::Confirm>
        })}
    }
}

/// Rolling the whole deployment back (when more than one server can be),
/// and what the last rollback request did.
#[component]
fn RollbackAll(deployment: i64, servers: usize, rollback: ServerAction<RollBack>) -> impl IntoView {
    let question = format!(
        "Roll this deployment back on {servers} servers, each to the versions it had before?"
    );
    view! {
        <FormError action=rollback />
        {move || rollback.value().get().and_then(Result::ok).map(|done| view! {
            <p class="ok" id="rollback-done" role="status">
                {format!("Rollback queued on {}.", done.queued.join(", "))}
                {(!done.refused.is_empty()).then(|| format!(" Left alone: {}.", done.refused.join("; ")))}
            </p>
        })}
        {(servers > 1).then(|| view! {
            <div id="rollback-all">
                <crate::ui::Confirm question step="rollback-all".to_owned() label="Roll back all…".to_owned()>
                    <ActionForm action=rollback attr:class="inline">
                        <input type="hidden" name="deployment_id" value=deployment.to_string() />
                        <button type="submit" class="danger">"Roll back all"</button>
                    </ActionForm>
                </crate::ui::Confirm>
            </div>
        })}
    }
}

/// Whether owners may roll back installs on their own servers (admins).
#[server(endpoint = "admin/settings/owners_roll_back/get")]
pub async fn owners_may_roll_back() -> Result<bool, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut conn = ssr::admin_read().await?;
        Ok(patchport_db::rollouts::owners_may_roll_back(&mut conn).await?)
    })
    .await
}

/// Lets owners roll back installs on their own servers, or not (admins).
#[server(endpoint = "admin/settings/owners_roll_back")]
pub async fn set_owners_may_roll_back(
    #[server(default)] allowed: bool,
) -> Result<String, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut w = ssr::AdminWrite::begin().await?;
        patchport_db::rollouts::set_owners_may_roll_back(&mut w.tx, allowed, w.now).await?;
        w.commit(
            "portal.owners_roll_back",
            "owners may roll back",
            if allowed { "on" } else { "off" },
        )
        .await?;
        crate::ui::back_to_page(Some("owners-roll-back"));
        Ok(if allowed {
            "Owners may now roll back installs on their servers.".to_owned()
        } else {
            "Only admins may now roll back installs.".to_owned()
        })
    })
    .await
}

/// The setting on the policies page: may owners roll back installs on
/// their own servers (from the jobs on the server's page)?
#[component]
pub fn OwnerRollbackCard() -> impl IntoView {
    let save = ServerAction::<SetOwnersMayRollBack>::new();
    let current = Resource::new(move || save.version().get(), |_| owners_may_roll_back());
    view! {
        <section class="card" id="owner-rollback">
            <h2>"Rollback by owners"</h2>
            <p class="hint">"Admins roll back a deployment on its page, per server or whole. Owners may also roll back a succeeded install on their own servers, from its job on the server's page, when this is on."</p>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move { current.await.ok().map(|on| view! {
                    <ActionForm action=save attr:class="inline">
                        <label><input type="checkbox" name="allowed" value="true" checked=on />" Owners may roll back installs on their servers"</label>
                        " "<button type="submit">"Save"</button>
                    </ActionForm>
                }) })}
            </Transition>
            <FormError action=save />
            {move || save.value().get().and_then(Result::ok).map(|msg| view! { <p class="ok" role="status">{msg}</p> })}
        </section>
    }
}
