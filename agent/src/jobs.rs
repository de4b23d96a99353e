//! Running the portal's jobs on this machine. The agent runs as root, so it
//! runs only typed jobs, each turned here into a fixed program with argument
//! lists (no shell): exact-version upgrades with apt-get or dnf, a metadata
//! refresh, or a reboot. Every package target is validated again here, so a
//! compromised portal still cannot pass an option or a second command.

use crate::config::InstallRoot;
use patchport_core::protocol::{
    JOB_TIMEOUT, JobOrder, JobOutcome, JobResult, JobSpec, MAX_JOB_LOG, PackageFormat,
    PackageTarget, log_tail,
};
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

/// The apt-get or dnf argument for one exact version.
fn package_spec(format: PackageFormat, native_arch: &str, p: &PackageTarget) -> String {
    match format {
        PackageFormat::Deb if p.arch == native_arch || p.arch == "all" => {
            format!("{}={}", p.name, p.version)
        }
        PackageFormat::Deb => format!("{}:{}={}", p.name, p.arch, p.version),
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
        PackageFormat::Deb => {
            let mut c = Command::new(
                "apt-get",
                &[
                    "install",
                    "--yes",
                    "--quiet",
                    "--only-upgrade",
                    "--no-install-recommends",
                    "-o",
                    "Dpkg::Options::=--force-confdef",
                    "-o",
                    "Dpkg::Options::=--force-confold",
                    "--",
                ],
            );
            c.args.extend(specs);
            c.env = vec![
                ("DEBIAN_FRONTEND".into(), "noninteractive".into()),
                // Ubuntu's needrestart must only list, never prompt.
                ("NEEDRESTART_MODE".into(), "l".into()),
            ];
            c
        }
        PackageFormat::Rpm => {
            let mut c = dnf_command(root, &["upgrade", "--assumeyes", "--quiet", "--"]);
            c.args.extend(specs);
            c
        }
    }
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

/// The result of running `job` for an install or refresh, with dnf on
/// `root` when one is given. Reboots are run by [`reboot`], because their
/// result must be sent before the machine goes down.
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
