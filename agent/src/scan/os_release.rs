//! `/etc/os-release` (see os-release(5)): which distribution and release the
//! server runs.

use std::collections::HashMap;

use patchport_core::protocol::OsInfo;

use super::ScanError;

/// Where os-release(5) says to look, in order: `/etc` may override the
/// vendor's copy in `/usr/lib`.
pub const PATHS: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

const INPUT: &str = "os-release";

/// Parses os-release text.
///
/// The syntax is a restricted shell assignment list: `KEY=value`, values
/// quoted with `"` or `'` when they hold spaces, backslash escapes, `#`
/// comments and blank lines. Anything else (including shell expansions,
/// which the format forbids) is an error naming the line, so a damaged file
/// is noticed instead of reporting a wrong distribution. `ID` and
/// `VERSION_ID` are required because the portal matches updates per
/// distribution release.
pub fn parse(text: &str) -> Result<OsInfo, ScanError> {
    let mut vars: HashMap<&str, String> = HashMap::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(ScanError::parse(INPUT, index, raw, "expected KEY=value"));
        };
        if !is_valid_key(key) {
            return Err(ScanError::parse(
                INPUT,
                index,
                raw,
                format!("`{key}` is not a valid variable name"),
            ));
        }
        let value =
            unquote(value).map_err(|message| ScanError::parse(INPUT, index, raw, message))?;
        // Later assignments win, as when a shell sources the file.
        vars.insert(key, value);
    }

    let required = |key: &'static str| -> Result<String, ScanError> {
        match vars.get(key) {
            Some(value) if !value.is_empty() => Ok(value.clone()),
            _ => Err(ScanError::MissingKey { input: INPUT, key }),
        }
    };
    let optional = |key: &str| vars.get(key).filter(|value| !value.is_empty()).cloned();

    Ok(OsInfo {
        id: required("ID")?,
        id_like: vars
            .get("ID_LIKE")
            .map(|value| value.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        version_id: required("VERSION_ID")?,
        version_codename: optional("VERSION_CODENAME"),
        // os-release(5) gives "Linux" as the default.
        pretty_name: optional("PRETTY_NAME").unwrap_or_else(|| "Linux".to_owned()),
    })
}

fn is_valid_key(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Removes shell quoting from one value, as `sh` would for a plain
/// assignment; refuses what would need a real shell to interpret.
fn unquote(value: &str) -> Result<String, String> {
    #[derive(PartialEq)]
    enum Quote {
        None,
        Double,
        Single,
    }
    let mut out = String::with_capacity(value.len());
    let mut quote = Quote::None;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match quote {
            Quote::None => match c {
                '"' => quote = Quote::Double,
                '\'' => quote = Quote::Single,
                '\\' => match chars.next() {
                    Some(next) => out.push(next),
                    None => return Err("backslash at the end of the line".into()),
                },
                '$' | '`' => {
                    return Err(format!("unescaped '{c}' (shell expansion is not allowed)"));
                }
                c if c.is_whitespace() => {
                    return Err("unquoted whitespace in the value".into());
                }
                c => out.push(c),
            },
            Quote::Double => match c {
                '"' => quote = Quote::None,
                // Inside double quotes a shell keeps the backslash unless it
                // escapes one of these.
                '\\' => match chars.next() {
                    Some(next @ ('$' | '"' | '\\' | '`')) => out.push(next),
                    Some(next) => {
                        out.push('\\');
                        out.push(next);
                    }
                    None => return Err("unterminated double quote".into()),
                },
                '$' | '`' => {
                    return Err(format!("unescaped '{c}' (shell expansion is not allowed)"));
                }
                c => out.push(c),
            },
            Quote::Single => match c {
                '\'' => quote = Quote::None,
                c => out.push(c),
            },
        }
    }
    match quote {
        Quote::None => Ok(out),
        Quote::Double => Err("unterminated double quote".into()),
        Quote::Single => Err("unterminated single quote".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(
        id: &str,
        id_like: &[&str],
        version_id: &str,
        codename: Option<&str>,
        pretty: &str,
    ) -> OsInfo {
        OsInfo {
            id: id.into(),
            id_like: id_like.iter().map(|s| s.to_string()).collect(),
            version_id: version_id.into(),
            version_codename: codename.map(Into::into),
            pretty_name: pretty.into(),
        }
    }

    #[test]
    fn real_debian_12_file_captured_on_this_machine() {
        let text = include_str!("../../tests/fixtures/os-release-debian12.txt");
        assert_eq!(
            parse(text).expect("captured os-release parses"),
            info(
                "debian",
                &[],
                "12",
                Some("bookworm"),
                "Debian GNU/Linux 12 (bookworm)"
            )
        );
    }

    #[test]
    fn good_inputs() {
        let cases: &[(&str, &str, OsInfo)] = &[
            (
                "ubuntu with ID_LIKE",
                "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nID_LIKE=debian\n\
                 PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nVERSION_CODENAME=jammy\n",
                info(
                    "ubuntu",
                    &["debian"],
                    "22.04",
                    Some("jammy"),
                    "Ubuntu 22.04.4 LTS",
                ),
            ),
            (
                "almalinux: ID_LIKE split on whitespace, no codename",
                "NAME=\"AlmaLinux\"\nVERSION=\"9.4 (Seafoam Ocelot)\"\nID=\"almalinux\"\n\
                 ID_LIKE=\"rhel centos  fedora\"\nVERSION_ID=\"9.4\"\nPLATFORM_ID=\"platform:el9\"\n\
                 PRETTY_NAME=\"AlmaLinux 9.4 (Seafoam Ocelot)\"\n",
                info(
                    "almalinux",
                    &["rhel", "centos", "fedora"],
                    "9.4",
                    None,
                    "AlmaLinux 9.4 (Seafoam Ocelot)",
                ),
            ),
            (
                "comments, blank lines, indentation, trailing spaces, CRLF",
                "# written by hand\r\n\r\n   ID=debian   \r\n# VERSION_ID=11\nVERSION_ID=12\n",
                info("debian", &[], "12", None, "Linux"),
            ),
            (
                "single quotes keep backslashes and double quotes",
                "ID=x\nVERSION_ID=1\nPRETTY_NAME='A \"quoted\" \\ name'\n",
                info("x", &[], "1", None, "A \"quoted\" \\ name"),
            ),
            (
                "escapes in double quotes and bare values",
                "ID=x\nVERSION_ID=1\nPRETTY_NAME=\"costs \\$5, says \\\"hi\\\" \\\\ \\n\"\nVERSION_CODENAME=a\\ b\n",
                info("x", &[], "1", Some("a b"), "costs $5, says \"hi\" \\ \\n"),
            ),
            (
                "later assignment wins; empty codename is none",
                "ID=old\nID=new\nVERSION_ID=1\nVERSION_CODENAME=\n",
                info("new", &[], "1", None, "Linux"),
            ),
            (
                "adjacent quoted parts join, as in a shell",
                "ID=x\nVERSION_ID='1'\".\"2\n",
                info("x", &[], "1.2", None, "Linux"),
            ),
        ];
        for (name, text, expected) in cases {
            match parse(text) {
                Ok(got) => assert_eq!(&got, expected, "case {name:?}"),
                Err(err) => panic!("case {name:?}: unexpected error {err}"),
            }
        }
    }

    #[test]
    fn malformed_inputs_name_the_problem() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "missing ID",
                "VERSION_ID=12\n",
                "os-release: required key ID is missing",
            ),
            (
                "empty ID",
                "ID=\"\"\nVERSION_ID=12\n",
                "os-release: required key ID is missing",
            ),
            (
                "missing VERSION_ID (e.g. Debian sid)",
                "ID=debian\nPRETTY_NAME=\"Debian GNU/Linux trixie/sid\"\n",
                "os-release: required key VERSION_ID is missing",
            ),
            (
                "no equals sign",
                "ID=debian\nVERSION_ID 12\n",
                "os-release, line 2: expected KEY=value: `VERSION_ID 12`",
            ),
            (
                "bad key",
                "ID=debian\nVERSION-ID=12\n",
                "os-release, line 2: `VERSION-ID` is not a valid variable name",
            ),
            (
                "space before =",
                "ID =debian\n",
                "os-release, line 1: `ID ` is not a valid variable name",
            ),
            (
                "unterminated double",
                "ID=\"debian\nVERSION_ID=12\n",
                "os-release, line 1: unterminated double quote",
            ),
            (
                "unterminated single",
                "ID=debian\nVERSION_ID='12\n",
                "os-release, line 2: unterminated single quote",
            ),
            (
                "unquoted space",
                "ID=debian\nPRETTY_NAME=Debian 12\n",
                "os-release, line 2: unquoted whitespace in the value",
            ),
            (
                "expansion",
                "ID=$DISTRO\n",
                "os-release, line 1: unescaped '$' (shell expansion is not allowed)",
            ),
            (
                "command substitution",
                "ID=\"`uname`\"\n",
                "os-release, line 1: unescaped '`' (shell expansion is not allowed)",
            ),
            (
                "trailing backslash",
                "ID=debian\\\n",
                "os-release, line 1: backslash at the end of the line",
            ),
        ];
        for (name, text, expected) in cases {
            match parse(text) {
                Ok(got) => panic!("case {name:?}: expected an error, got {got:?}"),
                Err(err) => {
                    let message = err.to_string();
                    assert!(
                        message.starts_with(expected),
                        "case {name:?}: got {message:?}, expected it to start with {expected:?}"
                    );
                }
            }
        }
    }
}
