//! A rollout's path through the workflow (see
//! `patchport_core::rollout`): discovery, test installs and their
//! verdict, observation, approval, decline, retest.

use super::*;
use crate::row::{Flag, flag};
use crate::states::{
    JOB_FAILED, PATCH_ACTIONABLE, PATCH_MISSING, PATCH_PUBLISHABLE, PATCH_PUBLISHED, ROLLOUT_NEW,
    ROLLOUT_OBSERVING, ROLLOUT_TESTING,
};
use crate::{Conn, Result, StorageError, jobs};
use patchport_core::Timestamp;
use patchport_core::deploy::{self, TestCandidate, TestJob, TestNote, Untested};
use patchport_core::notice::Notice;
use patchport_core::protocol::PackageTarget;
use patchport_core::refusal::Refusal;
use patchport_core::rollout::{
    self, Decision, Missing, PatchFacts, Policy, PolicyNote, RolloutState, TestInstall, Transition,
    test_verdict,
};
use patchport_core::state::JobState;
use patchport_core::view::rollouts::{ApprovalDeployment, ApprovalDone, Decided, Outcome, SentTo};
use std::collections::BTreeMap;

/// Patches with servers missing them and no rollout yet: the first enabled
/// policy that covers one takes it.
pub(super) async fn discover(
    conn: &mut Conn,
    policies: &[PolicyRow],
    now: Timestamp,
    out: &mut Ticked,
) -> Result<()> {
    if !policies.iter().any(|p| p.enabled) {
        return Ok(());
    }
    #[derive(sqlx::FromRow)]
    struct Candidate {
        id: i64,
        package: String,
        release: String,
        severity_rank: i64,
        #[sqlx(try_from = "Flag")]
        security: bool,
    }
    let candidates: Vec<Candidate> = sqlx::query_as(&format!(
        "select p.id as id, p.package as package, p.release as release, \
           x.severity_rank as severity_rank, x.security as security \
         from patch p join (select f.patch_id, max(f.severity_rank) as severity_rank, \
             max({}) as security \
           from patch_from f where f.open_servers > 0 group by f.patch_id) x on x.patch_id = p.id \
         where not exists (select 1 from rollout r where r.patch_id = p.id) order by p.id",
        flag("f.security")
    ))
    .fetch_all(&mut *conn)
    .await?;
    for c in candidates {
        let patch_id = c.id;
        let facts = PatchFacts {
            package: &c.package,
            release: &c.release,
            severity_rank: c.severity_rank,
            security: c.security,
        };
        let Some(policy) = policies
            .iter()
            .find(|p| p.enabled && p.policy.covers(&facts))
        else {
            continue;
        };
        let created: Option<(i64,)> = sqlx::query_as(&format!(
            "insert into rollout (patch_id, policy_id, state, created_at, updated_at) \
             values ($1, $2, {ROLLOUT_NEW}, $3, $3) on conflict (patch_id) do nothing returning id"
        ))
        .bind(patch_id)
        .bind(policy.id)
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((id,)) = created {
            event(
                conn,
                id,
                None,
                RolloutState::New,
                Actor::Policy,
                &PolicyNote::CoveredBy(policy.name.clone()).to_string(),
                now,
            )
            .await?;
            out.created += 1;
        }
    }
    Ok(())
}

pub(super) async fn event(
    conn: &mut Conn,
    rollout_id: i64,
    from: Option<RolloutState>,
    to: RolloutState,
    actor: Actor<'_>,
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "insert into rollout_event (rollout_id, from_state, to_state, actor_id, actor, reason, at) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(rollout_id)
    .bind(from.map(RolloutState::as_str))
    .bind(to.as_str())
    .bind(actor.id())
    .bind(actor.name())
    .bind(reason)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    let (package, version) = patch_of(conn, rollout_id).await?;
    crate::audit::record(
        conn,
        &crate::audit::NewAuditEvent {
            actor_id: actor.id(),
            actor_name: actor.name(),
            action: &format!("rollout.{}", to.as_str()),
            target: &format!("{package} {version}"),
            detail: reason,
            source: "",
        },
        now,
    )
    .await
}

/// Moves a rollout by `transition`, checked against its current state (and
/// only if it is still in it), with the event. Returns the new state.
pub(super) async fn transition(
    conn: &mut Conn,
    rollout_id: i64,
    t: Transition,
    actor: Actor<'_>,
    reason: &str,
    observe_until: Option<Timestamp>,
    now: Timestamp,
) -> Result<RolloutState> {
    let (state,): (String,) = sqlx::query_as("select state from rollout where id = $1")
        .bind(rollout_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StorageError::NotFound)?;
    let from = RolloutState::parse(&state)
        .ok_or_else(|| StorageError::Corrupt(format!("unknown rollout state {state:?}")))?;
    let to = rollout::next(from, t).map_err(|e| StorageError::Conflict(e.to_string()))?;
    let done = sqlx::query(
        "update rollout set state = $1, observe_until = coalesce($2, observe_until), updated_at = $3 \
         where id = $4 and state = $5",
    )
    .bind(to.as_str())
    .bind(observe_until)
    .bind(now)
    .bind(rollout_id)
    .bind(from.as_str())
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StorageError::Conflict(Refusal::RolloutChanged.to_string()));
    }
    event(conn, rollout_id, Some(from), to, actor, reason, now).await?;
    Ok(to)
}

pub(super) fn policy_of(policies: &[PolicyRow], id: Option<i64>) -> Policy {
    id.and_then(|id| policies.iter().find(|p| p.id == id))
        .map(|p| p.policy.clone())
        .unwrap_or_default()
}

/// Test-group servers that miss the patch, with its package target.
pub(super) async fn test_servers(
    conn: &mut Conn,
    patch_id: i64,
) -> Result<Vec<(i64, PackageTarget)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        server_id: i64,
        package: String,
        version: String,
        arch: String,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select sp.server_id as server_id, p.package as package, p.version as version, p.arch as arch \
         from server_patch sp \
         join patch p on p.id = sp.patch_id \
         join server_group_member m on m.server_id = sp.server_id \
         join server_group g on g.id = m.group_id and g.is_test_group \
         where sp.patch_id = $1 and sp.state in {PATCH_ACTIONABLE} order by sp.server_id"
    ))
    .bind(patch_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.server_id,
                PackageTarget {
                    name: r.package,
                    version: r.version,
                    arch: r.arch,
                },
            )
        })
        .collect())
}

/// New rollouts whose policy tests automatically: one install job per
/// test-group server for all the patches it starts testing now.
pub(super) async fn start_tests(
    conn: &mut Conn,
    policies: &[PolicyRow],
    now: Timestamp,
    out: &mut Ticked,
) -> Result<()> {
    #[derive(sqlx::FromRow)]
    struct Fresh {
        id: i64,
        patch_id: i64,
        policy_id: Option<i64>,
    }
    let fresh: Vec<Fresh> = sqlx::query_as(&format!(
        "select id, patch_id, policy_id from rollout where state = {ROLLOUT_NEW} order by id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let fresh: Vec<(i64, i64)> = fresh
        .into_iter()
        .filter(|r| policy_of(policies, r.policy_id).auto_test)
        .map(|r| (r.id, r.patch_id))
        .collect();
    start_testing(conn, &fresh, Actor::Policy, now, out).await
}

/// Queues test installs for `(rollout, patch)` pairs and moves them to
/// testing (or straight to observing when no test-group server misses the
/// patch).
pub(super) async fn start_testing(
    conn: &mut Conn,
    rollouts: &[(i64, i64)],
    actor: Actor<'_>,
    now: Timestamp,
    out: &mut Ticked,
) -> Result<()> {
    let mut candidates = Vec::with_capacity(rollouts.len());
    for (rollout_id, patch_id) in rollouts {
        let (state,): (String,) = sqlx::query_as("select state from rollout where id = $1")
            .bind(rollout_id)
            .fetch_one(&mut *conn)
            .await?;
        candidates.push(TestCandidate {
            rollout_id: *rollout_id,
            state: RolloutState::parse(&state),
            servers: test_servers(conn, *patch_id).await?,
        });
    }
    let plan = deploy::plan_tests(&candidates, now);
    for test in &plan.jobs {
        write_test_job(conn, test, actor, now).await?;
    }
    for rollout_id in &plan.testing {
        let note = TestNote::Installing.to_string();
        transition(
            conn,
            *rollout_id,
            Transition::StartTest,
            actor,
            &note,
            None,
            now,
        )
        .await?;
        out.testing += 1;
    }
    let policies = if plan.untested.is_empty() {
        Vec::new()
    } else {
        policies(conn).await?
    };
    for untested in &plan.untested {
        observe_untested(conn, *untested, &policies, actor, now).await?;
        out.observing += 1;
    }
    Ok(())
}

/// Queues one test-group server's install job and records its tests.
pub(super) async fn write_test_job(
    conn: &mut Conn,
    test: &TestJob,
    actor: Actor<'_>,
    now: Timestamp,
) -> Result<()> {
    let new = jobs::NewJob {
        server_id: test.server_id,
        spec: &test.job.spec,
        not_before: test.job.not_before,
        not_after: test.job.not_after,
        created_by: actor.id(),
    };
    let job_id = jobs::create(conn, &new, now).await?;
    for rollout_id in &test.rollout_ids {
        sqlx::query(
            "insert into rollout_test (rollout_id, server_id, job_id) values ($1, $2, $3) \
             on conflict (rollout_id, server_id) do update set job_id = excluded.job_id",
        )
        .bind(rollout_id)
        .bind(test.server_id)
        .bind(job_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Moves a rollout with nothing to test on to observing (see
/// [`deploy::Untested::steps`]).
pub(super) async fn observe_untested(
    conn: &mut Conn,
    untested: Untested,
    policies: &[PolicyRow],
    actor: Actor<'_>,
    now: Timestamp,
) -> Result<()> {
    let (policy,): (Option<i64>,) = sqlx::query_as("select policy_id from rollout where id = $1")
        .bind(untested.rollout_id)
        .fetch_one(&mut *conn)
        .await?;
    let observe_until = now + policy_of(policies, policy).observation_seconds();
    if untested.retried {
        sqlx::query("delete from rollout_test where rollout_id = $1")
            .bind(untested.rollout_id)
            .execute(&mut *conn)
            .await?;
    }
    let steps = untested.steps();
    for (i, (t, note)) in steps.iter().enumerate() {
        let until = (i + 1 == steps.len()).then_some(observe_until);
        let note = note.to_string();
        transition(conn, untested.rollout_id, *t, actor, &note, until, now).await?;
    }
    Ok(())
}

/// The installation success check for rollouts in testing.
pub(super) async fn check_tests(
    conn: &mut Conn,
    policies: &[PolicyRow],
    now: Timestamp,
    out: &mut Ticked,
) -> Result<()> {
    for (rollout_id, tests) in testing(conn).await? {
        match test_verdict(&tests.installs) {
            Some(Transition::TestFailed) => {
                let reason = PolicyNote::TestFailed(tests.failures.clone()).to_string();
                transition(
                    conn,
                    rollout_id,
                    Transition::TestFailed,
                    Actor::Policy,
                    &reason,
                    None,
                    now,
                )
                .await?;
                let (package, version) = patch_of(conn, rollout_id).await?;
                let notice = Notice::TestFailed {
                    rollout_id,
                    package,
                    version,
                    failures: tests.failures,
                };
                out.notified += crate::mail::notify_admins(conn, &notice, now).await?;
                out.test_failed += 1;
            }
            Some(t) => {
                let days = policy_of(policies, tests.policy_id).observation_seconds();
                let note = PolicyNote::Observing {
                    days: days / 86_400,
                };
                let until = Some(now + days);
                transition(
                    conn,
                    rollout_id,
                    t,
                    Actor::Policy,
                    &note.to_string(),
                    until,
                    now,
                )
                .await?;
                out.observing += 1;
            }
            None => {}
        }
    }
    Ok(())
}

/// One rollout's tests: its policy, each test install, and what failed.
pub(super) struct Tests {
    policy_id: Option<i64>,
    installs: Vec<TestInstall>,
    failures: Vec<String>,
}

/// The rollouts in testing with their test installs, by rollout id.
async fn testing(conn: &mut Conn) -> Result<BTreeMap<i64, Tests>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        policy_id: Option<i64>,
        /// The test job's state; failed when it is gone.
        state: String,
        hostname: String,
        /// Why it ended as it did, with its exit code.
        why: String,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select r.id as id, r.policy_id as policy_id, coalesce(j.state, {JOB_FAILED}) as state, \
           s.hostname as hostname, \
           coalesce(j.reason, '') || (case when j.exit_code is null then '' else ' (exit code ' || j.exit_code || ')' end) \
             as why \
         from rollout r join rollout_test t on t.rollout_id = r.id \
         join server s on s.id = t.server_id left join job j on j.id = t.job_id \
         where r.state = {ROLLOUT_TESTING} order by r.id, s.hostname"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let mut per_rollout: BTreeMap<i64, Tests> = BTreeMap::new();
    for r in rows {
        let entry = per_rollout.entry(r.id).or_insert(Tests {
            policy_id: r.policy_id,
            installs: Vec::new(),
            failures: Vec::new(),
        });
        let install = match JobState::parse(&r.state) {
            Some(JobState::Succeeded) => TestInstall::Succeeded,
            Some(JobState::Queued | JobState::Running) => TestInstall::Pending,
            _ => TestInstall::Failed,
        };
        if install == TestInstall::Failed {
            let failure = format!("{}: {} {}", r.hostname, r.state, r.why);
            entry.failures.push(failure.trim().to_owned());
        }
        entry.installs.push(install);
    }
    Ok(per_rollout)
}

pub(super) async fn patch_of(conn: &mut Conn, rollout_id: i64) -> Result<(String, String)> {
    Ok(sqlx::query_as(
        "select p.package, p.version from rollout r join patch p on p.id = r.patch_id where r.id = $1",
    )
    .bind(rollout_id)
    .fetch_one(conn)
    .await?)
}

/// Observations that ended: the policy approves, or admins are told once
/// that approval waits for them.
pub(super) async fn end_observations(
    conn: &mut Conn,
    policies: &[PolicyRow],
    now: Timestamp,
    out: &mut Ticked,
) -> Result<()> {
    #[derive(sqlx::FromRow)]
    struct Due {
        id: i64,
        policy_id: Option<i64>,
        #[sqlx(try_from = "Flag")]
        observation_noted: bool,
    }
    let due: Vec<Due> = sqlx::query_as(&format!(
        "select id, policy_id, {} as observation_noted from rollout \
         where state = {ROLLOUT_OBSERVING} and observe_until <= $1 order by id",
        flag("observation_noted")
    ))
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    for Due {
        id: rollout_id,
        policy_id,
        observation_noted,
    } in due
    {
        let policy = policy_of(policies, policy_id);
        if policy.auto_approve {
            approve(
                conn,
                rollout_id,
                Actor::Policy,
                &PolicyNote::ObservationEnded.to_string(),
                now,
            )
            .await?;
            out.approved += 1;
        } else if !observation_noted {
            let (package, version) = patch_of(conn, rollout_id).await?;
            let notice = Notice::ObservationEnded {
                rollout_id,
                package,
                version,
            };
            out.notified += crate::mail::notify_admins(conn, &notice, now).await?;
            sqlx::query("update rollout set observation_noted = $1 where id = $2")
                .bind(true)
                .bind(rollout_id)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// Approves a rollout and carries out its policy: publish for critical
/// servers, deploy to standard servers without a reboot. Returns what it
/// published and deployed where (see [`approval_of`]).
pub async fn approve(
    conn: &mut Conn,
    rollout_id: i64,
    actor: Actor<'_>,
    reason: &str,
    now: Timestamp,
) -> Result<ApprovalDone> {
    transition(
        conn,
        rollout_id,
        Transition::Approve,
        actor,
        reason,
        None,
        now,
    )
    .await?;
    let (patch_id, policy_id): (i64, Option<i64>) =
        sqlx::query_as("select patch_id, policy_id from rollout where id = $1")
            .bind(rollout_id)
            .fetch_one(&mut *conn)
            .await?;
    let policies = policies(conn).await?;
    let policy = policy_of(&policies, policy_id);
    let missing = missing_servers(conn, patch_id, now).await?;
    let plan = rollout::plan_approval(&policy, &missing);
    for (kind, servers, note) in [
        (Kind::Publish, plan.publish, PolicyNote::Published),
        (Kind::Deploy, plan.in_windows, PolicyNote::InWindows),
    ] {
        if servers.is_empty() {
            continue;
        }
        deploy(
            conn,
            &NewDeployment {
                kind,
                patch_ids: &[patch_id],
                server_ids: &servers,
                not_before: now,
                in_windows: kind == Kind::Deploy,
                reboot: Reboot::None,
                rollout_id: Some(rollout_id),
                created_by: actor.id(),
                request_key: None,
                note: &note.to_string(),
            },
            now,
        )
        .await?;
    }
    approval_of(conn, rollout_id).await
}

/// What a rollout's approval did, from what is stored: the publication and
/// the deployment it made, each with its servers (a deployed server with
/// the time its install may start), and the servers that miss the patch
/// and were sent nothing (the policy leaves them to an admin). Right after
/// [`approve`] it is what the approval did; later it still names the same
/// deployments.
pub async fn approval_of(conn: &mut Conn, rollout_id: i64) -> Result<ApprovalDone> {
    #[derive(sqlx::FromRow)]
    struct Row {
        deployment_id: i64,
        kind: String,
        server_id: i64,
        hostname: String,
        not_before: Option<Timestamp>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "select d.id as deployment_id, d.kind as kind, t.server_id as server_id, \
           s.hostname as hostname, j.not_before as not_before \
         from deployment d join deployment_target t on t.deployment_id = d.id \
         join server s on s.id = t.server_id left join job j on j.id = t.job_id \
         where d.rollout_id = $1 order by d.id, s.hostname, t.server_id",
    )
    .bind(rollout_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut done = ApprovalDone::default();
    for r in rows {
        let deploy = Kind::parse(&r.kind) == Some(Kind::Deploy);
        let slot = if deploy {
            &mut done.deployed
        } else {
            &mut done.published
        };
        let sent = slot.get_or_insert_with(|| ApprovalDeployment {
            deployment_id: r.deployment_id,
            servers: Vec::new(),
        });
        // One patch per approval's deployment: one row per server.
        if sent.deployment_id == r.deployment_id
            && sent
                .servers
                .last()
                .is_none_or(|s| s.server_id != r.server_id)
        {
            sent.servers.push(SentTo {
                server_id: r.server_id,
                hostname: r.hostname,
                from: r.not_before.filter(|_| deploy),
            });
        }
    }
    let left: Vec<(String,)> = sqlx::query_as(&format!(
        "select s.hostname from rollout r join server_patch sp on sp.patch_id = r.patch_id \
         join server s on s.id = sp.server_id \
         where r.id = $1 and sp.state in {PATCH_PUBLISHABLE} and not exists (\
           select 1 from deployment d join deployment_target t on t.deployment_id = d.id \
           where d.rollout_id = r.id and t.server_id = sp.server_id) \
         order by s.hostname, s.id"
    ))
    .bind(rollout_id)
    .fetch_all(&mut *conn)
    .await?;
    done.left = left.into_iter().map(|l| l.0).collect();
    Ok(done)
}

/// An admin's decision on one rollout, by the same rules whether it is
/// taken alone or with others, and what it did. A decision the rollout's
/// state does not allow is a [`StorageError::Conflict`] saying why; run it
/// in a transaction of its own, so a refusal leaves nothing of it behind.
pub async fn decide(
    conn: &mut Conn,
    rollout_id: i64,
    decision: Decision,
    actor: Actor<'_>,
    reason: &str,
    now: Timestamp,
) -> Result<Outcome> {
    Ok(match decision {
        Decision::Approve => {
            Outcome::Approved(approve(conn, rollout_id, actor, reason, now).await?)
        }
        Decision::Decline => {
            decline(conn, rollout_id, actor, reason, now).await?;
            Outcome::Declined
        }
        Decision::Retest => {
            retest(conn, rollout_id, actor, now).await?;
            Outcome::Retested(state_of(conn, rollout_id).await?)
        }
    })
}

/// A rollout's state.
async fn state_of(conn: &mut Conn, rollout_id: i64) -> Result<RolloutState> {
    let (state,): (String,) = sqlx::query_as("select state from rollout where id = $1")
        .bind(rollout_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StorageError::NotFound)?;
    RolloutState::parse(&state)
        .ok_or_else(|| StorageError::Corrupt(format!("unknown rollout state {state:?}")))
}

/// What `decision` did to a rollout, read back from what is stored, for a
/// page that knows only whether it went through (`refused` false) or not:
/// the page after a plain form post. An approval's outcome is
/// [`approval_of`]; a refusal is explained from the rollout's state now
/// (a state that would allow it now means it changed meanwhile). A
/// rollout that went through but is no longer in the state the decision
/// leads to is reported as refused with that. [`StorageError::NotFound`]
/// when there is no such rollout.
pub async fn decided(
    conn: &mut Conn,
    rollout_id: i64,
    decision: Decision,
    refused: bool,
) -> Result<Decided> {
    let state = state_of(conn, rollout_id).await?;
    let (package, version) = patch_of(conn, rollout_id).await?;
    let outcome = match (refused, decision, state) {
        (true, _, _) => Outcome::Refused(match decision.refusal(state) {
            Some(why) => why.to_string(),
            None => Refusal::RolloutChanged.to_string(),
        }),
        (false, Decision::Approve, RolloutState::Approved) => {
            Outcome::Approved(approval_of(conn, rollout_id).await?)
        }
        (false, Decision::Decline, RolloutState::Declined) => Outcome::Declined,
        (false, Decision::Retest, s) if !s.is_final() => Outcome::Retested(s),
        (false, _, _) => Outcome::Refused(Refusal::RolloutChanged.to_string()),
    };
    Ok(Decided {
        rollout_id,
        package,
        version,
        outcome,
    })
}

/// The servers that miss `patch_id` (actionable), with their criticality
/// and whether they have a maintenance window.
async fn missing_servers(conn: &mut Conn, patch_id: i64, now: Timestamp) -> Result<Vec<Missing>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        server_id: i64,
        #[sqlx(try_from = "Flag")]
        critical: bool,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select sp.server_id as server_id, {} as critical from server_patch sp \
         join server s on s.id = sp.server_id \
         where sp.patch_id = $1 and sp.state in {PATCH_ACTIONABLE} order by sp.server_id",
        flag("s.criticality = 'critical'")
    ))
    .bind(patch_id)
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.server_id).collect();
    let windows = crate::windows::next_for_servers(conn, &ids, now).await?;
    Ok(rows
        .into_iter()
        .map(|r| Missing {
            server_id: r.server_id,
            critical: r.critical,
            has_window: windows.contains_key(&r.server_id),
        })
        .collect())
}

/// Declines a rollout (with a reason): nothing is published or deployed
/// for it any more, and publications of it are withdrawn.
pub async fn decline(
    conn: &mut Conn,
    rollout_id: i64,
    actor: Actor<'_>,
    reason: &str,
    now: Timestamp,
) -> Result<()> {
    transition(
        conn,
        rollout_id,
        Transition::Decline,
        actor,
        reason,
        None,
        now,
    )
    .await?;
    sqlx::query(&format!(
        "update server_patch set state = {PATCH_MISSING}, updated_at = $1 where state = {PATCH_PUBLISHED} \
         and patch_id = (select patch_id from rollout where id = $2)"
    ))
    .bind(now)
    .bind(rollout_id)
    .execute(&mut *conn)
    .await?;
    // Queued installs of it do not run either.
    let (patch_id,): (i64,) = sqlx::query_as("select patch_id from rollout where id = $1")
        .bind(rollout_id)
        .fetch_one(&mut *conn)
        .await?;
    crate::jobs::withdraw_patch(conn, patch_id, now).await?;
    Ok(())
}

/// An admin (re)starts a rollout's test install (new or test failed).
pub async fn retest(
    conn: &mut Conn,
    rollout_id: i64,
    actor: Actor<'_>,
    now: Timestamp,
) -> Result<()> {
    let (patch_id, state): (i64, String) =
        sqlx::query_as("select patch_id, state from rollout where id = $1")
            .bind(rollout_id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or(StorageError::NotFound)?;
    let from = RolloutState::parse(&state).unwrap_or(RolloutState::Declined);
    rollout::next(from, Transition::StartTest)
        .map_err(|e| StorageError::Conflict(e.to_string()))?;
    start_testing(
        conn,
        &[(rollout_id, patch_id)],
        actor,
        now,
        &mut Ticked::default(),
    )
    .await
}
