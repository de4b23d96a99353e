//! Decisions on rollouts: one on a rollout's page, or several at once from
//! the rollouts list, each through the same rules (`db::rollouts::decide`)
//! in a transaction of its own; and what they did, as the pages say it.

use crate::errors::AppError;
use crate::ui::Time;
use leptos::prelude::*;
use patchport_core::rollout::{Decision, RolloutState};
pub use patchport_core::view::rollouts::{
    ApprovalDeployment, ApprovalDone, Decided, Outcome, SentTo,
};

/// Most rollouts one bulk decision takes (four pages of the list).
pub const BULK_MAX: usize = 200;

/// What a bulk decision did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BulkDecided {
    /// The decision asked for.
    pub decision: Decision,
    /// Each rollout with what happened to it, by id.
    pub rollouts: Vec<Decided>,
}

/// The decision a form names.
#[cfg(feature = "ssr")]
fn parse_decision(decision: &str) -> Result<Decision, AppError> {
    Decision::parse(decision)
        .ok_or_else(|| AppError::invalid("decision", "decision must be approve, decline or retest"))
}

/// A decision's reason, trimmed: at most 1,000 characters, required to
/// decline (`required` says so), and for an approval without one the
/// history's default.
#[cfg(feature = "ssr")]
fn checked_reason(decision: Decision, reason: &str, required: &str) -> Result<String, AppError> {
    let reason = reason.trim();
    if reason.chars().count() > 1000 {
        return Err(AppError::invalid(
            "reason",
            "a reason is at most 1,000 characters",
        ));
    }
    match decision {
        Decision::Decline if reason.is_empty() => Err(AppError::invalid("reason", required)),
        Decision::Approve if reason.is_empty() => Ok("approved early by an admin".to_owned()),
        _ => Ok(reason.to_owned()),
    }
}

/// One decision in an admin transaction of its own: all of it is written,
/// or (refused, or failed) none of it. The rollout's history and audit
/// events are written by the decision itself.
#[cfg(feature = "ssr")]
async fn decide_one(
    me: &crate::accounts::UserView,
    id: i64,
    decision: Decision,
    reason: &str,
) -> Result<Outcome, AppError> {
    use patchport_db::rollouts::{self, Actor};
    let mut w = crate::ssr::AdminWrite::begin_as(me.clone()).await?;
    let actor = Actor::Person {
        id: w.me.id,
        name: &w.me.username,
    };
    let outcome = rollouts::decide(&mut w.tx, id, decision, actor, reason, w.now).await?;
    w.commit_unaudited().await?;
    Ok(outcome)
}

/// What a page says of a rollout that does not exist.
#[cfg(feature = "ssr")]
const NO_SUCH_ROLLOUT: &str = "there is no such rollout";

/// An admin's decision on a rollout: `approve`, `decline` (a reason is
/// required) or `retest`. Returns what it did; a decision the rollout's
/// state does not allow is refused (409) and says why. Without
/// JavaScript, back to the rollout's page with `?done=<decision>`.
#[server(endpoint = "admin/rollouts/decide")]
pub async fn decide_rollout(
    id: i64,
    decision: String,
    #[server(default)] reason: String,
) -> Result<Outcome, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::require_admin()?;
        let decision = parse_decision(&decision)?;
        let reason = checked_reason(decision, &reason, "say why the patch is declined")?;
        let outcome = decide_one(&me, id, decision, &reason).await?;
        crate::ui::back_to_page(Some(decision.as_str()));
        Ok(outcome)
    })
    .await
}

/// Decides each of `ids` (1 to [`BULK_MAX`]) as [`decide_rollout`] decides
/// one, each in a transaction of its own: a rollout whose state does not
/// allow the decision is refused with why, and the others still go
/// through. Returns what happened to each, by id. A plain form post
/// (without JavaScript) goes back to the rollouts list as `back` (its
/// query) names it, with the outcome in the address (see
/// [`decided_rollouts`]).
#[server(endpoint = "admin/rollouts/decide_many")]
pub async fn decide_rollouts(
    #[server(default)] ids: Vec<i64>,
    #[server(default)] decision: String,
    #[server(default)] reason: String,
    #[server(default)] back: String,
) -> Result<BulkDecided, AppError> {
    use crate::ssr;
    ssr::run(async move {
        let me = ssr::require_admin()?;
        let decision = parse_decision(&decision)?;
        let mut ids = ids;
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() || ids.len() > BULK_MAX {
            return Err(AppError::invalid(
                "ids",
                format!("tick 1 to {BULK_MAX} rollouts"),
            ));
        }
        let reason = checked_reason(decision, &reason, "say why these patches are declined")?;
        let names = {
            let state = ssr::state()?;
            let mut conn = state.db.read().await?;
            patchport_db::rollouts::named(&mut conn, &ids).await?
        };
        let mut done = Vec::with_capacity(ids.len());
        for id in ids {
            let outcome = if names.contains_key(&id) {
                match decide_one(&me, id, decision, &reason).await {
                    Ok(outcome) => outcome,
                    Err(AppError::NotFound) => Outcome::Refused(NO_SUCH_ROLLOUT.into()),
                    Err(e) => Outcome::Refused(e.to_string()),
                }
            } else {
                Outcome::Refused(NO_SUCH_ROLLOUT.into())
            };
            let (package, version) = names.get(&id).cloned().unwrap_or_default();
            done.push(Decided {
                rollout_id: id,
                package,
                version,
                outcome,
            });
        }
        if crate::ssr::plain_form_post() {
            leptos_axum::redirect(&super::list::decided_href(&back, decision, &done));
        }
        Ok(BulkDecided {
            decision,
            rollouts: done,
        })
    })
    .await
}

/// Reads a list of rollout ids as the address carries it (`3,7,12`);
/// anything else is refused.
#[cfg(feature = "ssr")]
fn id_list(field: &str, list: &str) -> Result<Vec<i64>, AppError> {
    let ids = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<Vec<i64>, _>>()
        .map_err(|_| AppError::invalid(field, "rollouts are named by their numbers"))?;
    if ids.len() > BULK_MAX {
        return Err(AppError::invalid(field, "too many rollouts"));
    }
    Ok(ids)
}

/// What a bulk decision did, read back after a plain form post: `ok` and
/// `no` are the rollouts (`3,7,12`) that went through and that were
/// refused (see [`decide_rollouts`]). Each is shown as it is stored now:
/// an approval with what it published and deployed, a refusal with why
/// its state does not allow the decision.
#[server(endpoint = "admin/rollouts/decided")]
pub async fn decided_rollouts(
    decision: String,
    #[server(default)] ok: String,
    #[server(default)] no: String,
) -> Result<Vec<Decided>, AppError> {
    use crate::ssr;
    ssr::run(async move {
        ssr::require_admin()?;
        let decision = parse_decision(&decision)?;
        let mut asked: Vec<(i64, bool)> = id_list("ok", &ok)?
            .into_iter()
            .map(|id| (id, false))
            .chain(id_list("no", &no)?.into_iter().map(|id| (id, true)))
            .collect();
        asked.sort_unstable();
        asked.dedup_by_key(|a| a.0);
        let state = ssr::state()?;
        let mut conn = state.db.read().await?;
        let mut shown = Vec::with_capacity(asked.len());
        for (id, refused) in asked {
            use patchport_db::StorageError;
            match patchport_db::rollouts::decided(&mut conn, id, decision, refused).await {
                Ok(d) => shown.push(d),
                Err(StorageError::NotFound) => shown.push(Decided {
                    rollout_id: id,
                    package: String::new(),
                    version: String::new(),
                    outcome: Outcome::Refused(NO_SUCH_ROLLOUT.into()),
                }),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(shown)
    })
    .await
}

/// How many host names a sentence lists before it counts the rest.
const HOSTS_SHOWN: usize = 8;

/// Host names for a sentence: the first few, then how many more.
fn some_hosts<'a>(hosts: impl ExactSizeIterator<Item = &'a str>) -> String {
    let n = hosts.len();
    let shown: Vec<&str> = hosts.take(HOSTS_SHOWN).collect();
    match n.saturating_sub(HOSTS_SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// "1 server" or "n servers".
fn servers(n: usize) -> String {
    if n == 1 {
        "1 server".to_owned()
    } else {
        format!("{n} servers")
    }
}

/// What an approval published and deployed where, and which servers it
/// sent nothing (its policy leaves them to an admin).
#[component]
pub fn ApprovalSummary(done: ApprovalDone) -> impl IntoView {
    let nothing = done.published.is_none() && done.deployed.is_none() && done.left.is_empty();
    let link = |id: i64| {
        view! { <a href=format!("/deployments/{id}")>{format!("deployment #{id}")}</a> }
    };
    view! {
        <ul class="approval-done">
            {done.published.map(|p| view! {
                <li class="published">
                    {format!("Published to the self-service portal for {}: {}; their owners install it (",
                        servers(p.servers.len()), some_hosts(p.servers.iter().map(|s| s.hostname.as_str())))}
                    {link(p.deployment_id)}")."
                </li>
            })}
            {done.deployed.map(|d| {
                let first = d.servers.iter().filter_map(|s| s.from).min();
                view! {
                    <li class="deployed">
                        {format!("Deployed to {} in their next maintenance window, without a forced reboot: {}",
                            servers(d.servers.len()), some_hosts(d.servers.iter().map(|s| s.hostname.as_str())))}
                        {first.map(|t| view! { "; the first from " <Time ts=t /> })}
                        " ("{link(d.deployment_id)}")."
                    </li>
                }
            })}
            {(!done.left.is_empty()).then(|| view! {
                <li class="left">{format!("Sent to no server of these {} (the policy leaves them to you): {}.",
                    servers(done.left.len()), some_hosts(done.left.iter().map(String::as_str)))}</li>
            })}
            {nothing.then(|| view! { <li>"No server misses it now: nothing to publish or deploy."</li> })}
        </ul>
    }
}

/// What a decision did to one rollout, in words (the approval's details
/// below it).
#[component]
pub fn OutcomeText(outcome: Outcome) -> impl IntoView {
    match outcome {
        Outcome::Approved(done) => view! {
            <strong class="ok">"approved"</strong>
            <ApprovalSummary done />
        }
        .into_any(),
        Outcome::Declined => view! {
            <strong>"declined"</strong>
            ": nothing of it is published or deployed any more, and queued installs of it are cancelled."
        }
        .into_any(),
        Outcome::Retested(state) => view! {
            <strong>"retested"</strong>
            {if state == RolloutState::Observing {
                ": no test-group server misses it, so it is observed without a test install."
            } else {
                ": being installed on the test group."
            }}
        }
        .into_any(),
        Outcome::Refused(why) => view! {
            <strong class="error">"refused"</strong>
            {format!(": {why}; nothing was changed.")}
        }
        .into_any(),
    }
}

/// The outcome of a bulk decision: how many went which way, then each
/// rollout with what happened to it.
#[component]
pub fn DecisionResults(decision: Decision, results: Vec<Decided>) -> impl IntoView {
    let count = |kind: &str| results.iter().filter(|d| d.outcome.kind() == kind).count();
    let summary = [
        ("approved", count("approved")),
        ("declined", count("declined")),
        ("sent to the test group", count("retested")),
        ("refused", count("refused")),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(what, n)| format!("{n} {what}"))
    .collect::<Vec<_>>()
    .join(", ");
    let n = results.len();
    let any_refused = count("refused") > 0;
    let asked = match decision {
        Decision::Approve => "Approve",
        Decision::Decline => "Decline",
        Decision::Retest => "Retest",
    };
    view! {
        <section class="bulk-result" id="bulk-result" role="status" class:refused=any_refused>
            <h2>{format!("{asked} {}: {summary}", if n == 1 { "1 rollout".to_owned() } else { format!("{n} rollouts") })}</h2>
            <ul class="decided">
                {results.into_iter().map(|d| {
                    let name = if d.package.is_empty() {
                        format!("Rollout #{}", d.rollout_id)
                    } else {
                        format!("{} {}", d.package, d.version)
                    };
                    let kind = d.outcome.kind();
                    view! {
                        <li data-rollout=d.rollout_id.to_string() data-outcome=kind>
                            <a href=format!("/rollouts/{}", d.rollout_id)>{name}</a>": "
                            <OutcomeText outcome=d.outcome />
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
    }
}
