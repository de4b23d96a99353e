//! The command line: `serve` (default), `migrate`, `user add`, `demo`,
//! `token create`, `advisories import` / `advisories kev`.

use crate::config::Settings;
use crate::startup::{Application, connect, shutdown_signal};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use patchport_core::demo::{DEMO_SERVERS, DemoAgent, DemoFleet};
use patchport_core::protocol::secret_digest;
use patchport_core::{Clock, Email, Password, Role, SystemClock, Username};
use patchport_db::{Db, accounts, audit, servers};
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

/// Patchport: self-hosted patch management portal.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the portal (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        action: UserCommand,
    },
    /// Serve a demo portal with ready-made accounts (separate database,
    /// `data/demo.db` unless DATABASE_URL is set).
    Demo,
    /// Manage agent enrolment tokens (for automation; the UI does the same).
    Token {
        #[command(subcommand)]
        action: TokenCommand,
    },
    /// Import security advisories (OSV) and the CISA KEV catalog.
    Advisories {
        #[command(subcommand)]
        action: AdvisoryCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdvisoryCommand {
    /// Import OSV advisories from JSON files, directories of them, or zips
    /// (as osv.dev publishes them per ecosystem), or from http(s) URLs of
    /// such a zip or document. All or nothing.
    Import {
        /// Files, directories, zips or URLs.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Import the CISA Known Exploited Vulnerabilities catalog (JSON).
    Kev {
        /// The catalog file (known_exploited_vulnerabilities.json) or its URL.
        path: String,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create an enrolment token and print it (shown once).
    Create {
        /// What the token is for.
        #[arg(long, default_value = "")]
        label: String,
        /// Hours until it expires (1–720).
        #[arg(long, default_value_t = 24)]
        hours: i64,
        /// How many servers may enrol with it (1–100000).
        #[arg(long, default_value_t = 1)]
        uses: i64,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create an account. The password is read from standard input
    /// (`--password-stdin`) or generated and printed.
    Add {
        /// User name (3–64 of letters, digits, . - _ @).
        #[arg(long)]
        username: String,
        /// Make the account an admin (default: owner).
        #[arg(long)]
        admin: bool,
        /// Name to show in the UI.
        #[arg(long, default_value = "")]
        display_name: String,
        /// Email address for notifications.
        #[arg(long)]
        email: Option<String>,
        /// Read the password from standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

/// Sets up logging: `PATCHPORT_LOG` filter (default `info`),
/// `PATCHPORT_LOG_FORMAT=json` for JSON lines.
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("PATCHPORT_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_sessions=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("PATCHPORT_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(clock).await,
        Command::Migrate => migrate().await,
        Command::User { action } => user(action, clock.as_ref()).await,
        Command::Token { action } => token(action, clock.as_ref()).await,
        Command::Advisories { action } => advisories(action, clock.as_ref()).await,
        Command::Demo => demo(clock).await,
    }
}

/// `serve`: runs the portal until it is told to stop.
async fn serve(clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    tracing::info!(?settings, "starting");
    Application::build(&settings, clock)
        .await?
        .run_until(shutdown_signal())
        .await
}

/// `migrate`: applies the database migrations (connecting does) and exits.
async fn migrate() -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    connect(&settings).await?;
    println!("migrations applied");
    Ok(())
}

/// `user add`: creates an account with a password read from standard input
/// or generated, and prints the generated one.
async fn user(action: UserCommand, clock: &dyn Clock) -> anyhow::Result<()> {
    let UserCommand::Add {
        username,
        admin,
        display_name,
        email,
        password_stdin,
    } = action;
    let settings = Settings::from_env()?;
    let db = connect(&settings).await?;
    let (password, generated) = if password_stdin {
        (read_password()?, false)
    } else {
        (random_password(), true)
    };
    let role = if admin { Role::Admin } else { Role::Owner };
    add_user(
        &db,
        clock,
        &username,
        &display_name,
        email.as_deref(),
        role,
        &password,
    )
    .await?;
    println!("created {role} '{}'", Username::parse(&username)?);
    if generated {
        println!("password: {password}");
    }
    Ok(())
}

/// The password on standard input, without its line ending.
fn read_password() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("reading the password from stdin")?;
    Ok(s.trim_end_matches(['\r', '\n']).to_owned())
}

/// `token create`: checks the limits, creates an enrolment token and
/// prints it.
async fn token(action: TokenCommand, clock: &dyn Clock) -> anyhow::Result<()> {
    let TokenCommand::Create { label, hours, uses } = action;
    if !(1..=720).contains(&hours) || !(1..=100_000).contains(&uses) {
        bail!("--hours must be 1 to 720 and --uses 1 to 100000");
    }
    let settings = Settings::from_env()?;
    let db = connect(&settings).await?;
    let token = create_token(&db, clock, &label, hours, uses).await?;
    println!("{token}");
    Ok(())
}

/// `advisories import` and `advisories kev`: imports and prints what was
/// read.
async fn advisories(action: AdvisoryCommand, clock: &dyn Clock) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let db = connect(&settings).await?;
    match action {
        AdvisoryCommand::Import { paths } => import_advisories(&db, clock, &paths).await?,
        AdvisoryCommand::Kev { path } => import_kev(&db, clock, &path).await?,
    }
    db.close().await;
    Ok(())
}

/// Imports OSV advisories from files, directories and zips (one import)
/// and from URLs (one import each), and prints each import's counts and
/// notes.
async fn import_advisories(db: &Db, clock: &dyn Clock, paths: &[String]) -> anyhow::Result<()> {
    let (urls, files): (Vec<&String>, Vec<&String>) = paths.iter().partition(|p| is_url(p));
    let mut results = Vec::new();
    if !files.is_empty() {
        let files: Vec<&std::path::Path> = files
            .iter()
            .map(|p| std::path::Path::new(p.as_str()))
            .collect();
        results.push(crate::advisories::import_osv(db, clock, &files, "cli").await?);
    }
    for url in urls {
        results.push(crate::advisories::import_url(db, clock, url, "cli").await?);
    }
    for done in results {
        println!(
            "{} advisories read: {} new, {} changed, {} unchanged; {} server-patch versions matched again",
            done.read, done.inserted, done.updated, done.unchanged, done.matched
        );
        for warning in &done.warnings {
            println!("  note: {warning}");
        }
    }
    Ok(())
}

/// Imports the KEV catalog from a file or URL and prints its counts.
async fn import_kev(db: &Db, clock: &dyn Clock, path: &str) -> anyhow::Result<()> {
    let done = if is_url(path) {
        crate::advisories::import_kev_url(db, clock, path, "cli").await?
    } else {
        crate::advisories::import_kev(db, clock, std::path::Path::new(path), "cli").await?
    };
    println!(
        "{} known exploited vulnerabilities read, {} new or changed; {} server-patch versions matched again",
        done.read, done.inserted, done.matched
    );
    Ok(())
}

/// `demo`: seeds the demo accounts and fleet, then serves the portal with
/// the simulated servers checking in and demo advisories imported once
/// they have reported.
async fn demo(clock: Arc<dyn Clock>) -> anyhow::Result<()> {
    let mut settings = Settings::from_env()?;
    if std::env::var("DATABASE_URL").is_err() {
        settings.database_url = format!("sqlite:{}", settings.data_dir.join("demo.db").display());
    }
    let db = connect(&settings).await?;
    seed_demo(&db, clock.as_ref()).await?;
    let fleet_file = settings.data_dir.join("demo-fleet.json");
    let app = Application::build(&settings, clock.clone()).await?;
    let url = format!("http://127.0.0.1:{}", app.port());
    seed_demo_fleet(&db, clock.as_ref(), &fleet_file, &url).await?;
    db.close().await;
    println!(
        "\n  Patchport demo: {}\n    admin:  {DEMO_ADMIN} / {DEMO_PASSWORD}\n    owner:  {DEMO_OWNER} / {DEMO_PASSWORD}\n",
        settings.public_url
    );
    // The simulated servers check in through the real agent client.
    let _fleet = start_demo_fleet(&fleet_file);
    // Once they have reported, demo advisories give the catalog
    // CVEs, severities and risk.
    spawn_demo_advisories(app.state().db.clone(), clock);
    app.run_until(shutdown_signal()).await
}

/// In the background, waits (up to two minutes) until the simulated
/// servers have reported enough security patches, then imports demo
/// advisories for them, unless any advisories are stored already.
fn spawn_demo_advisories(db: Db, clock: Arc<dyn Clock>) {
    tokio::spawn(async move {
        for _ in 0..60 {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            let Ok(mut conn) = db.read().await else {
                continue;
            };
            let seeded = patchport_db::advisories::any(&mut conn)
                .await
                .unwrap_or(true);
            let patches = patchport_db::advisories::security_patches(&mut conn)
                .await
                .map(|p| p.len())
                .unwrap_or(0);
            drop(conn);
            if seeded {
                return;
            }
            if patches >= 20 {
                match crate::advisories::seed_demo_advisories(&db, clock.as_ref()).await {
                    Ok(done) => tracing::info!(
                        advisories = done.inserted,
                        matched = done.matched,
                        "demo advisories imported"
                    ),
                    Err(e) => tracing::warn!(error = %e, "demo advisories not imported"),
                }
                return;
            }
        }
    });
}

/// Demo admin user name.
pub const DEMO_ADMIN: &str = "admin";
/// Demo owner user name.
pub const DEMO_OWNER: &str = "owner";
/// The demo accounts' password. Public by design: it is a demo database.
pub const DEMO_PASSWORD: &str = "patchport-demo";

/// Creates (or resets) the demo accounts.
pub async fn seed_demo(db: &Db, clock: &dyn Clock) -> anyhow::Result<()> {
    for (name, display, role) in [
        (DEMO_ADMIN, "Ada Admin", Role::Admin),
        (DEMO_OWNER, "Owen Owner", Role::Owner),
    ] {
        let mut conn = db.read().await?;
        let existing = accounts::find_for_login(&mut conn, name).await?;
        drop(conn);
        match existing {
            None => {
                let email = format!("{name}@demo.patchport.invalid");
                add_user(db, clock, name, display, Some(&email), role, DEMO_PASSWORD).await?;
            }
            Some((account, _)) => {
                let hash = app::ssr::passwords::hash(&Password::parse(DEMO_PASSWORD)?).await?;
                let mut tx = db.begin().await?;
                accounts::set_password_hash(&mut tx, account.id, &hash, clock.now()).await?;
                accounts::set_disabled(&mut tx, account.id, false, clock.now()).await?;
                patchport_db::commit(tx).await?;
            }
        }
    }
    Ok(())
}

/// Creates the demo's groups and simulated servers (owners, criticality,
/// groups, credentials) unless the fleet file already names live ones, and
/// writes the fleet file (mode 0600) for `patchport-fleet --simulate`.
pub async fn seed_demo_fleet(
    db: &Db,
    clock: &dyn Clock,
    path: &std::path::Path,
    url: &str,
) -> anyhow::Result<()> {
    let now = clock.now();
    // Reuse the servers of an earlier run while their credentials work.
    if let Ok(text) = std::fs::read_to_string(path)
        && let Ok(mut fleet) = serde_json::from_str::<DemoFleet>(&text)
        && demo_fleet_live(db, &fleet).await?
    {
        fleet.url = url.to_owned();
        write_private(path, &serde_json::to_vec_pretty(&fleet)?)?;
        return Ok(());
    }
    let mut tx = db.begin().await?;
    let owner = accounts::find_for_login(&mut tx, DEMO_OWNER)
        .await?
        .map(|(a, _)| a.id);
    let group_ids = seed_demo_groups(&mut tx, now).await?;
    let mut fleet = DemoFleet {
        url: url.to_owned(),
        agents: Vec::new(),
    };
    for (index, server) in DEMO_SERVERS.iter().enumerate() {
        let agent = seed_demo_server(&mut tx, index, server, owner, &group_ids, now).await?;
        fleet.agents.push(agent);
    }
    let event = audit::NewAuditEvent {
        actor_name: "cli",
        action: "demo.fleet_created",
        target: "demo",
        detail: &format!("{} simulated servers", fleet.agents.len()),
        source: "cli",
        ..Default::default()
    };
    audit::record(&mut tx, &event, now).await?;
    patchport_db::commit(tx).await?;
    write_private(path, &serde_json::to_vec_pretty(&fleet)?)?;
    Ok(())
}

/// Whether an earlier run's fleet has agents and each one's credential is
/// still the server's current one.
async fn demo_fleet_live(db: &Db, fleet: &DemoFleet) -> anyhow::Result<bool> {
    let mut conn = db.read().await?;
    let mut live = !fleet.agents.is_empty();
    for agent in &fleet.agents {
        let Some((id, secret)) = agent.credential.split_once('.') else {
            live = false;
            break;
        };
        let stored = patchport_db::agents::credential(&mut conn, id.parse().unwrap_or(-1)).await?;
        live &= stored.is_some_and(|c| c.secret_hash == secret_digest(secret));
    }
    Ok(live)
}

/// Creates the demo's groups where missing (canary the test group) and,
/// when there are no maintenance windows yet, a nightly one for the
/// database servers. Returns the groups' ids by name.
async fn seed_demo_groups(
    tx: &mut patchport_db::Conn,
    now: i64,
) -> anyhow::Result<HashMap<&'static str, i64>> {
    let existing = patchport_db::groups::list(tx).await?;
    let mut group_ids = HashMap::new();
    for name in ["canary", "web", "database", "app"] {
        let id = match existing.iter().find(|g| g.name == name) {
            Some(g) => g.id,
            None => patchport_db::groups::create(tx, name, now).await?,
        };
        group_ids.insert(name, id);
    }
    patchport_db::groups::set_test_group(tx, group_ids.get("canary").copied()).await?;
    // A nightly window for the database servers (critical, published to
    // their owner), so the owner can book reboots and install "in the
    // window" from the start; the web servers stay without one.
    if patchport_db::windows::list(tx).await?.is_empty()
        && let Some(&database) = group_ids.get("database")
    {
        let nightly = patchport_core::window::Window {
            days: (1..=7).collect(),
            start_minute: 21 * 60,
            duration_minutes: 8 * 60,
            time_zone: "Europe/Berlin".to_owned(),
        }
        .validated()?;
        let id = patchport_db::windows::create(tx, "Database nights", &nightly, now).await?;
        patchport_db::windows::assign(tx, id, &[database], &[]).await?;
    }
    Ok(group_ids)
}

/// Creates one of [`DEMO_SERVERS`] with a fresh credential, its owner (when
/// owned), criticality and group, and returns it as a simulated agent.
async fn seed_demo_server(
    tx: &mut patchport_db::Conn,
    index: usize,
    &(hostname, group, criticality, owned, silent): &(&str, &str, &str, bool, bool),
    owner: Option<i64>,
    group_ids: &HashMap<&'static str, i64>,
    now: i64,
) -> anyhow::Result<DemoAgent> {
    let server_id = servers::create(tx, hostname, now).await?;
    let secret = app::ssr::new_secret();
    patchport_db::agents::set_credential(tx, server_id, &secret_digest(&secret), now).await?;
    servers::set_assignment(tx, server_id, if owned { owner } else { None }, criticality).await?;
    if let Some(g) = group_ids.get(group) {
        patchport_db::groups::set_server_groups(tx, server_id, &[*g]).await?;
    }
    Ok(DemoAgent {
        hostname: hostname.to_owned(),
        credential: format!("{server_id}.{secret}"),
        index,
        silent,
    })
}

fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(bytes)?;
    std::fs::rename(tmp, path)
}

/// Starts `patchport-fleet --simulate` from beside this executable, if it
/// was built; the child stops with the portal.
fn start_demo_fleet(file: &std::path::Path) -> Option<tokio::process::Child> {
    let fleet = std::env::current_exe()
        .ok()?
        .with_file_name("patchport-fleet");
    if !fleet.exists() {
        tracing::warn!(
            "patchport-fleet is not built next to patchport: the demo servers stay silent \
             (cargo build -p patchport-agent)"
        );
        return None;
    }
    let interval = std::env::var("PATCHPORT_DEMO_FLEET_INTERVAL").unwrap_or_else(|_| "30".into());
    match tokio::process::Command::new(&fleet)
        .arg("--simulate")
        .arg(file)
        .arg("--interval")
        .arg(interval)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(child) => {
            tracing::info!(fleet = %fleet.display(), "demo fleet started");
            Some(child)
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not start the demo fleet");
            None
        }
    }
}

/// Creates an account from the command line, recording it in the audit trail.
pub async fn add_user(
    db: &Db,
    clock: &dyn Clock,
    username: &str,
    display_name: &str,
    email: Option<&str>,
    role: Role,
    password: &str,
) -> anyhow::Result<()> {
    let name = Username::parse(username)?;
    let email = email.map(Email::parse).transpose()?;
    let password = app::ssr::passwords::new_password(password)?;
    let hash = app::ssr::passwords::hash(&password).await?;
    let now = clock.now();
    let mut tx = db.begin().await?;
    let new = accounts::NewAccount {
        username: name.as_str(),
        display_name: display_name.trim(),
        email: email.as_ref().map(Email::as_str),
        role,
        password_hash: &hash,
    };
    let created = match accounts::create(&mut tx, &new, now).await {
        Err(patchport_db::StorageError::Duplicate(_)) => bail!("user '{name}' already exists"),
        other => other?,
    };
    let event = audit::NewAuditEvent {
        actor_name: "cli",
        action: "user.created",
        target: &created.username,
        detail: &format!("role {role}, from the command line"),
        source: "cli",
        ..Default::default()
    };
    audit::record(&mut tx, &event, now).await?;
    patchport_db::commit(tx).await?;
    Ok(())
}

/// Creates an enrolment token from the command line, audited as `cli`.
pub async fn create_token(
    db: &Db,
    clock: &dyn Clock,
    label: &str,
    hours: i64,
    uses: i64,
) -> anyhow::Result<String> {
    let now = clock.now();
    let mut tx = db.begin().await?;
    let (token, id) =
        app::ssr::issue_enrollment_token(&mut tx, label, None, hours, uses, now).await?;
    let event = audit::NewAuditEvent {
        actor_name: "cli",
        action: "agent.token_created",
        target: label,
        detail: &format!("token {id}, {uses} uses, valid {hours} h, from the command line"),
        source: "cli",
        ..Default::default()
    };
    audit::record(&mut tx, &event, now).await?;
    patchport_db::commit(tx).await?;
    Ok(token)
}

fn random_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}
