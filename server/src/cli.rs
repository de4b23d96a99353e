//! The command line: `serve` (default), `migrate`, `user add`, `demo`.

use crate::config::Settings;
use crate::startup::{Application, connect, shutdown_signal};
use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use patchport_core::{Clock, Email, Password, Role, SystemClock, Username};
use patchport_db::{Db, accounts, audit};
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
        Command::Serve => {
            let settings = Settings::from_env()?;
            tracing::info!(?settings, "starting");
            Application::build(&settings, clock)
                .await?
                .run_until(shutdown_signal())
                .await
        }
        Command::Migrate => {
            let settings = Settings::from_env()?;
            connect(&settings).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::User {
            action:
                UserCommand::Add {
                    username,
                    admin,
                    display_name,
                    email,
                    password_stdin,
                },
        } => {
            let settings = Settings::from_env()?;
            let db = connect(&settings).await?;
            let (password, generated) = if password_stdin {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading the password from stdin")?;
                (s.trim_end_matches(['\r', '\n']).to_owned(), false)
            } else {
                (random_password(), true)
            };
            let role = if admin { Role::Admin } else { Role::Owner };
            add_user(
                &db,
                clock.as_ref(),
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
        Command::Token {
            action: TokenCommand::Create { label, hours, uses },
        } => {
            if !(1..=720).contains(&hours) || !(1..=100_000).contains(&uses) {
                bail!("--hours must be 1 to 720 and --uses 1 to 100000");
            }
            let settings = Settings::from_env()?;
            let db = connect(&settings).await?;
            let token = create_token(&db, clock.as_ref(), &label, hours, uses).await?;
            println!("{token}");
            Ok(())
        }
        Command::Demo => {
            let mut settings = Settings::from_env()?;
            if std::env::var("DATABASE_URL").is_err() {
                settings.database_url =
                    format!("sqlite:{}", settings.data_dir.join("demo.db").display());
            }
            let db = connect(&settings).await?;
            seed_demo(&db, clock.as_ref()).await?;
            db.close().await;
            println!(
                "\n  Patchport demo: {}\n    admin:  {DEMO_ADMIN} / {DEMO_PASSWORD}\n    owner:  {DEMO_OWNER} / {DEMO_PASSWORD}\n",
                settings.public_url
            );
            Application::build(&settings, clock)
                .await?
                .run_until(shutdown_signal())
                .await
        }
    }
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
    let password = Password::parse(password)?;
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
        Err(patchport_db::StorageError::Conflict(_)) => bail!("user '{name}' already exists"),
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
