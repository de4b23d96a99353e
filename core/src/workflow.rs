//! The job workflow's decisions: pure planners that take what storage read
//! and return what to change, and the reasons recorded on jobs. Storage
//! (`patchport-db`) reads, calls a planner and writes the plan; it spells
//! no reason and takes no decision of its own.
//!
//! - [`on_result`]: the job state machine for an agent's result.
//! - [`overdue`]: what the clock does to a job (storage runs the same rule
//!   set-wise in SQL, with these reasons and [`MAX_ATTEMPTS`]).
//! - [`withdraw`]: what a declined patch does to queued installs.

use crate::Timestamp;
use crate::protocol::{JobOutcome, PackageTarget, REBOOT_GRACE};
use crate::state::{JobKind, JobState, PatchState};

/// Seconds after a reboot was marked lost during which a new boot id still
/// confirms it (later, a new boot id says nothing about that reboot).
pub const LOST_REBOOT_CONFIRMABLE: i64 = 86_400;

/// Attempts before a job whose agent keeps going silent fails for good.
pub const MAX_ATTEMPTS: i64 = 3;

/// Why a job changed, as recorded in `job.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobReason {
    /// A queued job passed its not-after: expired.
    NotStartedInTime,
    /// A running reboot's agent went silent: failed, not offered again.
    LostReboot,
    /// A running job's lease ran out with no attempt or time left: failed.
    /// Counts attempts.
    AttemptsExhausted,
    /// A running job's lease ran out: queued again. Counts attempts.
    OfferedAgain,
    /// A rebooting job saw no new boot id within its grace: failed.
    RebootNotConfirmed,
    /// A reboot (rebooting, or lost) confirmed by a new boot id: succeeded.
    RebootConfirmed,
    /// A queued install of only a declined patch: cancelled.
    PatchDeclined,
    /// A queued install of a declined patch and others: the others stay.
    DeclinedPatchTakenOut,
}

impl JobReason {
    /// Every reason.
    pub const ALL: &'static [Self] = &[
        Self::NotStartedInTime,
        Self::LostReboot,
        Self::AttemptsExhausted,
        Self::OfferedAgain,
        Self::RebootNotConfirmed,
        Self::RebootConfirmed,
        Self::PatchDeclined,
        Self::DeclinedPatchTakenOut,
    ];

    /// The recorded text; for a reason that counts attempts
    /// ([`Self::after_count`] is `Some`), the text before the count.
    pub fn text(self) -> &'static str {
        match self {
            Self::NotStartedInTime => {
                "not started before its deadline (the agent did not check in in time)"
            }
            Self::LostReboot => {
                "lost: the agent stopped reporting during the reboot and the server has \
                 not come back with a new boot id; not offered again, so the server is never \
                 rebooted twice (book another reboot if it still needs one)"
            }
            Self::AttemptsExhausted => "the agent did not report within its lease (",
            Self::OfferedAgain => "attempt ",
            Self::RebootNotConfirmed => "the server did not come back with a new boot id in time",
            Self::RebootConfirmed => "confirmed by a new boot id",
            Self::PatchDeclined => "its patch was declined",
            Self::DeclinedPatchTakenOut => "a declined patch was taken out of it",
        }
    }

    /// For a reason that counts attempts, the text after the count (storage
    /// records `text() || attempt || after_count()`).
    pub fn after_count(self) -> Option<&'static str> {
        match self {
            Self::AttemptsExhausted => Some(" attempts)"),
            Self::OfferedAgain => Some(" ended without a result (lease expired); offered again"),
            _ => None,
        }
    }

    /// The whole text for a job at `attempt`.
    pub fn render(self, attempt: i64) -> String {
        match self.after_count() {
            Some(after) => format!("{}{attempt}{after}", self.text()),
            None => self.text().to_owned(),
        }
    }
}

/// What storage read of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobFacts {
    /// Its kind (`None`: not a kind this version knows).
    pub kind: Option<JobKind>,
    /// Its state (`None`: not a state this version knows).
    pub state: Option<JobState>,
    /// Its current attempt.
    pub attempt: i64,
}

/// Why a result is refused outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// "Rebooting" for a job that is not a reboot.
    NotAReboot,
}

impl Refusal {
    /// The message for the agent.
    pub fn text(self) -> &'static str {
        match self {
            Self::NotAReboot => "only a reboot job can be rebooting",
        }
    }
}

/// What to do with an agent's result ([`on_result`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultPlan {
    /// Record it: the job moves to `state`, guarded by its attempt and its
    /// being under way ([`JobState::ACTIVE`]).
    Apply {
        /// The job's new state.
        state: JobState,
        /// Its new lease (a reboot's grace for a new boot id), if any.
        lease_until: Option<Timestamp>,
        /// When it ended, if it did.
        finished_at: Option<Timestamp>,
        /// An install's patches still being installed
        /// ([`PatchState::BEING_INSTALLED`]) move to this state.
        patches_to: Option<PatchState>,
        /// Whether the server's owner is told ([`crate::notice::Notice::InstallDone`]).
        tell_owner: bool,
    },
    /// The same result was already recorded (a retry): nothing changes.
    Repeated,
    /// The attempt is no longer current: nothing changes.
    Stale,
    /// Not a result this job can take.
    Refused(Refusal),
}

/// The job state machine: what `outcome`, reported for `attempt` at `now`,
/// does to `job`.
pub fn on_result(job: JobFacts, attempt: i64, outcome: JobOutcome, now: Timestamp) -> ResultPlan {
    let reboot = job.kind == Some(JobKind::Reboot);
    let target = match outcome {
        JobOutcome::Succeeded => JobState::Succeeded,
        JobOutcome::Failed => JobState::Failed,
        JobOutcome::Rebooting if reboot => JobState::Rebooting,
        JobOutcome::Rebooting => return ResultPlan::Refused(Refusal::NotAReboot),
    };
    if job.attempt != attempt {
        return ResultPlan::Stale;
    }
    // A reboot confirmed by a new boot id before its "rebooting" result
    // arrived (it was spooled) is already done.
    let confirmed_reboot =
        reboot && job.state == Some(JobState::Succeeded) && target == JobState::Rebooting;
    if job.state == Some(target) || confirmed_reboot {
        return ResultPlan::Repeated;
    }
    // A reboot the system refused after the agent said "rebooting" may
    // still fail; anything else must be running to take a result.
    let refused_reboot = job.state == Some(JobState::Rebooting) && target == JobState::Failed;
    if job.state != Some(JobState::Running) && !refused_reboot {
        return ResultPlan::Stale;
    }
    let install = job.kind == Some(JobKind::Install);
    let rebooting = target == JobState::Rebooting;
    ResultPlan::Apply {
        state: target,
        lease_until: rebooting.then_some(now + REBOOT_GRACE),
        finished_at: (!rebooting).then_some(now),
        patches_to: (install && target == JobState::Failed).then_some(PatchState::Failed),
        tell_owner: install,
    }
}

/// What storage read of a job for the clock ([`overdue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockFacts {
    /// Its kind.
    pub kind: JobKind,
    /// Its state.
    pub state: JobState,
    /// Its lease, while under way.
    pub lease_until: Option<Timestamp>,
    /// Expires if not started by then.
    pub not_after: Timestamp,
    /// Attempts so far.
    pub attempt: i64,
}

/// What the clock does to a job ([`overdue`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overdue {
    /// Its new state.
    pub state: JobState,
    /// Why (render it with the job's attempt).
    pub reason: JobReason,
    /// Whether an install's patches still being installed go back to
    /// missing.
    pub hands_back: bool,
}

/// What the clock at `now` does to a job, if anything: a queued job past its
/// not-after expires; a running job whose lease ran out is offered again
/// while attempts and time remain, else fails, but a reboot is never
/// offered again (it is lost: it may have happened); a reboot not confirmed
/// by a new boot id within its grace fails. Storage's `sweep` applies this
/// rule set-wise in SQL.
pub fn overdue(job: &ClockFacts, now: Timestamp) -> Option<Overdue> {
    let lease_over = job.lease_until.is_some_and(|t| t <= now);
    let install = job.kind == JobKind::Install;
    let (state, reason) = match job.state {
        JobState::Queued if job.not_after <= now => {
            (JobState::Expired, JobReason::NotStartedInTime)
        }
        JobState::Running if lease_over && job.kind == JobKind::Reboot => {
            (JobState::Failed, JobReason::LostReboot)
        }
        JobState::Running
            if lease_over && (job.attempt >= MAX_ATTEMPTS || job.not_after <= now) =>
        {
            (JobState::Failed, JobReason::AttemptsExhausted)
        }
        JobState::Running if lease_over => (JobState::Queued, JobReason::OfferedAgain),
        JobState::Rebooting if lease_over => (JobState::Failed, JobReason::RebootNotConfirmed),
        _ => return None,
    };
    let hands_back = install && matches!(state, JobState::Expired | JobState::Failed);
    Some(Overdue {
        state,
        reason,
        hands_back,
    })
}

/// A queued install job, as storage read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedInstall {
    /// The job.
    pub job_id: i64,
    /// Its server.
    pub server_id: i64,
    /// What it installs.
    pub packages: Vec<PackageTarget>,
}

/// What becomes of a queued install job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobEdit {
    /// Cancelled (ends now).
    Cancel,
    /// Stays queued, installing only these (never empty).
    Keep(Vec<PackageTarget>),
}

/// One change to a queued install job ([`withdraw`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobChange {
    /// The job.
    pub job_id: i64,
    /// Its server.
    pub server_id: i64,
    /// Cancelled, or what it keeps.
    pub edit: JobEdit,
    /// Why, recorded on the job.
    pub reason: JobReason,
    /// What it no longer installs: these server-patches go from queued back
    /// to missing.
    pub released: Vec<PackageTarget>,
}

/// Takes a declined `patch` out of queued install jobs: a job that installs
/// only it is cancelled, one that installs more keeps the rest, a job
/// without it is left alone. Changes come in the order of `queued`.
pub fn withdraw(patch: &PackageTarget, queued: &[QueuedInstall]) -> Vec<JobChange> {
    queued
        .iter()
        .filter_map(|job| {
            let (released, kept): (Vec<_>, Vec<_>) =
                job.packages.iter().cloned().partition(|p| p == patch);
            if released.is_empty() {
                return None;
            }
            let (edit, reason) = if kept.is_empty() {
                (JobEdit::Cancel, JobReason::PatchDeclined)
            } else {
                (JobEdit::Keep(kept), JobReason::DeclinedPatchTakenOut)
            };
            Some(JobChange {
                job_id: job.job_id,
                server_id: job.server_id,
                edit,
                reason,
                released,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: Timestamp = 1_000_000;

    fn pkg(name: &str) -> PackageTarget {
        PackageTarget {
            name: name.into(),
            version: "1.0".into(),
            arch: "x86_64".into(),
        }
    }

    #[test]
    fn reasons_read_as_recorded() {
        use JobReason::*;
        let table: &[(JobReason, i64, &str)] = &[
            (
                NotStartedInTime,
                1,
                "not started before its deadline (the agent did not check in in time)",
            ),
            (
                LostReboot,
                1,
                "lost: the agent stopped reporting during the reboot and the server has not come \
                 back with a new boot id; not offered again, so the server is never rebooted twice \
                 (book another reboot if it still needs one)",
            ),
            (
                AttemptsExhausted,
                3,
                "the agent did not report within its lease (3 attempts)",
            ),
            (
                OfferedAgain,
                2,
                "attempt 2 ended without a result (lease expired); offered again",
            ),
            (
                RebootNotConfirmed,
                1,
                "the server did not come back with a new boot id in time",
            ),
            (RebootConfirmed, 1, "confirmed by a new boot id"),
            (PatchDeclined, 1, "its patch was declined"),
            (
                DeclinedPatchTakenOut,
                1,
                "a declined patch was taken out of it",
            ),
        ];
        assert_eq!(table.len(), JobReason::ALL.len());
        for (reason, attempt, text) in table {
            assert_eq!(reason.render(*attempt), *text, "{reason:?}");
        }
        // Storage finds lost reboots by this exact text (stored on jobs
        // since lost reboots exist): no other reason may share it.
        for r in JobReason::ALL {
            assert_eq!(r.text() == LostReboot.text(), *r == LostReboot, "{r:?}");
        }
    }

    fn facts(kind: JobKind, state: JobState, attempt: i64) -> JobFacts {
        JobFacts {
            kind: Some(kind),
            state: Some(state),
            attempt,
        }
    }

    fn apply(state: JobState, patches_to: Option<PatchState>, tell_owner: bool) -> ResultPlan {
        let rebooting = state == JobState::Rebooting;
        ResultPlan::Apply {
            state,
            lease_until: rebooting.then_some(NOW + REBOOT_GRACE),
            finished_at: (!rebooting).then_some(NOW),
            patches_to,
            tell_owner,
        }
    }

    #[test]
    fn results_move_jobs() {
        use JobKind::{Install, Reboot, Refresh};
        use JobOutcome as O;
        use JobState::*;
        let failed = Some(PatchState::Failed);
        let table: Vec<(JobFacts, i64, JobOutcome, ResultPlan)> = vec![
            // Running jobs take their attempt's result.
            (
                facts(Install, Running, 1),
                1,
                O::Succeeded,
                apply(Succeeded, None, true),
            ),
            (
                facts(Install, Running, 1),
                1,
                O::Failed,
                apply(Failed, failed, true),
            ),
            (
                facts(Refresh, Running, 2),
                2,
                O::Succeeded,
                apply(Succeeded, None, false),
            ),
            (
                facts(Refresh, Running, 2),
                2,
                O::Failed,
                apply(Failed, None, false),
            ),
            (
                facts(Reboot, Running, 1),
                1,
                O::Rebooting,
                apply(Rebooting, None, false),
            ),
            (
                facts(Reboot, Running, 1),
                1,
                O::Failed,
                apply(Failed, None, false),
            ),
            // Only a reboot reboots, whatever the attempt.
            (
                facts(Install, Running, 1),
                1,
                O::Rebooting,
                ResultPlan::Refused(Refusal::NotAReboot),
            ),
            (
                facts(Refresh, Queued, 1),
                7,
                O::Rebooting,
                ResultPlan::Refused(Refusal::NotAReboot),
            ),
            // An old attempt's result is stale.
            (
                facts(Install, Running, 2),
                1,
                O::Succeeded,
                ResultPlan::Stale,
            ),
            (
                facts(Install, Queued, 1),
                1,
                O::Succeeded,
                ResultPlan::Stale,
            ),
            (facts(Install, Expired, 1), 1, O::Failed, ResultPlan::Stale),
            (
                facts(Install, Cancelled, 0),
                0,
                O::Failed,
                ResultPlan::Stale,
            ),
            (
                facts(Install, Failed, 1),
                1,
                O::Succeeded,
                ResultPlan::Stale,
            ),
            // A retry of what was recorded changes nothing.
            (
                facts(Install, Succeeded, 1),
                1,
                O::Succeeded,
                ResultPlan::Repeated,
            ),
            (
                facts(Install, Failed, 1),
                1,
                O::Failed,
                ResultPlan::Repeated,
            ),
            (
                facts(Reboot, Rebooting, 1),
                1,
                O::Rebooting,
                ResultPlan::Repeated,
            ),
            // A reboot confirmed before its spooled "rebooting" arrived.
            (
                facts(Reboot, Succeeded, 1),
                1,
                O::Rebooting,
                ResultPlan::Repeated,
            ),
            // A reboot the system refused after "rebooting" still fails.
            (
                facts(Reboot, Rebooting, 1),
                1,
                O::Failed,
                apply(Failed, None, false),
            ),
            (
                facts(Reboot, Rebooting, 1),
                1,
                O::Succeeded,
                ResultPlan::Stale,
            ),
        ];
        for (job, attempt, outcome, plan) in table {
            assert_eq!(
                on_result(job, attempt, outcome, NOW),
                plan,
                "{job:?} {attempt} {outcome:?}"
            );
        }
        let unknown = JobFacts {
            kind: None,
            state: Some(Running),
            attempt: 1,
        };
        assert_eq!(
            on_result(unknown, 1, O::Rebooting, NOW),
            ResultPlan::Refused(Refusal::NotAReboot)
        );
        assert_eq!(
            on_result(unknown, 1, O::Succeeded, NOW),
            apply(Succeeded, None, false)
        );
    }

    fn clock(
        kind: JobKind,
        state: JobState,
        lease: Option<i64>,
        after: i64,
        attempt: i64,
    ) -> ClockFacts {
        ClockFacts {
            kind,
            state,
            lease_until: lease.map(|d| NOW + d),
            not_after: NOW + after,
            attempt,
        }
    }

    #[test]
    fn the_clock_moves_jobs() {
        use JobKind::{Install, Reboot, Refresh};
        use JobReason::*;
        use JobState::*;
        let to = |state, reason, hands_back| {
            Some(Overdue {
                state,
                reason,
                hands_back,
            })
        };
        let table: Vec<(ClockFacts, Option<Overdue>)> = vec![
            // Queued: expires at its not-after, not before.
            (
                clock(Install, Queued, None, 0, 0),
                to(Expired, NotStartedInTime, true),
            ),
            (
                clock(Refresh, Queued, None, -5, 0),
                to(Expired, NotStartedInTime, false),
            ),
            (
                clock(Reboot, Queued, None, -5, 0),
                to(Expired, NotStartedInTime, false),
            ),
            (clock(Install, Queued, None, 1, 0), None),
            // Running, lease over: again while attempts and time remain.
            (
                clock(Install, Running, Some(0), 100, 1),
                to(Queued, OfferedAgain, false),
            ),
            (
                clock(Refresh, Running, Some(-1), 100, 2),
                to(Queued, OfferedAgain, false),
            ),
            (
                clock(Install, Running, Some(0), 100, MAX_ATTEMPTS),
                to(Failed, AttemptsExhausted, true),
            ),
            (
                clock(Install, Running, Some(0), 0, 1),
                to(Failed, AttemptsExhausted, true),
            ),
            (
                clock(Refresh, Running, Some(0), 100, MAX_ATTEMPTS),
                to(Failed, AttemptsExhausted, false),
            ),
            // A reboot is never offered again.
            (
                clock(Reboot, Running, Some(0), 100, 1),
                to(Failed, LostReboot, false),
            ),
            // Lease not over: nothing.
            (clock(Install, Running, Some(1), -100, MAX_ATTEMPTS), None),
            (clock(Reboot, Running, Some(1), 100, 1), None),
            // Rebooting: fails when its grace is over.
            (
                clock(Reboot, Rebooting, Some(0), 100, 1),
                to(Failed, RebootNotConfirmed, false),
            ),
            (clock(Reboot, Rebooting, Some(1), -100, 1), None),
            // Ended jobs stay ended.
            (clock(Install, Succeeded, None, -100, 1), None),
            (clock(Install, Failed, None, -100, 1), None),
            (clock(Install, Expired, None, -100, 0), None),
            (clock(Install, Cancelled, None, -100, 0), None),
        ];
        for (job, plan) in table {
            assert_eq!(overdue(&job, NOW), plan, "{job:?}");
        }
    }

    fn queued(job_id: i64, names: &[&str]) -> QueuedInstall {
        QueuedInstall {
            job_id,
            server_id: job_id * 10,
            packages: names.iter().map(|n| pkg(n)).collect(),
        }
    }

    #[test]
    fn a_decline_cancels_or_shrinks_queued_installs() {
        let bash = pkg("bash");
        let jobs = [
            queued(1, &["bash"]),
            queued(2, &["bash", "curl", "zlib"]),
            queued(3, &["curl"]),
            queued(4, &[]),
        ];
        let mut other_version = queued(5, &[]);
        other_version.packages.push(PackageTarget {
            version: "2.0".into(),
            ..bash.clone()
        });
        let mut all = jobs.to_vec();
        all.push(other_version);
        assert_eq!(
            withdraw(&bash, &all),
            vec![
                JobChange {
                    job_id: 1,
                    server_id: 10,
                    edit: JobEdit::Cancel,
                    reason: JobReason::PatchDeclined,
                    released: vec![bash.clone()],
                },
                JobChange {
                    job_id: 2,
                    server_id: 20,
                    edit: JobEdit::Keep(vec![pkg("curl"), pkg("zlib")]),
                    reason: JobReason::DeclinedPatchTakenOut,
                    released: vec![bash.clone()],
                },
            ]
        );
        assert_eq!(withdraw(&bash, &[]), vec![]);
    }

    fn package() -> impl Strategy<Value = PackageTarget> {
        ("[a-c]", "[12]", "(x86_64|noarch)").prop_map(|(name, version, arch)| PackageTarget {
            name,
            version,
            arch,
        })
    }

    proptest! {
        #[test]
        fn withdraw_keeps_jobs_whole(
            patch in package(),
            jobs in prop::collection::vec(prop::collection::vec(package(), 0..4), 0..6),
        ) {
            let queued: Vec<QueuedInstall> = jobs
                .into_iter()
                .enumerate()
                .map(|(i, packages)| QueuedInstall { job_id: i as i64, server_id: 1, packages })
                .collect();
            let changes = withdraw(&patch, &queued);
            let mut touched = changes.iter().map(|c| c.job_id).peekable();
            for job in &queued {
                let carries = job.packages.contains(&patch);
                if touched.peek() != Some(&job.job_id) {
                    // A job without the patch is never touched.
                    prop_assert!(!carries);
                    continue;
                }
                touched.next();
                prop_assert!(carries);
                let change = changes.iter().find(|c| c.job_id == job.job_id).unwrap();
                prop_assert!(change.released.iter().all(|p| p == &patch));
                match &change.edit {
                    JobEdit::Cancel => {
                        prop_assert_eq!(change.reason, JobReason::PatchDeclined);
                        prop_assert_eq!(&change.released, &job.packages);
                    }
                    JobEdit::Keep(kept) => {
                        // Never an empty job, never the patch, nothing lost.
                        prop_assert!(!kept.is_empty());
                        prop_assert!(!kept.contains(&patch));
                        prop_assert_eq!(change.reason, JobReason::DeclinedPatchTakenOut);
                        prop_assert_eq!(kept.len() + change.released.len(), job.packages.len());
                    }
                }
            }
            prop_assert!(touched.next().is_none());
        }

        #[test]
        fn results_never_apply_to_another_attempt(
            kind in prop::sample::select(JobKind::ALL),
            state in prop::sample::select(JobState::ALL),
            current in 0i64..4,
            reported in 0i64..4,
            outcome in prop::sample::select(vec![JobOutcome::Succeeded, JobOutcome::Failed, JobOutcome::Rebooting]),
        ) {
            let job = facts(kind, state, current);
            let plan = on_result(job, reported, outcome, NOW);
            if let ResultPlan::Apply { state: to, .. } = plan {
                prop_assert_eq!(current, reported);
                prop_assert!(JobState::ACTIVE.contains(&state));
                prop_assert_ne!(to, state);
            }
            if current != reported {
                prop_assert!(matches!(plan, ResultPlan::Stale | ResultPlan::Refused(_)));
            }
        }
    }
}
