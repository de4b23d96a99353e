//! Running the tools for real and assembling the report.

use std::collections::HashMap;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use patchport_core::protocol::{AvailableUpdate, InstalledPackage, OsInfo, PackageFormat, Report};

use super::{ScanError, apt, dnf, dpkg, os_release, reboot, rpm, tail};
use crate::config::{InstallRoot, PackageManager, PackageSettings};

/// Where tools are looked up, and the `PATH` they run with. Fixed rather
/// than inherited: the agent runs as root, and a `PATH` set by whatever
/// started it must not decide which binary runs with root's rights.
pub const SEARCH_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The only variables passed on from the agent's environment: proxies, which
/// dnf needs when it refreshes expired metadata behind one. Everything else
/// is cleared so that no stray variable (`APT_CONFIG`, a locale) changes what
/// the tools print.
const PASSED_ENV: [&str; 6] = [
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
];

/// How long one tool may run. Generous, because dnf may first download
/// expired repository metadata over a slow link; but bounded, so that a hung
/// tool cannot stall the agent for good.
const TIMEOUT: Duration = Duration::from_secs(15 * 60);

const HOSTNAME: &str = "/proc/sys/kernel/hostname";
const KERNEL_RELEASE: &str = "/proc/sys/kernel/osrelease";
const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";

/// Collects the report for this machine: runs the package tools (which
/// must be installed in [`SEARCH_PATH`]), reads `/proc` and the os-release
/// and reboot files, and returns the normalised report.
///
/// The package format is dpkg when `dpkg-query` is present, else rpm when
/// `rpm` is: a Debian machine may carry `rpm` for building packages, the
/// reverse does not happen.
pub fn collect() -> Result<Report, ScanError> {
    collect_with(&PackageSettings::default())
}

/// [`collect`] with the package manager and install root of `settings`.
///
/// Only the packages come from the install root: the host name, kernel,
/// boot id and operating system are the running machine's. A root is not
/// the running system, so nothing in it waits for a reboot.
pub fn collect_with(settings: &PackageSettings) -> Result<Report, ScanError> {
    let os = read_os_release()?;
    let hostname = read_proc_value(HOSTNAME)?;
    let kernel = read_proc_value(KERNEL_RELEASE)?;
    let boot_id = read_proc_value(BOOT_ID)?;
    let state = match settings.manager() {
        Some(PackageManager::Apt) => collect_deb()?,
        Some(PackageManager::Dnf) => collect_rpm(settings.root())?,
        None if find_program("dpkg-query").is_some() => collect_deb()?,
        None if find_program("rpm").is_some() => collect_rpm(None)?,
        None => {
            return Err(ScanError::UnsupportedSystem {
                search_path: SEARCH_PATH.to_owned(),
            });
        }
    };
    let mut report = Report {
        hostname,
        os,
        kernel,
        arch: state.arch,
        boot_id,
        package_format: state.format,
        packages: state.packages,
        updates: state.updates,
        reboot_required: state.reboot_required,
        reboot_required_packages: state.reboot_required_packages,
        agent_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    report.normalise();
    Ok(report)
}

/// What the package manager tells.
struct PackageState {
    format: PackageFormat,
    arch: String,
    packages: Vec<InstalledPackage>,
    updates: Vec<AvailableUpdate>,
    reboot_required: bool,
    reboot_required_packages: Vec<String>,
}

fn collect_deb() -> Result<PackageState, ScanError> {
    let arch = single_word(
        run("dpkg", &["--print-architecture"], &[0])?,
        "dpkg --print-architecture",
    )?;
    let packages = dpkg::parse_query(&run("dpkg-query", &dpkg::QUERY_ARGS, &[0])?.stdout)?;
    if packages.is_empty() {
        // dpkg and its own dependencies are always installed: an empty list
        // means the query went wrong, not that the machine is empty.
        return Err(ScanError::Inconsistent {
            input: "dpkg-query output",
            message: "no installed packages listed".into(),
        });
    }
    let mut updates = apt::parse_simulation(&run("apt-get", &apt::SIMULATE_ARGS, &[0])?.stdout)?;
    add_apt_sources(&mut updates)?;
    let (reboot_required, reboot_required_packages) = reboot::read_reboot_required(
        Path::new(reboot::REBOOT_REQUIRED),
        Path::new(reboot::REBOOT_REQUIRED_PKGS),
    )?;
    Ok(PackageState {
        format: PackageFormat::Deb,
        arch,
        packages,
        updates,
        reboot_required,
        reboot_required_packages,
    })
}

/// Fills in the source package of each update's offered version, with one
/// `apt-cache show` run per [`apt::SHOW_CHUNK`] updates. Updates apt-cache
/// prints nothing for keep no source (see [`apt::add_sources`]).
fn add_apt_sources(updates: &mut [AvailableUpdate]) -> Result<(), ScanError> {
    let wanted = apt::show_args(updates);
    let mut sources = HashMap::new();
    for chunk in wanted.chunks(apt::SHOW_CHUNK) {
        let args: Vec<&str> = apt::SHOW_ARGS
            .into_iter()
            .chain(chunk.iter().map(String::as_str))
            .collect();
        let shown = match run("apt-cache", &args, &[0]) {
            Ok(output) => output.stdout,
            // Finding none of the versions is an error to apt-cache, but
            // just the case of every lookup failing to us.
            Err(ScanError::Command { stderr_tail, .. })
                if stderr_tail.ends_with(apt::SHOW_NOTHING_FOUND) =>
            {
                String::new()
            }
            Err(err) => return Err(err),
        };
        sources.extend(apt::parse_show(&shown)?);
    }
    let missing = apt::add_sources(updates, &sources);
    if missing > 0 {
        tracing::warn!(
            missing,
            updates = updates.len(),
            "apt-cache show printed nothing for some offered versions; they are reported without their source package"
        );
    }
    Ok(())
}

fn collect_rpm(root: Option<&InstallRoot>) -> Result<PackageState, ScanError> {
    // rpm names architectures as the kernel does (x86_64, aarch64), so
    // uname's answer is already in rpm naming.
    let arch = single_word(run("uname", &["-m"], &[0])?, "uname -m")?;
    let packages = rpm::parse_query(&run("rpm", &rpm::query_args(root), &[0])?.stdout)?;
    if packages.is_empty() {
        return Err(ScanError::Inconsistent {
            input: "rpm -qa output",
            message: "no installed packages listed".into(),
        });
    }
    let root_args = root.map(dnf::root_args).unwrap_or_default();
    let dnf_args = |command| dnf::with_root(&root_args, command);
    let check_update = dnf::parse_check_update(
        &run(
            "dnf",
            &dnf_args(&dnf::CHECK_UPDATE_ARGS),
            &dnf::CHECK_UPDATE_OK_CODES,
        )?
        .stdout,
    )?;
    let updateinfo =
        dnf::parse_updateinfo(&run("dnf", &dnf_args(&dnf::UPDATEINFO_ARGS), &[0])?.stdout)?;
    let updates = dnf::merge(&check_update, &updateinfo, &packages);
    let (reboot_required, reboot_required_packages) = if root.is_some() {
        // needs-restarting compares what runs with what is installed; what
        // runs is not from the install root.
        (false, Vec::new())
    } else {
        read_needs_restarting()?
    };
    Ok(PackageState {
        format: PackageFormat::Rpm,
        arch,
        packages,
        updates,
        reboot_required,
        reboot_required_packages,
    })
}

/// Whether the running system needs a reboot, and for which packages.
fn read_needs_restarting() -> Result<(bool, Vec<String>), ScanError> {
    // The stand-alone tool (dnf-utils) when installed, else the dnf plugin
    // (dnf-plugins-core, installed by default on RHEL-likes): same answers.
    let output = if find_program("needs-restarting").is_some() {
        run(
            "needs-restarting",
            &reboot::NEEDS_RESTARTING_ARGS,
            &reboot::NEEDS_RESTARTING_OK_CODES,
        )?
    } else {
        run(
            "dnf",
            &["-q", "needs-restarting", "-r"],
            &reboot::NEEDS_RESTARTING_OK_CODES,
        )?
    };
    reboot::interpret_needs_restarting(output.code, &output.stdout)
}

fn read_os_release() -> Result<OsInfo, ScanError> {
    for path in os_release::PATHS {
        match std::fs::read_to_string(path) {
            Ok(text) => return os_release::parse(&text),
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(ScanError::Read {
                    path: path.into(),
                    source,
                });
            }
        }
    }
    Err(ScanError::Read {
        path: os_release::PATHS[0].into(),
        source: io::Error::new(
            io::ErrorKind::NotFound,
            "neither /etc/os-release nor /usr/lib/os-release exists",
        ),
    })
}

/// A one-line kernel value from `/proc`, trimmed; empty is an error.
fn read_proc_value(path: &'static str) -> Result<String, ScanError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScanError::Read {
        path: path.into(),
        source,
    })?;
    let value = text.trim();
    if value.is_empty() {
        return Err(ScanError::Inconsistent {
            input: path,
            message: "empty".into(),
        });
    }
    Ok(value.to_owned())
}

/// The one word a command printed (an architecture name).
fn single_word(output: Output, input: &'static str) -> Result<String, ScanError> {
    let value = output.stdout.trim();
    if value.is_empty() || value.contains(char::is_whitespace) {
        return Err(ScanError::Inconsistent {
            input,
            message: format!("expected one word, got `{value}`"),
        });
    }
    Ok(value.to_owned())
}

/// What a finished command printed, and how it exited.
#[derive(Debug)]
pub(crate) struct Output {
    /// Standard output, as text.
    pub(crate) stdout: String,
    /// Exit code (one of the accepted ones).
    pub(crate) code: i32,
}

/// Finds `name` in [`SEARCH_PATH`]: the first regular file of that name
/// that has an execute bit.
pub fn find_program(name: &str) -> Option<PathBuf> {
    SEARCH_PATH
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|path| {
            path.metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Runs `program` (looked up in [`SEARCH_PATH`]) with `args`, no shell and a
/// cleared environment (`LC_ALL=C`, so output is in the untranslated
/// format the parsers expect), and returns its output when it exits with
/// one of `ok_codes`.
pub(crate) fn run(program: &str, args: &[&str], ok_codes: &[i32]) -> Result<Output, ScanError> {
    run_with_timeout(program, args, ok_codes, TIMEOUT)
}

fn run_with_timeout(
    program: &str,
    args: &[&str],
    ok_codes: &[i32],
    timeout: Duration,
) -> Result<Output, ScanError> {
    let command = describe(program, args);
    let spawn_error = |source: io::Error| ScanError::Spawn {
        command: command.clone(),
        source,
    };
    let path = find_program(program).ok_or_else(|| {
        spawn_error(io::Error::new(
            io::ErrorKind::NotFound,
            format!("not found in {SEARCH_PATH}"),
        ))
    })?;
    let mut child = Command::new(path)
        .args(args)
        .env_clear()
        .envs(
            PASSED_ENV
                .iter()
                .filter_map(|name| std::env::var_os(name).map(|value| (name, value))),
        )
        .env("PATH", SEARCH_PATH)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_error)?;
    // Both pipes are drained while the child runs: a child that fills one
    // pipe's buffer while we wait on the other would otherwise never finish.
    let stdout_reader = child.stdout.take().map(read_in_background);
    let stderr_reader = child.stderr.take().map(read_in_background);

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                // Best effort: the child may have exited meanwhile.
                let _ = child.kill();
                let _ = child.wait();
                return Err(ScanError::Command {
                    command,
                    status: format!("killed after the {} s time limit", timeout.as_secs_f32()),
                    stderr_tail: String::new(),
                });
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(source) => return Err(spawn_error(source)),
        }
    };
    let stdout = join_reader(stdout_reader).map_err(spawn_error)?;
    let stderr = join_reader(stderr_reader).map_err(spawn_error)?;
    let stderr_tail = tail(&String::from_utf8_lossy(&stderr));

    let code = match status.code() {
        Some(code) if ok_codes.contains(&code) => code,
        _ => {
            return Err(ScanError::Command {
                command,
                status: describe_status(status),
                stderr_tail,
            });
        }
    };
    let stdout = String::from_utf8(stdout).map_err(|_| ScanError::Command {
        command: command.clone(),
        status: format!("exit code {code}, but its output is not UTF-8"),
        stderr_tail: stderr_tail.clone(),
    })?;
    Ok(Output { stdout, code })
}

fn read_in_background(
    mut pipe: impl Read + Send + 'static,
) -> thread::JoinHandle<io::Result<Vec<u8>>> {
    thread::spawn(move || {
        let mut buffer = Vec::new();
        pipe.read_to_end(&mut buffer).map(|_| buffer)
    })
}

fn join_reader(reader: Option<thread::JoinHandle<io::Result<Vec<u8>>>>) -> io::Result<Vec<u8>> {
    match reader {
        Some(handle) => handle
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the thread reading the output panicked"))),
        None => Ok(Vec::new()),
    }
}

fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

/// The command line for messages; arguments with spaces or control
/// characters (the query formats) are shown quoted and escaped.
fn describe(program: &str, args: &[&str]) -> String {
    let mut line = program.to_owned();
    for arg in args {
        line.push(' ');
        if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c.is_control() || c == '"')
        {
            line.push_str(&format!("{arg:?}"));
        } else {
            line.push_str(arg);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_only_in_the_fixed_path() {
        assert!(find_program("sh").is_some(), "sh is in /bin or /usr/bin");
        assert_eq!(find_program("patchport-no-such-tool"), None);
    }

    #[test]
    fn successful_command_returns_stdout_and_code() {
        let out = run(
            "sh",
            &["-c", "printf 'a\\tb\\n'; echo noise >&2; exit 100"],
            &[0, 100],
        )
        .expect("exit 100 accepted");
        assert_eq!(out.stdout, "a\tb\n");
        assert_eq!(out.code, 100);
    }

    #[test]
    fn environment_is_cleared_and_fixed() {
        let out = run(
            "sh",
            &[
                "-c",
                "echo \"$LC_ALL|$PATH|${HOME:-unset}|${CARGO:-unset}\"",
            ],
            &[0],
        )
        .expect("sh runs");
        assert_eq!(out.stdout.trim(), format!("C|{SEARCH_PATH}|unset|unset"));
    }

    #[test]
    fn failures_name_the_command_status_and_stderr_tail() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "exit code",
                "echo 'W: a warning' >&2; echo 'E: the real reason' >&2; exit 3",
                "`sh -c \"echo 'W: a warning' >&2; echo 'E: the real reason' >&2; exit 3\"` failed (exit code 3); \
                 stderr ends with: W: a warning\nE: the real reason",
            ),
            (
                "signal",
                "kill -9 $$",
                "`sh -c \"kill -9 $$\"` failed (killed by signal 9)",
            ),
            (
                "output not UTF-8",
                "printf '\\377'",
                "`sh -c \"printf '\\\\377'\"` failed (exit code 0, but its output is not UTF-8)",
            ),
        ];
        for (name, script, expected) in cases {
            match run("sh", &["-c", script], &[0]) {
                Ok(out) => panic!("case {name:?}: expected an error, got {out:?}"),
                Err(err) => assert_eq!(err.to_string(), *expected, "case {name:?}"),
            }
        }
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let err = run("patchport-no-such-tool", &["--flag"], &[0]).expect_err("not installed");
        assert_eq!(
            err.to_string(),
            format!("cannot run `patchport-no-such-tool --flag`: not found in {SEARCH_PATH}")
        );
    }

    #[test]
    fn hung_commands_are_killed_at_the_time_limit() {
        let started = Instant::now();
        let err = run_with_timeout("sleep", &["30"], &[0], Duration::from_millis(300))
            .expect_err("times out");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not wait for sleep to finish"
        );
        assert!(
            err.to_string()
                .starts_with("`sleep 30` failed (killed after the 0.3 s time limit)"),
            "{err}"
        );
    }

    #[test]
    fn large_outputs_on_both_pipes_do_not_deadlock() {
        // Far beyond a pipe buffer (64 KiB) on each stream at once.
        let script = "i=0; while [ $i -lt 20000 ]; do echo 'line of output'; echo 'line of error' >&2; i=$((i+1)); done";
        let out = run_with_timeout("sh", &["-c", script], &[0], Duration::from_secs(60))
            .expect("finishes");
        assert_eq!(out.stdout.lines().count(), 20000);
    }

    #[test]
    fn apt_cache_lookups_that_find_nothing_leave_the_source_empty() {
        if find_program("apt-cache").is_none() || find_program("dpkg-query").is_none() {
            eprintln!("SKIPPED apt_cache_lookups_that_find_nothing_leave_the_source_empty: no apt");
            return;
        }
        let installed = run(
            "dpkg-query",
            &["-W", "-f", "${Version}\t${Architecture}", "dpkg"],
            &[0],
        )
        .expect("dpkg-query runs")
        .stdout;
        let (version, arch) = installed.split_once('\t').expect("version and arch");
        let update = |version: &str| AvailableUpdate {
            name: "dpkg".into(),
            arch: arch.into(),
            installed_version: None,
            version: version.into(),
            origin: String::new(),
            security: false,
            advisories: vec![],
            source_name: None,
            source_version: None,
        };
        let absent = "0.0.0-patchport";
        // apt-cache fails (exit code 100) when it finds none of them.
        let mut none = vec![update(absent)];
        add_apt_sources(&mut none).expect("finding nothing is not an error");
        assert_eq!(
            (&none[0].source_name, &none[0].source_version),
            (&None, &None)
        );
        // And succeeds, silently skipping the other, when it finds some.
        let mut some = vec![update(absent), update(version)];
        add_apt_sources(&mut some).expect("finding some is not an error");
        assert_eq!(some[0].source_name, None);
        assert_eq!(some[1].source_name.as_deref(), Some("dpkg"));
        assert!(some[1].source_version.is_some());
    }

    #[test]
    fn single_word_values() {
        let ok = Output {
            stdout: "amd64\n".into(),
            code: 0,
        };
        assert_eq!(
            single_word(ok, "dpkg --print-architecture").expect("one word"),
            "amd64"
        );
        for bad in ["", "\n", "amd64 i386\n"] {
            let out = Output {
                stdout: bad.into(),
                code: 0,
            };
            assert!(single_word(out, "x").is_err(), "{bad:?} is not one word");
        }
    }
}
