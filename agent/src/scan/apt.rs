//! Pending updates on apt systems, from a simulated `apt-get dist-upgrade`.
//!
//! A simulation asks apt's own resolver, with the server's own sources,
//! pinning and configuration, what it would upgrade: that is the answer the
//! admin would get, and it needs neither the lock nor network access (it
//! reads the package lists apt's daily timer keeps fresh; the agent never
//! runs `apt-get update` itself).

use std::collections::HashMap;

use patchport_core::protocol::{AvailableUpdate, PackageTarget};

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
        source_name: None,
        source_version: None,
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

/// `apt-cache` arguments before the versions to show: `--` ends the
/// options, so that no argument can be read as one (the versions are
/// checked too, see [`show_args`]). apt-cache has accepted `--` for as
/// long as it has had its own command-line parser.
pub const SHOW_ARGS: [&str; 2] = ["show", "--"];

/// Most versions asked of one `apt-cache show` run. An argument is at most
/// 546 bytes (the lengths [`PackageTarget::validate`] allows), so a run
/// stays far below Linux's 2 MiB limit on arguments while a real server's
/// updates (hundreds at most) take one run.
pub const SHOW_CHUNK: usize = 1_000;

/// What apt-cache prints last, exiting with 100, when it found none of the
/// versions asked for; finding only some of them is exit code 0.
pub const SHOW_NOTHING_FOUND: &str = "E: No packages found";

const SHOW: &str = "apt-cache show output";

/// A binary package version: (name, architecture, version).
pub type VersionKey = (String, String, String);

/// The source package one binary package version is built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Source package name.
    pub name: String,
    /// Source package version.
    pub version: String,
}

/// The `apt-cache show` arguments, after [`SHOW_ARGS`], that ask for the
/// exact version each update offers: `NAME:ARCH=VERSION` (apt-cache takes
/// `:all` too). Asking for the candidate instead (`--no-all-versions`)
/// could name another version than the simulation chose, since its options
/// (phased updates) change which version is the candidate.
///
/// Updates whose name, version or architecture has a character dpkg does
/// not allow (which apt would not have printed) are not asked for and keep
/// no source: [`PackageTarget::validate`] guarantees that an argument
/// starts with a letter or digit and holds no space or shell-like
/// character, so it is always exactly one version.
pub fn show_args(updates: &[AvailableUpdate]) -> Vec<String> {
    updates
        .iter()
        .filter(|u| {
            PackageTarget {
                name: u.name.clone(),
                version: u.version.clone(),
                arch: u.arch.clone(),
            }
            .validate()
            .is_ok()
        })
        .map(|u| format!("{}:{}={}", u.name, u.arch, u.version))
        .collect()
}

/// Parses `apt-cache show` output (deb822 stanzas, one per version) into
/// the source of each version shown, keyed by (`Package`, `Architecture`,
/// `Version`).
///
/// Of each stanza only those three fields and `Source` are read; `Source`
/// is absent when the source package has the binary's name and version,
/// `NAME` when only the name differs, and `NAME (VERSION)` when the version
/// differs too (binNMUs such as `+b1`, an epoch on the binary only, kernel
/// metapackages), as dpkg's `${source:Package}` and `${source:Version}`
/// read it. The rest of deb822 that this output uses is checked, not
/// interpreted: `Field: value` lines, indented continuation lines, blank
/// lines between stanzas. A line of another shape, a stanza without one of
/// the three fields or with one of the four twice, and two stanzas of the
/// same version that disagree on the source are errors naming the line.
/// (A deb822 crate would parse more than these four fields need, and the
/// agent keeps its dependencies few; see its `Cargo.toml`.)
pub fn parse_show(text: &str) -> Result<HashMap<VersionKey, Source>, ScanError> {
    let mut sources = HashMap::new();
    let mut stanza: Option<Stanza> = None;
    // Whether the last field line was one of the four we read: those are
    // single-line fields, so a continuation line after one is an error.
    let mut read_field = false;
    for (index, line) in text.lines().enumerate() {
        let error = |message: String| ScanError::parse(SHOW, index, line, message);
        if line.trim().is_empty() {
            if let Some(done) = stanza.take() {
                done.finish(&mut sources)?;
            }
            read_field = false;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if stanza.is_none() {
                return Err(error("continuation line outside a field".into()));
            }
            if read_field {
                return Err(error("a single-line field continues".into()));
            }
            continue;
        }
        let (field, value) = line
            .split_once(':')
            .filter(|(field, _)| !field.is_empty() && !field.contains(char::is_whitespace))
            .ok_or_else(|| error("expected `Field: value`".into()))?;
        let value = value.trim();
        let current = stanza.get_or_insert_with(|| Stanza::new(index, line));
        let slot = match field {
            "Package" => &mut current.package,
            "Architecture" => &mut current.architecture,
            "Version" => &mut current.version,
            "Source" => &mut current.source,
            _ => {
                read_field = false;
                continue;
            }
        };
        if slot.is_some() {
            return Err(error(format!("second {field} field in one stanza")));
        }
        if value.is_empty() || (field != "Source" && value.contains(char::is_whitespace)) {
            return Err(error(format!("{field} is empty or holds a space")));
        }
        *slot = Some((index, line, value));
        read_field = true;
    }
    if let Some(done) = stanza {
        done.finish(&mut sources)?;
    }
    Ok(sources)
}

/// The fields [`parse_show`] reads from one stanza: each with its line's
/// index and text, for errors, and its value.
struct Stanza<'a> {
    start: (usize, &'a str),
    package: Option<(usize, &'a str, &'a str)>,
    architecture: Option<(usize, &'a str, &'a str)>,
    version: Option<(usize, &'a str, &'a str)>,
    source: Option<(usize, &'a str, &'a str)>,
}

impl<'a> Stanza<'a> {
    fn new(index: usize, line: &'a str) -> Self {
        Stanza {
            start: (index, line),
            package: None,
            architecture: None,
            version: None,
            source: None,
        }
    }

    /// Checks the stanza and adds its version's source to `sources`.
    fn finish(self, sources: &mut HashMap<VersionKey, Source>) -> Result<(), ScanError> {
        let (start, first) = self.start;
        let required = |field: Option<(usize, &'a str, &'a str)>, name: &str| {
            field.map(|(_, _, value)| value).ok_or_else(|| {
                ScanError::parse(SHOW, start, first, format!("stanza without a {name} field"))
            })
        };
        let package = required(self.package, "Package")?;
        let architecture = required(self.architecture, "Architecture")?;
        let version = required(self.version, "Version")?;
        let source = match self.source {
            None => Source {
                name: package.to_owned(),
                version: version.to_owned(),
            },
            Some((index, line, value)) => parse_source_field(value, version)
                .map_err(|message| ScanError::parse(SHOW, index, line, message))?,
        };
        let key = (
            package.to_owned(),
            architecture.to_owned(),
            version.to_owned(),
        );
        match sources.get(&key) {
            Some(known) if *known != source => Err(ScanError::parse(
                SHOW,
                start,
                first,
                format!(
                    "{package}:{architecture} {version} shown twice, from {} {} and from {} {}",
                    known.name, known.version, source.name, source.version
                ),
            )),
            _ => {
                sources.insert(key, source);
                Ok(())
            }
        }
    }
}

/// Reads a `Source` value, `NAME` or `NAME (VERSION)`; without a version
/// the source's is the binary's `version`.
fn parse_source_field(value: &str, version: &str) -> Result<Source, String> {
    let (name, source_version) = match value.split_once(' ') {
        None => (value, version),
        Some((name, rest)) => {
            let inner = rest
                .strip_prefix('(')
                .and_then(|rest| rest.strip_suffix(')'))
                .ok_or_else(|| format!("expected `NAME (VERSION)`, found `{value}`"))?;
            if inner.is_empty() || inner.contains([' ', '(', ')']) {
                return Err(format!("bad source version `{inner}`"));
            }
            (name, inner)
        }
    };
    if name.is_empty() || name.contains(['(', ')']) {
        return Err(format!("bad source name `{name}`"));
    }
    Ok(Source {
        name: name.to_owned(),
        version: source_version.to_owned(),
    })
}

/// Gives each update the source of its version, from [`parse_show`], and
/// returns how many were not found.
///
/// An update apt-cache printed nothing for keeps no source fields, as in
/// reports from agents that predate them, rather than failing the scan:
/// the update itself is known (the simulation listed it), which is what
/// matters most. That happens when the package lists change between the
/// simulation and the lookup (apt's daily timer ran `apt-get update` in
/// between) or for an update [`show_args`] did not ask about; the next scan
/// fills them in.
pub fn add_sources(
    updates: &mut [AvailableUpdate],
    sources: &HashMap<VersionKey, Source>,
) -> usize {
    let mut missing = 0;
    for update in updates {
        let key = (
            update.name.clone(),
            update.arch.clone(),
            update.version.clone(),
        );
        match sources.get(&key) {
            Some(source) => {
                update.source_name = Some(source.name.clone());
                update.source_version = Some(source.version.clone());
            }
            None => missing += 1,
        }
    }
    missing
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
            source_name: None,
            source_version: None,
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

    fn source(name: &str, version: &str) -> Source {
        Source {
            name: name.into(),
            version: version.into(),
        }
    }

    fn key(name: &str, arch: &str, version: &str) -> VersionKey {
        (name.into(), arch.into(), version.into())
    }

    #[test]
    fn real_apt_cache_show_output_gives_each_versions_source() {
        // Captured on this Debian 12 machine; fixtures/README.md says how.
        let text = include_str!("../../tests/fixtures/apt-cache-show-bookworm.txt");
        let sources = parse_show(text).expect("captured apt-cache output parses");
        let expected: HashMap<VersionKey, Source> = [
            (
                key("bash", "amd64", "5.2.15-2+b8"),
                source("bash", "5.2.15-2"),
            ),
            (
                key("bash", "amd64", "5.2.15-2+b13"),
                source("bash", "5.2.15-2"),
            ),
            (
                key("cpp", "amd64", "4:12.2.0-3"),
                source("gcc-defaults", "1.203"),
            ),
            (
                key("dmsetup", "amd64", "2:1.02.185-2"),
                source("lvm2", "2.03.16-2"),
            ),
            (
                key("amqp-tools", "amd64", "0.11.0-1+deb12u3"),
                source("librabbitmq", "0.11.0-1+deb12u3"),
            ),
            (
                key("libcap2", "amd64", "1:2.66-4+deb12u3+b1"),
                source("libcap2", "1:2.66-4+deb12u3"),
            ),
            (
                key("e2fsprogs", "amd64", "1.47.0-2+b2"),
                source("e2fsprogs", "1.47.0-2"),
            ),
            (
                key("libssl3", "amd64", "3.0.22-1~deb12u2"),
                source("openssl", "3.0.22-1~deb12u2"),
            ),
            (
                key("login", "amd64", "1:4.13+dfsg1-1+deb12u2"),
                source("shadow", "1:4.13+dfsg1-1+deb12u2"),
            ),
            (
                key("tzdata", "all", "2026f-0+deb12u1"),
                source("tzdata", "2026f-0+deb12u1"),
            ),
            (
                key("linux-image-amd64", "amd64", "6.1.192-3"),
                source("linux-signed-amd64", "6.1.192+3"),
            ),
        ]
        .into_iter()
        .collect();
        for (k, want) in &expected {
            assert_eq!(sources.get(k), Some(want), "source of {k:?}");
        }
        assert_eq!(
            sources.len(),
            expected.len(),
            "one entry per stanza; nothing for the version that does not exist"
        );
    }

    #[test]
    fn sources_are_asked_for_and_matched_by_exact_version() {
        // Both real captures from this machine, on different days: six of
        // the simulation's 109 offered versions were still current when
        // apt-cache ran, the others were not asked for.
        let simulation = include_str!("../../tests/fixtures/apt-get-dist-upgrade-bookworm.txt");
        let shown = include_str!("../../tests/fixtures/apt-cache-show-bookworm.txt");
        let mut updates = parse_simulation(simulation).expect("captured simulation parses");
        let args = show_args(&updates);
        assert_eq!(args.len(), updates.len(), "every real update is asked for");
        for arg in ["bash:amd64=5.2.15-2+b13", "tzdata:all=2026f-0+deb12u1"] {
            assert!(args.iter().any(|a| a == arg), "{arg} asked for");
        }
        let missing = add_sources(&mut updates, &parse_show(shown).expect("parses"));
        assert_eq!(missing, 103);
        let with_source: Vec<(&str, &str, &str)> = updates
            .iter()
            .filter_map(|u| {
                Some((
                    u.name.as_str(),
                    u.source_name.as_deref()?,
                    u.source_version.as_deref()?,
                ))
            })
            .collect();
        assert_eq!(
            with_source,
            vec![
                ("bash", "bash", "5.2.15-2"),
                ("login", "shadow", "1:4.13+dfsg1-1+deb12u2"),
                ("e2fsprogs", "e2fsprogs", "1.47.0-2"),
                ("libssl3", "openssl", "3.0.22-1~deb12u2"),
                ("libcap2", "libcap2", "1:2.66-4+deb12u3"),
                ("tzdata", "tzdata", "2026f-0+deb12u1"),
            ]
        );
        assert!(
            updates
                .iter()
                .all(|u| u.source_name.is_some() == u.source_version.is_some()),
            "both source fields or neither"
        );
    }

    #[test]
    fn only_well_formed_versions_are_asked_for() {
        let ok = update("libc6", "i386", Some("1"), "2.36-9+deb12u7", "x", true);
        let mut dash = ok.clone();
        dash.name = "-o=Dir::Etc=/tmp".into();
        let mut space = ok.clone();
        space.version = "1 2".into();
        let mut shell = ok.clone();
        shell.arch = "$(id)".into();
        assert_eq!(
            show_args(&[ok, dash, space, shell]),
            vec!["libc6:i386=2.36-9+deb12u7".to_owned()]
        );
    }

    #[test]
    fn show_stanzas_of_every_shape() {
        type Case = (&'static str, &'static str, Vec<(VersionKey, Source)>);
        let cases: &[Case] = &[
            ("empty output: nothing found", "", vec![]),
            (
                "no Source: the binary's name and version",
                "Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n\n",
                vec![(
                    key("tzdata", "all", "2024a-0+deb12u1"),
                    source("tzdata", "2024a-0+deb12u1"),
                )],
            ),
            (
                "Source NAME: the binary's version, epoch included",
                "Package: login\nSource: shadow\nVersion: 1:4.13-1\nArchitecture: amd64\n",
                vec![(
                    key("login", "amd64", "1:4.13-1"),
                    source("shadow", "1:4.13-1"),
                )],
            ),
            (
                "Source NAME (VERSION), fields in any order, continuations, no final blank line",
                "Architecture: amd64\nDescription: x\n more\n .\nSource: linux-signed-amd64 (6.1.90+1)\nPackage: linux-image-amd64\nVersion: 6.1.90-1",
                vec![(
                    key("linux-image-amd64", "amd64", "6.1.90-1"),
                    source("linux-signed-amd64", "6.1.90+1"),
                )],
            ),
            (
                "two stanzas, extra blank lines, value without a space after the colon",
                "\nPackage:a\nVersion: 1\nArchitecture: amd64\n\n\nPackage: b\nVersion: 2+b1\nArchitecture: i386\nSource: a (2)\n\n",
                vec![
                    (key("a", "amd64", "1"), source("a", "1")),
                    (key("b", "i386", "2+b1"), source("a", "2")),
                ],
            ),
            (
                "the same version twice (asked twice), same source",
                "Package: a\nVersion: 1\nArchitecture: all\n\nPackage: a\nVersion: 1\nArchitecture: all\n",
                vec![(key("a", "all", "1"), source("a", "1"))],
            ),
        ];
        for (name, text, expected) in cases {
            match parse_show(text) {
                Ok(got) => assert_eq!(
                    got,
                    expected.iter().cloned().collect::<HashMap<_, _>>(),
                    "case {name:?}"
                ),
                Err(err) => panic!("case {name:?}: unexpected error {err}"),
            }
        }
    }

    #[test]
    fn malformed_show_output_is_an_error_naming_the_line() {
        let good = "Package: a\nVersion: 1\nArchitecture: all\n\n";
        let cases: &[(&str, &str, &str)] = &[
            (
                "no colon",
                "Package: b\nWARNING: x\nnot a field\n",
                "line 7: expected `Field: value`",
            ),
            (
                "empty field name",
                ": value\n",
                "line 5: expected `Field: value`",
            ),
            (
                "space in the field name",
                "Package name: b\n",
                "line 5: expected `Field: value`",
            ),
            (
                "continuation before any field",
                " orphan\nPackage: b\n",
                "line 5: continuation line outside a field",
            ),
            (
                "continuation of a field we read",
                "Package: b\nVersion: 1\n 2\nArchitecture: all\n",
                "line 7: a single-line field continues",
            ),
            (
                "no Version",
                "Package: b\nArchitecture: all\n",
                "line 5: stanza without a Version field",
            ),
            (
                "no Package",
                "Version: 1\nArchitecture: all\n",
                "line 5: stanza without a Package field",
            ),
            (
                "no Architecture",
                "Package: b\nVersion: 1\n",
                "line 5: stanza without a Architecture field",
            ),
            (
                "field twice",
                "Package: b\nVersion: 1\nVersion: 2\nArchitecture: all\n",
                "line 7: second Version field in one stanza",
            ),
            (
                "empty value",
                "Package: b\nVersion:\nArchitecture: all\n",
                "line 6: Version is empty or holds a space",
            ),
            (
                "version with a space",
                "Package: b\nVersion: 1 2\nArchitecture: all\n",
                "line 6: Version is empty or holds a space",
            ),
            (
                "source version not in parentheses",
                "Package: b\nSource: a 2\nVersion: 1\nArchitecture: all\n",
                "line 6: expected `NAME (VERSION)`, found `a 2`",
            ),
            (
                "unclosed source version",
                "Package: b\nSource: a (2\nVersion: 1\nArchitecture: all\n",
                "line 6: expected `NAME (VERSION)`",
            ),
            (
                "empty source version",
                "Package: b\nSource: a ()\nVersion: 1\nArchitecture: all\n",
                "line 6: bad source version ``",
            ),
            (
                "extra words in the source",
                "Package: b\nSource: a (2) (3)\nVersion: 1\nArchitecture: all\n",
                "line 6: bad source version `2) (3`",
            ),
            (
                "source name is a parenthesis",
                "Package: b\nSource: (2)\nVersion: 1\nArchitecture: all\n",
                "line 6: bad source name `(2)`",
            ),
            (
                "the same version from two sources",
                "Package: a\nSource: c\nVersion: 1\nArchitecture: all\n",
                "line 5: a:all 1 shown twice, from a 1 and from c 1",
            ),
        ];
        for (name, bad, expected) in cases {
            let text = format!("{good}{bad}\n{good}");
            match parse_show(&text) {
                Ok(got) => panic!("case {name:?}: expected an error, got {got:?}"),
                Err(err) => {
                    let message = err.to_string();
                    assert!(
                        message.starts_with(&format!("apt-cache show output, {expected}")),
                        "case {name:?}: got {message:?}, expected {expected:?}"
                    );
                }
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
