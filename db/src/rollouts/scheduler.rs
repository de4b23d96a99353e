//! The scheduler: [`tick`] runs each [`Step`] in its own short
//! transaction, under a per-step advisory lock on PostgreSQL.

use super::*;
use crate::{Conn, Result};
use patchport_core::Timestamp;

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
pub(super) async fn run_step(
    db: &crate::Db,
    step: Step,
    now: Timestamp,
    out: &mut Ticked,
) -> Result<bool> {
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

/// Takes the turn named `name` (the scheduler's pass) for `holder` at
/// `now` if it is due, and makes the next turn due `every` seconds later
/// (less one second, so a timer firing a moment early still finds its turn
/// due). Several portal instances ask on their own timers; only the one
/// that finds the turn due gets `true`, so the pass runs once per interval
/// across instances instead of once per instance. The upsert is one
/// statement: on PostgreSQL the row lock makes two askers at the same
/// moment take turns, on SQLite the single writer does.
pub async fn take_turn(
    conn: &mut Conn,
    name: &str,
    holder: &str,
    now: Timestamp,
    every: i64,
) -> Result<bool> {
    let due = now + (every - 1).max(1);
    let done = sqlx::query(
        "insert into scheduler_turn (name, due_at, holder, taken_at) values ($1, $2, $3, $4) \
         on conflict (name) do update set due_at = excluded.due_at, holder = excluded.holder, \
         taken_at = excluded.taken_at where scheduler_turn.due_at <= excluded.taken_at",
    )
    .bind(name)
    .bind(due)
    .bind(holder)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
