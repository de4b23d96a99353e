//! Enrolment tokens and agent credentials. Only SHA-256 digests of the
//! secrets are stored; callers hash, storage compares nothing itself.

use crate::row::{Flag, flag};
use crate::{Conn, Result};
use patchport_core::Timestamp;
pub use patchport_core::refusal::TokenRefusal;

/// An enrolment token, as listed for admins (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EnrollmentToken {
    /// Row id.
    pub id: i64,
    /// What the admin called it.
    pub label: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
    /// Unusable from then on.
    pub expires_at: Timestamp,
    /// How many servers may enrol with it.
    pub max_uses: i64,
    /// How many did.
    pub uses: i64,
    /// Revoked by an admin, if so.
    pub revoked_at: Option<Timestamp>,
}

/// Stores a new token by its hash.
pub async fn create_token(
    conn: &mut Conn,
    token_hash: &str,
    label: &str,
    created_by: Option<i64>,
    expires_at: Timestamp,
    max_uses: i64,
    now: Timestamp,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "insert into enrollment_token (token_hash, label, created_by, created_at, expires_at, max_uses, uses) \
         values ($1, $2, $3, $4, $5, $6, 0) returning id",
    )
    .bind(token_hash)
    .bind(label)
    .bind(created_by)
    .bind(now)
    .bind(expires_at)
    .bind(max_uses)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Counts one use of the token with this hash, if it is usable at `now`.
/// The check and the count are one statement, so two agents racing for the
/// last use cannot both win.
pub async fn use_token(
    conn: &mut Conn,
    token_hash: &str,
    now: Timestamp,
) -> Result<Result<i64, TokenRefusal>> {
    let used: Option<(i64,)> = sqlx::query_as(
        "update enrollment_token set uses = uses + 1 \
         where token_hash = $1 and revoked_at is null and expires_at > $2 and uses < max_uses returning id",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some((id,)) = used {
        return Ok(Ok(id));
    }
    // Why the token was refused: what is left once revoked and expired
    // tokens are told apart is a used-up one.
    #[derive(sqlx::FromRow)]
    struct Refused {
        expires_at: Timestamp,
        revoked_at: Option<Timestamp>,
    }
    let row: Option<Refused> =
        sqlx::query_as("select expires_at, revoked_at from enrollment_token where token_hash = $1")
            .bind(token_hash)
            .fetch_optional(conn)
            .await?;
    Ok(Err(match row {
        None => TokenRefusal::Unknown,
        Some(Refused {
            revoked_at: Some(_),
            ..
        }) => TokenRefusal::Revoked,
        Some(r) if r.expires_at <= now => TokenRefusal::Expired,
        Some(_) => TokenRefusal::UsedUp,
    }))
}

/// Lists tokens, newest first.
pub async fn list_tokens(conn: &mut Conn) -> Result<Vec<EnrollmentToken>> {
    Ok(sqlx::query_as(
        "select t.id as id, t.label as label, coalesce(a.username, '') as created_by, \
         t.created_at as created_at, t.expires_at as expires_at, t.max_uses as max_uses, \
         t.uses as uses, t.revoked_at as revoked_at \
         from enrollment_token t left join account a on a.id = t.created_by order by t.id desc limit 200",
    )
    .fetch_all(conn)
    .await?)
}

/// Revokes a token; returns false if there is no such unrevoked token.
pub async fn revoke_token(conn: &mut Conn, id: i64, now: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "update enrollment_token set revoked_at = $1 where id = $2 and revoked_at is null",
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets (or replaces, on rotation) a server's credential.
pub async fn set_credential(
    conn: &mut Conn,
    server_id: i64,
    secret_hash: &str,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "insert into agent_credential (server_id, secret_hash, created_at) values ($1, $2, $3) \
         on conflict (server_id) do update set secret_hash = excluded.secret_hash, \
         created_at = excluded.created_at, revoked_at = null, last_used_at = null",
    )
    .bind(server_id)
    .bind(secret_hash)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Revokes a server's credential; returns false if it had none live.
pub async fn revoke_credential(conn: &mut Conn, server_id: i64, now: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "update agent_credential set revoked_at = $1 where server_id = $2 and revoked_at is null",
    )
    .bind(now)
    .bind(server_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A server's live credential as stored: the current hash and, during a
/// rotation, the next one.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredCredential {
    /// SHA-256 of the current secret.
    pub secret_hash: String,
    /// SHA-256 of the secret handed out for a rotation, not yet used.
    pub next_secret_hash: Option<String>,
    /// An admin asked for a new credential.
    #[sqlx(try_from = "Flag")]
    pub rotate_requested: bool,
}

/// The server's live (unrevoked) credential.
pub async fn credential(conn: &mut Conn, server_id: i64) -> Result<Option<StoredCredential>> {
    Ok(sqlx::query_as(&format!(
        "select secret_hash, next_secret_hash, {} as rotate_requested from agent_credential \
         where server_id = $1 and revoked_at is null",
        flag("rotate_requested_at is not null")
    ))
    .bind(server_id)
    .fetch_optional(conn)
    .await?)
}

/// Asks for the server's credential to be replaced at its next check-in.
/// Returns false if it has no live credential.
pub async fn request_rotation(conn: &mut Conn, server_id: i64, now: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "update agent_credential set rotate_requested_at = $1 where server_id = $2 and revoked_at is null",
    )
    .bind(now)
    .bind(server_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records the hash of the new secret about to be handed to the agent,
/// once per rotation: returns false when one was handed out already (to
/// whoever presented the current credential first), and then no other is.
pub async fn stage_rotation(conn: &mut Conn, server_id: i64, next_hash: &str) -> Result<bool> {
    let done = sqlx::query(
        "update agent_credential set next_secret_hash = $1 where server_id = $2 and revoked_at is null \
         and rotate_requested_at is not null and next_secret_hash is null",
    )
    .bind(next_hash)
    .bind(server_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The current credential was presented again after the new one was
/// handed out: two parties hold it, or an answer was lost. Neither can be
/// told from the other, so nobody keeps a credential: both the current
/// and the handed-out one are revoked, and the server must be enrolled
/// again. Returns false when there was nothing to revoke.
pub async fn rotation_conflict(conn: &mut Conn, server_id: i64, now: Timestamp) -> Result<bool> {
    let done = sqlx::query(
        "update agent_credential set revoked_at = $1, next_secret_hash = null, rotate_requested_at = null \
         where server_id = $2 and revoked_at is null",
    )
    .bind(now)
    .bind(server_id)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The agent used its new secret: it becomes the only valid one.
pub async fn complete_rotation(conn: &mut Conn, server_id: i64, now: Timestamp) -> Result<()> {
    sqlx::query(
        "update agent_credential set secret_hash = next_secret_hash, next_secret_hash = null, \
         rotate_requested_at = null, created_at = $1 where server_id = $2 and next_secret_hash is not null",
    )
    .bind(now)
    .bind(server_id)
    .execute(conn)
    .await?;
    Ok(())
}
