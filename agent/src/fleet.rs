//! Simulated fleets: many virtual agents with realistic Debian 12
//! inventories, checking in through the same client code as the real
//! agent. Used for load tests and benchmarks (`patchport-fleet`).

use crate::client::{Client, ClientError};
use patchport_core::protocol::{
    AvailableUpdate, CheckInRequest, CheckInResponse, InstalledPackage, JobOrder, JobOutcome,
    JobResult, JobSpec, OsInfo, PackageFormat, PackageTarget, Report,
};

/// A real Debian 12 package list captured with `dpkg-query`, the seed of
/// every simulated inventory.
const SEED: &str = include_str!("../tests/fixtures/dpkg-query-bookworm.txt");

/// A small deterministic PRNG (xorshift64*), so that a fleet of a given
/// size and seed is the same on every run, and runs compare.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced by a constant).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15))
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The shape of a simulated server.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Installed packages (the seed's ~870 plus generated libraries).
    pub packages: usize,
    /// Updates offered.
    pub updates: usize,
    /// Share of updates from the security suite, in percent.
    pub security_percent: u64,
}

impl Default for Shape {
    fn default() -> Self {
        Self {
            packages: 1_500,
            updates: 50,
            security_percent: 35,
        }
    }
}

/// A simulated server's report. Servers share most packages (as real fleets
/// do), and differ in which updates they miss, so the portal's catalog sees
/// both sharing and variety.
pub fn report(index: usize, shape: Shape, seed: u64) -> Report {
    let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0x1000_0000_01B3));
    let mut packages = crate::scan::dpkg::parse_query(SEED).unwrap_or_default();
    let mut n = 0;
    while packages.len() < shape.packages {
        n += 1;
        let version = format!("{}.{}.{}-{}", 1 + n % 7, n % 13, n % 5, 1 + n % 3);
        packages.push(InstalledPackage {
            name: format!("libsim{n}-{}", n % 17),
            version: version.clone(),
            arch: "amd64".into(),
            source_name: Some(format!("sim{n}")),
            source_version: Some(version),
        });
    }
    packages.truncate(shape.packages);
    let mut updates = Vec::with_capacity(shape.updates);
    let mut taken = std::collections::HashSet::new();
    // Draw updates mostly from a shared pool of 3× the count, so many
    // servers miss the same patches.
    let pool = (shape.updates * 3).min(packages.len()).max(1) as u64;
    while updates.len() < shape.updates.min(packages.len()) {
        let i = rng.below(pool) as usize;
        if !taken.insert(i) {
            continue;
        }
        let p = &packages[i];
        // The same update is security or not on every server (it is one
        // catalog entry), as in a real archive.
        let security = Rng::new(seed ^ (i as u64 + 1)).below(100) < shape.security_percent;
        // As apt reports it: the source is the installed one's, and the
        // update adds the same `+deb12uN` to the binary and the source
        // version. N depends on the source only, so that all binaries of a
        // source move to one source version, as one upload makes them.
        let source_name = p.source_name.clone().unwrap_or_else(|| p.name.clone());
        let suffix = format!("+deb12u{}", 1 + stable_hash(&source_name) % 4);
        let source_version = format!(
            "{}{suffix}",
            p.source_version.as_deref().unwrap_or(&p.version)
        );
        updates.push(AvailableUpdate {
            name: p.name.clone(),
            arch: p.arch.clone(),
            installed_version: Some(p.version.clone()),
            version: format!("{}{suffix}", p.version),
            origin: if security {
                "Debian-Security:12/stable-security"
            } else {
                "Debian:12.8/stable"
            }
            .into(),
            security,
            advisories: vec![],
            source_name: Some(source_name),
            source_version: Some(source_version),
        });
    }
    let mut report = Report {
        hostname: format!("sim-{index:05}"),
        os: OsInfo {
            id: "debian".into(),
            id_like: vec![],
            version_id: "12".into(),
            version_codename: Some("bookworm".into()),
            pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
        },
        kernel: "6.1.0-28-amd64".into(),
        arch: "amd64".into(),
        boot_id: format!("{:016x}-{index:05}", seed),
        package_format: PackageFormat::Deb,
        packages,
        updates,
        reboot_required: rng.below(10) == 0,
        reboot_required_packages: vec![],
        agent_version: concat!("fleet-", env!("CARGO_PKG_VERSION")).into(),
    };
    report.normalise();
    report
}

/// What AlmaLinux publishes fixes for: each package of one release with its
/// fixed versions, oldest first. Built from the real advisory corpus so
/// that a simulated AlmaLinux fleet misses the updates real servers miss.
#[derive(Debug, Clone, Default)]
pub struct RpmCatalog {
    /// (package, fixed versions in rpm order), by name.
    pub packages: Vec<(String, Vec<String>)>,
}

impl RpmCatalog {
    /// Reads every OSV record in `dir` (recursively) and keeps the fixed
    /// versions of `ecosystem`'s packages that have at least two.
    pub fn from_osv_dir(dir: &std::path::Path, ecosystem: &str) -> Result<Self, String> {
        let mut fixes: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(path) = stack.pop() {
            let meta = std::fs::metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if meta.is_dir() {
                for entry in
                    std::fs::read_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?
                {
                    stack.push(entry.map_err(|e| e.to_string())?.path());
                }
                continue;
            }
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let advisory = patchport_core::advisory::parse_osv(&bytes)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            for a in advisory
                .affected
                .iter()
                .filter(|a| a.package.ecosystem == ecosystem)
            {
                fixes
                    .entry(a.package.name.clone())
                    .or_default()
                    .extend(a.fixed_versions());
            }
        }
        let packages = fixes
            .into_iter()
            .filter_map(|(name, mut versions)| {
                versions.sort_by(|a, b| patchport_core::version::compare_rpm(a, b));
                versions.dedup();
                (versions.len() >= 2).then_some((name, versions))
            })
            .collect();
        Ok(Self { packages })
    }
}

/// A simulated AlmaLinux 9 server: it has `shape.updates` packages of the
/// catalog installed at one of their older fixed versions (servers differ)
/// and is offered the newest; the rest of its inventory is filler.
pub fn report_rpm(index: usize, shape: Shape, seed: u64, catalog: &RpmCatalog) -> Report {
    let mut rng = Rng::new(seed ^ (index as u64).wrapping_mul(0x1000_0000_01B3));
    let mut packages = Vec::with_capacity(shape.packages);
    let mut updates = Vec::with_capacity(shape.updates);
    let pool = (shape.updates * 3).min(catalog.packages.len()).max(1) as u64;
    let mut taken = std::collections::HashSet::new();
    while updates.len() < shape.updates.min(catalog.packages.len()) {
        let i = rng.below(pool) as usize;
        if !taken.insert(i) {
            continue;
        }
        let (name, versions) = &catalog.packages[i];
        let installed = &versions[rng.below(versions.len() as u64 - 1) as usize];
        let target = &versions[versions.len() - 1];
        packages.push(InstalledPackage {
            name: name.clone(),
            version: installed.clone(),
            arch: "x86_64".into(),
            source_name: None,
            source_version: None,
        });
        updates.push(AvailableUpdate {
            name: name.clone(),
            arch: "x86_64".into(),
            installed_version: Some(installed.clone()),
            version: target.clone(),
            origin: "baseos".into(),
            security: Rng::new(seed ^ (i as u64 + 1)).below(100) < shape.security_percent,
            advisories: vec![],
            source_name: None,
            source_version: None,
        });
    }
    let mut n = 0;
    while packages.len() < shape.packages {
        n += 1;
        packages.push(InstalledPackage {
            name: format!("simrpm{n}"),
            version: format!("{}.{}-{}.el9", 1 + n % 7, n % 13, 1 + n % 3),
            arch: "x86_64".into(),
            source_name: None,
            source_version: None,
        });
    }
    let mut report = Report {
        hostname: format!("alma-{index:05}"),
        os: OsInfo {
            id: "almalinux".into(),
            id_like: vec!["rhel".into(), "centos".into(), "fedora".into()],
            version_id: "9.4".into(),
            version_codename: None,
            pretty_name: "AlmaLinux 9.4 (Seafoam Ocelot)".into(),
        },
        kernel: "5.14.0-427.13.1.el9_4.x86_64".into(),
        arch: "x86_64".into(),
        boot_id: format!("{:016x}-{index:05}", seed),
        package_format: PackageFormat::Rpm,
        packages,
        updates,
        reboot_required: false,
        reboot_required_packages: vec![],
        agent_version: concat!("fleet-", env!("CARGO_PKG_VERSION")).into(),
    };
    report.normalise();
    report
}

/// FNV-1a, a hash that is the same in every process and on every run (the
/// standard library's is seeded at random).
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// One virtual agent: its credential, its current report, and what its
/// installs replaced (what a rollback can return to).
#[derive(Debug, Clone)]
pub struct VirtualAgent {
    /// `<server id>.<secret>`.
    pub credential: String,
    /// What it reports.
    pub report: Report,
    /// The packages installs replaced, newest last.
    pub replaced: Vec<Replaced>,
}

impl VirtualAgent {
    /// A virtual agent that has installed nothing yet.
    pub fn new(credential: String, report: Report) -> Self {
        Self {
            credential,
            report,
            replaced: Vec::new(),
        }
    }
}

/// A package as it was before an install, and the update that replaced it:
/// the old version stays available (as in the package cache), so a
/// rollback can return to it, and the update is offered again after.
#[derive(Debug, Clone)]
pub struct Replaced {
    /// The package before the install.
    pub before: InstalledPackage,
    /// The update installed.
    pub update: AvailableUpdate,
}

/// Enrols a virtual agent with `token`.
pub fn enroll(client: &Client, token: &str, report: Report) -> Result<VirtualAgent, ClientError> {
    let enrolled = client.enroll(token, &report.hostname)?;
    Ok(VirtualAgent::new(enrolled.credential, report))
}

/// A virtual agent's check-ins, encoded once: a real agent encodes its
/// report on its own machine, so a benchmark should not charge the
/// portal's machine for it on every request.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// The check-in with the full report.
    pub full: Vec<u8>,
    /// The digest-only check-in.
    pub digest_only: Vec<u8>,
}

/// Encodes `agent`'s two check-ins.
pub fn encode(agent: &VirtualAgent) -> Encoded {
    let digest = agent.report.digest();
    let encode = |report: Option<Report>| {
        serde_json::to_vec(&CheckInRequest {
            digest: digest.clone(),
            report,
        })
        .unwrap_or_default()
    };
    Encoded {
        full: encode(Some(agent.report.clone())),
        digest_only: encode(None),
    }
}

/// Sends the full report (as after a change).
pub fn send_full(
    client: &Client,
    agent: &VirtualAgent,
    encoded: &Encoded,
) -> Result<(), ClientError> {
    client
        .check_in_encoded(&agent.credential, &encoded.full)
        .map(|_| ())
}

/// Checks in as the real agent would (digest first, the full report when
/// asked; a rotated credential adopted) and returns the portal's answer,
/// with any jobs leased.
pub fn check_in(client: &Client, agent: &mut VirtualAgent) -> Result<CheckInResponse, ClientError> {
    let digest = agent.report.digest();
    let mut answer = client.check_in(
        &agent.credential,
        &CheckInRequest {
            digest: digest.clone(),
            report: None,
        },
    )?;
    if let Some(c) = &answer.new_credential {
        agent.credential = c.clone();
    }
    if answer.send_report {
        answer = client.check_in(
            &agent.credential,
            &CheckInRequest {
                digest,
                report: Some(agent.report.clone()),
            },
        )?;
        if let Some(c) = &answer.new_credential {
            agent.credential = c.clone();
        }
    }
    Ok(answer)
}

/// Plays a job on a simulated server: an install moves each named package
/// that is offered at exactly that version to it (and asks for a reboot
/// when the kernel or libc changed); a rollback moves packages back to the
/// versions installs replaced and offers those updates again; a reboot
/// gives a new boot id and clears the reboot flag; a refresh changes
/// nothing. A package that is not offered at the asked version fails the
/// job, as apt-get would; a rollback to a version no install replaced is
/// refused, changing nothing, as the agent refuses it.
pub fn play(agent: &mut VirtualAgent, job: &JobOrder, boots: &mut Rng) -> JobResult {
    let mut log = String::new();
    let outcome = match &job.spec {
        JobSpec::Install { packages } => install(agent, packages, &mut log),
        JobSpec::Rollback { packages } => roll_back(agent, packages, &mut log),
        JobSpec::Reboot => {
            agent.report.boot_id = format!("{:016x}", boots.next_u64());
            agent.report.reboot_required = false;
            agent.report.reboot_required_packages.clear();
            log.push_str("reboot issued\n");
            JobOutcome::Rebooting
        }
        JobSpec::Refresh => {
            log.push_str("Reading package lists... Done\n");
            JobOutcome::Succeeded
        }
    };
    JobResult {
        attempt: job.attempt,
        outcome,
        exit_code: match (outcome, &job.spec) {
            // The agent refuses a rollback before running anything.
            (JobOutcome::Failed, JobSpec::Rollback { .. }) => None,
            (JobOutcome::Failed, _) => Some(100),
            _ => Some(0),
        },
        log,
    }
}

/// Sets the simulated package named `to` (and of its architecture) to its
/// version and source, asking for a reboot when the kernel or libc
/// changed.
fn set_version(report: &mut Report, to: &InstalledPackage, log: &mut String) {
    for p in report.packages.iter_mut() {
        if p.name == to.name && p.arch == to.arch {
            p.version = to.version.clone();
            p.source_name = to.source_name.clone();
            p.source_version = to.source_version.clone();
        }
    }
    log.push_str(&format!(
        "Setting up {}:{} ({}) ...\n",
        to.name, to.arch, to.version
    ));
    if to.name.starts_with("linux-image") || to.name == "libc6" {
        report.reboot_required = true;
        report.reboot_required_packages.push(to.name.clone());
    }
}

/// Plays an install (see [`play`]).
fn install(agent: &mut VirtualAgent, packages: &[PackageTarget], log: &mut String) -> JobOutcome {
    let mut ok = true;
    for target in packages {
        let offered = agent.report.updates.iter().position(|u| {
            u.name == target.name && u.arch == target.arch && u.version == target.version
        });
        let Some(i) = offered else {
            ok = false;
            log.push_str(&format!(
                "E: Version '{}' for '{}' was not found\n",
                target.version, target.name
            ));
            continue;
        };
        let update = agent.report.updates.remove(i);
        let before = agent
            .report
            .packages
            .iter()
            .find(|p| p.name == update.name && p.arch == update.arch)
            .cloned();
        let after = InstalledPackage {
            name: update.name.clone(),
            version: update.version.clone(),
            arch: update.arch.clone(),
            source_name: update.source_name.clone(),
            source_version: update.source_version.clone(),
        };
        set_version(&mut agent.report, &after, log);
        if let Some(before) = before {
            agent.replaced.push(Replaced { before, update });
        }
    }
    agent.report.normalise();
    if ok {
        JobOutcome::Succeeded
    } else {
        JobOutcome::Failed
    }
}

/// Plays a rollback (see [`play`]): all or nothing, as the agent checks
/// every version before it downgrades.
fn roll_back(agent: &mut VirtualAgent, packages: &[PackageTarget], log: &mut String) -> JobOutcome {
    let installed = |name: &str, arch: &str| {
        agent
            .report
            .packages
            .iter()
            .find(|p| p.name == name && p.arch == arch)
            .map(|p| p.version.clone())
    };
    let mut found = Vec::with_capacity(packages.len());
    let mut missing = Vec::new();
    for target in packages {
        let i = agent.replaced.iter().rposition(|r| {
            (&r.before.name, &r.before.arch, &r.before.version)
                == (&target.name, &target.arch, &target.version)
                && installed(&target.name, &target.arch).as_ref() == Some(&r.update.version)
        });
        match i {
            Some(i) if !found.contains(&i) => found.push(i),
            _ => missing.push(target),
        }
    }
    if !missing.is_empty() {
        log.push_str(&crate::jobs::rollback_refusal(&missing));
        return JobOutcome::Failed;
    }
    found.sort_unstable();
    for i in found.into_iter().rev() {
        let Replaced { before, update } = agent.replaced.remove(i);
        set_version(&mut agent.report, &before, log);
        // apt offers one version, the newest: one still offered (the
        // package went back twice) stays, now over the older version.
        match agent
            .report
            .updates
            .iter_mut()
            .find(|u| u.name == update.name && u.arch == update.arch)
        {
            Some(newer) => newer.installed_version = Some(before.version),
            None => agent.report.updates.push(update),
        }
    }
    agent.report.normalise();
    JobOutcome::Succeeded
}

/// Sends only the digest (nothing changed). Returns whether the portal
/// asked for the full report.
pub fn send_digest(
    client: &Client,
    agent: &VirtualAgent,
    encoded: &Encoded,
) -> Result<bool, ClientError> {
    client
        .check_in_encoded(&agent.credential, &encoded.digest_only)
        .map(|r| r.send_report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_have_the_asked_shape_are_valid_and_deterministic() {
        let shape = Shape {
            packages: 1_500,
            updates: 50,
            security_percent: 35,
        };
        let a = report(7, shape, 42);
        assert_eq!((a.packages.len(), a.updates.len()), (1_500, 50));
        assert_eq!(a.validate(), Ok(()));
        assert_eq!(
            a.digest(),
            report(7, shape, 42).digest(),
            "same index and seed, same report"
        );
        assert_ne!(a.digest(), report(8, shape, 42).digest(), "servers differ");
        let security = a.updates.iter().filter(|u| u.security).count();
        assert!(
            (5..=35).contains(&security),
            "about a third are security updates: {security}"
        );
        let names: std::collections::HashSet<_> =
            a.packages.iter().map(|p| (&p.name, &p.arch)).collect();
        assert_eq!(names.len(), a.packages.len(), "no duplicate packages");
    }

    #[test]
    fn updates_carry_the_source_of_the_installed_package() {
        // Enough updates to reach the real packages of the seed, where
        // binary and source differ (binNMUs, other names).
        let shape = Shape {
            packages: 1_500,
            updates: 400,
            security_percent: 35,
        };
        let r = report(3, shape, 42);
        assert_eq!(r.package_format, PackageFormat::Deb);
        let mut source_versions = std::collections::HashMap::new();
        let mut differing = 0;
        for u in &r.updates {
            let p = r
                .packages
                .iter()
                .find(|p| p.name == u.name && p.arch == u.arch)
                .expect("an update of an installed package");
            let (Some(name), Some(version)) = (&u.source_name, &u.source_version) else {
                panic!("update of {} without source fields", u.name);
            };
            assert_eq!(Some(name), p.source_name.as_ref(), "{}", u.name);
            let installed = p.source_version.as_deref().expect("installed source");
            let suffix = u.version.strip_prefix(p.version.as_str()).expect("suffix");
            assert_eq!(
                version,
                &format!("{installed}{suffix}"),
                "{}: the source version moves as the binary one",
                u.name
            );
            if name != &u.name || version != &u.version {
                differing += 1;
            }
            let first = source_versions.entry(name.clone()).or_insert(version);
            assert_eq!(
                *first, version,
                "all binaries of {name} update to one source version"
            );
        }
        assert!(differing > 0, "some sources differ from their binaries");
        assert_eq!(r.validate(), Ok(()));
    }

    #[test]
    fn played_jobs_change_the_simulated_server_as_the_real_one_would() {
        let mut agent = VirtualAgent::new(String::new(), report(1, Shape::default(), 7));
        let update = agent
            .report
            .updates
            .iter()
            .find(|u| !u.name.starts_with("linux-image") && u.name != "libc6")
            .unwrap()
            .clone();
        let old = agent
            .report
            .packages
            .iter()
            .find(|p| p.name == update.name && p.arch == update.arch)
            .unwrap()
            .clone();
        let before = agent.report.digest();
        let install = JobOrder {
            id: 1,
            attempt: 1,
            spec: JobSpec::Install {
                packages: vec![PackageTarget {
                    name: update.name.clone(),
                    version: update.version.clone(),
                    arch: update.arch.clone(),
                }],
            },
        };
        let mut boots = Rng::new(3);
        let done = play(&mut agent, &install, &mut boots);
        assert_eq!(done.outcome, JobOutcome::Succeeded);
        assert!(!agent.report.updates.iter().any(|u| u.name == update.name));
        let installed = agent
            .report
            .packages
            .iter()
            .find(|p| p.name == update.name)
            .unwrap();
        assert_eq!(installed.version, update.version);
        assert_eq!(installed.source_version, update.source_version);
        assert!(installed.source_version.is_some());
        assert_ne!(agent.report.digest(), before);
        // The same install again: the version is no longer offered.
        let again = play(&mut agent, &install, &mut boots);
        assert_eq!(again.outcome, JobOutcome::Failed);
        assert!(again.log.contains("was not found"), "{}", again.log);
        // A rollback returns to the version the install replaced, and the
        // update is offered again: the server is as before.
        let rollback = |version: &str| JobOrder {
            id: 3,
            attempt: 1,
            spec: JobSpec::Rollback {
                packages: vec![PackageTarget {
                    name: old.name.clone(),
                    version: version.into(),
                    arch: old.arch.clone(),
                }],
            },
        };
        let back = play(&mut agent, &rollback(&old.version), &mut boots);
        assert_eq!(back.outcome, JobOutcome::Succeeded, "{}", back.log);
        assert_eq!(agent.report.digest(), before, "as before the install");
        assert!(agent.report.updates.contains(&update), "offered again");
        // Nothing replaced that version now: refused, nothing changed.
        for version in [old.version.as_str(), "0.1-1"] {
            let refused = play(&mut agent, &rollback(version), &mut boots);
            assert_eq!(
                (refused.outcome, refused.exit_code),
                (JobOutcome::Failed, None)
            );
            assert!(
                refused.log.starts_with(&format!(
                    "patchport-agent refused the rollback: {} {version} ({}) is no longer available",
                    old.name, old.arch
                )),
                "{}",
                refused.log
            );
            assert_eq!(agent.report.digest(), before, "nothing changed");
        }
        assert_eq!(
            play(&mut agent, &install, &mut boots).outcome,
            JobOutcome::Succeeded,
            "installed again"
        );
        let boot = agent.report.boot_id.clone();
        let reboot = JobOrder {
            id: 2,
            attempt: 1,
            spec: JobSpec::Reboot,
        };
        assert_eq!(
            play(&mut agent, &reboot, &mut boots).outcome,
            JobOutcome::Rebooting
        );
        assert_ne!(agent.report.boot_id, boot, "a new boot id");
        assert!(!agent.report.reboot_required);
    }
}
