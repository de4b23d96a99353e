//! `/rollouts/:id`: a rollout's state, the decisions it allows, what its
//! approval did, its history and its test installs.

use super::decisions::{ApprovalSummary, DecideRollout};
use super::{RolloutView, state_badge};
use crate::errors::AppError;
use crate::ui::FormError;
use leptos::prelude::*;
use leptos_router::hooks::use_params_map;
use patchport_core::rollout::RolloutState;
use patchport_core::view::rollouts::{ApprovalDone, Outcome};
use serde::{Deserialize, Serialize};

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
    /// Approved: what the approval published and deployed where.
    pub approval: Option<ApprovalDone>,
}

/// One rollout.
#[server(endpoint = "admin/rollouts/get")]
pub async fn get_rollout(id: i64) -> Result<RolloutDetailView, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let mut conn = ssr::admin_read().await?;
        let d = patchport_db::rollouts::get(&mut conn, id)
            .await?
            .ok_or(AppError::NotFound)?;
        let approval = if d.rollout.state == RolloutState::Approved {
            Some(patchport_db::rollouts::approval_of(&mut conn, id).await?)
        } else {
            None
        };
        Ok(RolloutDetailView {
            approval,
            rollout: super::rollout_view(d.rollout),
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
                        <DecidedNote decide />
                    </section>
                    {d.approval.map(|done| view! {
                        <section class="card" id="approval">
                            <h2>"What the approval did"</h2>
                            <ApprovalSummary done />
                        </section>
                    })}
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

/// Says what a decision just did: in place (the action's answer), or
/// after a plain form post from the page's `?done=<decision>`.
#[component]
fn DecidedNote(decide: ServerAction<DecideRollout>) -> impl IntoView {
    let from_form = ["approve", "decline", "retest"]
        .into_iter()
        .find(|d| crate::ui::done(d));
    move || {
        let said = match decide.value().get() {
            Some(Ok(Outcome::Approved(_))) => "approve",
            Some(Ok(Outcome::Declined)) => "decline",
            Some(Ok(Outcome::Retested(_))) => "retest",
            Some(_) => return None,
            None => from_form?,
        };
        let text = match said {
            "approve" => "Approved. What the approval published and deployed is below.",
            "decline" => "Declined: nothing of it is published or deployed any more.",
            _ => "Sent to the test group.",
        };
        Some(view! { <p class="ok" role="status" id="decided">{text}</p> })
    }
}
