//! The home pages: what needs doing, for admins and for owners, and the
//! deployments list. `db` reads the rows, the rules of what counts live
//! here (a silent server, a deadline soon, a deployment's state), and the
//! pages show them with a link to where each thing is done.

#[cfg(feature = "sqlx")]
use super::Flag;
use super::Page;
use crate::Timestamp;
use crate::state::{CheckInStatus, TargetState};
use serde::{Deserialize, Serialize};

/// A known-exploited patch missing longer than this many days is listed
/// on the admin's home (the page says the number).
pub const KEV_OVERDUE_DAYS: i64 = 7;

/// A reboot deadline within this many hours is "soon".
pub const DEADLINE_SOON_HOURS: i64 = 48;

/// How many rows each list on a home page shows (its total is counted in
/// full, the link leads to the rest).
pub const HOME_LIST: usize = 8;

/// Whether a server whose last check-in was at `last` is silent at `now`:
/// it missed more than two check-in intervals, which is the servers
/// list's "stale" or "offline" ([`CheckInStatus`], the one rule). A
/// server that never checked in is not counted: it was never heard, so it
/// cannot have gone quiet.
pub fn is_silent(last: Option<Timestamp>, now: Timestamp) -> bool {
    matches!(
        CheckInStatus::of(last, now),
        CheckInStatus::Stale | CheckInStatus::Offline
    )
}

/// The check-in time before which a server is silent at `now` (storage
/// selects `last_check_in < silent_before(now)`; see [`is_silent`]).
pub fn silent_before(now: Timestamp) -> Timestamp {
    CheckInStatus::bounds(now).0
}

/// The last deadline that counts as soon at `now`.
pub fn deadline_soon_until(now: Timestamp) -> Timestamp {
    now + DEADLINE_SOON_HOURS * 3_600
}

/// The latest first detection of a known-exploited patch that is overdue
/// at `now`.
pub fn kev_overdue_since(now: Timestamp) -> Timestamp {
    now - KEV_OVERDUE_DAYS * 86_400
}

/// Where a target stands, as a deployment's counts group it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Pending,
    Installed,
    Failed,
    Published,
    Cancelled,
}

fn stage(t: TargetState) -> Stage {
    use TargetState as T;
    match t {
        T::Queued | T::Installing | T::RebootPending | T::Rebooting => Stage::Pending,
        T::Installed | T::Rebooted => Stage::Installed,
        T::Failed | T::RebootFailed => Stage::Failed,
        T::Published => Stage::Published,
        T::Cancelled => Stage::Cancelled,
    }
}

/// Where a whole deployment stands, from its servers' states (not
/// stored). A failure wins over work still under way: an admin should
/// hear of it while the rest runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    /// Some server is still queued, installing or waiting to reboot; none
    /// failed.
    Running,
    /// Some server's install or reboot failed.
    Failed,
    /// Nothing left to do: installed, rebooted, published or cancelled.
    Finished,
}

impl DeploymentState {
    /// Every state, in the order the filter offers them.
    pub const ALL: [Self; 3] = [Self::Running, Self::Failed, Self::Finished];

    /// The name in URLs (`?state=failed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Failed => "failed",
            Self::Finished => "finished",
        }
    }

    /// Parses a name from a URL.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// How a deployment's servers stand, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCounts {
    /// Servers in the deployment.
    pub targets: i64,
    /// Installed (and rebooted, where asked).
    pub installed: i64,
    /// Install or reboot failed.
    pub failed: i64,
    /// Queued, installing or waiting for (or in) the reboot.
    pub pending: i64,
    /// Published, waiting for the owner.
    pub published: i64,
    /// Cancelled before it started.
    pub cancelled: i64,
}

impl TargetCounts {
    /// The counts of these servers' states.
    pub fn of(states: impl IntoIterator<Item = TargetState>) -> Self {
        let mut c = Self::default();
        for s in states {
            c.targets += 1;
            match stage(s) {
                Stage::Pending => c.pending += 1,
                Stage::Installed => c.installed += 1,
                Stage::Failed => c.failed += 1,
                Stage::Published => c.published += 1,
                Stage::Cancelled => c.cancelled += 1,
            }
        }
        c
    }

    /// The deployment's state.
    pub fn state(&self) -> DeploymentState {
        if self.failed > 0 {
            DeploymentState::Failed
        } else if self.pending > 0 {
            DeploymentState::Running
        } else {
            DeploymentState::Finished
        }
    }
}

/// One deployment in the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentRow {
    /// Id.
    pub id: i64,
    /// publish or deploy.
    pub kind: String,
    /// Who asked ("policy" for an approval).
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
    /// The rollout behind it.
    pub rollout_id: Option<i64>,
    /// Its patches ("openssl 3.0.15-1"), by package.
    pub patches: Vec<String>,
    /// Its servers' states, counted.
    pub counts: TargetCounts,
    /// Where it stands.
    pub state: DeploymentState,
}

/// A rollout waiting for an admin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct RolloutItem {
    /// Rollout id.
    pub id: i64,
    /// Package.
    pub package: String,
    /// Target version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Since when it waits (end of observation, or the failed test).
    pub since: Timestamp,
}

/// A server that went silent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct SilentServer {
    /// Server id.
    pub id: i64,
    /// Host name.
    pub hostname: String,
    /// Its last check-in.
    pub last_check_in: Timestamp,
}

/// A server that must reboot (by a deadline, when one is set).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct RebootItem {
    /// Server id.
    pub server_id: i64,
    /// Host name.
    pub hostname: String,
    /// Reboot by then (none: the OS asks for a reboot, no rule set one).
    pub deadline_at: Option<Timestamp>,
    /// Its first booked reboot, if any.
    pub booked_at: Option<Timestamp>,
    /// It has a maintenance window (its own or a group's) to book the
    /// reboot in; without one only an admin can help.
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "Flag"))]
    pub has_window: bool,
}

/// A known-exploited patch missing too long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct KevItem {
    /// Patch id.
    pub patch_id: i64,
    /// Package.
    pub package: String,
    /// Target version.
    pub version: String,
    /// Servers it is missing on (longer than the limit).
    pub servers: i64,
    /// Its oldest detection among them.
    pub oldest: Timestamp,
}

/// What the admin's home says needs doing; each list holds its first
/// [`HOME_LIST`] rows and the total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminHome {
    /// Observation over: approve or decline.
    pub awaiting_approval: Page<RolloutItem>,
    /// A test install failed: retry or decline.
    pub test_failed: Page<RolloutItem>,
    /// Deployments still under way.
    pub deployments_running: Page<DeploymentRow>,
    /// Deployments with failed servers.
    pub deployments_failed: Page<DeploymentRow>,
    /// Servers silent for more than two check-in intervals, longest first.
    pub silent: Page<SilentServer>,
    /// Reboot deadlines within [`DEADLINE_SOON_HOURS`].
    pub deadlines_soon: Page<RebootItem>,
    /// Reboot deadlines already passed.
    pub deadlines_missed: Page<RebootItem>,
    /// Known-exploited patches missing longer than [`KEV_OVERDUE_DAYS`].
    pub kev_overdue: Page<KevItem>,
}

/// A server of the owner's with published patches to install.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct PublishedItem {
    /// Server id.
    pub server_id: i64,
    /// Host name.
    pub hostname: String,
    /// Patches published for it.
    pub patches: i64,
}

/// The owner's next booked reboot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct BookedReboot {
    /// Server id.
    pub server_id: i64,
    /// Host name.
    pub hostname: String,
    /// When it reboots.
    pub at: Timestamp,
}

/// Something the owner was told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct NoticeItem {
    /// Subject.
    pub subject: String,
    /// Where in the portal it leads ("" none).
    pub link: String,
    /// When.
    pub created_at: Timestamp,
}

/// What changed on the owner's servers since a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// Since when: the previous sign-in, or a week ago on the first.
    pub since: Timestamp,
    /// `since` is the previous sign-in (else the first sign-in: a week).
    pub since_sign_in: bool,
    /// Patches published for the owner's servers (server-patch pairs).
    pub published: i64,
    /// Jobs on them that succeeded.
    pub jobs_succeeded: i64,
    /// Jobs on them that failed or expired.
    pub jobs_failed: i64,
    /// What the owner was told, newest first.
    pub notices: Page<NoticeItem>,
}

/// What the owner's home says needs doing, about their own servers only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnerHome {
    /// Servers with published patches to install, by host name.
    pub published: Page<PublishedItem>,
    /// Reboots to book (none booked yet), nearest deadline first.
    pub reboots_to_book: Page<RebootItem>,
    /// The next booked reboot.
    pub next_reboot: Option<BookedReboot>,
    /// What changed since the last visit.
    pub changes: Changes,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::CHECK_IN_INTERVAL;

    #[test]
    fn silent_is_the_servers_lists_stale_or_offline() {
        let now = 1_000_000;
        let two = 2 * CHECK_IN_INTERVAL as i64;
        assert!(!is_silent(None, now), "never heard is not silent");
        assert!(!is_silent(Some(now - two), now));
        assert!(is_silent(Some(now - two - 1), now));
        assert!(is_silent(Some(now - 10 * 86_400), now));
        assert_eq!(silent_before(now), now - two);
    }

    #[test]
    fn a_deployment_fails_first_then_runs_then_finishes() {
        use TargetState as T;
        let c = TargetCounts::of([T::Installed, T::Queued, T::Failed, T::Published]);
        assert_eq!(
            c,
            TargetCounts {
                targets: 4,
                installed: 1,
                failed: 1,
                pending: 1,
                published: 1,
                cancelled: 0
            }
        );
        assert_eq!(c.state(), DeploymentState::Failed);
        let running = TargetCounts::of([T::Rebooted, T::RebootPending]);
        assert_eq!(running.state(), DeploymentState::Running);
        let done = TargetCounts::of([T::Rebooted, T::Published, T::Cancelled]);
        assert_eq!(done.state(), DeploymentState::Finished);
        assert_eq!(
            TargetCounts::of([T::RebootFailed]).state(),
            DeploymentState::Failed
        );
        assert_eq!(TargetCounts::default().state(), DeploymentState::Finished);
    }

    #[test]
    fn deployment_states_round_trip() {
        for s in DeploymentState::ALL {
            assert_eq!(DeploymentState::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::Value::from(s.as_str())
            );
        }
        assert_eq!(DeploymentState::parse("bogus"), None);
    }
}
