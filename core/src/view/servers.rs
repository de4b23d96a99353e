//! Servers as their list and their page show them.

#[cfg(feature = "sqlx")]
use super::Flag;
use crate::Timestamp;
use crate::state::CheckInStatus;
use serde::{Deserialize, Serialize};

/// One row of the servers list. `db` reads the stored columns and the
/// groups; the fields marked "set by the portal" depend on the time or on
/// other tables and are filled in before the row is shown.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct ServerRow {
    /// Server id.
    pub id: i64,
    /// Host name.
    pub hostname: String,
    /// OS name for display.
    pub os_name: String,
    /// Owner's user name, if assigned.
    pub owner: Option<String>,
    /// critical or standard.
    pub criticality: String,
    /// Last check-in.
    pub last_check_in: Option<Timestamp>,
    /// online, stale, offline or never (set by the portal:
    /// [`ServerRow::judge`]).
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    pub status: String,
    /// The OS asks for a reboot.
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "Flag"))]
    pub reboot_required: bool,
    /// Patches not yet on the server.
    pub missing: i64,
    /// Of those, security patches.
    pub missing_security: i64,
    /// The agent's credential is live.
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "Flag"))]
    pub agent_active: bool,
    /// Groups: (id, name), by name.
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    pub groups: Vec<(i64, String)>,
    /// Patches published for the owner to install.
    pub published: i64,
    /// The maintenance window open now or next: (start, end) (set by the
    /// portal, in the list).
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    pub next_window: Option<(Timestamp, Timestamp)>,
    /// That window is open now (set by the portal, in the list).
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    pub window_open: bool,
    /// When its booked reboot is (set by the portal, in the list).
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    pub booked_reboot: Option<Timestamp>,
}

impl ServerRow {
    /// Sets [`ServerRow::status`] as the last check-in reads at `now`.
    pub fn judge(&mut self, now: Timestamp) {
        self.status = CheckInStatus::of(self.last_check_in, now)
            .as_str()
            .to_owned();
    }

    /// Sets the window open now or next, and whether it is open at `now`.
    pub fn set_window(&mut self, window: Option<(Timestamp, Timestamp)>, now: Timestamp) {
        self.next_window = window;
        self.window_open = window.is_some_and(|(start, _)| start <= now);
    }
}

/// A server's identity and status, for its page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct ServerDetail {
    /// The list row (counts, owner, status).
    #[cfg_attr(feature = "sqlx", sqlx(skip))]
    pub row: ServerRow,
    /// Owner's account id.
    pub owner_id: Option<i64>,
    /// Running kernel.
    pub kernel: String,
    /// Architecture.
    pub arch: String,
    /// Current boot id.
    pub boot_id: String,
    /// deb or rpm.
    pub package_format: String,
    /// Packages that asked for the reboot.
    pub reboot_required_packages: String,
    /// Last full report.
    pub last_report_at: Option<Timestamp>,
    /// Enrolled at.
    pub created_at: Timestamp,
    /// A credential rotation is waiting for the agent's next check-in.
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "Flag"))]
    pub rotation_pending: bool,
}

/// One of a server's patches, as its page and job creation need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::FromRow))]
pub struct ServerPatch {
    /// Catalog id.
    pub patch_id: i64,
    /// Package.
    pub package: String,
    /// Version installed now (as of the last report).
    pub installed_version: Option<String>,
    /// Target version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// From a security origin.
    #[cfg_attr(feature = "sqlx", sqlx(try_from = "Flag"))]
    pub security: bool,
    /// Where it stands on this server: missing, queued, installing,
    /// installed, failed, superseded, …
    pub state: String,
    /// Since when the server misses it.
    pub first_seen: Timestamp,
}

impl ServerPatch {
    /// Not on the server yet.
    pub fn is_open(&self) -> bool {
        !matches!(self.state.as_str(), "installed" | "superseded")
    }

    /// An install job may be queued for it.
    pub fn installable(&self) -> bool {
        matches!(self.state.as_str(), "missing" | "published" | "failed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_and_window_are_judged_at_a_time() {
        let mut row = ServerRow {
            last_check_in: Some(1_000_000),
            ..Default::default()
        };
        row.judge(1_000_000);
        assert_eq!(row.status, "online");
        row.judge(1_000_000 + 2 * 86_400);
        assert_eq!(row.status, "offline");
        row.last_check_in = None;
        row.judge(0);
        assert_eq!(row.status, "never");
        row.set_window(Some((10, 20)), 15);
        assert!(row.window_open);
        row.set_window(Some((10, 20)), 5);
        assert!(!row.window_open);
        row.set_window(None, 15);
        assert!(!row.window_open && row.next_window.is_none());
    }

    #[test]
    fn a_patch_is_open_until_installed_or_superseded() {
        let mut p = ServerPatch {
            patch_id: 1,
            package: "openssl".into(),
            installed_version: None,
            version: "3".into(),
            arch: "amd64".into(),
            security: true,
            state: "missing".into(),
            first_seen: 0,
        };
        assert!(p.is_open() && p.installable());
        p.state = "installing".into();
        assert!(p.is_open() && !p.installable());
        p.state = "superseded".into();
        assert!(!p.is_open());
    }
}
