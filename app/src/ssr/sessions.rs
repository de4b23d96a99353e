//! tower-sessions store in the portal's own database (SQLite or PostgreSQL),
//! with the signed-in account lifted into a column so that a password change
//! or a disabled account can end that person's sessions in one statement.

use async_trait::async_trait;
use patchport_core::Clock;
use patchport_db::{Db, sessions};
use std::sync::Arc;
use time::OffsetDateTime;
use tower_sessions::session::{Id, Record};
use tower_sessions::session_store::{Error, Result};

/// The session store.
#[derive(Debug, Clone)]
pub struct SqlSessionStore {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl SqlSessionStore {
    /// A store over `db`, judging expiry by `clock`.
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }
}

/// What the session layer is told of a storage error. Its error type
/// only carries text, so an unreachable database is marked in it
/// ([`UNAVAILABLE`]) for the sign-in gate to answer 503 rather than 500.
fn backend(e: impl Into<patchport_db::StorageError>) -> Error {
    let e: patchport_db::StorageError = e.into();
    if e.is_unavailable() {
        Error::Backend(format!("{UNAVAILABLE}: {}", crate::errors::error_chain(&e)))
    } else {
        Error::Backend(crate::errors::error_chain(&e))
    }
}

/// Marks a session store error caused by an unreachable database.
pub const UNAVAILABLE: &str = "database unavailable";

fn account_of(record: &Record) -> Option<i64> {
    record
        .data
        .get(super::auth::AUTH_KEY)?
        .get("account_id")?
        .as_i64()
}

impl SqlSessionStore {
    /// tower-sessions computes expiry from the wall clock; re-base it on the
    /// app clock so that tests which move time see sessions expire with it.
    fn expires_at(&self, record: &Record) -> i64 {
        let remaining = (record.expiry_date - OffsetDateTime::now_utc()).whole_seconds();
        self.clock.now() + remaining
    }
}

fn encode(record: &Record) -> Result<String> {
    serde_json::to_string(&record.data).map_err(|e| Error::Encode(e.to_string()))
}

#[async_trait]
impl tower_sessions::SessionStore for SqlSessionStore {
    async fn create(&self, record: &mut Record) -> Result<()> {
        let data = encode(record)?;
        let mut tx = self.db.begin().await.map_err(backend)?;
        // 128 random bits make a clash practically impossible; still, never
        // overwrite somebody else's session.
        while !sessions::create(
            &mut tx,
            &record.id.to_string(),
            account_of(record),
            &data,
            self.expires_at(record),
        )
        .await
        .map_err(backend)?
        {
            record.id = Id::default();
        }
        tx.commit().await.map_err(backend)
    }

    async fn save(&self, record: &Record) -> Result<()> {
        let data = encode(record)?;
        let mut tx = self.db.begin().await.map_err(backend)?;
        sessions::save(
            &mut tx,
            &record.id.to_string(),
            account_of(record),
            &data,
            self.expires_at(record),
        )
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }

    async fn load(&self, id: &Id) -> Result<Option<Record>> {
        let mut conn = self.db.read().await.map_err(backend)?;
        let Some((data, expires_at)) = sessions::load(&mut conn, &id.to_string(), self.clock.now())
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        Ok(Some(Record {
            id: *id,
            data: serde_json::from_str(&data).map_err(|e| Error::Decode(e.to_string()))?,
            expiry_date: OffsetDateTime::now_utc()
                + time::Duration::seconds(expires_at - self.clock.now()),
        }))
    }

    async fn delete(&self, id: &Id) -> Result<()> {
        let mut tx = self.db.begin().await.map_err(backend)?;
        sessions::delete(&mut tx, &id.to_string())
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }
}
