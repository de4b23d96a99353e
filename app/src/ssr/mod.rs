//! Server-only support for server functions: application state, the signed-in
//! user, password hashing and the SQL session store.

pub mod auth;
pub mod passwords;
pub mod sessions;

use crate::accounts::UserView;
use crate::errors::AppError;
use axum::extract::FromRef;
use leptos::prelude::*;
use leptos_axum::ResponseOptions;
use patchport_core::Clock;
use patchport_db::Db;
use std::sync::{Arc, Mutex};

/// Session and sign-in rules.
#[derive(Debug, Clone, Copy)]
pub struct AuthSettings {
    /// A session unused this long (seconds) ends.
    pub idle_timeout: i64,
    /// A session this old (seconds since sign-in) ends, used or not.
    pub absolute_timeout: i64,
    /// Failed sign-in throttling.
    pub throttle: patchport_db::throttle::Policy,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            idle_timeout: 30 * 60,
            absolute_timeout: 12 * 3600,
            throttle: Default::default(),
        }
    }
}

/// Everything a request handler or server function needs.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The one clock (movable in tests).
    pub clock: Arc<dyn Clock>,
    /// Session and sign-in rules.
    pub auth: AuthSettings,
    /// The one-time code the first-run setup page asks for, while no admin
    /// exists. Printed to the log at start.
    pub setup_code: Arc<Mutex<Option<String>>>,
    /// Leptos's own settings (site root, output name).
    pub leptos_options: LeptosOptions,
    /// Where mail goes, in words, for the outbox page.
    pub mail_to: Arc<str>,
    /// The configured public URL, for links that leave the portal (mail,
    /// calendar entries); never taken from a request's Host.
    pub public_url: Arc<str>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

/// The application state, from the server function's context.
pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| {
        tracing::error!("AppState missing from context");
        AppError::Internal
    })
}

fn parts() -> Result<http::request::Parts, AppError> {
    use_context::<http::request::Parts>().ok_or_else(|| {
        tracing::error!("request parts missing from context");
        AppError::Internal
    })
}

/// The signed-in user, as resolved by the authentication middleware.
pub fn user() -> Result<UserView, AppError> {
    parts()?
        .extensions
        .get::<UserView>()
        .cloned()
        .ok_or(AppError::Unauthorized)
}

/// The signed-in user, who must be an admin.
pub fn require_admin() -> Result<UserView, AppError> {
    let user = user()?;
    if user.role == patchport_core::Role::Admin {
        Ok(user)
    } else {
        Err(AppError::Forbidden)
    }
}

/// The request's session.
pub fn session() -> Result<tower_sessions::Session, AppError> {
    parts()?
        .extensions
        .get::<tower_sessions::Session>()
        .cloned()
        .ok_or_else(|| {
            tracing::error!("session layer missing");
            AppError::Internal
        })
}

/// The client's address, for the audit trail.
pub fn client_addr() -> String {
    parts()
        .ok()
        .and_then(|p| {
            p.extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip().to_string())
        })
        .unwrap_or_default()
}

/// Runs a server function body and sends its error, if any, with the
/// matching HTTP status.
pub async fn run<T>(
    body: impl std::future::Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    let result = body.await;
    if let Err(e) = &result
        && let Some(res) = use_context::<ResponseOptions>()
        && let Ok(status) = http::StatusCode::from_u16(e.status())
    {
        res.set_status(status);
    }
    result
}

/// A new 256-bit secret as 64 hex digits (agent credentials, enrolment
/// tokens). Only its [`secret_digest`](patchport_core::protocol::secret_digest) is stored.
pub fn new_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Stores a new enrolment token in `tx` and returns it with its id; the
/// caller records who issued it. The token is shown once: only its digest
/// is kept.
pub async fn issue_enrollment_token(
    tx: &mut patchport_db::Conn,
    label: &str,
    created_by: Option<i64>,
    valid_hours: i64,
    max_uses: i64,
    now: i64,
) -> Result<(String, i64), patchport_db::StorageError> {
    let token = format!("ppe_{}", new_secret());
    let digest = patchport_core::protocol::secret_digest(&token);
    let id = patchport_db::agents::create_token(
        tx,
        &digest,
        label,
        created_by,
        now + valid_hours * 3600,
        max_uses,
        now,
    )
    .await?;
    Ok((token, id))
}

/// Records an audit event by the current user inside `tx`.
pub async fn audit(
    tx: &mut patchport_db::Conn,
    actor: Option<&UserView>,
    action: &str,
    target: &str,
    detail: &str,
    now: i64,
) -> Result<(), AppError> {
    let source = client_addr();
    let event = patchport_db::audit::NewAuditEvent {
        actor_id: actor.map(|a| a.id),
        actor_name: actor.map(|a| a.username.as_str()).unwrap_or(""),
        action,
        target,
        detail,
        source: &source,
    };
    Ok(patchport_db::audit::record(tx, &event, now).await?)
}
