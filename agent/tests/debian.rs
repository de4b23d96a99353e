//! The real scan on a Debian-family machine, checked against apt's own
//! `apt list --upgradable`. Skipped (loudly) elsewhere. Never runs
//! `apt-get update`: both sides read the same package lists, whatever their
//! age.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use patchport_agent::scan::{self, apt, collect::find_program};
use patchport_core::protocol::{AvailableUpdate, PackageFormat};

#[test]
fn collect_on_debian_matches_apt_list_upgradable() {
    if find_program("dpkg-query").is_none() {
        eprintln!(
            "SKIPPED collect_on_debian_matches_apt_list_upgradable: not a Debian-family machine (no dpkg-query)"
        );
        return;
    }
    let report = scan::collect().unwrap_or_else(|err| panic!("collect failed: {err}"));

    let debian_family = |id: &str| id == "debian" || id == "ubuntu";
    assert!(
        debian_family(&report.os.id) || report.os.id_like.iter().any(|id| debian_family(id)),
        "os id is {:?}, like {:?}",
        report.os.id,
        report.os.id_like
    );
    assert_eq!(report.package_format, PackageFormat::Deb);
    assert!(!report.packages.is_empty(), "installed packages found");
    assert!(
        report
            .packages
            .iter()
            .any(|p| p.name == "dpkg" && !p.version.is_empty()),
        "dpkg lists itself"
    );
    for value in [
        &report.hostname,
        &report.kernel,
        &report.arch,
        &report.boot_id,
    ] {
        assert!(
            !value.is_empty() && value.trim() == value,
            "trimmed, non-empty: {value:?}"
        );
    }
    assert_eq!(report.agent_version, env!("CARGO_PKG_VERSION"));

    let output = Command::new("apt")
        .args(["list", "--upgradable"])
        .env("LC_ALL", "C")
        .output()
        .expect("apt runs");
    assert!(
        output.status.success(),
        "apt list failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let listed: BTreeSet<(String, String, String)> =
        apt::parse_list_upgradable(&String::from_utf8_lossy(&output.stdout))
            .expect("apt list output parses")
            .into_iter()
            .collect();
    let collected: BTreeSet<(String, String, String)> = report
        .updates
        .iter()
        .map(|u| (u.name.clone(), u.arch.clone(), u.version.clone()))
        .collect();
    let missing: Vec<_> = listed.difference(&collected).collect();
    let extra: Vec<_> = collected.difference(&listed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "updates differ from `apt list --upgradable`:\n  listed by apt, not collected: {missing:?}\n  collected, not listed by apt: {extra:?}"
    );
    assert_eq!(
        collected.len(),
        report.updates.len(),
        "no update reported twice"
    );

    // Every update replaces a package the report lists as installed, at the
    // version it says is installed.
    for update in &report.updates {
        let installed = update
            .installed_version
            .as_deref()
            .expect("upgrades have an installed version");
        assert!(
            report.packages.iter().any(|p| p.name == update.name
                && (p.arch == update.arch || update.arch == "all" || p.arch == "all")
                && p.version == installed),
            "update of {}:{} from {installed} has no matching installed package",
            update.name,
            update.arch
        );
    }
    // Every update carries the source apt-cache gives for its exact
    // version, read here independently of the agent's parser.
    let shown = apt_cache_sources(&report.updates);
    for update in &report.updates {
        let key = (
            update.name.clone(),
            update.arch.clone(),
            update.version.clone(),
        );
        let expected = shown.get(&key).cloned();
        assert!(
            expected.is_some(),
            "apt-cache shows {}:{}={}",
            update.name,
            update.arch,
            update.version
        );
        assert_eq!(
            (update.source_name.clone(), update.source_version.clone()),
            (
                expected.clone().map(|(name, _)| name),
                expected.map(|(_, version)| version)
            ),
            "source of {}:{} {}",
            update.name,
            update.arch,
            update.version
        );
    }
    eprintln!(
        "{} updates from another source name or version",
        report
            .updates
            .iter()
            .filter(|u| u.source_name.as_deref() != Some(u.name.as_str())
                || u.source_version.as_deref() != Some(u.version.as_str()))
            .count()
    );

    eprintln!(
        "scanned {} packages, {} updates ({} security) on {} {}",
        report.packages.len(),
        report.updates.len(),
        report.updates.iter().filter(|u| u.security).count(),
        report.os.id,
        report.os.version_id
    );
}

type VersionKey = (String, String, String);

/// (source name, source version) of each update's exact version, by
/// (name, architecture, version), from one `apt-cache show` run: the
/// `Source:` field when there is one (`NAME` or `NAME (VERSION)`), else the
/// binary's own name and version.
fn apt_cache_sources(updates: &[AvailableUpdate]) -> HashMap<VersionKey, (String, String)> {
    if updates.is_empty() {
        return HashMap::new();
    }
    let output = Command::new("apt-cache")
        .arg("show")
        .arg("--")
        .args(
            updates
                .iter()
                .map(|u| format!("{}:{}={}", u.name, u.arch, u.version)),
        )
        .env("LC_ALL", "C")
        .output()
        .expect("apt-cache runs");
    assert!(
        output.status.success(),
        "apt-cache show failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let mut sources = HashMap::new();
    for stanza in text.split("\n\n").filter(|s| !s.trim().is_empty()) {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
                .map(str::to_owned)
        };
        let (package, arch, version) = (
            field("Package").expect("Package"),
            field("Architecture").expect("Architecture"),
            field("Version").expect("Version"),
        );
        let source = match field("Source") {
            None => (package.clone(), version.clone()),
            Some(source) => match source.split_once(" (") {
                Some((name, rest)) => (name.to_owned(), rest.trim_end_matches(')').to_owned()),
                None => (source, version.clone()),
            },
        };
        sources.insert((package, arch, version), source);
    }
    sources
}
