//! The states and kinds the workflow stores: a server-patch's state, a
//! job's state and kind, a deployment's kind and reboot option, a mail's
//! and an advisory import's state, and how a server's last check-in reads.
//! (A rollout's state is [`crate::rollout::RolloutState`].)
//!
//! Each has `as_str` (the stored name, as the column's CHECK constraint
//! lists it), `parse` and `ALL` (every value, in the CHECK constraint's
//! order), and the groups the workflow asks about, e.g.
//! [`PatchState::OPEN`]: storage renders these as SQL, so each group is
//! defined once, here.

use crate::Timestamp;
use crate::protocol::JobSpec;
use serde::{Deserialize, Serialize};
use strum::{EnumString, IntoStaticStr, VariantArray};

/// A value stored by name: what storage needs to spell any of the enums
/// here (and [`RolloutState`](crate::rollout::RolloutState)) in SQL.
pub trait Stored: Copy + 'static {
    /// The stored name.
    fn name(self) -> &'static str;
}

impl Stored for crate::rollout::RolloutState {
    fn name(self) -> &'static str {
        self.as_str()
    }
}

/// `as_str`, `parse` and `ALL` from the strum derives, and [`Stored`].
macro_rules! stored_names {
    ($($t:ty),* $(,)?) => {$(
        impl Stored for $t {
            fn name(self) -> &'static str {
                self.as_str()
            }
        }

        impl $t {
            /// Every value, in the order the column's CHECK constraint
            /// lists them.
            pub const ALL: &'static [Self] = <Self as VariantArray>::VARIANTS;

            /// The stored name.
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            /// Parses a stored name (exactly as stored).
            pub fn parse(s: &str) -> Option<Self> {
                s.parse().ok()
            }
        }
    )*};
}

stored_names!(
    PatchState,
    JobState,
    JobKind,
    DeployKind,
    RebootOption,
    MailState,
    ImportState,
    CheckInStatus,
    TargetState,
);

/// Where a patch stands on one server (`server_patch.state`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PatchState {
    /// Offered by the server's package manager; nobody acted on it yet.
    Missing,
    /// Published for the owner to install from the self-service portal.
    Published,
    /// In an install job that has not started.
    Queued,
    /// In an install job that is running.
    Installing,
    /// No longer offered: it got installed (or the package went away).
    Installed,
    /// Its install job failed (one that expired or lost its agent hands
    /// the patch back as missing).
    Failed,
    /// No longer offered at this version: a newer patch replaced it.
    Superseded,
}

impl PatchState {
    /// Not (yet) on the server: what reports count and owners see. The
    /// order is the one PostgreSQL's partial indexes spell.
    pub const OPEN: &'static [Self] = &[
        Self::Missing,
        Self::Published,
        Self::Queued,
        Self::Installing,
        Self::Failed,
    ];

    /// Done with: installed or superseded (a patch offered again after
    /// that is missing again).
    pub const CLOSED: &'static [Self] = &[Self::Installed, Self::Superseded];

    /// Open and in no job: what a deployment, a test install or an
    /// owner's install may act on.
    pub const ACTIONABLE: &'static [Self] = &[Self::Missing, Self::Published, Self::Failed];

    /// Open and in a job that has not ended (queued or running).
    pub const BEING_INSTALLED: &'static [Self] = &[Self::Queued, Self::Installing];

    /// Actionable and not published yet: what a publication changes to
    /// published.
    pub const PUBLISHABLE: &'static [Self] = &[Self::Missing, Self::Failed];

    /// Whether the patch is not (yet) on the server ([`Self::OPEN`]).
    pub fn is_open(self) -> bool {
        Self::OPEN.contains(&self)
    }
}

/// Where a job stands (`job.state`): `queued` → `running` (leased to an
/// attempt) → `succeeded` or `failed`; a reboot goes `running` →
/// `rebooting` → `succeeded` once a new boot id is seen; a queued job
/// past its not-after is `expired`; an admin may cancel a queued one.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum JobState {
    /// Waiting for its agent (and its not-before).
    Queued,
    /// Leased to an attempt of its agent.
    Running,
    /// A reboot the agent started; done once a new boot id is seen.
    Rebooting,
    /// Done.
    Succeeded,
    /// Failed (or lost, for a reboot).
    Failed,
    /// Not started before its not-after.
    Expired,
    /// Cancelled while queued.
    Cancelled,
}

impl JobState {
    /// Not ended: queued or under way.
    pub const OPEN: &'static [Self] = &[Self::Queued, Self::Running, Self::Rebooting];

    /// Under way: its agent has it (running, or rebooting).
    pub const ACTIVE: &'static [Self] = &[Self::Running, Self::Rebooting];

    /// Ended: nothing follows (but a lost reboot's confirmation).
    pub const FINAL: &'static [Self] = &[
        Self::Succeeded,
        Self::Failed,
        Self::Expired,
        Self::Cancelled,
    ];

    /// Whether the job ended ([`Self::FINAL`]).
    pub fn is_final(self) -> bool {
        Self::FINAL.contains(&self)
    }
}

/// What a job does (`job.kind`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum JobKind {
    /// Install exact versions.
    Install,
    /// Return to exact older versions (undo a deployment).
    Rollback,
    /// Reboot the machine.
    Reboot,
    /// Refresh the package manager's metadata and report again.
    Refresh,
}

impl JobKind {
    /// The kind of a job order.
    pub fn of(spec: &JobSpec) -> Self {
        match spec {
            JobSpec::Install { .. } => Self::Install,
            JobSpec::Rollback { .. } => Self::Rollback,
            JobSpec::Reboot => Self::Reboot,
            JobSpec::Refresh => Self::Refresh,
        }
    }
}

/// Publish or deploy (`deployment.kind`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum DeployKind {
    /// Offer on the self-service portal.
    Publish,
    /// Install now or at a time.
    Deploy,
}

/// When a deployment reboots (`deployment.reboot`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RebootOption {
    /// Never (owners are asked to schedule it).
    None,
    /// Right after the install succeeded.
    After,
    /// At a time (`deployment.reboot_at`), not before the install
    /// succeeded.
    At,
}

/// Where a mail in the outbox stands (`mail.state`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum MailState {
    /// Waiting for (another) try.
    Queued,
    /// Delivered to the mail server.
    Sent,
    /// Given up on.
    Dead,
}

/// Where an advisory import stands (`advisory_import.state`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ImportState {
    /// Under way.
    Running,
    /// Switched over.
    Succeeded,
    /// Stopped; nothing it read was switched over.
    Failed,
}

impl ImportState {
    /// Why an import whose process stopped reporting was failed.
    pub const INTERRUPTED: &'static str = "interrupted: its process stopped before it finished";
}

/// How a server's last check-in reads (not stored: derived from
/// `server.last_check_in`, and filtered on by name).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum CheckInStatus {
    /// Within two check-in intervals.
    Online,
    /// Within a day.
    Stale,
    /// Longer ago.
    Offline,
    /// Never checked in.
    Never,
}

impl CheckInStatus {
    /// The status of a check-in at `last`, seen at `now`.
    pub fn of(last: Option<Timestamp>, now: Timestamp) -> Self {
        let (online, stale) = Self::bounds(now);
        match last {
            None => Self::Never,
            Some(t) if t >= online => Self::Online,
            Some(t) if t >= stale => Self::Stale,
            Some(_) => Self::Offline,
        }
    }

    /// Oldest check-in, seen at `now`, that is still online, and still
    /// stale.
    pub fn bounds(now: Timestamp) -> (Timestamp, Timestamp) {
        (
            now - 2 * crate::protocol::CHECK_IN_INTERVAL as i64,
            now - 86_400,
        )
    }
}

/// Where a server stands within a deployment, from its jobs and its
/// patches' states (not stored; the names are shown).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    IntoStaticStr,
    EnumString,
    VariantArray,
)]
pub enum TargetState {
    /// The install has not started.
    #[serde(rename = "queued")]
    #[strum(serialize = "queued")]
    Queued,
    /// Installing.
    #[serde(rename = "installing")]
    #[strum(serialize = "installing")]
    Installing,
    /// Installed (and no reboot asked for).
    #[serde(rename = "installed")]
    #[strum(serialize = "installed")]
    Installed,
    /// The install failed or expired.
    #[serde(rename = "failed")]
    #[strum(serialize = "failed")]
    Failed,
    /// Installed; the reboot has not started.
    #[serde(rename = "reboot pending")]
    #[strum(serialize = "reboot pending")]
    RebootPending,
    /// Rebooting.
    #[serde(rename = "rebooting")]
    #[strum(serialize = "rebooting")]
    Rebooting,
    /// Installed and rebooted.
    #[serde(rename = "rebooted")]
    #[strum(serialize = "rebooted")]
    Rebooted,
    /// Installed; the reboot failed or expired.
    #[serde(rename = "reboot failed")]
    #[strum(serialize = "reboot failed")]
    RebootFailed,
    /// Published for its owner.
    #[serde(rename = "published")]
    #[strum(serialize = "published")]
    Published,
    /// The install was cancelled before it started (its patch was
    /// declined, or a newer booking replaced it); the job says why.
    #[serde(rename = "cancelled")]
    #[strum(serialize = "cancelled")]
    Cancelled,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollout::RolloutState;

    fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> Vec<&'static str> {
        all.iter().map(|v| name(*v)).collect()
    }

    /// The names are the migrations' CHECK constraints, in their order.
    #[test]
    fn names_are_the_check_constraints() {
        let table: [(&str, Vec<&str>, &[&str]); 9] = [
            (
                "server_patch.state",
                names(PatchState::ALL, PatchState::as_str),
                &[
                    "missing",
                    "published",
                    "queued",
                    "installing",
                    "installed",
                    "failed",
                    "superseded",
                ],
            ),
            (
                "job.state",
                names(JobState::ALL, JobState::as_str),
                &[
                    "queued",
                    "running",
                    "rebooting",
                    "succeeded",
                    "failed",
                    "expired",
                    "cancelled",
                ],
            ),
            (
                "job.kind",
                names(JobKind::ALL, JobKind::as_str),
                &["install", "rollback", "reboot", "refresh"],
            ),
            (
                "rollout.state",
                names(&RolloutState::ALL, RolloutState::as_str),
                &[
                    "new",
                    "testing",
                    "test_failed",
                    "observing",
                    "approved",
                    "declined",
                ],
            ),
            (
                "deployment.kind",
                names(DeployKind::ALL, DeployKind::as_str),
                &["publish", "deploy"],
            ),
            (
                "deployment.reboot",
                names(RebootOption::ALL, RebootOption::as_str),
                &["none", "after", "at"],
            ),
            (
                "mail.state",
                names(MailState::ALL, MailState::as_str),
                &["queued", "sent", "dead"],
            ),
            (
                "advisory_import.state",
                names(ImportState::ALL, ImportState::as_str),
                &["running", "succeeded", "failed"],
            ),
            (
                "check-in status",
                names(CheckInStatus::ALL, CheckInStatus::as_str),
                &["online", "stale", "offline", "never"],
            ),
        ];
        for (column, got, want) in table {
            assert_eq!(got, want, "{column}");
        }
        assert_eq!(
            names(TargetState::ALL, TargetState::as_str),
            [
                "queued",
                "installing",
                "installed",
                "failed",
                "reboot pending",
                "rebooting",
                "rebooted",
                "reboot failed",
                "published",
                "cancelled",
            ]
        );
    }

    fn round_trips<T: Copy + PartialEq + std::fmt::Debug>(
        all: &[T],
        as_str: fn(T) -> &'static str,
        parse: fn(&str) -> Option<T>,
    ) {
        for v in all {
            assert_eq!(parse(as_str(*v)), Some(*v), "{v:?}");
            assert_eq!(parse(&as_str(*v).to_uppercase()), None, "{v:?}");
            // The names are spliced into SQL as literals.
            assert!(
                as_str(*v)
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == ' '),
                "{v:?}"
            );
        }
        assert_eq!(parse(""), None);
        assert_eq!(parse("bogus"), None);
    }

    #[test]
    fn every_value_round_trips() {
        round_trips(PatchState::ALL, PatchState::as_str, PatchState::parse);
        round_trips(JobState::ALL, JobState::as_str, JobState::parse);
        round_trips(JobKind::ALL, JobKind::as_str, JobKind::parse);
        round_trips(DeployKind::ALL, DeployKind::as_str, DeployKind::parse);
        round_trips(RebootOption::ALL, RebootOption::as_str, RebootOption::parse);
        round_trips(MailState::ALL, MailState::as_str, MailState::parse);
        round_trips(ImportState::ALL, ImportState::as_str, ImportState::parse);
        round_trips(
            CheckInStatus::ALL,
            CheckInStatus::as_str,
            CheckInStatus::parse,
        );
        round_trips(TargetState::ALL, TargetState::as_str, TargetState::parse);
        round_trips(
            &RolloutState::ALL,
            RolloutState::as_str,
            RolloutState::parse,
        );
    }

    #[test]
    fn serde_uses_the_stored_names() {
        for s in PatchState::ALL {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::from(s.as_str())
            );
        }
        for s in JobState::ALL {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::from(s.as_str())
            );
        }
        for s in TargetState::ALL {
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::from(s.as_str())
            );
        }
        assert_eq!(
            serde_json::from_str::<RebootOption>("\"none\"").unwrap(),
            RebootOption::None
        );
    }

    fn without<T: Copy + PartialEq>(all: &[T], out: &[T]) -> Vec<T> {
        all.iter().copied().filter(|v| !out.contains(v)).collect()
    }

    #[test]
    fn patch_groups() {
        use PatchState::*;
        // Open is everything but installed and superseded, in the order
        // of the partial indexes' predicate.
        assert_eq!(
            PatchState::OPEN,
            without(PatchState::ALL, &[Installed, Superseded])
        );
        assert_eq!(
            PatchState::CLOSED,
            without(PatchState::ALL, PatchState::OPEN)
        );
        // An open patch is either free to act on or in a job, not both.
        for s in PatchState::ALL {
            assert_eq!(
                s.is_open(),
                PatchState::ACTIONABLE.contains(s) || PatchState::BEING_INSTALLED.contains(s),
                "{s:?}"
            );
            assert!(
                !(PatchState::ACTIONABLE.contains(s) && PatchState::BEING_INSTALLED.contains(s)),
                "{s:?}"
            );
        }
        assert_eq!(PatchState::BEING_INSTALLED, [Queued, Installing]);
        assert_eq!(
            PatchState::PUBLISHABLE,
            without(PatchState::ACTIONABLE, &[Published])
        );
    }

    #[test]
    fn job_groups() {
        use JobState::*;
        assert_eq!(JobState::OPEN, [Queued, Running, Rebooting]);
        assert_eq!(JobState::ACTIVE, without(JobState::OPEN, &[Queued]));
        assert_eq!(JobState::FINAL, without(JobState::ALL, JobState::OPEN));
        for s in JobState::ALL {
            assert_eq!(s.is_final(), !JobState::OPEN.contains(s), "{s:?}");
        }
    }

    #[test]
    fn job_kind_matches_the_protocol() {
        for (spec, name) in [
            (JobSpec::Install { packages: vec![] }, "install"),
            (JobSpec::Rollback { packages: vec![] }, "rollback"),
            (JobSpec::Reboot, "reboot"),
            (JobSpec::Refresh, "refresh"),
        ] {
            assert_eq!(JobKind::of(&spec).as_str(), name);
            assert_eq!(spec.kind(), name);
        }
    }

    #[test]
    fn check_in_status() {
        let now = 1_000_000;
        let interval = crate::protocol::CHECK_IN_INTERVAL as i64;
        assert_eq!(CheckInStatus::of(None, now), CheckInStatus::Never);
        assert_eq!(CheckInStatus::of(Some(now), now), CheckInStatus::Online);
        assert_eq!(
            CheckInStatus::of(Some(now - 2 * interval), now),
            CheckInStatus::Online
        );
        assert_eq!(
            CheckInStatus::of(Some(now - 2 * interval - 1), now),
            CheckInStatus::Stale
        );
        assert_eq!(
            CheckInStatus::of(Some(now - 86_400), now),
            CheckInStatus::Stale
        );
        assert_eq!(
            CheckInStatus::of(Some(now - 86_401), now),
            CheckInStatus::Offline
        );
    }
}
