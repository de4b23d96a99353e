//! Rollouts: policies, each patch's path through the workflow (see
//! `patchport_core::rollout`), deployments and the notifications they
//! record.
//!
//! [`tick`] is the scheduler, run every minute by every portal instance:
//! its steps each run in their own transaction, and on PostgreSQL only the
//! instance holding a step's transaction-level advisory lock runs that
//! step, so two instances never act twice.

use crate::states::{
    JOB_FAILED, JOB_SUCCEEDED, KIND_DEPLOY, PATCH_ACTIONABLE, PATCH_MISSING, PATCH_PUBLISHABLE,
    PATCH_PUBLISHED, ROLLOUT_DECLINED, ROLLOUT_NEW, ROLLOUT_OBSERVING, ROLLOUT_TESTING,
};
use crate::{Conn, Page, Result, StorageError, id_list, jobs, limit_offset};
use patchport_core::Timestamp;
use patchport_core::deploy::{
    self, Candidate, DeployRequest, OwnerNotice, PatchName, ServerTargets, TestCandidate, TestJob,
    TestNote, Untested,
};
use patchport_core::protocol::{JobSpec, PackageTarget};
use patchport_core::rollout::{
    self, PatchFacts, Policy, RolloutState, TestInstall, Transition, test_verdict,
};
use patchport_core::state::{DeployKind, JobState, PatchState, RebootOption, TargetState};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// How long a deployment's install job may wait before it expires.
pub use patchport_core::deploy::INSTALL_WINDOW;

/// The first of the advisory locks (one per [`Step`], numbered from this)
/// that let one portal instance at a time run each step of [`tick`].
const TICK_LOCK: i64 = 0x7061_7463_6872_6f6c; // "patchrol"

/// Who decided.
#[derive(Debug, Clone, Copy)]
pub enum Actor<'a> {
    /// The policy, by itself.
    Policy,
    /// An admin.
    Person {
        /// Account id.
        id: i64,
        /// User name, kept with the event.
        name: &'a str,
    },
}

impl Actor<'_> {
    fn id(&self) -> Option<i64> {
        match self {
            Actor::Policy => None,
            Actor::Person { id, .. } => Some(*id),
        }
    }

    fn name(&self) -> &str {
        match self {
            Actor::Policy => "policy",
            Actor::Person { name, .. } => name,
        }
    }
}

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRow {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Lower positions are asked first.
    pub position: i64,
    /// Disabled policies take no new patches.
    pub enabled: bool,
    /// What it covers and does.
    pub policy: Policy,
    /// Last change.
    pub updated_at: Timestamp,
    /// Who changed it last.
    pub updated_by: String,
}

/// Every policy, in the order they are asked.
pub async fn policies(conn: &mut Conn) -> Result<Vec<PolicyRow>> {
    let rows: Vec<(i64, String, i64, i64, String, i64, String)> = sqlx::query_as(
        "select p.id, p.name, p.position, (case when p.enabled then 1 else 0 end), p.settings, p.updated_at, \
           coalesce(a.username, '') from rollout_policy p left join account a on a.id = p.updated_by \
         order by p.position, p.id",
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(PolicyRow {
                id: r.0,
                name: r.1,
                position: r.2,
                enabled: r.3 != 0,
                policy: serde_json::from_str(&r.4).map_err(|e| {
                    StorageError::Corrupt(format!("policy {} is unreadable: {e}", r.0))
                })?,
                updated_at: r.5,
                updated_by: r.6,
            })
        })
        .collect()
}

/// A policy to store (validated by the caller).
#[derive(Debug, Clone, Copy)]
pub struct PolicyInput<'a> {
    /// Unique name.
    pub name: &'a str,
    /// Lower positions are asked first.
    pub position: i64,
    /// Takes new patches.
    pub enabled: bool,
    /// What it covers and does.
    pub policy: &'a Policy,
}

/// Creates (`id` None) or updates a policy.
pub async fn save_policy(
    conn: &mut Conn,
    id: Option<i64>,
    p: &PolicyInput<'_>,
    by: i64,
    now: Timestamp,
) -> Result<i64> {
    let settings = serde_json::to_string(p.policy).expect("a policy serialises");
    match id {
        Some(id) => {
            let done = sqlx::query(
                "update rollout_policy set name = $1, position = $2, enabled = $3, settings = $4, \
                 updated_at = $5, updated_by = $6 where id = $7",
            )
            .bind(p.name)
            .bind(p.position)
            .bind(p.enabled)
            .bind(settings)
            .bind(now)
            .bind(by)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StorageError::NotFound);
            }
            Ok(id)
        }
        None => {
            let (id,): (i64,) = sqlx::query_as(
                "insert into rollout_policy (name, position, enabled, settings, updated_at, updated_by) \
                 values ($1, $2, $3, $4, $5, $6) returning id",
            )
            .bind(p.name)
            .bind(p.position)
            .bind(p.enabled)
            .bind(settings)
            .bind(now)
            .bind(by)
            .fetch_one(&mut *conn)
            .await?;
            Ok(id)
        }
    }
}

/// What one scheduler step did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ticked {
    /// Steps another instance was running at the same moment (PostgreSQL):
    /// this instance left them to it.
    pub skipped: Vec<Step>,
    /// Steps that failed: each rolled back alone and runs again at the
    /// next tick; the others kept their work.
    pub failed: Vec<Step>,
    /// Rollouts created for newly covered patches.
    pub created: u32,
    /// Rollouts whose test installs were queued.
    pub testing: u32,
    /// Rollouts whose test failed.
    pub test_failed: u32,
    /// Rollouts now observing.
    pub observing: u32,
    /// Rollouts the policy approved.
    pub approved: u32,
    /// Reboot jobs queued for finished deployments.
    pub reboots: u32,
    /// Notifications recorded.
    pub notified: u32,
}

impl Ticked {
    /// Whether any step changed something (skipped and failed steps
    /// change nothing).
    pub fn advanced(&self) -> bool {
        self.created
            + self.testing
            + self.test_failed
            + self.observing
            + self.approved
            + self.reboots
            + self.notified
            > 0
    }
}

/// The scheduler's steps, in the order [`tick`] runs them. Each is
/// idempotent (it acts only on rows still in the state it looks for), so a
/// step that failed or was left to another instance simply runs again at
/// the next tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Newly covered patches become rollouts.
    Discover,
    /// Fresh rollouts whose policy tests automatically start testing.
    StartTests,
    /// Finished test installs decide observation or failure.
    CheckTests,
    /// Observations that ended are approved by policy (or wait).
    EndObservations,
    /// Finished deployments get their reboots or tell their owners.
    FollowDeployments,
    /// Booked reboots: reminders and outcomes.
    FollowBookings,
    /// Reboot deadlines: closed when met, escalated when missed.
    FollowObligations,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 7] = [
        Step::Discover,
        Step::StartTests,
        Step::CheckTests,
        Step::EndObservations,
        Step::FollowDeployments,
        Step::FollowBookings,
        Step::FollowObligations,
    ];

    /// Name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Discover => "discover",
            Step::StartTests => "start_tests",
            Step::CheckTests => "check_tests",
            Step::EndObservations => "end_observations",
            Step::FollowDeployments => "follow_deployments",
            Step::FollowBookings => "follow_bookings",
            Step::FollowObligations => "follow_obligations",
        }
    }

    async fn run(self, conn: &mut Conn, now: Timestamp, out: &mut Ticked) -> Result<()> {
        match self {
            Step::Discover => {
                let policies = policies(conn).await?;
                discover(conn, &policies, now, out).await
            }
            Step::StartTests => {
                let policies = policies(conn).await?;
                start_tests(conn, &policies, now, out).await
            }
            Step::CheckTests => {
                let policies = policies(conn).await?;
                check_tests(conn, &policies, now, out).await
            }
            Step::EndObservations => {
                let policies = policies(conn).await?;
                end_observations(conn, &policies, now, out).await
            }
            Step::FollowDeployments => follow_deployments(conn, now, out).await,
            Step::FollowBookings => {
                out.notified += crate::mail::follow_bookings(conn, now).await?;
                Ok(())
            }
            Step::FollowObligations => {
                out.notified += crate::windows::follow_obligations(conn, now).await?;
                Ok(())
            }
        }
    }
}

/// One scheduler tick at `now`: takes newly covered patches into rollouts,
/// starts test installs, checks them, ends observations, approves by
/// policy, and follows up deployments (reboots, owners to tell) and booked
/// reboots (reminders, outcomes, deadlines).
///
/// Each [`Step`] runs in its own short write transaction, so check-ins wait
/// for one step at most (on SQLite the writer is shared) and a failing step
/// is logged, rolled back and retried at the next tick without undoing the
/// others. On PostgreSQL each step takes its own transaction-level advisory
/// lock: several portal instances may tick at once and each step still
/// runs once.
pub async fn tick(db: &crate::Db, now: Timestamp) -> Ticked {
    let mut out = Ticked::default();
    for step in Step::ALL {
        let mut counts = Ticked::default();
        match run_step(db, step, now, &mut counts).await {
            Ok(true) => {
                out.created += counts.created;
                out.testing += counts.testing;
                out.test_failed += counts.test_failed;
                out.observing += counts.observing;
                out.approved += counts.approved;
                out.reboots += counts.reboots;
                out.notified += counts.notified;
            }
            Ok(false) => out.skipped.push(step),
            Err(e) => {
                tracing::warn!(step = step.as_str(), error = %crate::error_chain(&e),
                    "scheduler step failed; it runs again at the next tick");
                out.failed.push(step);
            }
        }
    }
    out
}

/// Runs one step in its own transaction; `false` when another instance
/// holds it. Its counts only count once it committed.
async fn run_step(db: &crate::Db, step: Step, now: Timestamp, out: &mut Ticked) -> Result<bool> {
    let mut tx = db.begin().await?;
    if db.backend() == crate::Backend::Postgres {
        let (got,): (bool,) = sqlx::query_as("select pg_try_advisory_xact_lock($1)")
            .bind(TICK_LOCK + step as i64)
            .fetch_one(&mut *tx)
            .await?;
        if !got {
            return Ok(false);
        }
    }
    step.run(&mut tx, now, out).await?;
    crate::commit(tx).await?;
    Ok(true)
}

/// Patches with servers missing them and no rollout yet: the first enabled
/// policy that covers one takes it.
async fn discover(
    conn: &mut Conn,
    policies: &[PolicyRow],
    now: Timestamp,
    out: &mut Ticked,
) -> Result<()> {
    if !policies.iter().any(|p| p.enabled) {
        return Ok(());
    }
    let candidates: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(
        "select p.id, p.package, p.release, x.severity_rank, x.security \
         from patch p join (select f.patch_id, max(f.severity_rank) as severity_rank, \
             max(case when f.security then 1 else 0 end) as security \
           from patch_from f where f.open_servers > 0 group by f.patch_id) x on x.patch_id = p.id \
         where true \
           and not exists (select 1 from rollout r where r.patch_id = p.id) order by p.id",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (patch_id, package, release, severity_rank, security) in candidates {
        let facts = PatchFacts {
            package: &package,
            release: &release,
            severity_rank,
            security: security != 0,
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
                &format!("covered by policy {}", policy.name),
                now,
            )
            .await?;
            out.created += 1;
        }
    }
    Ok(())
}

async fn event(
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
async fn transition(
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
        return Err(StorageError::Conflict(
            "the rollout changed meanwhile; reload".into(),
        ));
    }
    event(conn, rollout_id, Some(from), to, actor, reason, now).await?;
    Ok(to)
}

fn policy_of(policies: &[PolicyRow], id: Option<i64>) -> Policy {
    id.and_then(|id| policies.iter().find(|p| p.id == id))
        .map(|p| p.policy.clone())
        .unwrap_or_default()
}

/// Test-group servers that miss the patch, with its package target.
async fn test_servers(conn: &mut Conn, patch_id: i64) -> Result<Vec<(i64, PackageTarget)>> {
    let rows: Vec<(i64, String, String, String)> = sqlx::query_as(&format!(
        "select sp.server_id, p.package, p.version, p.arch from server_patch sp \
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
        .map(|(s, name, version, arch)| {
            (
                s,
                PackageTarget {
                    name,
                    version,
                    arch,
                },
            )
        })
        .collect())
}

/// New rollouts whose policy tests automatically: one install job per
/// test-group server for all the patches it starts testing now.
async fn start_tests(
    conn: &mut Conn,
    policies: &[PolicyRow],
    now: Timestamp,
    out: &mut Ticked,
) -> Result<()> {
    let fresh: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(&format!(
        "select id, patch_id, policy_id from rollout where state = {ROLLOUT_NEW} order by id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let fresh: Vec<(i64, i64)> = fresh
        .into_iter()
        .filter(|(_, _, policy)| policy_of(policies, *policy).auto_test)
        .map(|(id, patch, _)| (id, patch))
        .collect();
    start_testing(conn, &fresh, Actor::Policy, now, out).await
}

/// Queues test installs for `(rollout, patch)` pairs and moves them to
/// testing (or straight to observing when no test-group server misses the
/// patch).
async fn start_testing(
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
async fn write_test_job(
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
async fn observe_untested(
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
async fn check_tests(
    conn: &mut Conn,
    policies: &[PolicyRow],
    now: Timestamp,
    out: &mut Ticked,
) -> Result<()> {
    let rows: Vec<(i64, Option<i64>, String, String, String)> = sqlx::query_as(&format!(
        "select r.id, r.policy_id, coalesce(j.state, {JOB_FAILED}), s.hostname, \
           coalesce(j.reason, '') || (case when j.exit_code is null then '' else ' (exit code ' || j.exit_code || ')' end) \
         from rollout r join rollout_test t on t.rollout_id = r.id \
         join server s on s.id = t.server_id left join job j on j.id = t.job_id \
         where r.state = {ROLLOUT_TESTING} order by r.id, s.hostname"
    ))
    .fetch_all(&mut *conn)
    .await?;
    // Per rollout: its policy, each test install, and what failed.
    type Tests = (Option<i64>, Vec<TestInstall>, Vec<String>);
    let mut per_rollout: BTreeMap<i64, Tests> = BTreeMap::new();
    for (id, policy, state, hostname, why) in rows {
        let entry = per_rollout
            .entry(id)
            .or_insert((policy, Vec::new(), Vec::new()));
        let install = match JobState::parse(&state) {
            Some(JobState::Succeeded) => TestInstall::Succeeded,
            Some(JobState::Queued | JobState::Running) => TestInstall::Pending,
            _ => TestInstall::Failed,
        };
        if install == TestInstall::Failed {
            entry
                .2
                .push(format!("{hostname}: {state} {why}").trim().to_owned());
        }
        entry.1.push(install);
    }
    for (rollout_id, (policy, installs, failures)) in per_rollout {
        match test_verdict(&installs) {
            Some(Transition::TestFailed) => {
                let reason = format!("test install failed on {}", failures.join("; "));
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
                let notice = crate::mail::Notice {
                    kind: "test_failed",
                    subject: &format!("Test install of {package} {version} failed"),
                    body: &format!(
                        "The rollout of {package} {version} stopped: {reason}. The logs are on the rollout page."
                    ),
                    link: &format!("/rollouts/{rollout_id}"),
                };
                out.notified += crate::mail::notify_admins(conn, &notice, now).await?;
                out.test_failed += 1;
            }
            Some(t) => {
                let days = policy_of(policies, policy).observation_seconds();
                transition(
                    conn,
                    rollout_id,
                    t,
                    Actor::Policy,
                    &format!(
                        "installed on every test server; observing for {} days",
                        days / 86_400
                    ),
                    Some(now + days),
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

async fn patch_of(conn: &mut Conn, rollout_id: i64) -> Result<(String, String)> {
    Ok(sqlx::query_as(
        "select p.package, p.version from rollout r join patch p on p.id = r.patch_id where r.id = $1",
    )
    .bind(rollout_id)
    .fetch_one(conn)
    .await?)
}

/// Observations that ended: the policy approves, or admins are told once
/// that approval waits for them.
async fn end_observations(
    conn: &mut Conn,
    policies: &[PolicyRow],
    now: Timestamp,
    out: &mut Ticked,
) -> Result<()> {
    let due: Vec<(i64, Option<i64>, i64)> = sqlx::query_as(&format!(
        "select id, policy_id, (case when observation_noted then 1 else 0 end) from rollout \
         where state = {ROLLOUT_OBSERVING} and observe_until <= $1 order by id"
    ))
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    for (rollout_id, policy, noted) in due {
        let policy = policy_of(policies, policy);
        if policy.auto_approve {
            approve(
                conn,
                rollout_id,
                Actor::Policy,
                "observation ended without a decline",
                now,
            )
            .await?;
            out.approved += 1;
        } else if noted == 0 {
            let (package, version) = patch_of(conn, rollout_id).await?;
            let notice = crate::mail::Notice {
                kind: "observation_ended",
                subject: &format!("{package} {version} awaits approval"),
                body: &format!(
                    "The observation of {package} {version} ended. The policy asks an admin to approve or decline it."
                ),
                link: &format!("/rollouts/{rollout_id}"),
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
/// servers, deploy to standard servers without a reboot.
pub async fn approve(
    conn: &mut Conn,
    rollout_id: i64,
    actor: Actor<'_>,
    reason: &str,
    now: Timestamp,
) -> Result<()> {
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
    let missing_on = |criticality: &'static str| {
        format!(
            "select sp.server_id from server_patch sp join server s on s.id = sp.server_id \
             where sp.patch_id = {patch_id} and s.criticality = '{criticality}' and sp.state in {PATCH_ACTIONABLE} \
             order by sp.server_id"
        )
    };
    let mut publish: Vec<i64> = Vec::new();
    let mut in_windows: Vec<i64> = Vec::new();
    if policy.publish_critical {
        let rows: Vec<(i64,)> = sqlx::query_as(&missing_on("critical"))
            .fetch_all(&mut *conn)
            .await?;
        publish.extend(rows.into_iter().map(|r| r.0));
    }
    if policy.deploy_standard {
        // Standard servers are patched in their next maintenance window; a
        // server without one cannot be, so the patch is published for its
        // owner instead.
        let rows: Vec<(i64,)> = sqlx::query_as(&missing_on("standard"))
            .fetch_all(&mut *conn)
            .await?;
        for (server_id,) in rows {
            if crate::windows::next_for_server(conn, server_id, now)
                .await?
                .is_some()
            {
                in_windows.push(server_id);
            } else {
                publish.push(server_id);
            }
        }
    }
    for (kind, servers, note) in [
        (Kind::Publish, publish, "approved by the rollout"),
        (
            Kind::Deploy,
            in_windows,
            "approved by the rollout: installed in each server's next maintenance window",
        ),
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
                note,
            },
            now,
        )
        .await?;
    }
    Ok(())
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

/// Publish or deploy.
pub use patchport_core::state::DeployKind as Kind;

/// When a deployment reboots.
pub use patchport_core::deploy::Reboot;

/// A publication or deployment to create.
#[derive(Debug, Clone)]
pub struct NewDeployment<'a> {
    /// Publish or deploy.
    pub kind: Kind,
    /// Patches.
    pub patch_ids: &'a [i64],
    /// Servers (already resolved from servers, groups, owners).
    pub server_ids: &'a [i64],
    /// Install not before (deploy).
    pub not_before: Timestamp,
    /// Install in each server's next maintenance window instead (not
    /// before it opens, expiring when it closes); servers without one are
    /// left out.
    pub in_windows: bool,
    /// Reboot option (deploy).
    pub reboot: Reboot,
    /// The rollout that approved it.
    pub rollout_id: Option<i64>,
    /// The admin who asked.
    pub created_by: Option<i64>,
    /// The form's one-time key: a repeat returns the first deployment.
    pub request_key: Option<&'a str>,
    /// Free text.
    pub note: &'a str,
}

/// What creating a deployment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// The deployment.
    pub id: i64,
    /// False when the request key had been used: nothing new was done.
    pub created: bool,
    /// Server-patches it acts on.
    pub targets: u32,
    /// Install jobs queued (one per server).
    pub jobs: u32,
    /// Server-patches left out, each with why ("web-1: openssl 3.0.15 is
    /// already installed").
    pub skipped: Vec<String>,
}

/// Publishes or deploys patches to servers. Only server-patches that are
/// missing (or published, or failed) are acted on; the rest are reported
/// in `skipped`. A declined patch is refused. What it acts on is
/// [`deploy::plan`]'s choice.
pub async fn deploy(conn: &mut Conn, d: &NewDeployment<'_>, now: Timestamp) -> Result<Deployed> {
    deploy::check_choice(d.patch_ids, d.server_ids).map_err(refused)?;
    let declined = declined_patches(conn, d.patch_ids).await?;
    deploy::check_declined(declined).map_err(refused)?;
    let Some(id) = insert_deployment(conn, d, now).await? else {
        return existing_deployment(conn, d.request_key).await;
    };
    let rows = deploy_candidates(conn, d).await?;
    let windows = if d.in_windows {
        crate::windows::next_for_servers(conn, d.server_ids, now).await?
    } else {
        HashMap::new()
    };
    let plan = deploy::plan(
        &DeployRequest {
            kind: d.kind,
            not_before: d.not_before,
            windows: d.in_windows.then_some(&windows),
            now,
        },
        &rows,
    );
    for server in &plan.servers {
        write_targets(conn, id, server, d.created_by, now).await?;
    }
    for notice in &plan.notices {
        let notice_mail = crate::mail::Notice {
            kind: OwnerNotice::KIND,
            subject: &notice.subject(),
            body: &notice.body(),
            link: OwnerNotice::LINK,
        };
        crate::mail::notify(conn, notice.owner, &notice_mail, now).await?;
    }
    Ok(Deployed {
        id,
        created: true,
        targets: plan.targets() as u32,
        jobs: plan.jobs() as u32,
        skipped: plan.skips.iter().map(ToString::to_string).collect(),
    })
}

/// A refusal, as the caller's conflict.
fn refused(r: deploy::Refusal) -> StorageError {
    StorageError::Conflict(r.to_string())
}

/// The patches among `patch_ids` whose rollout was declined.
async fn declined_patches(conn: &mut Conn, patch_ids: &[i64]) -> Result<Vec<PatchName>> {
    let declined: Vec<(String, String)> = sqlx::query_as(&format!(
        "select p.package, p.version from rollout r join patch p on p.id = r.patch_id \
         where r.state = {ROLLOUT_DECLINED} and r.patch_id in ({}) order by p.package",
        id_list(patch_ids)
    ))
    .fetch_all(&mut *conn)
    .await?;
    Ok(declined
        .into_iter()
        .map(|(package, version)| PatchName { package, version })
        .collect())
}

/// Stores the deployment; None when its request key was used already.
async fn insert_deployment(
    conn: &mut Conn,
    d: &NewDeployment<'_>,
    now: Timestamp,
) -> Result<Option<i64>> {
    let (reboot, reboot_at) = d.reboot.stored();
    let inserted: Option<(i64,)> = sqlx::query_as(
        "insert into deployment (kind, rollout_id, created_by, request_key, not_before, reboot, reboot_at, note, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (request_key) do nothing returning id",
    )
    .bind(d.kind.as_str())
    .bind(d.rollout_id)
    .bind(d.created_by)
    .bind(d.request_key)
    .bind(d.not_before)
    .bind(reboot.as_str())
    .bind(reboot_at)
    .bind(d.note)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(inserted.map(|(id,)| id))
}

/// The deployment made earlier with this request key, as made.
async fn existing_deployment(conn: &mut Conn, request_key: Option<&str>) -> Result<Deployed> {
    let (id, targets, jobs): (i64, i64, i64) = sqlx::query_as(
        "select d.id, (select count(*) from deployment_target t where t.deployment_id = d.id), \
           (select count(distinct t.job_id) from deployment_target t where t.deployment_id = d.id) \
         from deployment d where d.request_key = $1",
    )
    .bind(request_key)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Deployed {
        id,
        created: false,
        targets: targets as u32,
        jobs: jobs as u32,
        skipped: Vec::new(),
    })
}

/// Every chosen (server, patch), by server and patch, with where the patch
/// stands there.
async fn deploy_candidates(conn: &mut Conn, d: &NewDeployment<'_>) -> Result<Vec<Candidate>> {
    // (server, host, patch, package, version, arch, state, owner)
    type Pair = (
        i64,
        String,
        i64,
        String,
        String,
        String,
        Option<String>,
        Option<i64>,
    );
    let pairs: Vec<Pair> = sqlx::query_as(&format!(
        "select s.id, s.hostname, p.id, p.package, p.version, p.arch, sp.state, s.owner_id \
             from server s cross join patch p \
             left join server_patch sp on sp.server_id = s.id and sp.patch_id = p.id \
             where s.id in ({}) and p.id in ({}) order by s.id, p.id",
        id_list(d.server_ids),
        id_list(d.patch_ids)
    ))
    .fetch_all(&mut *conn)
    .await?;
    Ok(pairs
        .into_iter()
        .map(
            |(server_id, host, patch_id, name, version, arch, state, owner)| Candidate {
                server_id,
                host,
                owner,
                patch_id,
                package: PackageTarget {
                    name,
                    version,
                    arch,
                },
                state: state.as_deref().and_then(PatchState::parse),
            },
        )
        .collect())
}

/// Writes one server's part of a plan: publishes its patches or queues
/// its install job, and records the targets.
async fn write_targets(
    conn: &mut Conn,
    deployment_id: i64,
    server: &ServerTargets,
    created_by: Option<i64>,
    now: Timestamp,
) -> Result<()> {
    let job_id = match &server.job {
        None => {
            for patch_id in &server.patch_ids {
                sqlx::query(&format!(
                    "update server_patch set state = {PATCH_PUBLISHED}, updated_at = $1 \
                     where server_id = $2 and patch_id = $3 and state in {PATCH_PUBLISHABLE}"
                ))
                .bind(now)
                .bind(server.server_id)
                .bind(patch_id)
                .execute(&mut *conn)
                .await?;
            }
            None
        }
        Some(job) => {
            let new = jobs::NewJob {
                server_id: server.server_id,
                spec: &job.spec,
                not_before: job.not_before,
                not_after: job.not_after,
                created_by,
            };
            Some(jobs::create(conn, &new, now).await?)
        }
    };
    for patch_id in &server.patch_ids {
        sqlx::query(
            "insert into deployment_target (deployment_id, server_id, patch_id, job_id) values ($1, $2, $3, $4)",
        )
        .bind(deployment_id)
        .bind(server.server_id)
        .bind(patch_id)
        .bind(job_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deployments whose installs finished: queue the reboot it asked for, or
/// ask the owner to schedule one.
async fn follow_deployments(conn: &mut Conn, now: Timestamp, out: &mut Ticked) -> Result<()> {
    // (deployment, server, reboot, reboot at, owner, host, told)
    type Done = (i64, i64, String, Option<i64>, Option<i64>, String, String);
    let done: Vec<Done> = sqlx::query_as(&format!(
        "select distinct d.id, t.server_id, d.reboot, d.reboot_at, s.owner_id, s.hostname, \
           (case when t.owner_told then 'told' else '' end) \
         from deployment d join deployment_target t on t.deployment_id = d.id \
         join job j on j.id = t.job_id join server s on s.id = t.server_id \
         where d.kind = {KIND_DEPLOY} and j.state = {JOB_SUCCEEDED} and t.reboot_job_id is null and not t.owner_told \
         order by d.id, t.server_id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    for (deployment_id, server_id, reboot, reboot_at, owner, hostname, _) in done {
        if RebootOption::parse(&reboot) == Some(RebootOption::None) {
            if let Some(owner) = owner {
                let packages: Vec<(String, String)> = sqlx::query_as(
                    "select p.package, p.version from deployment_target t join patch p on p.id = t.patch_id \
                     where t.deployment_id = $1 and t.server_id = $2 order by p.package",
                )
                .bind(deployment_id)
                .bind(server_id)
                .fetch_all(&mut *conn)
                .await?;
                let list: Vec<String> = packages.iter().map(|(p, v)| format!("{p} {v}")).collect();
                let (rank,): (i64,) = sqlx::query_as(
                    "select coalesce(max(f.severity_rank), 0) from deployment_target t \
                     join server_patch sp on sp.server_id = t.server_id and sp.patch_id = t.patch_id \
                     join patch_from f on f.id = sp.from_id where t.deployment_id = $1 and t.server_id = $2",
                )
                .bind(deployment_id)
                .bind(server_id)
                .fetch_one(&mut *conn)
                .await?;
                let deadline = crate::windows::oblige_reboot(conn, server_id, rank, now).await?;
                let subject = format!("{hostname} was patched: please schedule its reboot");
                let body = format!(
                    "Installed on {hostname} without a reboot: {}. Please book a reboot in one of its \
                     maintenance windows before {}.",
                    list.join(", "),
                    patchport_core::clock::format_utc(deadline)
                );
                let notice = crate::mail::Notice {
                    kind: "reboot_needed",
                    subject: &subject,
                    body: &body,
                    link: &format!("/servers/{server_id}"),
                };
                crate::mail::notify(conn, owner, &notice, now).await?;
                out.notified += 1;
            }
            sqlx::query(
                "update deployment_target set owner_told = $1 where deployment_id = $2 and server_id = $3",
            )
            .bind(true)
            .bind(deployment_id)
            .bind(server_id)
            .execute(&mut *conn)
            .await?;
            continue;
        }
        let not_before = reboot_at.unwrap_or(now).max(now);
        let job_id = jobs::create(
            conn,
            &jobs::NewJob {
                server_id,
                spec: &JobSpec::Reboot,
                not_before,
                not_after: not_before + INSTALL_WINDOW,
                created_by: None,
            },
            now,
        )
        .await?;
        sqlx::query(
            "update deployment_target set reboot_job_id = $1 where deployment_id = $2 and server_id = $3",
        )
        .bind(job_id)
        .bind(deployment_id)
        .bind(server_id)
        .execute(&mut *conn)
        .await?;
        out.reboots += 1;
    }
    Ok(())
}

/// One rollout as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutRow {
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
    /// Severity ("" unknown).
    pub severity: String,
    /// Known exploited.
    pub known_exploited: bool,
    /// Servers missing it.
    pub servers: i64,
    /// State.
    pub state: RolloutState,
    /// Policy name ("" none).
    pub policy: String,
    /// Observation end (observing).
    pub observe_until: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

type RolloutTuple = (
    i64,
    i64,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    String,
    Option<i64>,
    i64,
    i64,
);

/// A rollout with its patch: the worst the patch fixes from any installed
/// version seen, and the servers it is open on now.
const ROLLOUT_SELECT: &str = "select r.id, r.patch_id, p.package, p.version, p.release, \
       coalesce((select max(f.severity_rank) from patch_from f where f.patch_id = p.id), 0), \
       coalesce((select max(case when f.known_exploited then 1 else 0 end) from patch_from f where f.patch_id = p.id), 0), \
       coalesce((select cast(sum(f.open_servers) as bigint) from patch_from f where f.patch_id = p.id), 0), \
       r.state, coalesce(pol.name, ''), r.observe_until, r.created_at, r.updated_at \
     from rollout r join patch p on p.id = r.patch_id left join rollout_policy pol on pol.id = r.policy_id";

fn rollout_row(r: RolloutTuple) -> RolloutRow {
    RolloutRow {
        id: r.0,
        patch_id: r.1,
        package: r.2,
        version: r.3,
        release: r.4,
        severity: crate::report::severity_of_rank(r.5).to_owned(),
        known_exploited: r.6 != 0,
        servers: r.7,
        state: RolloutState::parse(&r.8).unwrap_or(RolloutState::New),
        policy: r.9,
        observe_until: r.10,
        created_at: r.11,
        updated_at: r.12,
    }
}

/// Rollouts, newest change first, optionally in one state.
pub async fn list(
    conn: &mut Conn,
    state: Option<RolloutState>,
    page: i64,
    per_page: i64,
) -> Result<Page<RolloutRow>> {
    let (limit, offset) = limit_offset(page, per_page);
    let filter = "($1 = '' or r.state = $1)";
    let (total,): (i64,) =
        sqlx::query_as(&format!("select count(*) from rollout r where {filter}"))
            .bind(state.map(RolloutState::as_str).unwrap_or(""))
            .fetch_one(&mut *conn)
            .await?;
    let rows: Vec<RolloutTuple> = sqlx::query_as(&format!(
        "{ROLLOUT_SELECT} where {filter} order by r.updated_at desc, r.id desc limit $2 offset $3"
    ))
    .bind(state.map(RolloutState::as_str).unwrap_or(""))
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok(Page {
        items: rows.into_iter().map(rollout_row).collect(),
        total,
    })
}

/// A decision in a rollout's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// Previous state.
    pub from: Option<String>,
    /// New state.
    pub to: String,
    /// "policy" or the admin's user name.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// A test install on one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRow {
    /// Server id.
    pub server_id: i64,
    /// Host name.
    pub hostname: String,
    /// Job id.
    pub job_id: Option<i64>,
    /// Job state.
    pub state: String,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// Log.
    pub log: String,
}

/// A rollout with its history and test installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutDetail {
    /// The rollout.
    pub rollout: RolloutRow,
    /// Decisions, oldest first.
    pub events: Vec<EventRow>,
    /// Test installs.
    pub tests: Vec<TestRow>,
    /// Deployments it made.
    pub deployments: Vec<i64>,
}

/// One rollout.
pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<RolloutDetail>> {
    let row: Option<RolloutTuple> = sqlx::query_as(&format!("{ROLLOUT_SELECT} where r.id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let events: Vec<(Option<String>, String, String, String, i64)> = sqlx::query_as(
        "select from_state, to_state, actor, reason, at from rollout_event where rollout_id = $1 order by id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    type Test = (i64, String, Option<i64>, String, Option<i64>, String);
    let tests: Vec<Test> = sqlx::query_as(
        "select t.server_id, s.hostname, t.job_id, coalesce(j.state, 'gone'), j.exit_code, coalesce(j.log, '') \
         from rollout_test t join server s on s.id = t.server_id left join job j on j.id = t.job_id \
         where t.rollout_id = $1 order by s.hostname",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let deployments: Vec<(i64,)> =
        sqlx::query_as("select id from deployment where rollout_id = $1 order by id")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(Some(RolloutDetail {
        rollout: rollout_row(row),
        events: events
            .into_iter()
            .map(|e| EventRow {
                from: e.0,
                to: e.1,
                actor: e.2,
                reason: e.3,
                at: e.4,
            })
            .collect(),
        tests: tests
            .into_iter()
            .map(|t| TestRow {
                server_id: t.0,
                hostname: t.1,
                job_id: t.2,
                state: t.3,
                exit_code: t.4,
                log: t.5,
            })
            .collect(),
        deployments: deployments.into_iter().map(|d| d.0).collect(),
    }))
}

/// The rollout of a patch, if it has one.
pub async fn of_patch(conn: &mut Conn, patch_id: i64) -> Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as("select id from rollout where patch_id = $1")
        .bind(patch_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.0))
}

/// A server's place in a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRow {
    /// Server id.
    pub server_id: i64,
    /// Host name.
    pub hostname: String,
    /// Its patches in this deployment ("openssl 3.0.15-1").
    pub patches: Vec<String>,
    /// queued, installing, installed, failed, reboot pending, rebooting,
    /// rebooted, published.
    pub state: String,
    /// The install job and its log.
    pub job_id: Option<i64>,
    /// Install log (tail).
    pub log: String,
    /// The reboot job.
    pub reboot_job_id: Option<i64>,
}

/// A deployment with each server's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentDetail {
    /// Id.
    pub id: i64,
    /// publish or deploy.
    pub kind: String,
    /// Who asked ("policy" for an approval).
    pub created_by: String,
    /// The rollout behind it.
    pub rollout_id: Option<i64>,
    /// Install not before.
    pub not_before: Timestamp,
    /// none, after, at.
    pub reboot: String,
    /// Reboot time (at).
    pub reboot_at: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// Per server.
    pub targets: Vec<TargetRow>,
}

/// The state a server is in within a deployment, from its jobs and its
/// patch states.
fn target_state(
    kind: &str,
    job: Option<&str>,
    reboot_job: Option<&str>,
    reboot: &str,
    patch_states: &[String],
) -> String {
    use JobState::{Queued, Rebooting, Running, Succeeded};
    if DeployKind::parse(kind) == Some(DeployKind::Publish) {
        let states: Vec<Option<PatchState>> =
            patch_states.iter().map(|s| PatchState::parse(s)).collect();
        return if states.iter().all(|s| *s == Some(PatchState::Installed)) {
            TargetState::Installed
        } else if states
            .iter()
            .any(|s| matches!(s, Some(PatchState::Installing | PatchState::Queued)))
        {
            TargetState::Installing
        } else {
            TargetState::Published
        }
        .as_str()
        .to_owned();
    }
    // An unknown name (there is none: the CHECK constraint) is Some(None).
    let job = job.map(JobState::parse);
    let reboot_job = reboot_job.map(JobState::parse);
    let no_reboot = RebootOption::parse(reboot) == Some(RebootOption::None);
    match (job, reboot_job) {
        (Some(Some(Queued)) | None, _) => TargetState::Queued,
        (Some(Some(Running)), _) => TargetState::Installing,
        (Some(Some(Succeeded)), None) if no_reboot => TargetState::Installed,
        (Some(Some(Succeeded)), None | Some(Some(Queued))) => TargetState::RebootPending,
        (Some(Some(Succeeded)), Some(Some(Running | Rebooting))) => TargetState::Rebooting,
        (Some(Some(Succeeded)), Some(Some(Succeeded))) => TargetState::Rebooted,
        (Some(Some(Succeeded)), Some(_)) => TargetState::RebootFailed,
        _ => TargetState::Failed,
    }
    .as_str()
    .to_owned()
}

/// One deployment.
pub async fn deployment(conn: &mut Conn, id: i64) -> Result<Option<DeploymentDetail>> {
    type Head = (
        i64,
        String,
        String,
        Option<i64>,
        i64,
        String,
        Option<i64>,
        i64,
    );
    let head: Option<Head> =
        sqlx::query_as(
            "select d.id, d.kind, coalesce(a.username, 'policy'), d.rollout_id, d.not_before, d.reboot, \
               d.reboot_at, d.created_at from deployment d left join account a on a.id = d.created_by where d.id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(h) = head else {
        return Ok(None);
    };
    // (server, host, package, version, patch state, job, job state, log,
    // reboot job, reboot job state)
    type Row = (
        i64,
        String,
        String,
        String,
        String,
        Option<i64>,
        Option<String>,
        String,
        Option<i64>,
        Option<String>,
    );
    let rows: Vec<Row> =
        sqlx::query_as(&format!(
            "select t.server_id, s.hostname, p.package, p.version, coalesce(sp.state, {PATCH_MISSING}), t.job_id, j.state, \
               coalesce(j.log, ''), t.reboot_job_id, rj.state \
             from deployment_target t join server s on s.id = t.server_id join patch p on p.id = t.patch_id \
             left join server_patch sp on sp.server_id = t.server_id and sp.patch_id = t.patch_id \
             left join job j on j.id = t.job_id left join job rj on rj.id = t.reboot_job_id \
             where t.deployment_id = $1 order by s.hostname, p.package"
        ))
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
    // Each server with its patch states, job state and reboot job state.
    type Target = (TargetRow, Vec<String>, Option<String>, Option<String>);
    let mut targets: Vec<Target> = Vec::new();
    for r in rows {
        match targets.last_mut() {
            Some(last) if last.0.server_id == r.0 => {
                last.0.patches.push(format!("{} {}", r.2, r.3));
                last.1.push(r.4);
            }
            _ => targets.push((
                TargetRow {
                    server_id: r.0,
                    hostname: r.1,
                    patches: vec![format!("{} {}", r.2, r.3)],
                    state: String::new(),
                    job_id: r.5,
                    log: r.7,
                    reboot_job_id: r.8,
                },
                vec![r.4],
                r.6,
                r.9,
            )),
        }
    }
    Ok(Some(DeploymentDetail {
        id: h.0,
        kind: h.1.clone(),
        created_by: h.2,
        rollout_id: h.3,
        not_before: h.4,
        reboot: h.5.clone(),
        reboot_at: h.6,
        created_at: h.7,
        targets: targets
            .into_iter()
            .map(|(mut t, states, job, reboot_job)| {
                t.state = target_state(&h.1, job.as_deref(), reboot_job.as_deref(), &h.5, &states);
                t
            })
            .collect(),
    }))
}

/// A recorded notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRow {
    /// Id.
    pub id: i64,
    /// Recipient's user name.
    pub username: String,
    /// Kind (test_failed, observation_ended, published, reboot_needed).
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// Link in the portal.
    pub link: String,
    /// When.
    pub created_at: Timestamp,
}

/// Notifications, newest first (all, or one account's).
pub async fn notifications(
    conn: &mut Conn,
    account_id: Option<i64>,
    page: i64,
    per_page: i64,
) -> Result<Page<NotificationRow>> {
    let (limit, offset) = limit_offset(page, per_page);
    let (total,): (i64,) =
        sqlx::query_as("select count(*) from notification where ($1 < 0 or account_id = $1)")
            .bind(account_id.unwrap_or(-1))
            .fetch_one(&mut *conn)
            .await?;
    let rows: Vec<(i64, String, String, String, String, String, i64)> = sqlx::query_as(
        "select n.id, a.username, n.kind, n.subject, n.body, n.link, n.created_at from notification n \
         join account a on a.id = n.account_id where ($1 < 0 or n.account_id = $1) \
         order by n.id desc limit $2 offset $3",
    )
    .bind(account_id.unwrap_or(-1))
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(|r| NotificationRow {
                id: r.0,
                username: r.1,
                kind: r.2,
                subject: r.3,
                body: r.4,
                link: r.5,
                created_at: r.6,
            })
            .collect(),
        total,
    })
}

/// Server ids for host names (or `#id`); a name no server has, or that
/// several servers share, is an error naming it.
pub async fn servers_named(conn: &mut Conn, hostnames: &[String]) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(hostnames.len());
    for name in hostnames {
        // `#12` names server 12 itself; a host name must name exactly one
        // server (names need not be unique, and a deployment must never
        // reach a server nobody meant).
        if let Some(id) = name.strip_prefix('#') {
            let id: i64 = id
                .parse()
                .map_err(|_| StorageError::Conflict(format!("{name:?} is not a server number")))?;
            let found: Option<(i64,)> = sqlx::query_as("select id from server where id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            ids.push(
                found
                    .ok_or_else(|| StorageError::Conflict(format!("no server {name}")))?
                    .0,
            );
            continue;
        }
        let found: Vec<(i64,)> =
            sqlx::query_as("select id from server where hostname = $1 order by id")
                .bind(name)
                .fetch_all(&mut *conn)
                .await?;
        match found.as_slice() {
            [] => return Err(StorageError::Conflict(format!("no server named {name:?}"))),
            [(id,)] => ids.push(*id),
            many => {
                let numbers: Vec<String> = many.iter().map(|(id,)| format!("#{id}")).collect();
                return Err(StorageError::Conflict(format!(
                    "{name:?} names {} servers ({}): write the one you mean by its number",
                    many.len(),
                    numbers.join(", ")
                )));
            }
        }
    }
    Ok(ids)
}

/// Servers named by id, by group and by owner, as one sorted list.
pub async fn resolve_servers(
    conn: &mut Conn,
    server_ids: &[i64],
    group_ids: &[i64],
    owner_ids: &[i64],
) -> Result<Vec<i64>> {
    let mut all: BTreeSet<i64> = BTreeSet::new();
    if !server_ids.is_empty() {
        let rows: Vec<(i64,)> = sqlx::query_as(&format!(
            "select id from server where id in ({})",
            id_list(server_ids)
        ))
        .fetch_all(&mut *conn)
        .await?;
        if rows.len() != server_ids.iter().collect::<BTreeSet<_>>().len() {
            return Err(StorageError::Conflict(
                "a chosen server does not exist".into(),
            ));
        }
        all.extend(rows.into_iter().map(|r| r.0));
    }
    if !group_ids.is_empty() {
        let rows: Vec<(i64,)> = sqlx::query_as(&format!(
            "select server_id from server_group_member where group_id in ({})",
            id_list(group_ids)
        ))
        .fetch_all(&mut *conn)
        .await?;
        all.extend(rows.into_iter().map(|r| r.0));
    }
    if !owner_ids.is_empty() {
        let rows: Vec<(i64,)> = sqlx::query_as(&format!(
            "select id from server where owner_id in ({})",
            id_list(owner_ids)
        ))
        .fetch_all(&mut *conn)
        .await?;
        all.extend(rows.into_iter().map(|r| r.0));
    }
    Ok(all.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::target_state;

    #[test]
    fn a_deployment_target_state_follows_its_jobs() {
        let s = |job, reboot_job, reboot| target_state("deploy", job, reboot_job, reboot, &[]);
        assert_eq!(s(Some("queued"), None, "none"), "queued");
        assert_eq!(s(Some("running"), None, "after"), "installing");
        assert_eq!(s(Some("succeeded"), None, "none"), "installed");
        assert_eq!(s(Some("succeeded"), None, "at"), "reboot pending");
        assert_eq!(s(Some("succeeded"), Some("queued"), "at"), "reboot pending");
        assert_eq!(
            s(Some("succeeded"), Some("rebooting"), "after"),
            "rebooting"
        );
        assert_eq!(s(Some("succeeded"), Some("succeeded"), "after"), "rebooted");
        assert_eq!(s(Some("failed"), None, "after"), "failed");
        assert_eq!(s(Some("expired"), None, "none"), "failed");
        let published = ["published".to_owned(), "installed".to_owned()];
        assert_eq!(
            target_state("publish", None, None, "none", &published),
            "published"
        );
    }
}
