//! The workflow's states and kinds (`patchport_core::state`,
//! `patchport_core::rollout::RolloutState`) as SQL: a value as a quoted
//! literal (`'queued'`), a group as a list for `in`
//! (`('queued', 'running', 'rebooting')`). Queries splice the constants
//! below into their text with `format!`, so no state is spelled anywhere
//! else in this crate.
//!
//! They stay literals rather than bind parameters: PostgreSQL uses a
//! partial index (`where state in ('missing', …)`) only when the query
//! spells its predicate with the same literals, and the planner estimates
//! rows better from values it can see.

use patchport_core::rollout::RolloutState;
use patchport_core::state::{
    CheckInStatus, DeployKind, ImportState, JobKind, JobState, MailState, PatchState, Stored,
};
use std::fmt;

/// One value as an SQL string literal: `'queued'`.
#[derive(Debug, Clone, Copy)]
pub struct Lit<T>(pub T);

/// Values as an SQL list for `in`: `('queued', 'running')`.
#[derive(Debug, Clone, Copy)]
pub struct List<T: 'static>(pub &'static [T]);

impl<T: Stored> fmt::Display for Lit<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Stored names are lower-case words (tested in core): no quote to
        // escape.
        write!(f, "'{}'", self.0.name())
    }
}

impl<T: Stored> fmt::Display for List<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", Lit(*v))?;
        }
        f.write_str(")")
    }
}

// server_patch.state
pub(crate) const PATCH_MISSING: Lit<PatchState> = Lit(PatchState::Missing);
pub(crate) const PATCH_PUBLISHED: Lit<PatchState> = Lit(PatchState::Published);
pub(crate) const PATCH_QUEUED: Lit<PatchState> = Lit(PatchState::Queued);
pub(crate) const PATCH_FAILED: Lit<PatchState> = Lit(PatchState::Failed);
/// [`PatchState::OPEN`]: the predicate of the partial indexes.
pub(crate) const PATCH_OPEN: List<PatchState> = List(PatchState::OPEN);
/// [`PatchState::CLOSED`].
pub(crate) const PATCH_CLOSED: List<PatchState> = List(PatchState::CLOSED);
/// [`PatchState::ACTIONABLE`].
pub(crate) const PATCH_ACTIONABLE: List<PatchState> = List(PatchState::ACTIONABLE);
/// [`PatchState::PUBLISHABLE`].
pub(crate) const PATCH_PUBLISHABLE: List<PatchState> = List(PatchState::PUBLISHABLE);

// job.state
pub(crate) const JOB_QUEUED: Lit<JobState> = Lit(JobState::Queued);
pub(crate) const JOB_RUNNING: Lit<JobState> = Lit(JobState::Running);
pub(crate) const JOB_REBOOTING: Lit<JobState> = Lit(JobState::Rebooting);
pub(crate) const JOB_SUCCEEDED: Lit<JobState> = Lit(JobState::Succeeded);
pub(crate) const JOB_FAILED: Lit<JobState> = Lit(JobState::Failed);
pub(crate) const JOB_EXPIRED: Lit<JobState> = Lit(JobState::Expired);
pub(crate) const JOB_CANCELLED: Lit<JobState> = Lit(JobState::Cancelled);
/// [`JobState::OPEN`].
pub(crate) const JOB_OPEN: List<JobState> = List(JobState::OPEN);
/// [`JobState::ACTIVE`].
pub(crate) const JOB_ACTIVE: List<JobState> = List(JobState::ACTIVE);

// job.kind
pub(crate) const KIND_INSTALL: Lit<JobKind> = Lit(JobKind::Install);
pub(crate) const KIND_REBOOT: Lit<JobKind> = Lit(JobKind::Reboot);

// deployment.kind
pub(crate) const KIND_DEPLOY: Lit<DeployKind> = Lit(DeployKind::Deploy);
pub(crate) const KIND_PUBLISH: Lit<DeployKind> = Lit(DeployKind::Publish);

// rollout.state
pub(crate) const ROLLOUT_NEW: Lit<RolloutState> = Lit(RolloutState::New);
pub(crate) const ROLLOUT_TESTING: Lit<RolloutState> = Lit(RolloutState::Testing);
pub(crate) const ROLLOUT_OBSERVING: Lit<RolloutState> = Lit(RolloutState::Observing);
pub(crate) const ROLLOUT_DECLINED: Lit<RolloutState> = Lit(RolloutState::Declined);

// mail.state
pub(crate) const MAIL_QUEUED: Lit<MailState> = Lit(MailState::Queued);
pub(crate) const MAIL_SENT: Lit<MailState> = Lit(MailState::Sent);

// advisory_import.state
pub(crate) const IMPORT_RUNNING: Lit<ImportState> = Lit(ImportState::Running);
pub(crate) const IMPORT_SUCCEEDED: Lit<ImportState> = Lit(ImportState::Succeeded);
pub(crate) const IMPORT_FAILED: Lit<ImportState> = Lit(ImportState::Failed);

// The server list's status filter (compared with the bound name).
pub(crate) const CHECK_IN_ONLINE: Lit<CheckInStatus> = Lit(CheckInStatus::Online);
pub(crate) const CHECK_IN_STALE: Lit<CheckInStatus> = Lit(CheckInStatus::Stale);
pub(crate) const CHECK_IN_OFFLINE: Lit<CheckInStatus> = Lit(CheckInStatus::Offline);
pub(crate) const CHECK_IN_NEVER: Lit<CheckInStatus> = Lit(CheckInStatus::Never);

#[cfg(test)]
mod tests {
    use super::*;
    use patchport_core::state::RebootOption;

    #[test]
    fn renders_literals_and_lists() {
        assert_eq!(JOB_QUEUED.to_string(), "'queued'");
        assert_eq!(ROLLOUT_NEW.to_string(), "'new'");
        assert_eq!(
            PATCH_OPEN.to_string(),
            "('missing', 'published', 'queued', 'installing', 'failed')"
        );
        assert_eq!(JOB_OPEN.to_string(), "('queued', 'running', 'rebooting')");
        assert_eq!(List(&[PatchState::Queued]).to_string(), "('queued')");
    }

    fn all_migrations() -> Vec<(&'static str, String)> {
        macro_rules! both {
            ($($file:literal),*) => {
                vec![$(
                    ("sqlite", include_str!(concat!("../../migrations/sqlite/", $file))),
                    ("postgres", include_str!(concat!("../../migrations/postgres/", $file))),
                )*]
            };
        }
        let files: Vec<(&str, &str)> = both!(
            "0002_servers.sql",
            "0003_jobs_and_rotation.sql",
            "0005_report_aggregates.sql",
            "0006_rollouts.sql",
            "0008_mail.sql",
            "0010_applicability.sql",
            "0020_rollback.sql"
        );
        let mut by_backend: Vec<(&str, String)> =
            vec![("sqlite", String::new()), ("postgres", String::new())];
        for (backend, text) in files {
            let entry = by_backend.iter_mut().find(|b| b.0 == backend).unwrap();
            entry.1.push_str(text);
        }
        by_backend
    }

    /// Every value list is the column's CHECK constraint, on both backends.
    #[test]
    fn every_value_is_the_check_constraint() {
        let checks = [
            format!("check (state in {})", List(PatchState::ALL)),
            format!("check (state in {})", List(JobState::ALL)),
            format!("check (kind in {})", List(JobKind::ALL)),
            format!("check (state in {})", List(&RolloutState::ALL)),
            format!("check (kind in {})", List(DeployKind::ALL)),
            format!("check (reboot in {})", List(RebootOption::ALL)),
            format!("check (state in {})", List(MailState::ALL)),
            format!("check (state in {})", List(ImportState::ALL)),
        ];
        for (backend, text) in all_migrations() {
            for check in &checks {
                assert!(text.contains(check.as_str()), "{backend}: {check}");
            }
        }
    }

    /// Queries spell the open states as the partial indexes do.
    #[test]
    fn open_is_the_partial_index_predicate() {
        let predicate = format!("where state in {PATCH_OPEN};");
        for (backend, text) in all_migrations() {
            assert!(text.contains(&predicate), "{backend}");
        }
    }
}
