//! Who is signed in: the session record, its timeouts, signing in and out.

use super::AppState;
use crate::accounts::UserView;
use crate::errors::AppError;
use patchport_db::accounts;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

/// Session key under which the sign-in is stored.
pub const AUTH_KEY: &str = "auth";

/// Re-saving `last_seen` on every request would write to the database on
/// every click; a minute's precision is plenty for a 30-minute idle timeout.
const LAST_SEEN_GRANULARITY: i64 = 60;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct AuthRecord {
    account_id: i64,
    login_at: i64,
    last_seen: i64,
}

fn session_error(e: tower_sessions::session::Error) -> AppError {
    tracing::error!(error = %e, "session store failed");
    if e.to_string().contains(super::sessions::UNAVAILABLE) {
        AppError::Unavailable
    } else {
        AppError::Internal
    }
}

/// Resolves the session to a signed-in, enabled user, enforcing the idle and
/// absolute timeouts on the server. A session that fails any check is
/// deleted.
pub async fn resolve(state: &AppState, session: &Session) -> Result<Option<UserView>, AppError> {
    let Some(rec) = session
        .get::<AuthRecord>(AUTH_KEY)
        .await
        .map_err(session_error)?
    else {
        return Ok(None);
    };
    let now = state.clock.now();
    let expired = now - rec.login_at >= state.auth.absolute_timeout
        || now - rec.last_seen >= state.auth.idle_timeout;
    let account = if expired {
        None
    } else {
        let mut conn = state.db.read().await?;
        accounts::get(&mut conn, rec.account_id)
            .await?
            .filter(|a| !a.disabled)
    };
    let Some(account) = account else {
        session.flush().await.map_err(session_error)?;
        return Ok(None);
    };
    if now - rec.last_seen >= LAST_SEEN_GRANULARITY {
        session
            .insert(
                AUTH_KEY,
                AuthRecord {
                    last_seen: now,
                    ..rec
                },
            )
            .await
            .map_err(session_error)?;
    }
    Ok(Some(UserView::from(account)))
}

/// Signs `account_id` in on this session under a new session id, so that an
/// id planted before sign-in is worthless after it.
pub async fn sign_in(state: &AppState, session: &Session, account_id: i64) -> Result<(), AppError> {
    let now = state.clock.now();
    session.cycle_id().await.map_err(session_error)?;
    session
        .insert(
            AUTH_KEY,
            AuthRecord {
                account_id,
                login_at: now,
                last_seen: now,
            },
        )
        .await
        .map_err(session_error)?;
    // Save now rather than when the response leaves, so the new id is in
    // the store before anybody can use it.
    session.save().await.map_err(session_error)
}

/// Ends this session: its record is deleted and its cookie cleared.
pub async fn sign_out(session: &Session) -> Result<(), AppError> {
    session.flush().await.map_err(session_error)
}

/// The id of this session, to keep it when ending a user's other sessions.
pub fn session_id(session: &Session) -> Option<String> {
    session.id().map(|id| id.to_string())
}
