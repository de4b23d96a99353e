//! Pending updates on dnf systems: `dnf check-update` says what can be
//! upgraded, `dnf updateinfo` which advisories (security or not) those
//! upgrades fix, and [`merge`] puts the two together.

use std::cmp::Ordering;

use patchport_core::protocol::{AvailableUpdate, InstalledPackage};
use patchport_core::version::compare_rpm;

use super::ScanError;
use crate::config::InstallRoot;

/// Arguments to `dnf` that list available upgrades. `-q` leaves out the
/// "Last metadata expiration check" chatter. dnf exits with 100 when there
/// are updates, 0 when there are none, 1 on error.
pub const CHECK_UPDATE_ARGS: [&str; 2] = ["-q", "check-update"];

/// Exit codes of `dnf check-update` that mean success.
pub const CHECK_UPDATE_OK_CODES: [i32; 2] = [0, 100];

/// Arguments to `dnf` that list the advisories of available upgrades.
pub const UPDATEINFO_ARGS: [&str; 4] = ["-q", "updateinfo", "list", "--updates"];

/// dnf 4's default `reposdir`, relative to `/`; [`root_args`] keeps it
/// inside the install root.
pub const REPOS_DIRS: [&str; 3] = ["etc/yum.repos.d", "etc/yum/repos.d", "etc/distro.repos.d"];

/// Options, to go before the command, that make dnf work on the packages
/// under `root` instead of `/`. `--installroot` keeps the rpm database,
/// cache, history and logs in the root, and reads the root's `dnf.conf`
/// when it has one. But where the root has none of the repository
/// directories dnf falls back to the host's, and would then offer the
/// host's repositories to the root: so `reposdir` names the root's own,
/// and dnf fails ("no enabled repositories") rather than use the host's.
pub fn root_args(root: &InstallRoot) -> Vec<String> {
    let repos_dirs: Vec<String> = REPOS_DIRS
        .iter()
        .map(|dir| root.path().join(dir).display().to_string())
        .collect();
    vec![
        format!("--installroot={}", root.as_str()),
        format!("--setopt=reposdir={}", repos_dirs.join(",")),
    ]
}

/// `command` after the install root's options ([`root_args`]), as one
/// argument list.
pub fn with_root<'a>(root_args: &'a [String], command: &[&'a str]) -> Vec<&'a str> {
    root_args
        .iter()
        .map(String::as_str)
        .chain(command.iter().copied())
        .collect()
}

/// One `dnf check-update` entry: (name, architecture, version, repository).
pub type CheckUpdateEntry = (String, String, String, String);

/// One `dnf updateinfo list` entry: (advisory, type, NEVRA).
pub type UpdateinfoEntry = (String, String, String);

const CHECK_UPDATE: &str = "dnf check-update output";
const UPDATEINFO: &str = "dnf updateinfo output";

/// Parses `dnf -q check-update` output into (name, architecture, version,
/// repository) tuples.
///
/// Lines are `NAME.ARCH  VERSION  REPO` in padded columns. Written to a
/// pipe, as the agent runs it, dnf makes each column as wide as its widest
/// value, so an entry is one line (seen with Debian's dnf 4.14, in
/// `tests/fixtures`). On a terminal the columns fit its width instead: a
/// value too wide for its column ends its line, and the next columns
/// continue on the following, indented, line. Both are read: an entry is
/// the whitespace-separated words gathered from one unindented line and the
/// indented lines after it, until there are three. Blank lines (`dnf -q`
/// starts with one) are skipped.
///
/// Parsing stops at the "Obsoleting Packages" section: it lists packages
/// that would replace installed packages of other names (each followed by an
/// indented line naming the one it replaces). Those are new packages, not
/// updates of installed ones, so they are left out, as apt's new installs
/// are in [`super::apt::parse_simulation`].
pub fn parse_check_update(text: &str) -> Result<Vec<CheckUpdateEntry>, ScanError> {
    let mut updates = Vec::new();
    // Words of the entry being gathered, and the index of its first line.
    let mut pending: Vec<&str> = Vec::new();
    let mut started_at = 0;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.eq_ignore_ascii_case("Obsoleting Packages") {
            break;
        }
        if trimmed.is_empty() || is_kernel_note(trimmed) {
            continue;
        }
        if line.starts_with(char::is_whitespace) {
            if pending.is_empty() {
                return Err(ScanError::parse(
                    CHECK_UPDATE,
                    index,
                    line,
                    "continuation line without a package",
                ));
            }
        } else {
            if !pending.is_empty() {
                return Err(unfinished_entry(text, started_at));
            }
            started_at = index;
        }
        pending.extend(line.split_whitespace());
        if pending.len() > 3 {
            return Err(ScanError::parse(
                CHECK_UPDATE,
                index,
                line,
                "expected NAME.ARCH VERSION REPOSITORY, found more words",
            ));
        }
        if let [name_arch, version, repo] = pending[..] {
            updates.push(check_update_entry(name_arch, version, repo, index, line)?);
            pending.clear();
        }
    }
    if !pending.is_empty() {
        return Err(unfinished_entry(text, started_at));
    }
    Ok(updates)
}

/// Checks the three words of a `dnf check-update` entry, whose last line is
/// `line` at `index`, and makes them a (name, architecture, version,
/// repository) tuple.
fn check_update_entry(
    name_arch: &str,
    version: &str,
    repo: &str,
    index: usize,
    line: &str,
) -> Result<CheckUpdateEntry, ScanError> {
    let (name, arch) = name_arch
        .rsplit_once('.')
        .filter(|(name, arch)| !name.is_empty() && !arch.is_empty())
        .ok_or_else(|| {
            ScanError::parse(
                CHECK_UPDATE,
                index,
                line,
                format!("`{name_arch}` is not NAME.ARCH"),
            )
        })?;
    if !version.contains('-') {
        return Err(ScanError::parse(
            CHECK_UPDATE,
            index,
            line,
            format!("`{version}` is not VERSION-RELEASE"),
        ));
    }
    Ok((
        name.to_owned(),
        arch.to_owned(),
        version.to_owned(),
        repo.to_owned(),
    ))
}

/// The error for a `dnf check-update` entry that starts on line
/// `started_at` and ends before it has a version and a repository.
fn unfinished_entry(text: &str, started_at: usize) -> ScanError {
    ScanError::parse(
        CHECK_UPDATE,
        started_at,
        text.lines().nth(started_at).unwrap_or_default(),
        "entry without version or repository",
    )
}

/// Whether a line is one of the notes RHEL's dnf adds about installed
/// kernels ("Security: kernel-core-… is an installed security update",
/// "… is the currently running version"): they describe what is installed,
/// not an available update, so they are skipped.
fn is_kernel_note(line: &str) -> bool {
    line.starts_with("Security: ")
        && (line.ends_with(" is an installed security update")
            || line.ends_with(" is the currently running version"))
}

/// Parses `dnf -q updateinfo list --updates` output into (advisory, type,
/// NEVRA) tuples.
///
/// Lines are `ADVISORY TYPE NEVRA`. dnf 4 writes the TYPE of a security
/// advisory as `SEVERITY/Sec.`, and as `Unknown/Sec.` when the severity is
/// missing or none of Critical, Important, Moderate and Low; other
/// advisories are `bugfix`, `enhancement`, `newpackage` or `unknown`. The
/// NEVRA is checked here so that [`merge`] can rely on it.
pub fn parse_updateinfo(text: &str) -> Result<Vec<UpdateinfoEntry>, ScanError> {
    let mut advisories = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || is_kernel_note(trimmed) {
            continue;
        }
        let words: Vec<&str> = trimmed.split_whitespace().collect();
        let [advisory, kind, nevra] = words[..] else {
            return Err(ScanError::parse(
                UPDATEINFO,
                index,
                line,
                format!("expected ADVISORY TYPE NEVRA, found {} words", words.len()),
            ));
        };
        if parse_nevra(nevra).is_none() {
            return Err(ScanError::parse(
                UPDATEINFO,
                index,
                line,
                format!("`{nevra}` is not NAME-[EPOCH:]VERSION-RELEASE.ARCH"),
            ));
        }
        advisories.push((advisory.to_owned(), kind.to_owned(), nevra.to_owned()));
    }
    Ok(advisories)
}

/// Splits `NAME-[EPOCH:]VERSION-RELEASE.ARCH` into name, `[EPOCH:]VERSION-RELEASE`
/// and architecture. Names may hold dashes and dots; version and release may
/// hold dots but no dashes, and the architecture neither.
fn parse_nevra(nevra: &str) -> Option<(&str, &str, &str)> {
    let (nevr, arch) = nevra.rsplit_once('.')?;
    let (rest, release) = nevr.rsplit_once('-')?;
    let (name, version) = rest.rsplit_once('-')?;
    if [name, version, release, arch]
        .iter()
        .any(|part| part.is_empty())
        || arch.contains('-')
    {
        return None;
    }
    Some((name, &nevr[name.len() + 1..], arch))
}

/// Whether an updateinfo type marks a security advisory. dnf 4 never
/// labels one plain `security`, but that is the advisory type's own name,
/// so it is taken as one too.
fn is_security(kind: &str) -> bool {
    kind.ends_with("/Sec.") || kind.eq_ignore_ascii_case("security")
}

/// Combines [`parse_check_update`], [`parse_updateinfo`] and the installed
/// packages into the report's updates.
///
/// The installed version is the newest installed one of the same name and
/// architecture: install-only packages (kernels) keep several versions
/// side by side, and the update is newer than all of them.
///
/// An advisory belongs to an update when it names the same package and
/// architecture at a version no newer than the update's: installing the
/// newest version brings every fix released before it, so an older
/// advisory counts too. The update is a security update when any of its
/// advisories is. Versions are ordered by
/// [`compare_rpm`], the order the portal uses.
///
/// The source fields stay `None`: neither `dnf check-update` nor
/// `dnf updateinfo` names the offered version's source rpm (it would take a
/// `dnf repoquery` per scan), and rpm-family advisories name binary
/// packages, so the portal compares the binary versions.
pub fn merge(
    check_update: &[CheckUpdateEntry],
    updateinfo: &[UpdateinfoEntry],
    installed: &[InstalledPackage],
) -> Vec<AvailableUpdate> {
    check_update
        .iter()
        .map(|(name, arch, version, repo)| {
            let installed_version = installed
                .iter()
                .filter(|p| &p.name == name && &p.arch == arch)
                .max_by(|a, b| compare_rpm(&a.version, &b.version))
                .map(|p| p.version.clone());
            let mut security = false;
            let mut advisories: Vec<String> = Vec::new();
            for (advisory, kind, nevra) in updateinfo {
                // parse_updateinfo has already rejected NEVRAs that do not
                // parse; one built by other means and malformed matches nothing.
                let Some((adv_name, adv_evr, adv_arch)) = parse_nevra(nevra) else {
                    continue;
                };
                if adv_name == name
                    && adv_arch == arch
                    && compare_rpm(adv_evr, version) != Ordering::Greater
                {
                    security |= is_security(kind);
                    advisories.push(advisory.clone());
                }
            }
            advisories.sort();
            advisories.dedup();
            AvailableUpdate {
                name: name.clone(),
                arch: arch.clone(),
                installed_version,
                version: version.clone(),
                origin: repo.clone(),
                security,
                advisories,
                source_name: None,
                source_version: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::rpm;

    fn entry(
        name: &str,
        arch: &str,
        version: &str,
        repo: &str,
    ) -> (String, String, String, String) {
        (name.into(), arch.into(), version.into(), repo.into())
    }

    fn update(
        name: &str,
        arch: &str,
        old: Option<&str>,
        new: &str,
        repo: &str,
        security: bool,
        advisories: &[&str],
    ) -> AvailableUpdate {
        AvailableUpdate {
            name: name.into(),
            arch: arch.into(),
            installed_version: old.map(Into::into),
            version: new.into(),
            origin: repo.into(),
            security,
            advisories: advisories.iter().map(|a| a.to_string()).collect(),
            source_name: None,
            source_version: None,
        }
    }

    #[test]
    fn handwritten_fixtures_in_the_documented_format() {
        // Written by hand, in the formats of dnf 4 on AlmaLinux 9, for what
        // the real captures below cannot show: entries wrapped at a
        // terminal's width, RHEL-style names, epochs and releases, an
        // advisory older than the update, advisories of every type, and
        // several architectures of one package.
        let check_update = parse_check_update(include_str!(
            "../../tests/fixtures/dnf-check-update-handwritten.txt"
        ))
        .expect("check-update fixture parses");
        let updateinfo = parse_updateinfo(include_str!(
            "../../tests/fixtures/dnf-updateinfo-handwritten.txt"
        ))
        .expect("updateinfo fixture parses");
        let installed =
            rpm::parse_query(include_str!("../../tests/fixtures/rpm-qa-handwritten.txt"))
                .expect("rpm fixture parses");
        assert_eq!(check_update.len(), 11, "obsoletes section left out");
        assert_eq!(updateinfo.len(), 10);
        let merged = merge(&check_update, &updateinfo, &installed);
        let expected = vec![
            update(
                "NetworkManager",
                "x86_64",
                Some("1:1.46.0-4.el9_4"),
                "1:1.46.0-8.el9_4",
                "baseos",
                true,
                &["ALSA-2024:3501"],
            ),
            update(
                "glibc",
                "i686",
                Some("2.34-100.el9"),
                "2.34-100.el9_4.2",
                "baseos",
                true,
                &["ALSA-2024:3339"],
            ),
            update(
                "glibc",
                "x86_64",
                Some("2.34-100.el9"),
                "2.34-100.el9_4.2",
                "baseos",
                true,
                &["ALSA-2024:3339"],
            ),
            update(
                "kernel",
                "x86_64",
                Some("5.14.0-427.13.1.el9_4"),
                "5.14.0-427.18.1.el9_4",
                "baseos",
                true,
                &["ALSA-2024:2758", "ALSA-2024:3138"],
            ),
            update(
                "kernel-core",
                "x86_64",
                Some("5.14.0-427.13.1.el9_4"),
                "5.14.0-427.18.1.el9_4",
                "baseos",
                true,
                &["ALSA-2024:3138"],
            ),
            update(
                "libreoffice-langpack-pt-BR",
                "x86_64",
                Some("1:7.1.8.1-12.el9"),
                "1:7.1.8.1-12.el9_4.1",
                "appstream",
                false,
                &[],
            ),
            update(
                "openssl",
                "x86_64",
                Some("1:3.0.7-27.el9"),
                "1:3.0.7-28.el9_4",
                "baseos",
                true,
                &["ALSA-2024:3306"],
            ),
            update(
                "openssl-libs",
                "x86_64",
                Some("1:3.0.7-27.el9"),
                "1:3.0.7-28.el9_4",
                "baseos",
                true,
                &["ALSA-2024:3306"],
            ),
            update(
                "python3-dnf-plugin-post-transaction-actions",
                "noarch",
                Some("4.3.0-13.el9"),
                "4.3.0-13.el9_4.1",
                "baseos",
                false,
                &["ALEA-2024:3500"],
            ),
            update(
                "tzdata",
                "noarch",
                Some("2024a-1.el9"),
                "2024a-2.el9",
                "appstream",
                false,
                &["ALBA-2024:3400"],
            ),
            update(
                "vim-minimal",
                "x86_64",
                Some("2:8.2.2637-20.el9_1"),
                "2:8.2.2637-20.el9_1.1.with.a.release.too.wide",
                "appstream",
                false,
                &[],
            ),
        ];
        assert_eq!(merged.len(), expected.len());
        for (got, want) in merged.iter().zip(&expected) {
            assert_eq!(got, want, "update of {}", want.name);
        }
    }

    #[test]
    fn real_captures_from_debian_dnf() {
        // Captured from Debian 12's dnf 4.14 and rpm 4.18 on the separate
        // root of tests/install_rpm.rs (see tests/fixtures/README.md).
        let check_update = parse_check_update(include_str!(
            "../../tests/fixtures/dnf-check-update-debian-dnf4.txt"
        ))
        .expect("real check-update output parses");
        let wide = "patchport-e2e-probe-with-a-name-wider-than-its-column";
        assert_eq!(
            check_update,
            vec![
                entry("patchport-e2e-kernel", "x86_64", "6.1-3", "patchport-test"),
                entry("patchport-e2e-probe", "noarch", "1.1-1", "patchport-test"),
                entry(wide, "x86_64", "2:1.0-2", "patchport-test"),
            ],
            "one line per entry, however wide; the obsoletes section left out"
        );
        let updateinfo = parse_updateinfo(include_str!(
            "../../tests/fixtures/dnf-updateinfo-debian-dnf4.txt"
        ))
        .expect("real updateinfo output parses");
        let adv = |id: &str, kind: &str, nevra: &str| -> UpdateinfoEntry {
            (id.into(), kind.into(), nevra.into())
        };
        assert_eq!(
            updateinfo,
            vec![
                adv(
                    "PPTEST-2026:0003",
                    "Unknown/Sec.",
                    "patchport-e2e-kernel-6.1-3.x86_64"
                ),
                adv(
                    "PPTEST-2026:0001",
                    "Important/Sec.",
                    "patchport-e2e-probe-1.1-1.noarch"
                ),
                adv(
                    "PPTEST-2026:0002",
                    "bugfix",
                    &format!("{wide}-2:1.0-2.x86_64")
                ),
            ]
        );
        let installed =
            rpm::parse_query(include_str!("../../tests/fixtures/rpm-qa-debian-rpm4.txt"))
                .expect("real rpm output parses");
        assert_eq!(
            merge(&check_update, &updateinfo, &installed),
            vec![
                update(
                    "patchport-e2e-kernel",
                    "x86_64",
                    Some("6.1-2"),
                    "6.1-3",
                    "patchport-test",
                    true,
                    &["PPTEST-2026:0003"],
                ),
                update(
                    "patchport-e2e-probe",
                    "noarch",
                    Some("1.0-1"),
                    "1.1-1",
                    "patchport-test",
                    true,
                    &["PPTEST-2026:0001"],
                ),
                update(
                    wide,
                    "x86_64",
                    Some("2:1.0-1"),
                    "2:1.0-2",
                    "patchport-test",
                    false,
                    &["PPTEST-2026:0002"],
                ),
            ],
            "the newest of two installed kernels; security from any /Sec. label"
        );
    }

    #[test]
    fn check_update_good_inputs() {
        let cases: &[(&str, &str, Vec<CheckUpdateEntry>)] = &[
            ("empty: no updates", "", vec![]),
            ("only blank lines", "\n\n", vec![]),
            (
                "plain columns",
                "\nbash.x86_64      5.1.8-9.el9_4     baseos\n",
                vec![entry("bash", "x86_64", "5.1.8-9.el9_4", "baseos")],
            ),
            (
                "name with dots",
                "python3.11-libs.x86_64   3.11.7-1.el9   appstream\n",
                vec![entry(
                    "python3.11-libs",
                    "x86_64",
                    "3.11.7-1.el9",
                    "appstream",
                )],
            ),
            (
                "name wrapped",
                "a-very-long-name.noarch\n              1.0-1.el9   epel\nb.x86_64  2-1  baseos\n",
                vec![
                    entry("a-very-long-name", "noarch", "1.0-1.el9", "epel"),
                    entry("b", "x86_64", "2-1", "baseos"),
                ],
            ),
            (
                "name and version wrapped",
                "long.noarch\n     1.0-1.very.long.release\n                     epel\n",
                vec![entry("long", "noarch", "1.0-1.very.long.release", "epel")],
            ),
            (
                "obsoletes section ends the list",
                "a.x86_64 1-1 baseos\nObsoleting Packages\nb.x86_64 2-1 baseos\n    c.x86_64 1-1 @baseos\n",
                vec![entry("a", "x86_64", "1-1", "baseos")],
            ),
            (
                "kernel notes skipped",
                "Security: kernel-core-5.14.0-427.18.1.el9_4.x86_64 is an installed security update\n\
                 Security: kernel-core-5.14.0-427.13.1.el9_4.x86_64 is the currently running version\n\
                 a.x86_64 1-1 baseos\n",
                vec![entry("a", "x86_64", "1-1", "baseos")],
            ),
        ];
        for (name, text, expected) in cases {
            match parse_check_update(text) {
                Ok(got) => assert_eq!(&got, expected, "case {name:?}"),
                Err(err) => panic!("case {name:?}: unexpected error {err}"),
            }
        }
    }

    #[test]
    fn check_update_malformed_inputs_name_the_line() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "name never completed",
                "a.x86_64 1-1 baseos\nlonely.noarch\n",
                "line 2: entry without version or repository",
            ),
            (
                "name followed by another entry",
                "lonely.noarch\nb.x86_64 1-1 baseos\n",
                "line 1: entry without version or repository",
            ),
            (
                "too many words",
                "a.x86_64 1-1 baseos extra\n",
                "line 1: expected NAME.ARCH VERSION REPOSITORY, found more words",
            ),
            (
                "wrap adds too many",
                "a.noarch\n   1-1 baseos extra\n",
                "line 2: expected NAME.ARCH VERSION REPOSITORY",
            ),
            (
                "orphan continuation",
                "\n    1-1 baseos\n",
                "line 2: continuation line without a package",
            ),
            (
                "no arch",
                "bash 5.1-9 baseos\n",
                "line 1: `bash` is not NAME.ARCH",
            ),
            (
                "no release",
                "bash.x86_64 5.1 baseos\n",
                "line 1: `5.1` is not VERSION-RELEASE",
            ),
            (
                "error text on stdout",
                "Error: Failed to download metadata for repo 'baseos'\n",
                "line 1: expected NAME.ARCH VERSION",
            ),
        ];
        for (name, text, expected) in cases {
            match parse_check_update(text) {
                Ok(got) => panic!("case {name:?}: expected an error, got {got:?}"),
                Err(err) => {
                    let message = err.to_string();
                    assert!(
                        message.starts_with(&format!("dnf check-update output, {expected}")),
                        "case {name:?}: got {message:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn updateinfo_lines() {
        let good = "ALSA-2024:1234 Important/Sec. openssl-1:3.0.7-27.el9.x86_64\n\
                    ALSA-2024:1235 Unknown/Sec.   zlib-1.2.11-40.el9.x86_64\n\
                    \n\
                    ALBA-2024:0001 bugfix pkg-1.2-3.el9.noarch\n\
                    FEDORA-2024-0a1b2c3d4e security python3.12-3.12.3-2.fc40.x86_64\n\
                    Security: kernel-core-5.14.0-427.18.1.el9_4.x86_64 is the currently running version\n";
        assert_eq!(
            parse_updateinfo(good).expect("good updateinfo parses"),
            vec![
                (
                    "ALSA-2024:1234".into(),
                    "Important/Sec.".into(),
                    "openssl-1:3.0.7-27.el9.x86_64".into()
                ),
                (
                    "ALSA-2024:1235".into(),
                    "Unknown/Sec.".into(),
                    "zlib-1.2.11-40.el9.x86_64".into()
                ),
                (
                    "ALBA-2024:0001".into(),
                    "bugfix".into(),
                    "pkg-1.2-3.el9.noarch".into()
                ),
                (
                    "FEDORA-2024-0a1b2c3d4e".into(),
                    "security".into(),
                    "python3.12-3.12.3-2.fc40.x86_64".into()
                ),
            ]
        );
        let bad: &[(&str, &str, &str)] = &[
            (
                "two words",
                "ALSA-2024:1234 Important/Sec.",
                "expected ADVISORY TYPE NEVRA, found 2 words",
            ),
            (
                "with cve column",
                "ALSA-2024:1 Low/Sec. CVE-2024-1 a-1-1.noarch",
                "expected ADVISORY TYPE NEVRA, found 4 words",
            ),
            (
                "no arch",
                "ALSA-2024:1 Low/Sec. openssl-3.0.7-27",
                "`openssl-3.0.7-27` is not NAME-[EPOCH:]VERSION-RELEASE.ARCH",
            ),
            (
                "no release",
                "ALSA-2024:1 Low/Sec. openssl.x86_64",
                "`openssl.x86_64` is not NAME-",
            ),
        ];
        for (name, line, expected) in bad {
            let text = format!("ALBA-2024:0001 bugfix pkg-1.2-3.el9.noarch\n{line}\n");
            match parse_updateinfo(&text) {
                Ok(got) => panic!("case {name:?}: expected an error, got {got:?}"),
                Err(err) => {
                    let message = err.to_string();
                    assert!(
                        message.starts_with(&format!("dnf updateinfo output, line 2: {expected}")),
                        "case {name:?}: got {message:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn nevra_splitting() {
        type Parts<'a> = Option<(&'a str, &'a str, &'a str)>;
        let cases: &[(&str, Parts)] = &[
            (
                "openssl-1:3.0.7-27.el9.x86_64",
                Some(("openssl", "1:3.0.7-27.el9", "x86_64")),
            ),
            (
                "python3.11-libs-3.11.7-1.el9.x86_64",
                Some(("python3.11-libs", "3.11.7-1.el9", "x86_64")),
            ),
            (
                "tzdata-2024a-2.el9.noarch",
                Some(("tzdata", "2024a-2.el9", "noarch")),
            ),
            ("openssl-3.0.7.x86_64", None),
            ("-1-2.noarch", None),
        ];
        for (nevra, expected) in cases {
            assert_eq!(parse_nevra(nevra), *expected, "{nevra}");
        }
    }

    #[test]
    fn installed_version_is_the_newest_in_rpm_order() {
        let check_update = vec![entry("kernel", "x86_64", "5.14.0-503.11.1.el9_5", "baseos")];
        let kernels = |versions: &[&str]| -> Vec<InstalledPackage> {
            versions
                .iter()
                .map(|version| InstalledPackage {
                    name: "kernel".into(),
                    version: (*version).into(),
                    arch: "x86_64".into(),
                    source_name: None,
                    source_version: None,
                })
                .collect()
        };
        let cases: &[(&str, &[&str], &str)] = &[
            (
                "newest of several, not the first or last",
                &[
                    "5.14.0-362.24.1.el9_3",
                    "5.14.0-427.13.1.el9_4",
                    "5.14.0-70.13.1.el9_0",
                ],
                "5.14.0-427.13.1.el9_4",
            ),
            (
                "numbers compare as numbers",
                &["5.14.0-99.el9", "5.14.0-100.el9"],
                "5.14.0-100.el9",
            ),
            (
                "the epoch comes first",
                &["1:5.14.0-1.el9", "5.14.0-503.el9"],
                "1:5.14.0-1.el9",
            ),
            ("a pre-release is older", &["1.0-1", "1.0-1~rc1"], "1.0-1"),
            // The agent's old comparison called these equal (rpm's
            // dependency matching), so the answer hung on the list's order;
            // core orders a missing release before any release.
            ("no release is older", &["1.0", "1.0-5"], "1.0-5"),
            (
                "no release is older, other order",
                &["1.0-5", "1.0"],
                "1.0-5",
            ),
            (
                "no release among several releases",
                &["1.0-3", "1.0", "1.0-5", "1.0-4"],
                "1.0-5",
            ),
        ];
        for (name, installed, newest) in cases {
            let merged = merge(&check_update, &[], &kernels(installed));
            assert_eq!(
                merged[0].installed_version.as_deref(),
                Some(*newest),
                "case {name:?}"
            );
        }
        assert_eq!(compare_rpm("1.0", "1.0-5"), Ordering::Less);
        assert_eq!(compare_rpm("1.0-5", "1.0"), Ordering::Greater);
    }

    #[test]
    fn merge_links_advisories_by_package_arch_and_version() {
        let check_update = vec![entry("openssl", "x86_64", "1:3.0.7-27.el9", "baseos")];
        let installed = vec![InstalledPackage {
            name: "openssl".into(),
            version: "1:3.0.7-20.el9".into(),
            arch: "x86_64".into(),
            source_name: None,
            source_version: None,
        }];
        let adv = |id: &str, kind: &str, nevra: &str| {
            (id.to_string(), kind.to_string(), nevra.to_string())
        };
        let cases: &[(&str, Vec<UpdateinfoEntry>, bool, &[&str])] = &[
            ("no advisories", vec![], false, &[]),
            (
                "same version, security",
                vec![adv("A-1", "Critical/Sec.", "openssl-1:3.0.7-27.el9.x86_64")],
                true,
                &["A-1"],
            ),
            (
                "older advisory still fixed by the update",
                vec![adv("A-0", "Low/Sec.", "openssl-1:3.0.7-25.el9.x86_64")],
                true,
                &["A-0"],
            ),
            (
                "security without a severity, as dnf 4 prints it",
                vec![adv("U-1", "Unknown/Sec.", "openssl-1:3.0.7-27.el9.x86_64")],
                true,
                &["U-1"],
            ),
            (
                "typed security without severity",
                vec![adv("F-1", "security", "openssl-1:3.0.7-27.el9.x86_64")],
                true,
                &["F-1"],
            ),
            (
                "bugfix is linked but not security",
                vec![adv("B-1", "bugfix", "openssl-1:3.0.7-27.el9.x86_64")],
                false,
                &["B-1"],
            ),
            (
                "newer than the update: not linked",
                vec![adv(
                    "A-2",
                    "Important/Sec.",
                    "openssl-1:3.0.7-29.el9.x86_64",
                )],
                false,
                &[],
            ),
            (
                "other arch: not linked",
                vec![adv("A-3", "Important/Sec.", "openssl-1:3.0.7-27.el9.i686")],
                false,
                &[],
            ),
            (
                "other package: not linked",
                vec![adv(
                    "A-4",
                    "Important/Sec.",
                    "openssl-libs-1:3.0.7-27.el9.x86_64",
                )],
                false,
                &[],
            ),
            (
                "listed twice: one id",
                vec![
                    adv("A-1", "Critical/Sec.", "openssl-1:3.0.7-27.el9.x86_64"),
                    adv("A-1", "Critical/Sec.", "openssl-1:3.0.7-27.el9.x86_64"),
                ],
                true,
                &["A-1"],
            ),
        ];
        for (name, updateinfo, security, advisories) in cases {
            let merged = merge(&check_update, updateinfo, &installed);
            assert_eq!(
                merged,
                vec![update(
                    "openssl",
                    "x86_64",
                    Some("1:3.0.7-20.el9"),
                    "1:3.0.7-27.el9",
                    "baseos",
                    *security,
                    advisories
                )],
                "case {name:?}"
            );
        }
        assert_eq!(
            merge(&check_update, &[], &[])[0].installed_version,
            None,
            "nothing installed under that name and arch"
        );
    }
}
