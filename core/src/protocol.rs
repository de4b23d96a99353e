//! The agent protocol, version 1: what `patchport-agent` sends to the portal
//! and what it gets back. Shared by the agent, the server and the UI so the
//! three cannot drift apart.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Path prefix of the versioned agent API.
pub const API_PREFIX: &str = "/agent/v1";

/// Largest report the portal accepts, in bytes (about 1,500 packages and 50
/// updates take ~250 KiB of JSON; this leaves room for big servers).
pub const MAX_REPORT_BYTES: usize = 8 * 1024 * 1024;

/// Operating system identity, from `/etc/os-release`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsInfo {
    /// `ID`, e.g. `debian`, `ubuntu`, `rhel`, `almalinux`, `rocky`.
    pub id: String,
    /// `ID_LIKE`, split on spaces, e.g. `["rhel", "centos", "fedora"]`.
    #[serde(default)]
    pub id_like: Vec<String>,
    /// `VERSION_ID`, e.g. `12`, `22.04`, `9.4`.
    pub version_id: String,
    /// `VERSION_CODENAME`, e.g. `bookworm`, when the distribution has one.
    #[serde(default)]
    pub version_codename: Option<String>,
    /// `PRETTY_NAME`, for display.
    pub pretty_name: String,
}

/// Which package format the server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageFormat {
    /// dpkg/apt (Debian, Ubuntu).
    Deb,
    /// rpm/dnf (RHEL, AlmaLinux, Rocky, Fedora).
    Rpm,
}

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstalledPackage {
    /// Binary package name.
    pub name: String,
    /// Installed version, in the format's own syntax (`[epoch:]version[-revision]`).
    pub version: String,
    /// Architecture (`amd64`, `all`, `x86_64`, `noarch`, …).
    pub arch: String,
    /// Source package name, when it differs or is known.
    #[serde(default)]
    pub source_name: Option<String>,
    /// Source package version, when known.
    #[serde(default)]
    pub source_version: Option<String>,
}

/// One update the server's own package manager offers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AvailableUpdate {
    /// Binary package name.
    pub name: String,
    /// Architecture.
    pub arch: String,
    /// Version installed now (`None` if the update installs a new package).
    pub installed_version: Option<String>,
    /// Version the update installs.
    pub version: String,
    /// Where it comes from: apt's origin/suite (e.g.
    /// `Debian-Security:12/stable-security`) or dnf's repository id.
    pub origin: String,
    /// Whether the package manager marks it as a security update (apt: a
    /// `-security` suite; dnf: a security advisory in updateinfo).
    pub security: bool,
    /// Advisory ids the package manager links to it (dnf updateinfo).
    #[serde(default)]
    pub advisories: Vec<String>,
}

/// Everything an agent reports about its server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// Host name.
    pub hostname: String,
    /// Operating system.
    pub os: OsInfo,
    /// Running kernel release (`uname -r`).
    pub kernel: String,
    /// Machine architecture (dpkg or rpm naming).
    pub arch: String,
    /// `/proc/sys/kernel/random/boot_id`: changes at every boot.
    pub boot_id: String,
    /// Package format.
    pub package_format: PackageFormat,
    /// Installed packages.
    pub packages: Vec<InstalledPackage>,
    /// Updates offered by the package manager.
    pub updates: Vec<AvailableUpdate>,
    /// Whether the OS says a reboot is needed.
    pub reboot_required: bool,
    /// Packages that asked for the reboot, when the OS says.
    #[serde(default)]
    pub reboot_required_packages: Vec<String>,
    /// Version of the agent that made the report.
    pub agent_version: String,
}

impl Report {
    /// Sorts the lists so that the same state always gives the same digest.
    pub fn normalise(&mut self) {
        self.packages.sort();
        self.packages.dedup();
        self.updates.sort();
        self.updates.dedup();
        self.reboot_required_packages.sort();
        self.reboot_required_packages.dedup();
    }

    /// SHA-256 (hex) of the normalised report's JSON: the agent sends only
    /// this while nothing changed.
    pub fn digest(&self) -> String {
        let mut normal = self.clone();
        normal.normalise();
        let json = serde_json::to_vec(&normal).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }
}

/// `POST /agent/v1/enroll`: trade a one-time enrolment token for a credential.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The enrolment token an admin created.
    pub token: String,
    /// Host name, to name the new server.
    pub hostname: String,
}

/// Answer to a successful enrolment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The server's id in the portal.
    pub server_id: i64,
    /// The agent's credential (shown once; the portal keeps only a hash).
    pub credential: String,
}

/// `POST /agent/v1/check-in`: the report's digest, and the report itself
/// when it changed or the portal asked for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckInRequest {
    /// [`Report::digest`] of the current report.
    pub digest: String,
    /// The full report, or `None` to say "same as last time".
    pub report: Option<Report>,
}

/// Answer to a check-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckInResponse {
    /// The portal needs the full report (it does not know this digest).
    pub send_report: bool,
    /// Seconds until the next check-in.
    pub next_check_in: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            hostname: "web-1".into(),
            os: OsInfo {
                id: "debian".into(),
                id_like: vec![],
                version_id: "12".into(),
                version_codename: Some("bookworm".into()),
                pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
            },
            kernel: "6.1.0-18-amd64".into(),
            arch: "amd64".into(),
            boot_id: "b1".into(),
            package_format: PackageFormat::Deb,
            packages: vec![
                InstalledPackage {
                    name: "zlib1g".into(),
                    version: "1:1.2.13.dfsg-1".into(),
                    arch: "amd64".into(),
                    source_name: Some("zlib".into()),
                    source_version: None,
                },
                InstalledPackage {
                    name: "bash".into(),
                    version: "5.2.15-2+b2".into(),
                    arch: "amd64".into(),
                    source_name: None,
                    source_version: None,
                },
            ],
            updates: vec![],
            reboot_required: false,
            reboot_required_packages: vec![],
            agent_version: "0.1.0".into(),
        }
    }

    #[test]
    fn digest_ignores_order_and_notices_changes() {
        let a = report();
        let mut b = report();
        b.packages.reverse();
        assert_eq!(a.digest(), b.digest(), "order does not matter");
        assert_eq!(a.digest().len(), 64);
        let mut c = report();
        c.packages[0].version = "1:1.2.13.dfsg-2".into();
        assert_ne!(
            a.digest(),
            c.digest(),
            "a version change changes the digest"
        );
        let mut d = report();
        d.boot_id = "b2".into();
        assert_ne!(a.digest(), d.digest(), "a reboot changes the digest");
    }

    #[test]
    fn reports_round_trip_through_json() {
        let r = report();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), r);
    }
}
