//! The agent protocol, version 1: what `patchport-agent` sends to the portal
//! and what it gets back. Shared by the agent, the server and the UI so the
//! three cannot drift apart.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Path prefix of the versioned agent API.
pub const API_PREFIX: &str = "/agent/v1";

/// Seconds between check-ins that the portal asks agents for; the UI calls
/// an agent online while it checked in within two intervals.
pub const CHECK_IN_INTERVAL: u64 = 300;

/// Largest report the portal accepts, in bytes (about 1,500 packages and 50
/// updates take ~250 KiB of JSON; this leaves room for big servers).
pub const MAX_REPORT_BYTES: usize = 8 * 1024 * 1024;

/// SHA-256 (hex) of a high-entropy secret (enrolment token, agent
/// credential). Such secrets are random 256-bit values, so a fast hash is
/// enough: there is nothing to guess.
pub fn secret_digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

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

/// Why a report was refused. The text names the field and, for lists, the
/// entry, so an admin reading the agent's log knows what to look at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ReportError {
    /// The offending field, e.g. `packages[17].version`.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

/// Most packages a report may list (large servers have ~5,000).
pub const MAX_PACKAGES: usize = 100_000;
/// Most updates a report may list.
pub const MAX_UPDATES: usize = 20_000;

fn check_text(
    field: impl Fn() -> String,
    value: &str,
    max: usize,
    required: bool,
) -> Result<(), ReportError> {
    let fail = |problem: &str| {
        Err(ReportError {
            field: field(),
            problem: problem.to_owned(),
        })
    };
    if required && value.trim().is_empty() {
        return fail("must not be empty");
    }
    if value.len() > max {
        return fail(&format!("longer than {max} bytes"));
    }
    if value.chars().any(char::is_control) {
        return fail("contains control characters");
    }
    Ok(())
}

/// Checks a host name as reports and enrolments carry it: 1 to 253
/// characters, no spaces or control characters.
pub fn check_hostname(hostname: &str) -> Result<(), ReportError> {
    check_text(|| "hostname".into(), hostname, 253, true)?;
    if hostname.contains(char::is_whitespace) {
        return Err(ReportError {
            field: "hostname".into(),
            problem: "contains spaces".into(),
        });
    }
    Ok(())
}

impl Report {
    /// Checks sizes and shapes, so nothing absurd reaches the database.
    pub fn validate(&self) -> Result<(), ReportError> {
        check_hostname(&self.hostname)?;
        check_text(|| "os.id".into(), &self.os.id, 64, true)?;
        check_text(|| "os.version_id".into(), &self.os.version_id, 64, true)?;
        check_text(|| "os.pretty_name".into(), &self.os.pretty_name, 256, false)?;
        check_text(|| "kernel".into(), &self.kernel, 256, true)?;
        check_text(|| "arch".into(), &self.arch, 32, true)?;
        check_text(|| "boot_id".into(), &self.boot_id, 64, true)?;
        check_text(|| "agent_version".into(), &self.agent_version, 64, false)?;
        if self.packages.len() > MAX_PACKAGES {
            return Err(ReportError {
                field: "packages".into(),
                problem: format!("more than {MAX_PACKAGES} entries"),
            });
        }
        if self.updates.len() > MAX_UPDATES {
            return Err(ReportError {
                field: "updates".into(),
                problem: format!("more than {MAX_UPDATES} entries"),
            });
        }
        for (i, p) in self.packages.iter().enumerate() {
            check_text(|| format!("packages[{i}].name"), &p.name, 256, true)?;
            check_text(|| format!("packages[{i}].version"), &p.version, 256, true)?;
            check_text(|| format!("packages[{i}].arch"), &p.arch, 32, true)?;
            check_text(
                || format!("packages[{i}].source_name"),
                p.source_name.as_deref().unwrap_or(""),
                256,
                false,
            )?;
            check_text(
                || format!("packages[{i}].source_version"),
                p.source_version.as_deref().unwrap_or(""),
                256,
                false,
            )?;
        }
        for (i, u) in self.updates.iter().enumerate() {
            check_text(|| format!("updates[{i}].name"), &u.name, 256, true)?;
            check_text(|| format!("updates[{i}].version"), &u.version, 256, true)?;
            check_text(|| format!("updates[{i}].arch"), &u.arch, 32, true)?;
            check_text(
                || format!("updates[{i}].installed_version"),
                u.installed_version.as_deref().unwrap_or(""),
                256,
                false,
            )?;
            check_text(|| format!("updates[{i}].origin"), &u.origin, 256, false)?;
            if u.advisories.len() > 100 {
                return Err(ReportError {
                    field: format!("updates[{i}].advisories"),
                    problem: "more than 100 entries".into(),
                });
            }
        }
        for (i, p) in self.reboot_required_packages.iter().enumerate() {
            check_text(|| format!("reboot_required_packages[{i}]"), p, 256, true)?;
        }
        Ok(())
    }

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
    fn validation_names_the_offending_field() {
        assert_eq!(report().validate(), Ok(()));
        type Breaker = fn(&mut Report);
        let cases: &[(&str, Breaker)] = &[
            ("hostname", |r| r.hostname = String::new()),
            ("hostname", |r| r.hostname = "web 1".into()),
            ("os.id", |r| r.os.id = " ".into()),
            ("boot_id", |r| r.boot_id = "x".repeat(65)),
            ("packages[1].version", |r| {
                r.packages[1].version = String::new()
            }),
            ("packages[0].name", |r| {
                r.packages[0].name = "bad\nname".into()
            }),
            ("packages", |r| {
                r.packages = vec![r.packages[0].clone(); MAX_PACKAGES + 1]
            }),
        ];
        for (field, breaker) in cases {
            let mut r = report();
            breaker(&mut r);
            let err = r.validate().expect_err(field);
            assert_eq!(err.field, *field, "{err}");
        }
    }

    #[test]
    fn reports_round_trip_through_json() {
        let r = report();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), r);
    }
}
