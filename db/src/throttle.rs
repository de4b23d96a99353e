//! Failed sign-in counters. A key (user name or client address) that fails
//! too often within a window is blocked for a while that grows with further
//! failures, up to a ceiling: attackers slow down, the real user is never
//! locked out for good.

use crate::{Conn, Result};
use patchport_core::Timestamp;

/// The throttling rules.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Failures allowed within `window` before blocking starts.
    pub free_failures: i64,
    /// Seconds over which failures are counted.
    pub window: i64,
    /// First block, in seconds; doubles with each further failure.
    pub base_block: i64,
    /// Longest block, in seconds.
    pub max_block: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            free_failures: 5,
            window: 15 * 60,
            base_block: 30,
            max_block: 15 * 60,
        }
    }
}

/// Until when `key` is blocked, if it is blocked at `now`.
pub async fn blocked_until(
    conn: &mut Conn,
    key: &str,
    now: Timestamp,
) -> Result<Option<Timestamp>> {
    let row: Option<(i64,)> =
        sqlx::query_as("select blocked_until from login_throttle where key = $1")
            .bind(key)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|r| r.0).filter(|&until| until > now))
}

/// Counts a failure for `key` and returns when it is blocked until (which
/// may be in the past: not blocked).
pub async fn record_failure(
    conn: &mut Conn,
    key: &str,
    now: Timestamp,
    policy: Policy,
) -> Result<Timestamp> {
    Ok(count(conn, key, now, policy).await?.1)
}

/// Counts a failure; returns the failures in the window and the block.
async fn count(
    conn: &mut Conn,
    key: &str,
    now: Timestamp,
    policy: Policy,
) -> Result<(i64, Timestamp)> {
    let (failures,): (i64,) = sqlx::query_as(
        "insert into login_throttle (key, failures, window_start, blocked_until) values ($1, 1, $2, 0) \
         on conflict (key) do update set \
           failures = case when login_throttle.window_start < $3 then 1 else login_throttle.failures + 1 end, \
           window_start = case when login_throttle.window_start < $3 then $2 else login_throttle.window_start end \
         returning failures",
    )
    .bind(key)
    .bind(now)
    .bind(now - policy.window)
    .fetch_one(&mut *conn)
    .await?;
    let over = failures - policy.free_failures;
    let until = if over > 0 {
        let block = policy
            .base_block
            .saturating_mul(1 << (over - 1).min(20))
            .min(policy.max_block);
        now + block
    } else {
        0
    };
    sqlx::query("update login_throttle set blocked_until = $1 where key = $2")
        .bind(until)
        .bind(key)
        .execute(conn)
        .await?;
    Ok((failures, until))
}

/// Counts an attempt for `key` *before* its password is checked, and says
/// whether it may go on: `Some(until)` when it may not (the key is
/// blocked). The free attempts go on; the one after them is refused and
/// starts the first block; once a block has passed, one attempt goes on,
/// and the next block (twice as long) starts with it. Counting first, in
/// one statement, means that a burst of concurrent attempts checks at most
/// the free ones: the row lock (PostgreSQL) or the single writer (SQLite)
/// hands the count out one at a time. A sign-in that succeeds clears the
/// key; one refused as busy gives its count back ([`release`]). Attempts
/// while blocked do not lengthen the block.
pub async fn reserve(
    conn: &mut Conn,
    key: &str,
    now: Timestamp,
    policy: Policy,
) -> Result<Option<Timestamp>> {
    if let Some(until) = blocked_until(conn, key, now).await? {
        return Ok(Some(until));
    }
    let (failures, until) = count(conn, key, now, policy).await?;
    Ok((failures == policy.free_failures + 1).then_some(until))
}

/// Gives back the count of an attempt that [`reserve`] let through but
/// that was never checked.
pub async fn release(conn: &mut Conn, key: &str) -> Result<()> {
    sqlx::query(
        "update login_throttle set failures = failures - 1 where key = $1 and failures > 0",
    )
    .bind(key)
    .execute(conn)
    .await?;
    Ok(())
}

/// Forgets the failures of `key` (after a successful sign-in).
pub async fn clear(conn: &mut Conn, key: &str) -> Result<()> {
    sqlx::query("delete from login_throttle where key = $1")
        .bind(key)
        .execute(conn)
        .await?;
    Ok(())
}
