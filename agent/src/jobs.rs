//! Running the portal's jobs on this machine. The agent runs as root, so it
//! runs only typed jobs, each turned here into a fixed program with argument
//! lists (no shell): exact-version upgrades with apt-get or dnf, rollbacks
//! to exact older versions (after checking that every one is still
//! available), a metadata refresh, or a reboot. Every package target is
//! validated again here, so a compromised portal still cannot pass an
//! option or a second command.

use crate::config::InstallRoot;
use patchport_core::protocol::{
    JOB_TIMEOUT, JobOrder, JobOutcome, JobResult, JobSpec, MAX_JOB_LOG, PackageFormat,
    PackageTarget, log_tail,
};
use std::collections::HashSet;
use std::io::Read;
use std::time::{Duration, Instant};

/// One program to run, with its arguments and extra environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Program name, looked up on `PATH`.
    pub program: String,
    /// Arguments, passed as they are (no shell).
    pub args: Vec<String>,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

impl Command {
    fn new(program: &str, args: &[&str]) -> Self {
        Self {
            program: program.to_owned(),
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: Vec::new(),
        }
    }
}

/// What a program did: its exit code (`None` if it was killed) and the tail
/// of its merged output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ran {
    /// Exit code.
    pub exit_code: Option<i32>,
    /// Output tail.
    pub log: String,
}

/// Runs commands. The real one runs processes; tests and the fleet
/// simulator bring their own.
pub trait System {
    /// Runs `command` to the end or until `timeout`.
    fn run(&self, command: &Command, timeout: Duration) -> Ran;
}

/// The machine itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealSystem;

impl System for RealSystem {
    fn run(&self, command: &Command, timeout: Duration) -> Ran {
        let header = format!("$ {} {}\n", command.program, command.args.join(" "));
        let fail = |e: std::io::Error| Ran {
            exit_code: None,
            log: format!("{header}could not run {}: {e}\n", command.program),
        };
        // stdout and stderr share one pipe, so the log keeps their order.
        let (mut reader, writer) = match std::io::pipe() {
            Ok(pair) => pair,
            Err(e) => return fail(e),
        };
        let stderr = match writer.try_clone() {
            Ok(w) => w,
            Err(e) => return fail(e),
        };
        let mut cmd = std::process::Command::new(&command.program);
        cmd.args(&command.args)
            .envs(command.env.iter().map(|(k, v)| (k, v)))
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(stderr);
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        // Our copies of the write end must go, or the reader never ends.
        drop(cmd);
        let collector = std::thread::spawn(move || {
            let mut tail: Vec<u8> = Vec::new();
            let mut buf = [0u8; 8192];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        tail.extend_from_slice(&buf[..n]);
                        if tail.len() > 2 * MAX_JOB_LOG {
                            tail.drain(..tail.len() - MAX_JOB_LOG);
                        }
                    }
                }
            }
            String::from_utf8_lossy(&tail).into_owned()
        });
        let started = Instant::now();
        let (exit_code, note) = loop {
            match child.try_wait() {
                Ok(Some(status)) => break (status.code(), String::new()),
                Ok(None) if started.elapsed() >= timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break (
                        None,
                        format!("\npatchport-agent: stopped after {} s\n", timeout.as_secs()),
                    );
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(200)),
                Err(e) => break (None, format!("\npatchport-agent: lost the process: {e}\n")),
            }
        };
        let output = collector.join().unwrap_or_default();
        let log = format!("{header}{output}{note}");
        Ran {
            exit_code,
            log: log_tail(&log, MAX_JOB_LOG).to_owned(),
        }
    }
}

/// apt's name for `p`: qualified with its architecture unless that is the
/// native one or `all` (as `apt-cache madison` prints it too).
fn apt_name(native_arch: &str, p: &PackageTarget) -> String {
    if p.arch == native_arch || p.arch == "all" {
        p.name.clone()
    } else {
        format!("{}:{}", p.name, p.arch)
    }
}

/// The apt-get or dnf argument for one exact version.
fn package_spec(format: PackageFormat, native_arch: &str, p: &PackageTarget) -> String {
    match format {
        PackageFormat::Deb => format!("{}={}", apt_name(native_arch, p), p.version),
        PackageFormat::Rpm => format!("{}-{}.{}", p.name, p.version, p.arch),
    }
}

/// dnf with the options for `root` (see [`crate::scan::dnf::root_args`])
/// before `args`.
fn dnf_command(root: Option<&InstallRoot>, args: &[&str]) -> Command {
    let mut c = Command::new("dnf", &[]);
    c.args = root.map(crate::scan::dnf::root_args).unwrap_or_default();
    c.args.extend(args.iter().map(|a| (*a).to_owned()));
    c
}

/// The command that installs exactly `packages`, upgrading only what is
/// installed, never asking a question and keeping changed configuration.
/// `root` is dnf's install root; [`run`] refuses apt jobs with one.
pub fn install_command(
    format: PackageFormat,
    native_arch: &str,
    packages: &[PackageTarget],
    root: Option<&InstallRoot>,
) -> Command {
    let specs = packages
        .iter()
        .map(|p| package_spec(format, native_arch, p));
    match format {
        PackageFormat::Deb => apt_get_install(&[], specs),
        PackageFormat::Rpm => {
            let mut c = dnf_command(root, &["upgrade", "--assumeyes", "--quiet", "--"]);
            c.args.extend(specs);
            c
        }
    }
}

/// `apt-get install` of `specs`, upgrading (or, with `extra` options,
/// downgrading) only what is installed, never asking a question and
/// keeping changed configuration.
fn apt_get_install(extra: &[&str], specs: impl Iterator<Item = String>) -> Command {
    let mut c = Command::new(
        "apt-get",
        &["install", "--yes", "--quiet", "--only-upgrade"],
    );
    c.args.extend(extra.iter().map(|a| (*a).to_owned()));
    c.args.extend(
        [
            "--no-install-recommends",
            "-o",
            "Dpkg::Options::=--force-confdef",
            "-o",
            "Dpkg::Options::=--force-confold",
            "--",
        ]
        .map(String::from),
    );
    c.args.extend(specs);
    c.env = vec![
        ("DEBIAN_FRONTEND".into(), "noninteractive".into()),
        // Ubuntu's needrestart must only list, never prompt.
        ("NEEDRESTART_MODE".into(), "l".into()),
    ];
    c
}

/// The command that returns `packages` to exactly these older versions,
/// as [`install_command`] does forward; `root` as there.
///
/// apt-get gets `--allow-downgrades`, and keeps `--only-upgrade`: with
/// both (apt 2.6, tried for real) it downgrades an installed package and
/// skips one that is not installed, so a rollback never installs anything
/// new. `--no-remove` makes it stop rather than remove a package that
/// needs the newer version (with `--yes` apt-get would remove it). dnf's
/// `downgrade` neither installs what is missing nor removes anything
/// (that would take `--allowerasing`).
pub fn rollback_command(
    format: PackageFormat,
    native_arch: &str,
    packages: &[PackageTarget],
    root: Option<&InstallRoot>,
) -> Command {
    let specs = packages
        .iter()
        .map(|p| package_spec(format, native_arch, p));
    match format {
        PackageFormat::Deb => apt_get_install(&["--allow-downgrades", "--no-remove"], specs),
        PackageFormat::Rpm => {
            let mut c = dnf_command(root, &["downgrade", "--assumeyes", "--quiet", "--"]);
            c.args.extend(specs);
            c
        }
    }
}

/// Most packages one availability check names: its output, a few short
/// lines a package, then stays well inside what [`RealSystem`] keeps of a
/// command's output ([`MAX_JOB_LOG`]).
const CHECK_CHUNK: usize = 25;

/// Seconds all of a rollback's availability checks may take together
/// (with [`JOB_TIMEOUT`] for the downgrade, still inside the job's lease).
const CHECK_TIMEOUT: u64 = 600;

/// The commands that list which versions of `packages` the package manager
/// can install, [`CHECK_CHUNK`] packages each; `root` as for
/// [`install_command`]. apt: `apt-cache madison`, every version in the
/// package indexes apt has (apt-get installs a version only from those,
/// downloaded or found in its package cache). dnf: `repoquery`, the
/// versions in the repositories' metadata (which its cache keeps), as
/// `name evr arch` lines (the format ends them with `\n` for dnf 5; dnf 4
/// adds a blank line after each, which is ignored).
pub fn availability_commands(
    format: PackageFormat,
    native_arch: &str,
    packages: &[PackageTarget],
    root: Option<&InstallRoot>,
) -> Vec<Command> {
    packages
        .chunks(CHECK_CHUNK)
        .map(|chunk| {
            let mut c = match format {
                PackageFormat::Deb => Command::new("apt-cache", &["madison", "--"]),
                PackageFormat::Rpm => dnf_command(
                    root,
                    &[
                        "repoquery",
                        "--quiet",
                        "--queryformat=%{name} %{evr} %{arch}\\n",
                        "--",
                    ],
                ),
            };
            c.args.extend(chunk.iter().map(|p| match format {
                PackageFormat::Deb => apt_name(native_arch, p),
                PackageFormat::Rpm => package_spec(format, native_arch, p),
            }));
            c.env = vec![("LC_ALL".into(), "C".into())];
            c
        })
        .collect()
}

/// An rpm version without an epoch of 0, as dnf's `%{evr}` prints it.
fn without_zero_epoch(version: &str) -> &str {
    version.strip_prefix("0:").unwrap_or(version)
}

/// How an availability check lists `p` when its version is available:
/// `name[:arch] version` (apt), `name evr arch` (dnf).
fn available_key(format: PackageFormat, native_arch: &str, p: &PackageTarget) -> String {
    match format {
        PackageFormat::Deb => format!("{} {}", apt_name(native_arch, p), p.version),
        PackageFormat::Rpm => format!("{} {} {}", p.name, without_zero_epoch(&p.version), p.arch),
    }
}

/// The keys ([`available_key`]) of the versions a check's output lists.
/// apt-cache madison prints `name | version | index`, where an index of
/// source packages (not installable) ends in `Sources`; anything else in
/// the output (the command line, warnings) has another shape.
fn listed_keys(format: PackageFormat, output: &str) -> HashSet<String> {
    output
        .lines()
        .filter_map(|line| match format {
            PackageFormat::Deb => match line.split('|').map(str::trim).collect::<Vec<_>>()[..] {
                [name, version, index] if index.ends_with("Packages") => {
                    Some(format!("{name} {version}"))
                }
                _ => None,
            },
            PackageFormat::Rpm => match line.split_whitespace().collect::<Vec<_>>()[..] {
                [name, evr, arch] => Some(format!("{name} {} {arch}", without_zero_epoch(evr))),
                _ => None,
            },
        })
        .collect()
}

/// Checks that every version of a rollback is still available. `Err` is
/// the failed job's log: the refusal naming every missing version, or
/// why the check itself failed; either way nothing was changed.
pub fn check_available(
    system: &dyn System,
    format: PackageFormat,
    native_arch: &str,
    packages: &[PackageTarget],
    root: Option<&InstallRoot>,
) -> Result<(), String> {
    // The first line says what happened; the checks' output follows, as
    // much as fits.
    let fail = |first: String, logs: &str| {
        let room = MAX_JOB_LOG.saturating_sub(first.len());
        Err(format!("{first}{}", log_tail(logs, room)))
    };
    let started = Instant::now();
    let mut listed = HashSet::new();
    let mut logs = String::new();
    for command in availability_commands(format, native_arch, packages, root) {
        let left = Duration::from_secs(CHECK_TIMEOUT).saturating_sub(started.elapsed());
        let ran = system.run(&command, left);
        logs.push_str(&ran.log);
        if ran.exit_code != Some(0) {
            return fail(
                "patchport-agent could not check that the rollback's versions are available; \
                 nothing was changed\n"
                    .into(),
                &logs,
            );
        }
        listed.extend(listed_keys(format, &ran.log));
    }
    let missing: Vec<&PackageTarget> = packages
        .iter()
        .filter(|p| !listed.contains(&available_key(format, native_arch, p)))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    fail(rollback_refusal(&missing), &logs)
}

/// The line a refused rollback's log starts with, naming every version in
/// `missing`.
pub fn rollback_refusal(missing: &[&PackageTarget]) -> String {
    let names: Vec<String> = missing
        .iter()
        .map(|p| format!("{} {} ({})", p.name, p.version, p.arch))
        .collect();
    format!(
        "patchport-agent refused the rollback: {} {} no longer available from the repositories \
         or the package cache; nothing was changed\n",
        names.join(", "),
        if names.len() == 1 { "is" } else { "are" }
    )
}

/// The command that refreshes the package manager's metadata; `root` as
/// for [`install_command`].
pub fn refresh_command(format: PackageFormat, root: Option<&InstallRoot>) -> Command {
    match format {
        PackageFormat::Deb => {
            let mut c = Command::new("apt-get", &["update", "--quiet"]);
            c.env = vec![("DEBIAN_FRONTEND".into(), "noninteractive".into())];
            c
        }
        PackageFormat::Rpm => dnf_command(root, &["makecache", "--quiet"]),
    }
}

/// The command that reboots the machine.
pub fn reboot_command() -> Command {
    Command::new("systemctl", &["reboot"])
}

/// The result of running `job` for an install, rollback or refresh, with
/// dnf on `root` when one is given. A rollback runs only when
/// [`check_available`] finds every version. Reboots are run by [`reboot`],
/// because their result must be sent before the machine goes down.
pub fn run(
    system: &dyn System,
    job: &JobOrder,
    format: PackageFormat,
    native_arch: &str,
    root: Option<&InstallRoot>,
) -> JobResult {
    let refused = |why: String| JobResult {
        attempt: job.attempt,
        outcome: JobOutcome::Failed,
        exit_code: None,
        log: format!("patchport-agent refused the job: {why}\n"),
    };
    if let Err(e) = job.spec.validate() {
        return refused(e.to_string());
    }
    if let (PackageFormat::Deb, Some(root)) = (format, root) {
        return refused(format!(
            "apt is never run on an install root ({})",
            root.path().display()
        ));
    }
    let command = match &job.spec {
        JobSpec::Install { packages } => install_command(format, native_arch, packages, root),
        JobSpec::Rollback { packages } => {
            if let Err(log) = check_available(system, format, native_arch, packages, root) {
                return JobResult {
                    attempt: job.attempt,
                    outcome: JobOutcome::Failed,
                    exit_code: None,
                    log,
                };
            }
            rollback_command(format, native_arch, packages, root)
        }
        JobSpec::Refresh => refresh_command(format, root),
        JobSpec::Reboot => return refused("a reboot is not run here".into()),
    };
    let ran = system.run(&command, Duration::from_secs(JOB_TIMEOUT));
    JobResult {
        attempt: job.attempt,
        outcome: if ran.exit_code == Some(0) {
            JobOutcome::Succeeded
        } else {
            JobOutcome::Failed
        },
        exit_code: ran.exit_code,
        log: ran.log,
    }
}

/// Issues the reboot. `Ok` means the system accepted it (the machine goes
/// down shortly); `Err` carries the failure as the job's result.
pub fn reboot(system: &dyn System, job: &JobOrder) -> Result<(), JobResult> {
    let ran = system.run(&reboot_command(), Duration::from_secs(120));
    if ran.exit_code == Some(0) {
        Ok(())
    } else {
        Err(JobResult {
            attempt: job.attempt,
            outcome: JobOutcome::Failed,
            exit_code: ran.exit_code,
            log: ran.log,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn target(name: &str, version: &str, arch: &str) -> PackageTarget {
        PackageTarget {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
        }
    }

    #[test]
    fn apt_gets_exact_versions_after_the_end_of_options() {
        let c = install_command(
            PackageFormat::Deb,
            "amd64",
            &[
                target("openssl", "3.0.15-1~deb12u1", "amd64"),
                target("tzdata", "2024b-0+deb12u1", "all"),
                target("libc6", "2.36-9+deb12u9", "i386"),
            ],
            None,
        );
        assert_eq!(c.program, "apt-get");
        let end = c.args.iter().position(|a| a == "--").unwrap();
        assert_eq!(
            &c.args[end + 1..],
            [
                "openssl=3.0.15-1~deb12u1",
                "tzdata=2024b-0+deb12u1",
                "libc6:i386=2.36-9+deb12u9"
            ]
        );
        assert!(c.args.contains(&"--only-upgrade".to_owned()));
        assert!(
            c.env
                .contains(&("DEBIAN_FRONTEND".into(), "noninteractive".into()))
        );
    }

    #[test]
    fn dnf_gets_name_version_arch() {
        let c = install_command(
            PackageFormat::Rpm,
            "x86_64",
            &[target("openssl-libs", "1:3.0.7-27.el9", "x86_64")],
            None,
        );
        assert_eq!(c.program, "dnf");
        assert_eq!(c.args.first().map(String::as_str), Some("upgrade"));
        assert_eq!(c.args.last().unwrap(), "openssl-libs-1:3.0.7-27.el9.x86_64");
    }

    #[test]
    fn dnf_on_an_install_root_gets_the_root_options_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = InstallRoot::parse(dir.path()).unwrap();
        let r = root.as_str();
        let root_options = vec![
            format!("--installroot={r}"),
            format!(
                "--setopt=reposdir={r}/etc/yum.repos.d,{r}/etc/yum/repos.d,{r}/etc/distro.repos.d"
            ),
        ];
        let install = install_command(
            PackageFormat::Rpm,
            "x86_64",
            &[target("probe", "1.1-1", "noarch")],
            Some(&root),
        );
        let mut expected = root_options.clone();
        expected.extend(
            [
                "upgrade",
                "--assumeyes",
                "--quiet",
                "--",
                "probe-1.1-1.noarch",
            ]
            .map(String::from),
        );
        assert_eq!(
            (install.program.as_str(), &install.args),
            ("dnf", &expected)
        );
        let refresh = refresh_command(PackageFormat::Rpm, Some(&root));
        let mut expected = root_options;
        expected.extend(["makecache", "--quiet"].map(String::from));
        assert_eq!(refresh.args, expected);
        assert_eq!(
            refresh_command(PackageFormat::Rpm, None).args,
            ["makecache", "--quiet"],
            "no root: the command as before"
        );
    }

    #[test]
    fn apt_jobs_with_an_install_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = InstallRoot::parse(dir.path()).unwrap();
        let system = Recorder {
            exit_code: Some(0),
            ran: Mutex::new(vec![]),
        };
        let job = JobOrder {
            id: 1,
            attempt: 1,
            spec: JobSpec::Refresh,
        };
        let result = run(&system, &job, PackageFormat::Deb, "amd64", Some(&root));
        assert_eq!(result.outcome, JobOutcome::Failed);
        assert!(
            result.log.contains("apt is never run on an install root"),
            "{}",
            result.log
        );
        assert!(system.ran.lock().unwrap().is_empty(), "nothing ran");
    }

    /// Records what it was asked to run and answers with a fixed exit code.
    struct Recorder {
        exit_code: Option<i32>,
        ran: Mutex<Vec<Command>>,
    }

    impl System for Recorder {
        fn run(&self, command: &Command, _timeout: Duration) -> Ran {
            self.ran.lock().unwrap().push(command.clone());
            Ran {
                exit_code: self.exit_code,
                log: "output\n".into(),
            }
        }
    }

    #[test]
    fn a_job_with_a_smuggled_option_never_reaches_the_package_manager() {
        let system = Recorder {
            exit_code: Some(0),
            ran: Mutex::new(vec![]),
        };
        let job = JobOrder {
            id: 1,
            attempt: 2,
            spec: JobSpec::Install {
                packages: vec![target("-oAPT::Update::Pre-Invoke::=touch", "1", "all")],
            },
        };
        let result = run(&system, &job, PackageFormat::Deb, "amd64", None);
        assert_eq!(result.outcome, JobOutcome::Failed);
        assert_eq!(result.attempt, 2);
        assert!(result.log.contains("refused"), "{}", result.log);
        assert!(system.ran.lock().unwrap().is_empty(), "nothing ran");
    }

    #[test]
    fn a_rollback_with_a_smuggled_option_never_reaches_the_package_manager() {
        let system = Recorder {
            exit_code: Some(0),
            ran: Mutex::new(vec![]),
        };
        for (format, p) in [
            (
                PackageFormat::Deb,
                target("openssl", "--allow-remove-essential", "amd64"),
            ),
            (PackageFormat::Rpm, target("-y", "1.0-1", "noarch")),
            (
                PackageFormat::Rpm,
                target("probe", "1.0-1", "noarch --setopt=x"),
            ),
        ] {
            let job = JobOrder {
                id: 1,
                attempt: 1,
                spec: JobSpec::Rollback { packages: vec![p] },
            };
            let result = run(&system, &job, format, "amd64", None);
            assert_eq!(result.outcome, JobOutcome::Failed);
            assert!(result.log.contains("refused the job"), "{}", result.log);
        }
        assert!(
            system.ran.lock().unwrap().is_empty(),
            "not even the check ran"
        );
    }

    #[test]
    fn apt_rolls_back_with_downgrades_allowed_and_nothing_new_or_removed() {
        let c = rollback_command(
            PackageFormat::Deb,
            "amd64",
            &[
                target("openssl", "3.0.14-1~deb12u2", "amd64"),
                target("tzdata", "2024a-0+deb12u1", "all"),
                target("libc6", "2.36-9+deb12u8", "i386"),
            ],
            None,
        );
        assert_eq!(c.program, "apt-get");
        assert_eq!(
            c.args,
            [
                "install",
                "--yes",
                "--quiet",
                "--only-upgrade",
                "--allow-downgrades",
                "--no-remove",
                "--no-install-recommends",
                "-o",
                "Dpkg::Options::=--force-confdef",
                "-o",
                "Dpkg::Options::=--force-confold",
                "--",
                "openssl=3.0.14-1~deb12u2",
                "tzdata=2024a-0+deb12u1",
                "libc6:i386=2.36-9+deb12u8",
            ]
        );
        assert_eq!(
            c.env,
            [
                ("DEBIAN_FRONTEND".into(), "noninteractive".into()),
                ("NEEDRESTART_MODE".into(), "l".into()),
            ]
        );
        let install = install_command(
            PackageFormat::Deb,
            "amd64",
            &[target("openssl", "3.0.15-1~deb12u1", "amd64")],
            None,
        );
        assert!(!install.args.iter().any(|a| a == "--allow-downgrades"));
    }

    #[test]
    fn dnf_rolls_back_with_downgrade_after_the_root_options() {
        let dir = tempfile::tempdir().unwrap();
        let root = InstallRoot::parse(dir.path()).unwrap();
        let packages = [
            target("probe", "1.0-1", "noarch"),
            target("openssl-libs", "1:3.0.7-25.el9", "x86_64"),
        ];
        let c = rollback_command(PackageFormat::Rpm, "x86_64", &packages, Some(&root));
        let mut expected = crate::scan::dnf::root_args(&root);
        assert!(expected[0].starts_with("--installroot="), "{expected:?}");
        expected.extend(
            [
                "downgrade",
                "--assumeyes",
                "--quiet",
                "--",
                "probe-1.0-1.noarch",
                "openssl-libs-1:3.0.7-25.el9.x86_64",
            ]
            .map(String::from),
        );
        assert_eq!((c.program.as_str(), &c.args), ("dnf", &expected));
        let no_root = rollback_command(PackageFormat::Rpm, "x86_64", &packages[..1], None);
        assert_eq!(
            no_root.args,
            [
                "downgrade",
                "--assumeyes",
                "--quiet",
                "--",
                "probe-1.0-1.noarch"
            ]
        );
    }

    #[test]
    fn availability_is_asked_of_apt_cache_and_dnf_repoquery_in_chunks() {
        let apt = availability_commands(
            PackageFormat::Deb,
            "amd64",
            &[
                target("openssl", "3.0.14-1~deb12u2", "amd64"),
                target("libc6", "2.36-9+deb12u8", "i386"),
            ],
            None,
        );
        assert_eq!(apt.len(), 1);
        assert_eq!(apt[0].program, "apt-cache");
        assert_eq!(apt[0].args, ["madison", "--", "openssl", "libc6:i386"]);
        assert_eq!(apt[0].env, [("LC_ALL".into(), "C".into())]);
        let dir = tempfile::tempdir().unwrap();
        let root = InstallRoot::parse(dir.path()).unwrap();
        let many: Vec<PackageTarget> = (0..CHECK_CHUNK * 2 + 1)
            .map(|i| target(&format!("p{i}"), "1.0-1", "noarch"))
            .collect();
        let dnf = availability_commands(PackageFormat::Rpm, "x86_64", &many, Some(&root));
        assert_eq!(dnf.len(), 3, "{} packages a check", CHECK_CHUNK);
        let mut expected = crate::scan::dnf::root_args(&root);
        expected.extend(
            [
                "repoquery",
                "--quiet",
                "--queryformat=%{name} %{evr} %{arch}\\n",
                "--",
                "p50-1.0-1.noarch",
            ]
            .map(String::from),
        );
        assert_eq!((dnf[2].program.as_str(), &dnf[2].args), ("dnf", &expected));
        assert_eq!(dnf[0].args.len(), expected.len() - 1 + CHECK_CHUNK);
    }

    /// Lists `listing` for every command (as a check would print it),
    /// records what it was asked to run, and succeeds.
    struct Listing {
        listing: &'static str,
        ran: Mutex<Vec<Command>>,
    }

    impl System for Listing {
        fn run(&self, command: &Command, _timeout: Duration) -> Ran {
            self.ran.lock().unwrap().push(command.clone());
            Ran {
                exit_code: Some(0),
                log: format!(
                    "$ {} {}\n{}",
                    command.program,
                    command.args.join(" "),
                    self.listing
                ),
            }
        }
    }

    /// Runs a rollback of `packages` on `system`; the result and the
    /// programs run.
    fn roll_back(
        system: &Listing,
        format: PackageFormat,
        packages: Vec<PackageTarget>,
    ) -> (JobResult, Vec<String>) {
        let job = JobOrder {
            id: 7,
            attempt: 3,
            spec: JobSpec::Rollback { packages },
        };
        let result = run(system, &job, format, "amd64", None);
        assert_eq!(result.attempt, 3);
        let ran = system.ran.lock().unwrap().drain(..).collect::<Vec<_>>();
        (result, ran.into_iter().map(|c| c.program).collect())
    }

    const MADISON: &str = "\
   openssl | 3.0.15-1~deb12u1 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages
   openssl | 3.0.14-1~deb12u2 | http://deb.debian.org/debian bookworm/main amd64 Packages
   openssl | 3.0.11-1~deb12u2 | http://deb.debian.org/debian bookworm/main Sources
libc6:i386 | 2.36-9+deb12u8 | http://deb.debian.org/debian bookworm/main i386 Packages
";

    #[test]
    fn an_apt_rollback_to_a_version_that_is_gone_is_refused_before_apt_get_runs() {
        let system = Listing {
            listing: MADISON,
            ran: Mutex::new(vec![]),
        };
        let (result, ran) = roll_back(
            &system,
            PackageFormat::Deb,
            vec![
                target("openssl", "3.0.14-1~deb12u2", "amd64"),
                target("libc6", "2.36-9+deb12u8", "i386"),
                target("libc6", "2.36-9+deb12u8", "amd64"),
                target("openssl", "3.0.11-1~deb12u2", "amd64"),
            ],
        );
        assert_eq!(
            (result.outcome, result.exit_code),
            (JobOutcome::Failed, None)
        );
        assert!(
            result.log.starts_with(
                "patchport-agent refused the rollback: libc6 2.36-9+deb12u8 (amd64), \
                 openssl 3.0.11-1~deb12u2 (amd64) are no longer available from the \
                 repositories or the package cache; nothing was changed\n$ apt-cache madison"
            ),
            "only the other architecture's libc6 and a source are listed: {}",
            result.log
        );
        assert_eq!(ran, ["apt-cache"], "apt-get never ran");
        let (result, ran) = roll_back(
            &system,
            PackageFormat::Deb,
            vec![
                target("openssl", "3.0.14-1~deb12u2", "amd64"),
                target("libc6", "2.36-9+deb12u8", "i386"),
            ],
        );
        assert_eq!(result.outcome, JobOutcome::Succeeded, "{}", result.log);
        assert!(result.log.contains("--allow-downgrades"), "{}", result.log);
        assert_eq!(ran, ["apt-cache", "apt-get"]);
    }

    #[test]
    fn a_dnf_rollback_to_a_version_that_is_gone_is_refused_before_dnf_downgrade_runs() {
        let system = Listing {
            listing: "probe 1.0-1 noarch\nwide 2:1.0-1 x86_64\n",
            ran: Mutex::new(vec![]),
        };
        let (result, ran) = roll_back(
            &system,
            PackageFormat::Rpm,
            vec![
                target("probe", "0.9-1", "noarch"),
                target("wide", "2:1.0-1", "x86_64"),
            ],
        );
        assert_eq!(result.outcome, JobOutcome::Failed);
        assert!(
            result.log.starts_with(
                "patchport-agent refused the rollback: probe 0.9-1 (noarch) is no longer \
                 available from the repositories or the package cache; nothing was changed\n"
            ),
            "{}",
            result.log
        );
        assert_eq!(ran, ["dnf"], "only the check ran");
        let (result, ran) = roll_back(
            &system,
            PackageFormat::Rpm,
            vec![
                target("probe", "0:1.0-1", "noarch"),
                target("wide", "2:1.0-1", "x86_64"),
            ],
        );
        assert_eq!(result.outcome, JobOutcome::Succeeded, "{}", result.log);
        assert_eq!(ran, ["dnf", "dnf"], "the check, then the downgrade");
        assert!(result.log.contains("downgrade"), "{}", result.log);
    }

    #[test]
    fn a_rollback_whose_check_fails_changes_nothing() {
        let system = Recorder {
            exit_code: Some(1),
            ran: Mutex::new(vec![]),
        };
        let job = JobOrder {
            id: 1,
            attempt: 1,
            spec: JobSpec::Rollback {
                packages: vec![target("probe", "1.0-1", "noarch")],
            },
        };
        let result = run(&system, &job, PackageFormat::Rpm, "x86_64", None);
        assert_eq!(result.outcome, JobOutcome::Failed);
        assert!(
            result.log.starts_with(
                "patchport-agent could not check that the rollback's versions are available"
            ),
            "{}",
            result.log
        );
        let ran = system.ran.lock().unwrap();
        assert_eq!(ran.len(), 1);
        assert!(ran[0].args.contains(&"repoquery".to_owned()), "{ran:?}");
    }

    #[test]
    fn the_exit_code_decides_the_outcome() {
        for (code, outcome) in [
            (Some(0), JobOutcome::Succeeded),
            (Some(100), JobOutcome::Failed),
            (None, JobOutcome::Failed),
        ] {
            let system = Recorder {
                exit_code: code,
                ran: Mutex::new(vec![]),
            };
            let job = JobOrder {
                id: 1,
                attempt: 1,
                spec: JobSpec::Refresh,
            };
            let result = run(&system, &job, PackageFormat::Deb, "amd64", None);
            assert_eq!((result.outcome, result.exit_code), (outcome, code));
            assert_eq!(system.ran.lock().unwrap()[0].args, ["update", "--quiet"]);
        }
    }

    #[test]
    fn real_processes_have_their_merged_output_and_exit_code_kept() {
        let ran = RealSystem.run(
            &Command::new("sh", &["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
        );
        assert_eq!(ran.exit_code, Some(3));
        assert!(
            ran.log.contains("out\n") && ran.log.contains("err\n"),
            "{}",
            ran.log
        );
        let slow = RealSystem.run(&Command::new("sleep", &["30"]), Duration::from_millis(300));
        assert_eq!(slow.exit_code, None, "stopped at the timeout");
        assert!(slow.log.contains("stopped after"), "{}", slow.log);
        let missing = RealSystem.run(
            &Command::new("patchport-no-such-program", &[]),
            Duration::from_secs(1),
        );
        assert_eq!(missing.exit_code, None);
        assert!(missing.log.contains("could not run"), "{}", missing.log);
    }
}
