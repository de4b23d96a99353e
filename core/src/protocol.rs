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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageFormat {
    /// dpkg/apt (Debian, Ubuntu).
    Deb,
    /// rpm/dnf (RHEL, AlmaLinux, Rocky, Fedora).
    Rpm,
}

/// One installed package.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Source package name of the offered version, when the package manager
    /// says (apt: the candidate's `Source:` field, defaulting to the package
    /// name). Debian and Ubuntu advisories name source packages.
    #[serde(default)]
    pub source_name: Option<String>,
    /// Source package version of the offered version, when the package
    /// manager says (apt: the version in the candidate's `Source:` field,
    /// defaulting to the candidate's own version). It differs from
    /// [`version`](Self::version) for binNMUs (`+b1`), epochs only on the
    /// binary, and kernel metapackages; advisories give source versions.
    #[serde(default)]
    pub source_version: Option<String>,
}

/// Everything an agent reports about its server.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
            check_text(
                || format!("updates[{i}].source_name"),
                u.source_name.as_deref().unwrap_or(""),
                256,
                false,
            )?;
            check_text(
                || format!("updates[{i}].source_version"),
                u.source_version.as_deref().unwrap_or(""),
                256,
                false,
            )?;
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
        fn strictly_sorted<T: Ord>(items: &[T]) -> bool {
            items.windows(2).all(|w| w[0] < w[1])
        }
        /// Feeds the JSON straight into the hash, without a buffer.
        struct HashWriter(Sha256);
        impl std::io::Write for HashWriter {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.update(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let hash = |report: &Report| {
            let mut writer = HashWriter(Sha256::new());
            // Serialising plain data into a hasher cannot fail.
            let _ = serde_json::to_writer(&mut writer, report);
            hex::encode(writer.0.finalize())
        };
        // Reports are normalised once on arrival; no copy needed then.
        if strictly_sorted(&self.packages)
            && strictly_sorted(&self.updates)
            && strictly_sorted(&self.reboot_required_packages)
        {
            hash(self)
        } else {
            let mut normal = self.clone();
            normal.normalise();
            hash(&normal)
        }
    }
}

/// `POST /agent/v1/enroll`: trade a one-time enrolment token for a credential.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollRequest {
    /// The enrolment token an admin created.
    pub token: String,
    /// Host name, to name the new server.
    pub hostname: String,
}

/// Answer to a successful enrolment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrollResponse {
    /// The server's id in the portal.
    pub server_id: i64,
    /// The agent's credential (shown once; the portal keeps only a hash).
    pub credential: String,
}

/// `POST /agent/v1/check-in`: the report's digest, and the report itself
/// when it changed or the portal asked for it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckInRequest {
    /// [`Report::digest`] of the current report.
    pub digest: String,
    /// The full report, or `None` to say "same as last time".
    pub report: Option<Report>,
}

/// Answer to a check-in.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckInResponse {
    /// The portal needs the full report (it does not know this digest).
    pub send_report: bool,
    /// Seconds until the next check-in.
    pub next_check_in: u64,
    /// Jobs the agent now holds a lease on, to run in this order. Empty for
    /// agents that predate jobs.
    #[serde(default)]
    pub jobs: Vec<JobOrder>,
    /// A new credential (an admin rotated it): store it, then use it; the
    /// old one keeps working until the new one is first used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_credential: Option<String>,
}

/// Seconds a claimed job stays leased to the agent that claimed it. An agent
/// that neither finishes nor reports within it is presumed dead: the job is
/// offered again (a new attempt) or fails.
pub const JOB_LEASE: i64 = 3_600;

/// Seconds the agent lets one package-manager run take before it stops it
/// (well inside [`JOB_LEASE`]).
pub const JOB_TIMEOUT: u64 = 2_400;

/// Seconds after a reboot was issued within which the server must come back
/// with a new boot id for the reboot to count as done.
pub const REBOOT_GRACE: i64 = 1_800;

/// Most bytes of job output the agent keeps (the tail) and the portal stores.
pub const MAX_JOB_LOG: usize = 64 * 1024;

/// One exact package version to install.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PackageTarget {
    /// Binary package name.
    pub name: String,
    /// The exact version to install.
    pub version: String,
    /// Architecture.
    pub arch: String,
}

impl PackageTarget {
    /// Checks that name, version and architecture use only the characters
    /// dpkg and rpm allow, so they can never be read as a command-line option
    /// or anything but one package.
    pub fn validate(&self) -> Result<(), ReportError> {
        let fail = |field: &str, problem: &str| {
            Err(ReportError {
                field: field.to_owned(),
                problem: problem.to_owned(),
            })
        };
        let ok_name = |c: char| c.is_ascii_alphanumeric() || "._+-".contains(c);
        let ok_version = |c: char| c.is_ascii_alphanumeric() || "._+~^:-".contains(c);
        let starts_ok = |s: &str| s.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        if self.name.is_empty() || self.name.len() > 256 {
            return fail("name", "must be 1 to 256 characters");
        }
        if !starts_ok(&self.name) || !self.name.chars().all(ok_name) {
            return fail("name", "is not a package name");
        }
        if self.version.is_empty() || self.version.len() > 256 {
            return fail("version", "must be 1 to 256 characters");
        }
        if !self
            .version
            .starts_with(|c: char| c.is_ascii_alphanumeric())
            || !self.version.chars().all(ok_version)
        {
            return fail("version", "is not a package version");
        }
        if self.arch.is_empty()
            || self.arch.len() > 32
            || !self
                .arch
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return fail("arch", "is not an architecture");
        }
        Ok(())
    }
}

/// What a job does. The agent runs only these typed jobs, never a command
/// from the portal.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum JobSpec {
    /// Upgrade to exactly these versions with the package manager.
    Install {
        /// The packages, at most [`MAX_JOB_PACKAGES`].
        packages: Vec<PackageTarget>,
    },
    /// Return to exactly these older versions (undo a deployment): apt
    /// with downgrades allowed, dnf `downgrade`. The agent refuses it,
    /// changing nothing, when a version is no longer available from the
    /// repositories or the package cache.
    Rollback {
        /// The packages at the versions to return to, at most
        /// [`MAX_JOB_PACKAGES`].
        packages: Vec<PackageTarget>,
    },
    /// Reboot the machine (at the job's not-before time).
    Reboot,
    /// Refresh the package manager's metadata and report again.
    Refresh,
}

/// Most packages one install job may name.
pub const MAX_JOB_PACKAGES: usize = 500;

impl JobSpec {
    /// The kind's name as stored and shown: `install`, `rollback`,
    /// `reboot`, `refresh`.
    pub fn kind(&self) -> &'static str {
        crate::state::JobKind::of(self).as_str()
    }

    /// The packages an install or rollback names (none for the others).
    pub fn packages(&self) -> &[PackageTarget] {
        match self {
            JobSpec::Install { packages } | JobSpec::Rollback { packages } => packages,
            JobSpec::Reboot | JobSpec::Refresh => &[],
        }
    }

    /// Checks an install or rollback job's package list.
    pub fn validate(&self) -> Result<(), ReportError> {
        if let JobSpec::Install { packages } | JobSpec::Rollback { packages } = self {
            if packages.is_empty() || packages.len() > MAX_JOB_PACKAGES {
                return Err(ReportError {
                    field: "packages".into(),
                    problem: format!("must list 1 to {MAX_JOB_PACKAGES} packages"),
                });
            }
            for (i, p) in packages.iter().enumerate() {
                p.validate().map_err(|e| ReportError {
                    field: format!("packages[{i}].{}", e.field),
                    problem: e.problem,
                })?;
            }
        }
        Ok(())
    }
}

/// A job handed to an agent: run it, then report the outcome for this
/// attempt.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobOrder {
    /// Job id.
    pub id: i64,
    /// Attempt number; results for an older attempt are refused.
    pub attempt: i64,
    /// What to do.
    #[serde(flatten)]
    pub spec: JobSpec,
}

/// How a job ended on the agent.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobOutcome {
    /// The package manager succeeded (install, refresh).
    Succeeded,
    /// It failed, or the job could not run; the log says why.
    Failed,
    /// A reboot was issued; the portal confirms it by a new boot id.
    Rebooting,
}

impl JobOutcome {
    /// The outcome's name, as it is sent (`succeeded`, `failed`,
    /// `rebooting`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Rebooting => "rebooting",
        }
    }
}

/// `POST /agent/v1/jobs/{id}/result`: how an attempt ended. Sending the same
/// result twice is harmless.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobResult {
    /// The attempt this result is for.
    pub attempt: i64,
    /// The outcome.
    pub outcome: JobOutcome,
    /// The package manager's exit code, if it ran.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// The tail of its output (at most [`MAX_JOB_LOG`] bytes).
    #[serde(default)]
    pub log: String,
}

/// Keeps the last `max` bytes of `text`, cut at a character boundary.
pub fn log_tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_outcome_names_are_what_is_sent() {
        for o in [
            JobOutcome::Succeeded,
            JobOutcome::Failed,
            JobOutcome::Rebooting,
        ] {
            assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
        }
    }

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

    fn update() -> AvailableUpdate {
        AvailableUpdate {
            name: "zlib1g".into(),
            arch: "amd64".into(),
            installed_version: Some("1:1.2.13.dfsg-1".into()),
            version: "1:1.2.13.dfsg-1+b1".into(),
            origin: "Debian:12.8/stable".into(),
            security: false,
            advisories: vec![],
            source_name: Some("zlib".into()),
            source_version: Some("1:1.2.13.dfsg-1".into()),
        }
    }

    #[test]
    fn updates_from_older_agents_have_no_source() {
        let json = serde_json::json!({
            "name": "zlib1g",
            "arch": "amd64",
            "installed_version": "1:1.2.13.dfsg-1",
            "version": "1:1.2.13.dfsg-1+b1",
            "origin": "Debian:12.8/stable",
            "security": false
        });
        let old: AvailableUpdate = serde_json::from_value(json).expect("parses");
        assert_eq!((old.source_name, old.source_version), (None, None));
        let mut r = report();
        r.updates = vec![update()];
        assert_eq!(r.validate(), Ok(()));
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), r);
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
            ("updates[1].source_name", |r| {
                r.updates = vec![update(), update()];
                r.updates[1].source_name = Some("zlib\u{0}".into());
            }),
            ("updates[0].source_version", |r| {
                r.updates = vec![update()];
                r.updates[0].source_version = Some("1".repeat(257));
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
    fn package_targets_refuse_anything_but_one_package() {
        let t = |name: &str, version: &str, arch: &str| PackageTarget {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
        };
        for ok in [
            t("openssl", "3.0.15-1~deb12u1", "amd64"),
            t("libstdc++6", "1:12.2.0-14+deb12u1", "amd64"),
            t("kernel-core", "5.14.0-427.13.1.el9_4", "x86_64"),
            t("python3.11", "3.11.2-6+deb12u5", "all"),
            t("vim", "2:9.1.0^20240101-1.el9", "x86_64"),
        ] {
            assert_eq!(ok.validate(), Ok(()), "{ok:?}");
        }
        for (bad, field) in [
            (t("-o=APT::Foo", "1", "amd64"), "name"),
            (t("a b", "1", "amd64"), "name"),
            (t("a;rm", "1", "amd64"), "name"),
            (t("", "1", "amd64"), "name"),
            (t("a", "--force", "amd64"), "version"),
            (t("a", "1 2", "amd64"), "version"),
            (t("a", "1$(x)", "amd64"), "version"),
            (t("a", "1", "amd 64"), "arch"),
        ] {
            assert_eq!(bad.validate().unwrap_err().field, field, "{bad:?}");
        }
        let many = JobSpec::Install {
            packages: vec![t("a", "1", "all"); MAX_JOB_PACKAGES + 1],
        };
        assert_eq!(many.validate().unwrap_err().field, "packages");
        let nested = JobSpec::Install {
            packages: vec![t("a", "1", "all"), t("b", "-1", "all")],
        };
        assert_eq!(nested.validate().unwrap_err().field, "packages[1].version");
        let rollback = JobSpec::Rollback {
            packages: vec![t("a", "1", "all"), t("b", "1;x", "all")],
        };
        assert_eq!(
            rollback.validate().unwrap_err().field,
            "packages[1].version"
        );
        let empty = JobSpec::Rollback { packages: vec![] };
        assert_eq!(empty.validate().unwrap_err().field, "packages");
    }

    #[test]
    fn job_orders_carry_their_kind_in_json() {
        let order = JobOrder {
            id: 7,
            attempt: 1,
            spec: JobSpec::Reboot,
        };
        let json = serde_json::to_value(&order).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": 7, "attempt": 1, "kind": "reboot"})
        );
        let back: JobOrder = serde_json::from_value(json).unwrap();
        assert_eq!(back, order);
    }

    #[test]
    fn log_tail_keeps_the_end_at_a_character_boundary() {
        assert_eq!(log_tail("abc", 10), "abc");
        assert_eq!(log_tail("abcdef", 3), "def");
        assert_eq!(log_tail("aé", 1), "");
        assert_eq!(log_tail("aéb", 2), "b");
    }

    #[test]
    fn reports_round_trip_through_json() {
        let r = report();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), r);
    }
}
