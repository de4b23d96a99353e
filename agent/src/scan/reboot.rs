//! Whether the server needs a reboot to run what is installed.

use std::fs;
use std::io;
use std::path::Path;

use super::ScanError;

/// Flag file that Debian and Ubuntu package scripts create when an update
/// needs a reboot (kernel, libc, …); it lives on tmpfs, so a reboot clears it.
pub const REBOOT_REQUIRED: &str = "/run/reboot-required";

/// Packages that asked for the reboot, one per line, beside
/// [`REBOOT_REQUIRED`].
pub const REBOOT_REQUIRED_PKGS: &str = "/run/reboot-required.pkgs";

/// Arguments to `needs-restarting` (dnf-utils) or `dnf needs-restarting`
/// (dnf-plugins-core) that ask only whether a reboot is needed.
pub const NEEDS_RESTARTING_ARGS: [&str; 1] = ["-r"];

/// Exit codes of `needs-restarting -r` that are answers, not failures.
pub const NEEDS_RESTARTING_OK_CODES: [i32; 2] = [0, 1];

/// Reads the Debian-style reboot flag `flag` and its package list `pkgs`.
///
/// A missing flag means no reboot is needed, and then the package list is
/// not read: a list without its flag is a leftover, and the flag is what
/// Debian's and Ubuntu's own tools (motd, unattended-upgrades) test. A
/// missing package list with a flag present is normal (not every script
/// writes one). Any other read error is reported.
pub fn read_reboot_required(flag: &Path, pkgs: &Path) -> Result<(bool, Vec<String>), ScanError> {
    match fs::symlink_metadata(flag) {
        Ok(_) => {}
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok((false, Vec::new())),
        Err(source) => {
            return Err(ScanError::Read {
                path: flag.to_owned(),
                source,
            });
        }
    }
    let packages = match fs::read_to_string(pkgs) {
        Ok(text) => text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(str::to_owned)
            .collect(),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(source) => {
            return Err(ScanError::Read {
                path: pkgs.to_owned(),
                source,
            });
        }
    };
    Ok((true, packages))
}

/// Interprets `needs-restarting -r`: exit code 0 means no reboot is needed,
/// 1 that one is.
///
/// Exit code 1 is also what dnf returns for any error (an unknown command
/// when the plugin is missing, say), so 1 counts as "reboot needed" only
/// together with the tool's own verdict line on stdout; the locale is C, so
/// the line is in English. The packages that need it are the `  * NAME`
/// lines it lists before the verdict.
pub fn interpret_needs_restarting(
    exit_code: i32,
    stdout: &str,
) -> Result<(bool, Vec<String>), ScanError> {
    match exit_code {
        0 => Ok((false, Vec::new())),
        1 if stdout
            .lines()
            .any(|line| line.trim() == "Reboot is required to fully utilize these updates.") =>
        {
            let packages = stdout
                .lines()
                .filter_map(|line| line.trim_start().strip_prefix("* "))
                .map(|name| name.trim().to_owned())
                .filter(|name| !name.is_empty())
                .collect();
            Ok((true, packages))
        }
        _ => Err(ScanError::Inconsistent {
            input: "needs-restarting -r",
            message: format!(
                "exit code {exit_code} without the expected verdict on stdout: {}",
                super::tail(stdout)
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reboot_required_files() {
        // (name, flag content, pkgs content, expected)
        type Expected<'a> = (bool, &'a [&'a str]);
        let cases: &[(&str, Option<&str>, Option<&str>, Expected)] = &[
            ("neither file", None, None, (false, &[])),
            (
                "leftover package list without flag",
                None,
                Some("linux-image-6.1.0-18-amd64\n"),
                (false, &[]),
            ),
            (
                "flag only",
                Some("*** System restart required ***\n"),
                None,
                (true, &[]),
            ),
            ("empty flag", Some(""), None, (true, &[])),
            (
                "flag and packages, blank lines and spaces ignored",
                Some("*** System restart required ***\n"),
                Some("linux-image-6.1.0-18-amd64\n\n  libc6  \nlinux-image-6.1.0-18-amd64\n"),
                (
                    true,
                    &[
                        "linux-image-6.1.0-18-amd64",
                        "libc6",
                        "linux-image-6.1.0-18-amd64",
                    ],
                ),
            ),
        ];
        for (name, flag, pkgs, (expected_required, expected_packages)) in cases {
            let dir = tempfile::tempdir().expect("temp dir");
            let flag_path = dir.path().join("reboot-required");
            let pkgs_path = dir.path().join("reboot-required.pkgs");
            if let Some(content) = flag {
                fs::write(&flag_path, content).expect("write flag");
            }
            if let Some(content) = pkgs {
                fs::write(&pkgs_path, content).expect("write pkgs");
            }
            let (required, packages) = read_reboot_required(&flag_path, &pkgs_path)
                .unwrap_or_else(|err| panic!("case {name:?}: unexpected error {err}"));
            assert_eq!(required, *expected_required, "case {name:?}: required");
            assert_eq!(packages, *expected_packages, "case {name:?}: packages");
        }
    }

    #[test]
    fn unreadable_package_list_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let flag = dir.path().join("reboot-required");
        fs::write(&flag, "").expect("write flag");
        // A directory where the list should be: reading it fails, and not
        // with NotFound.
        let pkgs = dir.path().join("reboot-required.pkgs");
        fs::create_dir(&pkgs).expect("create dir");
        let err =
            read_reboot_required(&flag, &pkgs).expect_err("a directory is not a package list");
        assert!(
            err.to_string()
                .starts_with(&format!("cannot read {}", pkgs.display())),
            "{err}"
        );
    }

    #[test]
    fn needs_restarting_verdicts() {
        let needed = "Core libraries or services have been updated since boot-up:\n  * kernel\n  * glibc\n\n\
                      Reboot is required to fully utilize these updates.\n\
                      More information: https://access.redhat.com/solutions/27943\n";
        let not_needed = "No core libraries or services have been updated since boot-up.\nReboot should not be necessary.\n";
        type Expected<'a> = Result<(bool, &'a [&'a str]), &'a str>;
        let cases: &[(&str, i32, &str, Expected)] = &[
            ("no reboot", 0, not_needed, Ok((false, &[]))),
            (
                "reboot with packages",
                1,
                needed,
                Ok((true, &["kernel", "glibc"])),
            ),
            (
                "exit 1 without verdict: dnf error, not a reboot",
                1,
                "",
                Err("needs-restarting -r: exit code 1 without the expected verdict on stdout"),
            ),
            (
                "other exit code",
                2,
                needed,
                Err("needs-restarting -r: exit code 2 without the expected verdict"),
            ),
        ];
        for (name, code, stdout, expected) in cases {
            match (interpret_needs_restarting(*code, stdout), expected) {
                (Ok((required, packages)), Ok((want_required, want_packages))) => {
                    assert_eq!(required, *want_required, "case {name:?}");
                    assert_eq!(packages, *want_packages, "case {name:?}");
                }
                (Err(err), Err(prefix)) => {
                    assert!(
                        err.to_string().starts_with(prefix),
                        "case {name:?}: got {err}"
                    );
                }
                (got, _) => panic!("case {name:?}: got {got:?}, expected {expected:?}"),
            }
        }
    }
}
