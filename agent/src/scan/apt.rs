//! Pending updates on apt systems, from a simulated `apt-get dist-upgrade`.
//!
//! A simulation asks apt's own resolver, with the server's own sources,
//! pinning and configuration, what it would upgrade: that is the answer the
//! admin would get, and it needs neither the lock nor network access (it
//! reads the package lists apt's daily timer keeps fresh; the agent never
//! runs `apt-get update` itself).

use patchport_core::protocol::AvailableUpdate;

use super::ScanError;

/// Arguments to `apt-get` that simulate a full upgrade.
///
/// - `-s`: simulate only; the output lists every action as one line.
/// - `Debug::NoLocking`: read without taking apt's lock, so a scan neither
///   waits for nor blocks an admin's or unattended-upgrades' apt run.
/// - `Show-User-Simulation-Note=false`: no "NOTE: This is only a
///   simulation!" banner (shown to non-root users).
/// - `APT::Ignore-Hold`: held packages (`apt-mark hold`) still have updates
///   the portal must know about; without this apt keeps them back silently.
/// - `Always-Include-Phased-Updates`: Ubuntu releases some updates to a
///   growing share of machines ("phasing"); they are published updates all
///   the same, and `apt list --upgradable` shows them too.
/// - `dist-upgrade` rather than `upgrade`: updates that need a new dependency
///   (the usual case for kernels) are updates too.
pub const SIMULATE_ARGS: [&str; 10] = [
    "-s",
    "-o",
    "Debug::NoLocking=1",
    "-o",
    "APT::Get::Show-User-Simulation-Note=false",
    "-o",
    "APT::Ignore-Hold=true",
    "-o",
    "APT::Get::Always-Include-Phased-Updates=true",
    "dist-upgrade",
];

const SIMULATION: &str = "apt-get simulation";
const LIST: &str = "apt list output";

/// Parses the output of `apt-get` [`SIMULATE_ARGS`] into the updates it
/// would install.
///
/// Only action lines carry data. `Inst` lines are parsed strictly (an
/// unexpected shape is an error naming the line). `Conf` lines repeat an
/// `Inst` line's package and version for the configure step, and `Remv` and
/// `Purg` lines are removals the resolver needs, not updates, so those are
/// skipped. Every other line is apt's prose for humans (progress, package
/// name lists, hints), which restates the action lines; it is not parsed,
/// except that the "N upgraded, M newly installed" summary is checked
/// against the count of `Inst` lines, so that an action line we failed to
/// recognise cannot go unnoticed. The summary's wording is apt's own and
/// not a stable interface (apt 3 rewords it); when no line has this wording
/// the check is skipped rather than the scan failed.
///
/// `Inst` lines without an installed version (packages the upgrade would
/// newly install) are not updates and are left out: they are dependencies
/// pulled in by an update that is itself listed (a new kernel ABI package
/// comes with the `linux-image-amd64` metapackage update, say), and the
/// portal tracks updates of what is installed, as `apt list --upgradable`
/// does.
pub fn parse_simulation(text: &str) -> Result<Vec<AvailableUpdate>, ScanError> {
    let mut updates = Vec::new();
    let mut new_installs = 0;
    let mut summary = None;
    for (index, line) in text.lines().enumerate() {
        let Some((action, rest)) = line.split_once(' ') else {
            continue;
        };
        match action {
            "Inst" => {
                let inst = parse_inst(rest)
                    .map_err(|message| ScanError::parse(SIMULATION, index, line, message))?;
                match inst.installed_version {
                    Some(_) => updates.push(inst),
                    None => new_installs += 1,
                }
            }
            "Conf" | "Remv" | "Purg" => {}
            _ => {
                if let Some(counts) = parse_summary(line) {
                    summary = Some(counts);
                }
            }
        }
    }
    if let Some(Summary { changed, installed }) = summary
        && (changed != updates.len() || installed != new_installs)
    {
        return Err(ScanError::Inconsistent {
            input: SIMULATION,
            message: format!(
                "the summary announces {changed} upgraded and {installed} newly installed, \
                 but the Inst lines show {} and {new_installs}",
                updates.len()
            ),
        });
    }
    Ok(updates)
}

/// Parses what follows `Inst `:
/// `NAME[:ARCH] [[OLD]] (NEW ORIGIN[, ORIGIN…] [ARCH])[ BROKEN…]`.
///
/// apt builds the origin list from each source's `Label:Version/Archive`,
/// shortened when the Release file lacks a field, so an origin may hold
/// spaces ("Docker CE:jammy"); the version never does and the architecture
/// bracket closes the list. After the parenthesis apt may print bracketed
/// notes about packages left temporarily broken at that step of the
/// simulation (`[]`, `[libfoo:amd64 on libbar:amd64] [libfoo:amd64 ]`);
/// they are about ordering, not about the update, and are ignored.
fn parse_inst(rest: &str) -> Result<AvailableUpdate, String> {
    let (package, rest) = rest
        .split_once(' ')
        .ok_or("expected a version after the package name")?;
    let (name, name_arch) = match package.split_once(':') {
        Some((name, arch)) => (name, Some(arch)),
        None => (package, None),
    };
    if name.is_empty() {
        return Err("empty package name".into());
    }
    let (installed_version, rest) = match rest.strip_prefix('[') {
        Some(bracketed) => {
            let (old, rest) = bracketed
                .split_once("] ")
                .ok_or("unterminated installed version `[…]`")?;
            if old.is_empty() || old.contains(' ') {
                return Err(format!("bad installed version `{old}`"));
            }
            (Some(old.to_owned()), rest)
        }
        None => (None, rest),
    };
    let candidate = rest
        .strip_prefix('(')
        .ok_or("expected `(VERSION ORIGIN [ARCH])` for the new version")?;
    let close = candidate
        .find("])")
        .ok_or("expected `[ARCH])` to end the new version")?;
    let (inner, after) = (&candidate[..close + 1], &candidate[close + 2..]);
    if !(after.is_empty() || after.starts_with(" [")) {
        return Err(format!("unexpected text after the new version: `{after}`"));
    }
    let (version, origins_and_arch) = inner
        .split_once(' ')
        .ok_or("expected an origin after the new version")?;
    let (origins, arch) = origins_and_arch
        .rsplit_once(" [")
        .ok_or("expected `[ARCH]` after the origin")?;
    let arch = arch.strip_suffix(']').unwrap_or(arch);
    if version.is_empty() || arch.is_empty() || arch.contains([' ', '[']) {
        return Err("empty version or bad architecture".into());
    }
    if let Some(name_arch) = name_arch {
        // apt adds `:ARCH` to names of other architectures than the native
        // one (multiarch), and then the version's architecture is that one.
        if name_arch != arch {
            return Err(format!(
                "package architecture `{name_arch}` differs from version architecture `{arch}`"
            ));
        }
    }
    let origins: Vec<&str> = origins.split(", ").collect();
    if origins.iter().any(|origin| origin.trim().is_empty()) {
        return Err("empty origin".into());
    }
    let security_origin = origins.iter().find(|origin| is_security_origin(origin));
    // The security origin when there is one: that is what makes the update
    // urgent, and what an admin would look up.
    let origin = security_origin
        .or(origins.first())
        .copied()
        .unwrap_or_default();
    Ok(AvailableUpdate {
        name: name.to_owned(),
        arch: arch.to_owned(),
        installed_version,
        version: version.to_owned(),
        origin: origin.to_owned(),
        security: security_origin.is_some(),
        advisories: Vec::new(),
    })
}

/// Whether an origin (`Label:Version/Archive`, `Label:Archive` or `Archive`)
/// is a security archive. Debian (`bookworm-security`,
/// `oldstable-security`), Ubuntu (`jammy-security`) and Ubuntu Pro
/// (`jammy-apps-security`) all name their security suites with this suffix.
fn is_security_origin(origin: &str) -> bool {
    let archive = match origin.rsplit_once('/') {
        Some((_, archive)) => archive,
        None => origin
            .split_once(':')
            .map_or(origin, |(_, archive)| archive),
    };
    archive.ends_with("-security")
}

/// Counts from apt's summary line.
struct Summary {
    /// Upgraded, downgraded or reinstalled: `Inst` lines with an installed
    /// version.
    changed: usize,
    /// Newly installed: `Inst` lines without one.
    installed: usize,
}

/// Reads `N upgraded, N newly installed[, N downgraded][, N reinstalled],
/// N to remove and N not upgraded.`; `None` for any other line.
fn parse_summary(line: &str) -> Option<Summary> {
    let body = line.strip_suffix(" not upgraded.")?;
    let mut changed = 0;
    let mut installed = None;
    for part in body.split(", ").flat_map(|part| part.split(" and ")) {
        let (count, label) = part.split_once(' ').unwrap_or((part, ""));
        let count: usize = count.parse().ok()?;
        match label {
            "upgraded" | "downgraded" | "reinstalled" => changed += count,
            "newly installed" => installed = Some(count),
            _ => {}
        }
    }
    Some(Summary {
        changed,
        installed: installed?,
    })
}

/// Parses `apt list --upgradable` output into (name, architecture, new
/// version) triples.
///
/// apt warns that this command's output is not a stable interface, so the
/// agent does not rely on it for reports; it serves to cross-check
/// [`parse_simulation`]. Lines look like
/// `libssl3/stable-security 3.0.13-1~deb12u1 amd64 [upgradable from: 3.0.11-1~deb12u2]`;
/// the `Listing...` header and blank lines are skipped, anything else that
/// does not have that shape is an error naming the line.
pub fn parse_list_upgradable(text: &str) -> Result<Vec<(String, String, String)>, ScanError> {
    let mut upgradable = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with("Listing...") {
            continue;
        }
        let error = |message: &str| ScanError::parse(LIST, index, line, message);
        let (name, rest) = line
            .split_once('/')
            .ok_or_else(|| error("expected NAME/SUITES"))?;
        let mut fields = rest.splitn(4, ' ');
        let (Some(_suites), Some(version), Some(arch), Some(note)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(error(
                "expected NAME/SUITES VERSION ARCH [upgradable from: VERSION]",
            ));
        };
        let old = note
            .strip_prefix("[upgradable from: ")
            .and_then(|note| note.strip_suffix(']'))
            .ok_or_else(|| error("expected `[upgradable from: VERSION]`"))?;
        if name.is_empty() || version.is_empty() || arch.is_empty() || old.is_empty() {
            return Err(error("empty field"));
        }
        upgradable.push((name.to_owned(), arch.to_owned(), version.to_owned()));
    }
    Ok(upgradable)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn update(
        name: &str,
        arch: &str,
        old: Option<&str>,
        new: &str,
        origin: &str,
        security: bool,
    ) -> AvailableUpdate {
        AvailableUpdate {
            name: name.into(),
            arch: arch.into(),
            installed_version: old.map(Into::into),
            version: new.into(),
            origin: origin.into(),
            security,
            advisories: vec![],
        }
    }

    fn as_set(updates: &[AvailableUpdate]) -> BTreeSet<(String, String, String)> {
        updates
            .iter()
            .map(|u| (u.name.clone(), u.arch.clone(), u.version.clone()))
            .collect()
    }

    #[test]
    fn real_simulation_matches_real_list_captured_together() {
        // Both captured on this Debian 12 machine, one right after the other.
        let simulation = include_str!("../../tests/fixtures/apt-get-dist-upgrade-bookworm.txt");
        let list = include_str!("../../tests/fixtures/apt-list-upgradable-bookworm.txt");
        let updates = parse_simulation(simulation).expect("captured simulation parses");
        assert_eq!(updates.len(), 109, "the summary says 109 upgraded");
        let listed = parse_list_upgradable(list).expect("captured list parses");
        assert_eq!(listed.len(), 109);
        assert_eq!(
            as_set(&updates),
            listed.into_iter().collect(),
            "same updates both ways"
        );

        let find = |name: &str| {
            updates
                .iter()
                .find(|u| u.name == name)
                .unwrap_or_else(|| panic!("{name} listed"))
        };
        assert_eq!(
            find("libssl3"),
            &update(
                "libssl3",
                "amd64",
                Some("3.0.19-1~deb12u2"),
                "3.0.22-1~deb12u2",
                "Debian-Security:12/oldstable-security",
                true
            ),
            "security-only origin, trailing `[]` note"
        );
        assert_eq!(
            find("libgcrypt20"),
            &update(
                "libgcrypt20",
                "amd64",
                Some("1.10.1-3"),
                "1.10.1-3+deb12u1",
                "Debian-Security:12/oldstable-security",
                true
            ),
            "two origins: the security one is reported"
        );
        assert_eq!(
            find("base-files"),
            &update(
                "base-files",
                "amd64",
                Some("12.4+deb12u11"),
                "12.4+deb12u15",
                "Debian:12.15/oldstable",
                false
            ),
            "point release"
        );
        assert_eq!(find("tzdata").arch, "all");
        assert_eq!(
            find("libpam-modules-bin").version,
            "1.5.2-6+deb12u2",
            "line with breakage notes"
        );
    }

    #[test]
    fn handwritten_simulation_covers_what_this_machine_lacks() {
        // Written by hand in the exact format apt-get prints (see
        // parse_inst): an Ubuntu 22.04 server with multiarch, new kernel
        // packages, a removal and a third-party repository.
        let simulation = include_str!("../../tests/fixtures/apt-get-dist-upgrade-handwritten.txt");
        let list = include_str!("../../tests/fixtures/apt-list-upgradable-handwritten.txt");
        let mut updates = parse_simulation(simulation).expect("hand-written simulation parses");
        updates.sort();
        let listed = parse_list_upgradable(list).expect("hand-written list parses");
        assert_eq!(
            as_set(&updates),
            listed.into_iter().collect(),
            "same updates both ways"
        );
        let jammy_both = "Ubuntu:22.04/jammy-security";
        assert_eq!(
            updates,
            vec![
                update(
                    "docker-ce",
                    "amd64",
                    Some("5:25.0.3-1~ubuntu.22.04~jammy"),
                    "5:25.0.4-1~ubuntu.22.04~jammy",
                    "Docker CE:jammy",
                    false
                ),
                update(
                    "libc6",
                    "amd64",
                    Some("2.35-0ubuntu3.6"),
                    "2.35-0ubuntu3.7",
                    jammy_both,
                    true
                ),
                update(
                    "libc6",
                    "i386",
                    Some("2.35-0ubuntu3.6"),
                    "2.35-0ubuntu3.7",
                    jammy_both,
                    true
                ),
                update(
                    "libssl3",
                    "amd64",
                    Some("3.0.2-0ubuntu1.14"),
                    "3.0.2-0ubuntu1.15",
                    jammy_both,
                    true
                ),
                update(
                    "linux-generic",
                    "amd64",
                    Some("5.15.0.101.98"),
                    "5.15.0.102.99",
                    jammy_both,
                    true
                ),
                update(
                    "linux-headers-generic",
                    "amd64",
                    Some("5.15.0.101.98"),
                    "5.15.0.102.99",
                    jammy_both,
                    true
                ),
                update(
                    "linux-image-generic",
                    "amd64",
                    Some("5.15.0.101.98"),
                    "5.15.0.102.99",
                    jammy_both,
                    true
                ),
                update(
                    "openssl",
                    "amd64",
                    Some("3.0.2-0ubuntu1.14"),
                    "3.0.2-0ubuntu1.15",
                    jammy_both,
                    true
                ),
                update(
                    "php8.3-cli",
                    "amd64",
                    Some("8.3.3-1+ubuntu22.04.1+deb.sury.org+1"),
                    "8.3.4-1+ubuntu22.04.1+deb.sury.org+1",
                    "LP-PPA-ondrej-php:22.04/jammy",
                    false
                ),
                update(
                    "tzdata",
                    "all",
                    Some("2024a-0ubuntu0.22.04"),
                    "2024a-0ubuntu0.22.04.1",
                    "Ubuntu:22.04/jammy-updates",
                    false
                ),
                update(
                    "vim-tiny",
                    "amd64",
                    Some("2:8.2.3995-1ubuntu2.15"),
                    "2:8.2.3995-1ubuntu2.16",
                    "Ubuntu:22.04/jammy-updates",
                    false
                ),
            ]
        );
    }

    #[test]
    fn good_inst_lines() {
        let cases: &[(&str, &str, Option<AvailableUpdate>)] = &[
            (
                "debian security",
                "Inst libssl3 [3.0.11-1~deb12u2] (3.0.13-1~deb12u1 Debian-Security:12/stable-security [amd64])",
                Some(update(
                    "libssl3",
                    "amd64",
                    Some("3.0.11-1~deb12u2"),
                    "3.0.13-1~deb12u1",
                    "Debian-Security:12/stable-security",
                    true,
                )),
            ),
            (
                "several origins, security second",
                "Inst libc6 [2.36-9+deb12u4] (2.36-9+deb12u7 Debian:12.7/stable, Debian-Security:12/stable-security [amd64])",
                Some(update(
                    "libc6",
                    "amd64",
                    Some("2.36-9+deb12u4"),
                    "2.36-9+deb12u7",
                    "Debian-Security:12/stable-security",
                    true,
                )),
            ),
            (
                "several origins, none security: the first",
                "Inst curl [7.88.1-10] (7.88.1-10+deb12u5 Debian:12.5/stable, Debian:12.5/stable-updates [amd64])",
                Some(update(
                    "curl",
                    "amd64",
                    Some("7.88.1-10"),
                    "7.88.1-10+deb12u5",
                    "Debian:12.5/stable",
                    false,
                )),
            ),
            (
                "ubuntu security",
                "Inst openssl [3.0.2-0ubuntu1.14] (3.0.2-0ubuntu1.15 Ubuntu:22.04/jammy-security [amd64])",
                Some(update(
                    "openssl",
                    "amd64",
                    Some("3.0.2-0ubuntu1.14"),
                    "3.0.2-0ubuntu1.15",
                    "Ubuntu:22.04/jammy-security",
                    true,
                )),
            ),
            (
                "ubuntu pro (esm) security",
                "Inst git [1:2.34.1-1ubuntu1.10] (1:2.34.1-1ubuntu1.11+esm1 UbuntuESMApps:22.04/jammy-apps-security [amd64])",
                Some(update(
                    "git",
                    "amd64",
                    Some("1:2.34.1-1ubuntu1.10"),
                    "1:2.34.1-1ubuntu1.11+esm1",
                    "UbuntuESMApps:22.04/jammy-apps-security",
                    true,
                )),
            ),
            (
                "origin without Label or Version: just the archive",
                "Inst foo [1.0] (1.1 bookworm-security [amd64])",
                Some(update(
                    "foo",
                    "amd64",
                    Some("1.0"),
                    "1.1",
                    "bookworm-security",
                    true,
                )),
            ),
            (
                "label with a space, no version",
                "Inst docker-ce [5:24.0.7-1~debian.12~bookworm] (5:25.0.3-1~debian.12~bookworm Docker CE:bookworm [amd64])",
                Some(update(
                    "docker-ce",
                    "amd64",
                    Some("5:24.0.7-1~debian.12~bookworm"),
                    "5:25.0.3-1~debian.12~bookworm",
                    "Docker CE:bookworm",
                    false,
                )),
            ),
            (
                "a suite merely containing 'security' is not security",
                "Inst foo [1.0] (1.1 Example:1/security-tools [amd64])",
                Some(update(
                    "foo",
                    "amd64",
                    Some("1.0"),
                    "1.1",
                    "Example:1/security-tools",
                    false,
                )),
            ),
            (
                "foreign architecture",
                "Inst libc6:i386 [2.36-9+deb12u4] (2.36-9+deb12u7 Debian:12.7/stable [i386])",
                Some(update(
                    "libc6",
                    "i386",
                    Some("2.36-9+deb12u4"),
                    "2.36-9+deb12u7",
                    "Debian:12.7/stable",
                    false,
                )),
            ),
            (
                "breakage notes after the parenthesis",
                "Inst libpam-modules-bin [1.5.2-6+deb12u1] (1.5.2-6+deb12u2 Debian:12.15/oldstable [amd64]) [libpam-modules:amd64 on libpam-modules-bin:amd64] [libpam-modules:amd64 ]",
                Some(update(
                    "libpam-modules-bin",
                    "amd64",
                    Some("1.5.2-6+deb12u1"),
                    "1.5.2-6+deb12u2",
                    "Debian:12.15/oldstable",
                    false,
                )),
            ),
            (
                "new install is not an update",
                "Inst cowsay (3.03+dfsg2-8 Debian:12.15/oldstable [all])",
                None,
            ),
            (
                "configure step",
                "Conf libssl3 (3.0.13-1~deb12u1 Debian-Security:12/stable-security [amd64])",
                None,
            ),
            ("removal", "Remv zip [3.0-13]", None),
            ("purge", "Purg zip [3.0-13]", None),
            ("prose", "The following packages will be upgraded:", None),
        ];
        for (name, line, expected) in cases {
            match parse_simulation(line) {
                Ok(got) => assert_eq!(
                    got,
                    expected.iter().cloned().collect::<Vec<_>>(),
                    "case {name:?}"
                ),
                Err(err) => panic!("case {name:?}: unexpected error {err}"),
            }
        }
    }

    #[test]
    fn malformed_inst_lines_are_errors_naming_the_line() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "name only",
                "Inst libssl3 ",
                "expected `(VERSION ORIGIN [ARCH])`",
            ),
            (
                "no version part",
                "Inst libssl3",
                "expected a version after the package name",
            ),
            (
                "unterminated old version",
                "Inst libssl3 [3.0.11 (3.0.13 Debian:12/stable [amd64])",
                "unterminated installed version",
            ),
            (
                "missing arch",
                "Inst libssl3 [3.0.11] (3.0.13 Debian:12/stable)",
                "expected `[ARCH])`",
            ),
            (
                "missing origin",
                "Inst libssl3 [3.0.11] (3.0.13 [amd64])",
                "expected `[ARCH]` after the origin",
            ),
            (
                "garbage after",
                "Inst libssl3 [3.0.11] (3.0.13 Debian:12/stable [amd64]) oops",
                "unexpected text after",
            ),
            (
                "empty origin",
                "Inst libssl3 [3.0.11] (3.0.13 Debian:12/stable,  [amd64])",
                "empty origin",
            ),
            (
                "arch mismatch",
                "Inst libc6:i386 [1] (2 Debian:12/stable [amd64])",
                "package architecture `i386` differs",
            ),
            (
                "empty name",
                "Inst :i386 [1] (2 Debian:12/stable [i386])",
                "empty package name",
            ),
        ];
        for (name, bad, expected) in cases {
            let text = format!("Reading package lists...\n{bad}\n");
            match parse_simulation(&text) {
                Ok(got) => panic!("case {name:?}: expected an error, got {got:?}"),
                Err(err) => {
                    let message = err.to_string();
                    let prefix = "apt-get simulation, line 2: ";
                    assert!(
                        message.starts_with(prefix)
                            && message[prefix.len()..].starts_with(expected),
                        "case {name:?}: got {message:?}, expected {prefix}{expected}…"
                    );
                }
            }
        }
    }

    #[test]
    fn summary_must_agree_with_the_inst_lines() {
        let inst =
            "Inst zip [3.0-13] (3.0-13+deb12u1 Debian-Security:12/oldstable-security [amd64])\n";
        let new = "Inst cowsay (3.03+dfsg2-8 Debian:12.15/oldstable [all])\n";
        let cases: &[(&str, String, Result<usize, &str>)] = &[
            (
                "agrees",
                format!(
                    "1 upgraded, 1 newly installed, 0 to remove and 0 not upgraded.\n{inst}{new}"
                ),
                Ok(1),
            ),
            (
                "downgrades and reinstalls count as changed",
                format!(
                    "0 upgraded, 0 newly installed, 1 downgraded, 1 reinstalled, 0 to remove and 3 not upgraded.\n{inst}{inst}"
                ),
                Ok(2),
            ),
            (
                "no summary, nothing to check",
                format!("{inst}{new}"),
                Ok(1),
            ),
            (
                "an Inst line the parser missed",
                format!("2 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n{inst}"),
                Err(
                    "apt-get simulation: the summary announces 2 upgraded and 0 newly installed, but the Inst lines show 1 and 0",
                ),
            ),
            (
                "new installs counted too",
                format!(
                    "1 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n{inst}{new}"
                ),
                Err(
                    "apt-get simulation: the summary announces 1 upgraded and 0 newly installed, but the Inst lines show 1 and 1",
                ),
            ),
        ];
        for (name, text, expected) in cases {
            match (parse_simulation(text), expected) {
                (Ok(got), Ok(count)) => assert_eq!(got.len(), *count, "case {name:?}"),
                (Err(err), Err(message)) => assert_eq!(err.to_string(), *message, "case {name:?}"),
                (got, _) => panic!("case {name:?}: got {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn list_upgradable_lines() {
        let good = "Listing...\n\
                    libssl3/stable-security 3.0.13-1~deb12u1 amd64 [upgradable from: 3.0.11-1~deb12u2]\n\
                    libc6/stable,stable-security 2.36-9+deb12u7 i386 [upgradable from: 2.36-9+deb12u4]\n\n";
        assert_eq!(
            parse_list_upgradable(good).expect("good list parses"),
            vec![
                ("libssl3".into(), "amd64".into(), "3.0.13-1~deb12u1".into()),
                ("libc6".into(), "i386".into(), "2.36-9+deb12u7".into()),
            ]
        );
        let bad: &[(&str, &str, &str)] = &[
            (
                "no slash",
                "libssl3 3.0.13 amd64 [upgradable from: 3.0.11]",
                "expected NAME/SUITES",
            ),
            (
                "missing note",
                "libssl3/stable 3.0.13 amd64",
                "expected NAME/SUITES VERSION ARCH",
            ),
            (
                "other note",
                "libssl3/stable 3.0.13 amd64 [installed]",
                "expected `[upgradable from: VERSION]`",
            ),
            (
                "warning on stdout",
                "WARNING: apt does not have a stable CLI interface.",
                "expected NAME/SUITES",
            ),
        ];
        for (name, line, expected) in bad {
            let text = format!("Listing...\n{line}\n");
            match parse_list_upgradable(&text) {
                Ok(got) => panic!("case {name:?}: expected an error, got {got:?}"),
                Err(err) => {
                    let message = err.to_string();
                    assert!(
                        message.starts_with(&format!("apt list output, line 2: {expected}")),
                        "case {name:?}: got {message:?}"
                    );
                }
            }
        }
    }
}
