//! `patchport-agent`: the command line over [`patchport_agent`].

use std::io::{self, Write};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use patchport_agent::client::Client;
use patchport_agent::config::{Config, InstallRoot, PackageManager, PackageSettings};
use patchport_agent::runner::Runner;
use std::path::{Path, PathBuf};

/// Patchport agent: reports this server's packages and pending updates to a
/// Patchport portal.
#[derive(Debug, Parser)]
#[command(name = "patchport-agent", version)]
struct Cli {
    /// Configuration file written by `enroll`.
    #[arg(long, global = true, default_value = patchport_agent::config::DEFAULT_PATH)]
    config: PathBuf,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The agent's subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Collect the report (packages, updates, reboot state) and print it as
    /// JSON, without sending it anywhere.
    Scan {
        /// Which package manager, on which root.
        #[command(flatten)]
        packages: PackageArgs,
    },
    /// Trade a one-time enrolment token for this server's credential and
    /// write the configuration file (mode 0600).
    Enroll {
        /// The portal's URL, e.g. https://patchport.example.org
        #[arg(long)]
        url: String,
        /// The enrolment token an admin created in the portal.
        #[arg(long, env = "PATCHPORT_ENROLL_TOKEN")]
        token: String,
        /// PEM file with the CA of the portal's certificate (default: the
        /// system's trust store).
        #[arg(long)]
        ca_file: Option<PathBuf>,
        /// Allow plain HTTP to a portal that is not on this machine.
        #[arg(long)]
        allow_http: bool,
        /// Directory for spooled reports and state.
        #[arg(long, default_value = patchport_agent::config::DEFAULT_STATE_DIR)]
        state_dir: PathBuf,
        /// Which package manager, on which root (kept in the configuration).
        #[command(flatten)]
        packages: PackageArgs,
    },
    /// Check in with the portal: forever (for the systemd unit), or once.
    Run {
        /// Check in, run the jobs the portal hands out, report again until
        /// no more come, then exit (status 0 on success).
        #[arg(long)]
        once: bool,
    },
}

/// Options that choose the package manager and its root; by default the
/// one found on this machine, on `/`.
#[derive(Debug, clap::Args)]
struct PackageArgs {
    /// Package manager to use instead of the one found on this machine.
    #[arg(long, value_name = "apt|dnf")]
    package_manager: Option<PackageManager>,
    /// Root of the package database instead of / (rpm --root, dnf
    /// --installroot; needs --package-manager dnf): an absolute path to an
    /// existing directory.
    #[arg(long, value_name = "DIR", value_parser = InstallRoot::parse_arg)]
    install_root: Option<InstallRoot>,
}

impl PackageArgs {
    fn settings(self) -> Result<PackageSettings, String> {
        PackageSettings::new(self.package_manager, self.install_root).map_err(|e| e.to_string())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PATCHPORT_AGENT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(io::stderr)
        .try_init();
    match cli.command {
        Command::Scan { packages } => match packages.settings() {
            Ok(settings) => scan(&settings),
            Err(e) => report_outcome(Err(e)),
        },
        Command::Enroll {
            url,
            token,
            ca_file,
            allow_http,
            state_dir,
            packages,
        } => report_outcome(packages.settings().and_then(|packages| {
            enroll(
                &cli.config,
                &url,
                &token,
                ca_file,
                allow_http,
                state_dir,
                packages,
            )
        })),
        Command::Run { once } => report_outcome(run(&cli.config, once)),
    }
}

fn report_outcome(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("patchport-agent: {e}");
            ExitCode::FAILURE
        }
    }
}

fn enroll(
    path: &Path,
    url: &str,
    token: &str,
    ca_file: Option<PathBuf>,
    allow_http: bool,
    state_dir: PathBuf,
    packages: PackageSettings,
) -> Result<(), String> {
    let report =
        patchport_agent::scan::collect_with(&packages).map_err(|e| format!("scan failed: {e}"))?;
    let client = Client::new(url, ca_file.as_deref(), allow_http).map_err(|e| e.to_string())?;
    let enrolled = client
        .enroll(token, &report.hostname)
        .map_err(|e| format!("enrolment failed: {e}"))?;
    let config = Config {
        url: patchport_agent::config::check_url(url, allow_http).map_err(|e| e.to_string())?,
        server_id: enrolled.server_id,
        credential: enrolled.credential,
        ca_file,
        allow_http,
        state_dir,
        packages,
    };
    config.save(path).map_err(|e| e.to_string())?;
    println!(
        "enrolled as server {} in {}; configuration written to {}",
        config.server_id,
        config.url,
        path.display()
    );
    // Report right away so the server shows up with its packages.
    let runner = Runner::new(&config)
        .map_err(|e| e.to_string())?
        .with_config_path(path);
    runner
        .check_in(report)
        .map(|_| ())
        .map_err(|e| format!("first check-in failed (will retry in `run`): {e}"))
}

fn run(path: &Path, once: bool) -> Result<(), String> {
    let config = Config::load(path).map_err(|e| e.to_string())?;
    let runner = Runner::new(&config)
        .map_err(|e| e.to_string())?
        .with_config_path(path);
    let collect =
        || patchport_agent::scan::collect_with(&config.packages).map_err(|e| e.to_string());
    let system = patchport_agent::jobs::RealSystem;
    if once {
        // Check in, run what the portal hands out, report again: until no
        // more jobs come.
        return runner
            .once(&collect, &system, 10)
            .map(|_| ())
            .map_err(|e| e.to_string());
    }
    tracing::info!(url = %config.url, server_id = config.server_id, "checking in");
    runner.run(&collect, &system).map_err(|e| e.to_string())
}

fn scan(packages: &PackageSettings) -> ExitCode {
    let report = match patchport_agent::scan::collect_with(packages) {
        Ok(report) => report,
        Err(err) => {
            eprintln!("patchport-agent: scan failed: {err}");
            return ExitCode::FAILURE;
        }
    };
    let json = match serde_json::to_string_pretty(&report) {
        Ok(json) => json,
        Err(err) => {
            eprintln!("patchport-agent: cannot encode the report: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = io::stdout().lock();
    match writeln!(stdout, "{json}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`scan | head`): it has what it wanted.
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("patchport-agent: cannot write the report: {err}");
            ExitCode::FAILURE
        }
    }
}
