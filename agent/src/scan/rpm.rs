//! Installed packages on rpm systems, from `rpm -qa`. rpm's version
//! ordering is [`patchport_core::version::compare_rpm`], shared with the
//! portal.

use patchport_core::protocol::InstalledPackage;

use super::ScanError;
use crate::config::InstallRoot;

/// `rpm --queryformat` string: one tab-separated line per package.
/// `EPOCHNUM` (unlike `EPOCH`) prints 0 rather than `(none)` when a package
/// has no epoch, so every line has the same shape.
pub const QUERY_FORMAT: &str =
    "%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t%{ARCH}\t%{SOURCERPM}\n";

/// Arguments to `rpm` that print [`QUERY_FORMAT`] for every installed
/// package.
pub const QUERY_ARGS: [&str; 3] = ["-qa", "--queryformat", QUERY_FORMAT];

/// [`QUERY_ARGS`] for the rpm database under `root` (`rpm --root`), or
/// under `/` when there is none.
pub fn query_args(root: Option<&InstallRoot>) -> Vec<&str> {
    let mut args = Vec::with_capacity(QUERY_ARGS.len() + 2);
    if let Some(root) = root {
        args.extend(["--root", root.as_str()]);
    }
    args.extend(QUERY_ARGS);
    args
}

const INPUT: &str = "rpm -qa output";

/// Parses `rpm -qa --queryformat` [`QUERY_FORMAT`] output.
///
/// Versions are written as dnf writes them (`[EPOCH:]VERSION-RELEASE`, the
/// epoch only when not 0) so that they compare equal to the versions in
/// `dnf check-update`. The source package comes from the source rpm's file
/// name (`openssl-3.0.7-27.el9.src.rpm`: `openssl`, `3.0.7-27.el9`).
///
/// `gpg-pubkey` entries are skipped: rpm stores each imported signing key as
/// a pseudo-package of that name, with no architecture and no files; it is
/// not software and has no updates.
pub fn parse_query(text: &str) -> Result<Vec<InstalledPackage>, ScanError> {
    let mut packages = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let error = |message: String| ScanError::parse(INPUT, index, line, message);
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, evr, arch, source_rpm] = fields[..] else {
            return Err(error(format!(
                "expected 4 tab-separated fields, found {}",
                fields.len()
            )));
        };
        if name == "gpg-pubkey" {
            continue;
        }
        if name.is_empty() || arch.is_empty() || arch == "(none)" {
            return Err(error("empty package name or architecture".into()));
        }
        let version = normalise_evr(evr).map_err(error)?;
        let (source_name, source_version) = if source_rpm == "(none)" {
            // Packages built without a source rpm (rare, third-party).
            (None, None)
        } else {
            let (name, version) = parse_source_rpm(source_rpm).map_err(error)?;
            (Some(name), Some(version))
        };
        packages.push(InstalledPackage {
            name: name.to_owned(),
            version,
            arch: arch.to_owned(),
            source_name,
            source_version,
        });
    }
    Ok(packages)
}

/// `EPOCH:VERSION-RELEASE` with the epoch dropped when it is 0.
fn normalise_evr(evr: &str) -> Result<String, String> {
    let (epoch, version_release) = evr
        .split_once(':')
        .ok_or_else(|| format!("version `{evr}` lacks the epoch"))?;
    if epoch.is_empty() || !epoch.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("epoch `{epoch}` is not a number"));
    }
    match version_release.rsplit_once('-') {
        Some((version, release)) if !version.is_empty() && !release.is_empty() => {}
        _ => {
            return Err(format!(
                "version `{version_release}` is not VERSION-RELEASE"
            ));
        }
    }
    if epoch.bytes().all(|b| b == b'0') {
        Ok(version_release.to_owned())
    } else {
        Ok(evr.to_owned())
    }
}

/// Splits `NAME-VERSION-RELEASE.src.rpm` (or `.nosrc.rpm`) into the name
/// and `VERSION-RELEASE`. Names may hold dashes; version and release may not,
/// so the last two dashes are the separators.
fn parse_source_rpm(file: &str) -> Result<(String, String), String> {
    let stem = file
        .strip_suffix(".src.rpm")
        .or_else(|| file.strip_suffix(".nosrc.rpm"))
        .ok_or_else(|| format!("source rpm `{file}` does not end in .src.rpm"))?;
    let mut parts = stem.rsplitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(release), Some(version), Some(name))
            if !release.is_empty() && !version.is_empty() && !name.is_empty() =>
        {
            Ok((name.to_owned(), format!("{version}-{release}")))
        }
        _ => Err(format!(
            "source rpm `{file}` is not NAME-VERSION-RELEASE.src.rpm"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkg(
        name: &str,
        version: &str,
        arch: &str,
        source: Option<(&str, &str)>,
    ) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
            source_name: source.map(|(name, _)| name.into()),
            source_version: source.map(|(_, version)| version.into()),
        }
    }

    #[test]
    fn real_capture_from_debian_rpm() {
        // Captured from Debian 12's rpm 4.18 on the separate root of
        // tests/install_rpm.rs (see tests/fixtures/README.md), in the
        // order rpm lists them.
        let packages = parse_query(include_str!("../../tests/fixtures/rpm-qa-debian-rpm4.txt"))
            .expect("real rpm output parses");
        let wide = "patchport-e2e-probe-with-a-name-wider-than-its-column";
        let own = |name: &str, version: &str, arch: &str, source_version: &str| {
            pkg(name, version, arch, Some((name, source_version)))
        };
        assert_eq!(
            packages,
            vec![
                // A source rpm's file name has no epoch: the binary has it.
                own(wide, "2:1.0-1", "x86_64", "1.0-1"),
                own("patchport-e2e-probe", "1.0-1", "noarch", "1.0-1"),
                own("patchport-e2e-old", "1.0-1", "noarch", "1.0-1"),
                own("patchport-e2e-kernel", "6.1-1", "x86_64", "6.1-1"),
                own("patchport-e2e-kernel", "6.1-2", "x86_64", "6.1-2"),
            ]
        );
    }

    #[test]
    fn handwritten_fixture_in_the_documented_format() {
        // Written by hand in the format QUERY_FORMAT produces, for what the
        // real capture above cannot show: an AlmaLinux 9 server with
        // imported signing keys (gpg-pubkey), source rpms named unlike
        // their binaries, and two architectures of one package.
        let text = include_str!("../../tests/fixtures/rpm-qa-handwritten.txt");
        let packages = parse_query(text).expect("fixture parses");
        assert_eq!(
            packages.len(),
            text.lines().count() - 2,
            "all but the two gpg-pubkey lines"
        );
        assert!(packages.iter().all(|p| p.name != "gpg-pubkey"));
        let find = |name: &str, version: &str| {
            packages
                .iter()
                .find(|p| p.name == name && p.version == version)
                .unwrap_or_else(|| panic!("{name} {version} in fixture"))
        };
        assert_eq!(
            find("openssl-libs", "1:3.0.7-27.el9"),
            &pkg(
                "openssl-libs",
                "1:3.0.7-27.el9",
                "x86_64",
                Some(("openssl", "3.0.7-27.el9"))
            )
        );
        assert_eq!(
            find("tzdata", "2024a-1.el9"),
            &pkg(
                "tzdata",
                "2024a-1.el9",
                "noarch",
                Some(("tzdata", "2024a-1.el9"))
            )
        );
        find("kernel", "5.14.0-427.13.1.el9_4");
        find("kernel", "5.14.0-362.24.1.el9_3");
    }

    #[test]
    fn good_lines() {
        let cases: &[(&str, &str, Option<InstalledPackage>)] = &[
            (
                "zero epoch dropped",
                "bash\t0:5.1.8-9.el9\tx86_64\tbash-5.1.8-9.el9.src.rpm",
                Some(pkg(
                    "bash",
                    "5.1.8-9.el9",
                    "x86_64",
                    Some(("bash", "5.1.8-9.el9")),
                )),
            ),
            (
                "epoch kept; source differs",
                "openssl-libs\t1:3.0.7-27.el9\tx86_64\topenssl-3.0.7-27.el9.src.rpm",
                Some(pkg(
                    "openssl-libs",
                    "1:3.0.7-27.el9",
                    "x86_64",
                    Some(("openssl", "3.0.7-27.el9")),
                )),
            ),
            (
                "dashes in the source name",
                "python3-dnf-plugins-core\t0:4.3.0-13.el9\tnoarch\tdnf-plugins-core-4.3.0-13.el9.src.rpm",
                Some(pkg(
                    "python3-dnf-plugins-core",
                    "4.3.0-13.el9",
                    "noarch",
                    Some(("dnf-plugins-core", "4.3.0-13.el9")),
                )),
            ),
            (
                "nosrc rpm",
                "foo\t0:1-2\tx86_64\tfoo-1-2.nosrc.rpm",
                Some(pkg("foo", "1-2", "x86_64", Some(("foo", "1-2")))),
            ),
            (
                "no source rpm",
                "foo\t0:1-2\tx86_64\t(none)",
                Some(pkg("foo", "1-2", "x86_64", None)),
            ),
            (
                "signing key",
                "gpg-pubkey\t0:fd431d51-4ae0493b\t(none)\t(none)",
                None,
            ),
        ];
        for (name, text, expected) in cases {
            match parse_query(text) {
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
    fn malformed_lines_are_errors_naming_the_line() {
        let good = "bash\t0:5.1.8-9.el9\tx86_64\tbash-5.1.8-9.el9.src.rpm\n";
        let cases: &[(&str, &str, &str)] = &[
            (
                "too few fields",
                "bash\t0:5.1.8-9.el9\tx86_64",
                "expected 4 tab-separated fields, found 3",
            ),
            (
                "space-separated",
                "bash 0:5.1.8-9.el9 x86_64 bash.src.rpm",
                "expected 4 tab-separated fields, found 1",
            ),
            (
                "no epoch",
                "bash\t5.1.8-9.el9\tx86_64\tbash-5.1.8-9.el9.src.rpm",
                "version `5.1.8-9.el9` lacks the epoch",
            ),
            (
                "epoch none",
                "bash\t(none):5.1.8-9.el9\tx86_64\tbash-5.1.8-9.el9.src.rpm",
                "epoch `(none)` is not a number",
            ),
            (
                "no release",
                "bash\t0:5.1.8\tx86_64\tbash-5.1.8-9.el9.src.rpm",
                "version `5.1.8` is not VERSION-RELEASE",
            ),
            (
                "no arch",
                "bash\t0:5.1.8-9.el9\t(none)\tbash-5.1.8-9.el9.src.rpm",
                "empty package name or architecture",
            ),
            (
                "bad source rpm",
                "bash\t0:5.1.8-9.el9\tx86_64\tbash.tar.gz",
                "source rpm `bash.tar.gz` does not end in .src.rpm",
            ),
            (
                "short source rpm",
                "bash\t0:5.1.8-9.el9\tx86_64\tbash-5.1.src.rpm",
                "source rpm `bash-5.1.src.rpm` is not NAME-VERSION-RELEASE",
            ),
        ];
        for (name, bad, expected) in cases {
            let text = format!("{good}{bad}\n{good}");
            match parse_query(&text) {
                Ok(got) => panic!("case {name:?}: expected an error, got {got:?}"),
                Err(err) => {
                    let message = err.to_string();
                    assert!(
                        message.starts_with(&format!("rpm -qa output, line 2: {expected}")),
                        "case {name:?}: got {message:?}"
                    );
                }
            }
        }
    }
}
