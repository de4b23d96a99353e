//! Installed packages on dpkg systems, from `dpkg-query`.

use patchport_core::protocol::InstalledPackage;

use super::ScanError;

/// `dpkg-query --showformat` string: one tab-separated line per package.
/// Tabs cannot occur in any of these fields, so splitting on them is exact.
pub const QUERY_FORMAT: &str = "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\t${source:Package}\t${source:Version}\n";

/// Arguments to `dpkg-query` that print [`QUERY_FORMAT`] for every package
/// dpkg knows.
pub const QUERY_ARGS: [&str; 3] = ["-W", "-f", QUERY_FORMAT];

const INPUT: &str = "dpkg-query output";
const FIELDS: usize = 6;

/// Parses `dpkg-query -W -f` [`QUERY_FORMAT`] output into the installed
/// packages.
///
/// A line that does not have six fields, or an installed package without a
/// name, version or architecture, is an error naming the line.
pub fn parse_query(text: &str) -> Result<Vec<InstalledPackage>, ScanError> {
    let mut packages = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        let [status, name, version, arch, source_name, source_version] = fields[..] else {
            return Err(ScanError::parse(
                INPUT,
                index,
                line,
                format!(
                    "expected {FIELDS} tab-separated fields, found {}",
                    fields.len()
                ),
            ));
        };
        let installed = is_installed(status)
            .map_err(|message| ScanError::parse(INPUT, index, line, message))?;
        if !installed {
            continue;
        }
        for (field, value) in [
            ("package name", name),
            ("version", version),
            ("architecture", arch),
        ] {
            if value.is_empty() {
                return Err(ScanError::parse(
                    INPUT,
                    index,
                    line,
                    format!("empty {field}"),
                ));
            }
        }
        let non_empty = |value: &str| (!value.is_empty()).then(|| value.to_owned());
        packages.push(InstalledPackage {
            name: name.to_owned(),
            version: version.to_owned(),
            arch: arch.to_owned(),
            source_name: non_empty(source_name),
            source_version: non_empty(source_version),
        });
    }
    Ok(packages)
}

/// Reads a `${db:Status-Abbrev}` value (three characters: wanted action,
/// current state, error flag) and says whether the package is installed.
///
/// Only the current state counts. The wanted action is a wish: a held
/// (`hi`) package or one selected for removal (`ri`, `pi`) is still on disk
/// and still needs its updates. Installed means configured (`i`), possibly
/// with only triggers outstanding (`t`, `W`): those packages are complete at
/// their version, a trigger (a man-db index, say) just has not run yet.
/// Skipped on purpose: `n` and `c` (`rc`: removed, only configuration files
/// left) have no code on disk to patch, and `U`, `F`, `H` are packages in the
/// middle of a dpkg run, or left broken by one, whose version on disk is not
/// reliably the one dpkg records; `dpkg --audit` is the tool for those.
fn is_installed(status: &str) -> Result<bool, String> {
    let mut chars = status.chars();
    let (Some(want), Some(state), Some(error), None) =
        (chars.next(), chars.next(), chars.next(), chars.next())
    else {
        return Err(format!("status `{status}` is not three characters"));
    };
    if !matches!(want, 'u' | 'i' | 'h' | 'r' | 'p') {
        return Err(format!(
            "unknown wanted action `{want}` in status `{status}`"
        ));
    }
    if !matches!(error, ' ' | 'R') {
        return Err(format!("unknown error flag `{error}` in status `{status}`"));
    }
    match state {
        'i' | 't' | 'W' => Ok(true),
        'n' | 'c' | 'U' | 'F' | 'H' => Ok(false),
        _ => Err(format!(
            "unknown package state `{state}` in status `{status}`"
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
        source: Option<&str>,
        source_version: Option<&str>,
    ) -> InstalledPackage {
        InstalledPackage {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
            source_name: source.map(Into::into),
            source_version: source_version.map(Into::into),
        }
    }

    #[test]
    fn real_output_captured_on_debian_12() {
        let text = include_str!("../../tests/fixtures/dpkg-query-bookworm.txt");
        let packages = parse_query(text).expect("captured dpkg-query output parses");
        assert_eq!(
            packages.len(),
            text.lines().count(),
            "every package on that machine was `ii`"
        );
        let dpkg = packages
            .iter()
            .find(|p| p.name == "dpkg")
            .expect("dpkg lists itself");
        assert_eq!(dpkg.arch, "amd64");
        assert_eq!(dpkg.source_name.as_deref(), Some("dpkg"));
        let amqp = packages
            .iter()
            .find(|p| p.name == "amqp-tools")
            .expect("amqp-tools is in the fixture");
        assert_eq!(
            amqp,
            &pkg(
                "amqp-tools",
                "0.11.0-1+deb12u3",
                "amd64",
                Some("librabbitmq"),
                Some("0.11.0-1+deb12u3")
            ),
            "source package differs from the binary one"
        );
    }

    #[test]
    fn good_lines() {
        let cases: &[(&str, &str, Option<InstalledPackage>)] = &[
            (
                "installed",
                "ii \tbash\t5.2.15-2+b8\tamd64\tbash\t5.2.15-2\n",
                Some(pkg(
                    "bash",
                    "5.2.15-2+b8",
                    "amd64",
                    Some("bash"),
                    Some("5.2.15-2"),
                )),
            ),
            (
                "epoch and arch all",
                "ii \tlogin\t1:4.13+dfsg1-1+deb12u1\tall\tshadow\t1:4.13+dfsg1-1+deb12u1\n",
                Some(pkg(
                    "login",
                    "1:4.13+dfsg1-1+deb12u1",
                    "all",
                    Some("shadow"),
                    Some("1:4.13+dfsg1-1+deb12u1"),
                )),
            ),
            (
                "held package is installed",
                "hi \tzip\t3.0-13\tamd64\tzip\t3.0-13\n",
                Some(pkg("zip", "3.0-13", "amd64", Some("zip"), Some("3.0-13"))),
            ),
            (
                "selected for removal but still installed",
                "ri \tzip\t3.0-13\tamd64\tzip\t3.0-13\n",
                Some(pkg("zip", "3.0-13", "amd64", Some("zip"), Some("3.0-13"))),
            ),
            (
                "triggers pending",
                "it \tman-db\t2.11.2-2\tamd64\tman-db\t2.11.2-2\n",
                Some(pkg(
                    "man-db",
                    "2.11.2-2",
                    "amd64",
                    Some("man-db"),
                    Some("2.11.2-2"),
                )),
            ),
            (
                "reinstallation required is still installed",
                "iiR\tfoo\t1.0\tamd64\tfoo\t1.0\n",
                Some(pkg("foo", "1.0", "amd64", Some("foo"), Some("1.0"))),
            ),
            (
                "empty source fields become none",
                "ii \tlocal-tool\t1.0\tamd64\t\t\n",
                Some(pkg("local-tool", "1.0", "amd64", None, None)),
            ),
            (
                "removed, config files left",
                "rc \told-thing\t1.0-1\tamd64\told-thing\t1.0-1\n",
                None,
            ),
            (
                "unknown, not installed, no version",
                "un \tghost\t\t\t\t\n",
                None,
            ),
            (
                "half-configured",
                "iF \tbroken\t2.0-1\tamd64\tbroken\t2.0-1\n",
                None,
            ),
            (
                "unpacked",
                "iU \tmidway\t2.0-1\tamd64\tmidway\t2.0-1\n",
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
        let good = "ii \tbash\t5.2.15-2+b8\tamd64\tbash\t5.2.15-2\n";
        let cases: &[(&str, &str, &str)] = &[
            (
                "too few fields",
                "ii \tbash\t5.2\tamd64\n",
                "line 2: expected 6 tab-separated fields, found 4",
            ),
            (
                "too many fields",
                "ii \tbash\t5.2\tamd64\tbash\t5.2\textra\n",
                "line 2: expected 6 tab-separated fields, found 7",
            ),
            (
                "space-separated",
                "ii  bash 5.2 amd64 bash 5.2\n",
                "line 2: expected 6 tab-separated fields, found 1",
            ),
            (
                "short status",
                "i\tbash\t5.2\tamd64\tbash\t5.2\n",
                "line 2: status `i` is not three characters",
            ),
            (
                "unknown state",
                "iX \tbash\t5.2\tamd64\tbash\t5.2\n",
                "line 2: unknown package state `X`",
            ),
            (
                "unknown wanted",
                "xi \tbash\t5.2\tamd64\tbash\t5.2\n",
                "line 2: unknown wanted action `x`",
            ),
            (
                "unknown error flag",
                "iiZ\tbash\t5.2\tamd64\tbash\t5.2\n",
                "line 2: unknown error flag `Z`",
            ),
            (
                "installed without version",
                "ii \tbash\t\tamd64\tbash\t\n",
                "line 2: empty version",
            ),
            (
                "installed without arch",
                "ii \tbash\t5.2\t\tbash\t5.2\n",
                "line 2: empty architecture",
            ),
            (
                "installed without name",
                "ii \t\t5.2\tamd64\t\t\n",
                "line 2: empty package name",
            ),
            (
                "blank line",
                "\n",
                "line 2: expected 6 tab-separated fields, found 1",
            ),
        ];
        for (name, bad, expected) in cases {
            let text = format!("{good}{bad}{good}");
            match parse_query(&text) {
                Ok(got) => panic!("case {name:?}: expected an error, got {got:?}"),
                Err(err) => {
                    let message = err.to_string();
                    assert!(
                        message.starts_with(&format!("dpkg-query output, {expected}")),
                        "case {name:?}: got {message:?}, expected it to start with {expected:?}"
                    );
                }
            }
        }
    }
}
