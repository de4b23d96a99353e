//! Session records for tower-sessions. The session layer owns the data
//! format; storage keeps it as text, with the account lifted into a column.

use crate::{Conn, Result};
use patchport_core::Timestamp;

/// Inserts a new session; returns false if the id is already taken.
pub async fn create(
    conn: &mut Conn,
    id: &str,
    account_id: Option<i64>,
    data: &str,
    expires_at: Timestamp,
) -> Result<bool> {
    let done = sqlx::query(
        "insert into session (id, account_id, data, expires_at) values ($1, $2, $3, $4) \
         on conflict (id) do nothing",
    )
    .bind(id)
    .bind(account_id)
    .bind(data)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Inserts or replaces a session.
pub async fn save(
    conn: &mut Conn,
    id: &str,
    account_id: Option<i64>,
    data: &str,
    expires_at: Timestamp,
) -> Result<()> {
    sqlx::query(
        "insert into session (id, account_id, data, expires_at) values ($1, $2, $3, $4) \
         on conflict (id) do update set account_id = excluded.account_id, data = excluded.data, \
         expires_at = excluded.expires_at",
    )
    .bind(id)
    .bind(account_id)
    .bind(data)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Loads a session that has not expired at `now`: its data and expiry.
pub async fn load(
    conn: &mut Conn,
    id: &str,
    now: Timestamp,
) -> Result<Option<(String, Timestamp)>> {
    let row: Option<(String, i64)> =
        sqlx::query_as("select data, expires_at from session where id = $1 and expires_at > $2")
            .bind(id)
            .bind(now)
            .fetch_optional(conn)
            .await?;
    Ok(row)
}

/// Deletes one session.
pub async fn delete(conn: &mut Conn, id: &str) -> Result<()> {
    sqlx::query("delete from session where id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Deletes every session of an account except `keep` (the caller's own,
/// when they changed their own password). Returns how many ended.
pub async fn delete_for_account(
    conn: &mut Conn,
    account_id: i64,
    keep: Option<&str>,
) -> Result<u64> {
    let done = sqlx::query("delete from session where account_id = $1 and id <> $2")
        .bind(account_id)
        .bind(keep.unwrap_or(""))
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// Deletes sessions that expired before `now`.
pub async fn delete_expired(conn: &mut Conn, now: Timestamp) -> Result<u64> {
    let done = sqlx::query("delete from session where expires_at <= $1")
        .bind(now)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// How many live sessions an account has.
pub async fn count_for_account(conn: &mut Conn, account_id: i64, now: Timestamp) -> Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("select count(*) from session where account_id = $1 and expires_at > $2")
            .bind(account_id)
            .bind(now)
            .fetch_one(conn)
            .await?;
    Ok(n)
}
