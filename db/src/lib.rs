//! Patchport storage. All SQL lives here, one module per area, and the same
//! query text runs on SQLite and PostgreSQL through `sqlx::Any`. Callers get
//! a connection ([`Db::read`]) or a write transaction ([`Db::begin`]) and
//! pass it to the area functions, so a cause and its audit event (and later
//! its outbox mail) commit together.

pub mod accounts;
pub mod advisories;
pub mod agents;
pub mod audit;
pub mod groups;
pub mod home;
pub mod jobs;
pub mod mail;
pub mod report;
pub mod rollouts;
pub mod row;
pub mod servers;
pub mod sessions;
pub mod states;
pub mod throttle;
pub mod windows;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyPool, ConnectOptions, Executor};
use std::str::FromStr;
use std::time::Duration;

pub use sqlx::AnyConnection as Conn;

/// A pooled connection for reads: `&mut conn` serves as `&mut Conn`.
pub type ReadConn = PoolConnection<Any>;

/// A write transaction; commit it or it rolls back when dropped.
pub type Tx = sqlx::Transaction<'static, Any>;

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded file database, the default.
    Sqlite,
    /// Shared server, for several portal instances.
    Postgres,
}

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The row asked for does not exist.
    #[error("not found")]
    NotFound,
    /// A business rule refused the change; the text says why, for the
    /// person who asked (never a database message).
    #[error("{0}")]
    Conflict(String),
    /// A uniqueness rule was broken: [`Unique`] says which, so the caller
    /// can name the field (the database's own text stays in the log).
    #[error("already exists: {0:?}")]
    Duplicate(Unique),
    /// The change refers to a row that no longer exists (a foreign key).
    #[error("refers to a row that does not exist")]
    Dangling(#[source] sqlx::Error),
    /// Anything else the database said. Never shown to users.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A stored value could not be read back (a bug or a hand edit). Never
    /// shown to users.
    #[error("stored data is unreadable: {0}")]
    Corrupt(String),
    /// A migration could not be applied.
    #[error("migration failed")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    /// The URL names no supported database.
    #[error("unsupported database URL (expected sqlite:… or postgres://…)")]
    UnsupportedUrl,
}

/// The uniqueness rules people can run into, each with a field to name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unique {
    /// `account.username`.
    Username,
    /// `server_group.name`.
    GroupName,
    /// Only one group is the test group.
    TestGroup,
    /// `rollout_policy.name`.
    PolicyName,
    /// `maintenance_window.name`.
    WindowName,
    /// Any other rule: a bug when a person meets it; the database's
    /// message is logged.
    Other,
}

/// Which rule a unique violation broke, by SQLite's column list (its
/// message says `UNIQUE constraint failed: table.column`) or PostgreSQL's
/// constraint name. The one table of it.
const UNIQUE_RULES: &[(&str, &str, Unique)] = &[
    ("account.username", "account_username_key", Unique::Username),
    (
        "server_group.name",
        "server_group_name_key",
        Unique::GroupName,
    ),
    (
        "server_group.is_test_group",
        "server_group_one_test",
        Unique::TestGroup,
    ),
    (
        "rollout_policy.name",
        "rollout_policy_name_key",
        Unique::PolicyName,
    ),
    (
        "maintenance_window.name",
        "maintenance_window_name_key",
        Unique::WindowName,
    ),
];

impl Unique {
    fn of(d: &dyn sqlx::error::DatabaseError) -> Unique {
        let sqlite = d
            .message()
            .strip_prefix("UNIQUE constraint failed: ")
            .unwrap_or_default();
        let postgres = d.constraint().unwrap_or_default();
        UNIQUE_RULES
            .iter()
            .find(|(s, p, _)| *s == sqlite || *p == postgres)
            .map_or(Unique::Other, |(_, _, u)| *u)
    }
}

impl From<sqlx::Error> for StorageError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StorageError::NotFound,
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                let rule = Unique::of(d.as_ref());
                if rule == Unique::Other {
                    tracing::warn!(error = %d, "unexpected unique violation");
                }
                StorageError::Duplicate(rule)
            }
            sqlx::Error::Database(d) if d.is_foreign_key_violation() => StorageError::Dangling(e),
            _ => StorageError::Database(e),
        }
    }
}

impl StorageError {
    /// Whether the database could not be reached (connection refused or
    /// lost, no connection free in time, the server shutting down): a
    /// moment later the same request may work, so callers answer 503.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StorageError::Database(e) => match e {
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_) => true,
                // PostgreSQL: admin shutdown, cannot connect now, and the
                // connection-exception class.
                sqlx::Error::Database(d) => matches!(
                    d.code().as_deref(),
                    Some("57P01" | "57P02" | "57P03" | "08000" | "08003" | "08006")
                ),
                _ => false,
            },
            _ => false,
        }
    }

    /// Whether the transaction lost a race (PostgreSQL deadlock or
    /// serialization failure) and may simply be run again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Database(sqlx::Error::Database(d))
            if matches!(d.code().as_deref(), Some("40P01" | "40001")))
    }
}

/// Result of a storage call.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// A page of rows plus the total, for paged lists.
pub use patchport_core::view::Page;

/// The database handle: cheap to clone.
///
/// On SQLite, writes go through a one-connection pool so that writers queue
/// in the application instead of failing with "database is locked"; reads
/// use a separate pool and, thanks to WAL, never wait for writers.
#[derive(Debug, Clone)]
pub struct Db {
    read: AnyPool,
    write: AnyPool,
    backend: Backend,
}

impl Db {
    /// Connects to `url` (`sqlite:path` or `postgres://…`). SQLite files are
    /// created if missing and run with WAL, foreign keys and a busy timeout.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StorageError::UnsupportedUrl);
        };
        let opts = AnyConnectOptions::from_str(url)?
            .log_slow_statements(tracing::log::LevelFilter::Warn, Duration::from_millis(500));
        match backend {
            Backend::Sqlite => {
                let opts = if url.contains('?') {
                    opts
                } else {
                    AnyConnectOptions::from_str(&format!("{url}?mode=rwc"))?
                };
                let write = AnyPoolOptions::new()
                    .max_connections(1)
                    .after_connect(sqlite_pragmas)
                    .connect_with(opts.clone())
                    .await?;
                // WAL is a property of the file: set once, by the writer.
                sqlx::query("pragma journal_mode = wal")
                    .execute(&write)
                    .await?;
                let read = AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(sqlite_pragmas)
                    .connect_with(opts)
                    .await?;
                Ok(Self {
                    read,
                    write,
                    backend,
                })
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts)
                    .await?;
                Ok(Self {
                    read: pool.clone(),
                    write: pool,
                    backend,
                })
            }
        }
    }

    /// Applies pending migrations for this backend.
    pub async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Postgres => sqlx::migrate!("../migrations/postgres")
                .run(&self.write)
                .await
                .map_err(StorageError::Migrate),
            Backend::Sqlite => self.migrate_sqlite().await,
        }
    }

    /// SQLite changes a table's constraints only by rebuilding it (create,
    /// copy, drop, rename: `0020_rollback`), which must run with foreign
    /// keys off, as SQLite's own procedure says: dropping the old table
    /// with them on would delete or clear every row that points at it. The
    /// pragma does nothing inside a transaction and sqlx runs each SQLite
    /// migration in one, so it is set on the connection around the
    /// migrator; the keys are checked after, and the connection is closed,
    /// never handed back to the pool with its keys off.
    async fn migrate_sqlite(&self) -> Result<()> {
        let mut conn = self.write.acquire().await?.detach();
        conn.execute("pragma foreign_keys = off").await?;
        let ran = sqlx::migrate!("../migrations/sqlite")
            .run(&mut conn)
            .await
            .map_err(StorageError::Migrate);
        let broken = match ran {
            Ok(()) => {
                sqlx::query_as::<_, (String, String)>(
                    "select \"table\", parent from pragma_foreign_key_check",
                )
                .fetch_all(&mut conn)
                .await
            }
            Err(e) => {
                let _ = sqlx::Connection::close(conn).await;
                return Err(e);
            }
        };
        let _ = sqlx::Connection::close(conn).await;
        match broken?.first() {
            None => Ok(()),
            Some((table, parent)) => Err(StorageError::Migrate(
                sqlx::migrate::MigrateError::Execute(sqlx::Error::Protocol(format!(
                    "after migrating, rows of {table} point at missing rows of {parent}"
                ))),
            )),
        }
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A connection for reads.
    pub async fn read(&self) -> Result<ReadConn> {
        Ok(self.read.acquire().await?)
    }

    /// Starts a write transaction. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`): a deferred transaction that reads first
    /// fails at its first write, without waiting, if another process (an
    /// advisory import from the command line) wrote in between; an
    /// immediate one waits for the lock (the busy timeout) instead.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match self.backend {
            Backend::Sqlite => self.write.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.write.begin().await?,
        })
    }

    /// A write connection outside a transaction, for a single statement
    /// that is atomic by itself (saves the BEGIN and COMMIT round trips on
    /// hot paths).
    pub async fn write(&self) -> Result<PoolConnection<Any>> {
        Ok(self.write.acquire().await?)
    }

    /// Checks that the database answers, for `/healthz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("select 1").execute(&self.read).await?;
        Ok(())
    }

    /// Closes both pools, waiting for connections in use.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

// Per-connection settings; WAL itself is set once on the file.
fn sqlite_pragmas<'c>(
    conn: &'c mut sqlx::AnyConnection,
    _: sqlx::pool::PoolConnectionMetadata,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), sqlx::Error>> + Send + 'c>> {
    Box::pin(async move {
        conn.execute(
            "pragma foreign_keys = on; pragma busy_timeout = 5000; pragma synchronous = normal;",
        )
        .await
        .map(|_| ())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn any_page_number_is_a_page() {
        assert_eq!(super::limit_offset(1, 50), (50, 0));
        assert_eq!(super::limit_offset(-5, 0), (1, 0));
        assert_eq!(super::limit_offset(i64::MAX, 50), (50, i64::MAX));
        assert_eq!(
            super::limit_offset(3, i64::MAX),
            (super::MAX_PAGE, 2 * super::MAX_PAGE)
        );
    }

    #[test]
    fn values_placeholders_number_across_rows() {
        assert_eq!(
            super::values_placeholders(2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(super::values_placeholders(1, 1), "($1)");
    }
}

/// The largest page [`limit_offset`] allows.
pub const MAX_PAGE: i64 = 10_000;

/// Converts a 1-based page number and page size to `(limit, offset)`,
/// bounding both so a request cannot ask for everything at once. Pages
/// hold at most [`MAX_PAGE`] rows (what an export batch fetches).
pub fn limit_offset(page: i64, per_page: i64) -> (i64, i64) {
    let per_page = per_page.clamp(1, MAX_PAGE);
    let page = page.max(1);
    // A page number from a URL can be anything: past the end it is an
    // empty page, never an overflow.
    (per_page, (page - 1).saturating_mul(per_page))
}

/// Helpers for tests of this and other crates: fresh, isolated databases.
pub mod testing {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// The environment variable that names a PostgreSQL server for tests
    /// (e.g. `postgres://postgres@127.0.0.1:5432/test`).
    pub const POSTGRES_ENV: &str = "PATCHPORT_TEST_POSTGRES";

    /// Prefix of every database that tests create, so a test run can drop
    /// leftovers of earlier runs.
    pub const DB_PREFIX: &str = "patchport_test_";

    static COUNTER: AtomicU32 = AtomicU32::new(0);

    fn unique_name() -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        format!(
            "{DB_PREFIX}{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// A URL for a new, empty SQLite file inside `dir`.
    pub fn sqlite_url(dir: &std::path::Path) -> String {
        format!(
            "sqlite:{}",
            dir.join(format!("{}.db", unique_name())).display()
        )
    }

    /// Creates an empty PostgreSQL database next to the one in
    /// [`POSTGRES_ENV`] and returns its URL, or `None` when that variable is
    /// not set.
    pub async fn postgres_url() -> Option<String> {
        let base = std::env::var(POSTGRES_ENV).ok().filter(|s| !s.is_empty())?;
        sqlx::any::install_default_drivers();
        let name = unique_name();
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("{POSTGRES_ENV}={base} is not reachable: {e}"));
        sqlx::query(&format!("create database {name}"))
            .execute(&mut admin)
            .await
            .expect("create test database");
        let mut url = url_without_db(&base);
        url.push_str(&name);
        Some(url)
    }

    fn url_without_db(base: &str) -> String {
        let (head, _) = base.split_once('?').unwrap_or((base, ""));
        match head.rfind('/') {
            Some(i) if i > "postgres://".len() => head[..=i].to_owned(),
            _ => format!("{head}/"),
        }
    }

    /// URLs of every backend the tests should run on: a fresh SQLite file
    /// in `dir` always, plus a fresh PostgreSQL database when
    /// [`POSTGRES_ENV`] is set, which CI (`CI` set) must do: a CI run that
    /// skipped PostgreSQL would test half the storage.
    pub async fn urls(dir: &std::path::Path) -> Vec<String> {
        let mut urls = vec![sqlite_url(dir)];
        urls.extend(postgres_url().await);
        if std::env::var("CI").is_ok() {
            assert_eq!(
                urls.len(),
                2,
                "CI must test PostgreSQL too: set {POSTGRES_ENV}"
            );
        }
        urls
    }

    /// Every backend the tests should run on ([`urls`]), each migrated.
    pub async fn backends(dir: &std::path::Path) -> Vec<Db> {
        let mut dbs = Vec::new();
        for url in urls(dir).await {
            let db = Db::connect(&url).await.expect("connect test database");
            db.migrate().await.expect("migrate test database");
            dbs.push(db);
        }
        dbs
    }

    /// Runs `story` on each backend of [`backends`] in turn (its name goes
    /// to the test's output), closing each database after it.
    pub async fn with_backends<F, Fut>(story: F)
    where
        F: Fn(Db) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let dir = std::env::temp_dir().join(unique_name());
        std::fs::create_dir_all(&dir).expect("a directory for the test databases");
        for db in backends(&dir).await {
            eprintln!("backend: {:?}", db.backend());
            story(db.clone()).await;
            db.close().await;
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// Escapes `%`, `_` and `\` for a `like … escape` pattern (escape char `\`).
pub fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Ids as the inside of an SQL `in (…)` list; being numbers, they need no
/// quoting.
pub(crate) fn id_list(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
}

/// `($1, $2), ($3, $4), …` for a multi-row insert. `sqlx::QueryBuilder`
/// writes `?` placeholders under `sqlx::Any`, which PostgreSQL rejects.
pub fn values_placeholders(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let cols: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Renders an error with all its causes, for logs.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Commits a write transaction.
pub async fn commit(tx: Tx) -> Result<()> {
    Ok(tx.commit().await?)
}
