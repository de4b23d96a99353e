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
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// A session unused this long (seconds) ends.
    pub idle_timeout: i64,
    /// A session this old (seconds since sign-in) ends, used or not.
    pub absolute_timeout: i64,
    /// Failed sign-in throttling.
    pub throttle: patchport_db::throttle::Policy,
    /// Proxies whose `X-Forwarded-For` names the client
    /// (`PATCHPORT_TRUSTED_PROXIES`); from anyone else it is ignored.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Password hashes (19 MiB each) checked or made at once, across the
    /// portal; more wait briefly, then get 429.
    pub hashes: std::sync::Arc<tokio::sync::Semaphore>,
    /// Cookies only over https (`Secure`, `__Host-` names).
    pub secure_cookies: bool,
}

/// Password hashes at once by default: 4 × 19 MiB.
pub const DEFAULT_CONCURRENT_HASHES: usize = 4;

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            idle_timeout: 30 * 60,
            absolute_timeout: 12 * 3600,
            throttle: Default::default(),
            trusted_proxies: Vec::new(),
            hashes: std::sync::Arc::new(tokio::sync::Semaphore::new(DEFAULT_CONCURRENT_HASHES)),
            secure_cookies: false,
        }
    }
}

impl AuthSettings {
    /// The name of a cookie: `__Host-` first under https, so it is bound
    /// to this host and path `/`, sent only over https.
    pub fn cookie_name(&self, name: &str) -> String {
        if self.secure_cookies {
            format!("__Host-{name}")
        } else {
            name.to_owned()
        }
    }
}

/// The client's address as the portal trusts it (set on every request by
/// the server's `client_address` middleware): see [`real_client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

/// Who is really asking: the connection's peer, unless the peer is a
/// trusted proxy; then the last address of `X-Forwarded-For` (read from
/// the right, as each proxy appends what it saw) that is not a trusted
/// proxy itself. A malformed entry stops the walk at the proxy that wrote
/// it, so a client cannot slip an address in front of it.
pub fn real_client(
    peer: std::net::IpAddr,
    forwarded_for: &[&str],
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    let hops = forwarded_for
        .iter()
        .flat_map(|h| h.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
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

/// A server's host name for the audit trail (`server N` if it is gone).
pub async fn host_name(conn: &mut patchport_db::Conn, server_id: i64) -> String {
    match patchport_db::servers::host_and_owner(conn, server_id).await {
        Ok((host, _)) => host,
        Err(_) => format!("server {server_id}"),
    }
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

/// An admin's read: refuses anyone but an admin (403) before anything is
/// opened, then a read connection.
pub async fn admin_read() -> Result<patchport_db::ReadConn, AppError> {
    require_admin()?;
    Ok(state()?.db.read().await?)
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

/// The client's address, for throttling and the audit trail (see
/// [`ClientAddr`]).
pub fn client_addr() -> String {
    parts()
        .ok()
        .and_then(|p| {
            p.extensions.get::<ClientAddr>().map(|c| c.0).or_else(|| {
                p.extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0.ip())
            })
        })
        .map(|ip| ip.to_string())
        .unwrap_or_default()
}

/// The value of the request's cookie `name`, if it sent one.
pub fn cookie(name: &str) -> Option<String> {
    let parts = parts().ok()?;
    parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// Sends a cookie with the answer: `HttpOnly`, `SameSite=Lax`, path `/`,
/// `Secure` under https, kept `max_age` seconds.
pub fn set_cookie(name: &str, value: &str, max_age: i64) {
    let secure = state().map(|s| s.auth.secure_cookies).unwrap_or(false);
    let cookie = format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    );
    if let (Some(res), Ok(value)) = (
        use_context::<ResponseOptions>(),
        http::HeaderValue::from_str(&cookie),
    ) {
        res.append_header(http::header::SET_COOKIE, value);
    }
}

/// Runs a server function body and sends its error, if any, with the
/// matching HTTP status, except to a plain form post (no JavaScript):
/// that one is redirected back to its page with the error in the query
/// string, which the status would replace.
pub async fn run<T>(
    body: impl std::future::Future<Output = Result<T, AppError>>,
) -> Result<T, AppError> {
    let result = body.await;
    if let Err(e) = &result
        && !plain_form_post()
        && let Some(res) = use_context::<ResponseOptions>()
        && let Ok(status) = http::StatusCode::from_u16(e.status())
    {
        res.set_status(status);
    }
    result
}

/// The request is an HTML form posted by the browser itself (it accepts
/// HTML), not a server function call from the hydrated page.
pub(crate) fn plain_form_post() -> bool {
    use_context::<http::request::Parts>().is_some_and(|req| {
        req.method == http::Method::POST
            && req
                .headers
                .get(http::header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("text/html"))
    })
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

/// An admin's change: checked to be an admin, one write transaction, and
/// the audit events that commit with it.
///
/// ```ignore
/// let mut w = ssr::AdminWrite::begin().await?;
/// let name = patchport_db::groups::delete(&mut w.tx, id).await?;
/// w.commit("group.deleted", &name, "").await?;
/// ```
pub struct AdminWrite {
    /// The admin making the change.
    pub me: UserView,
    /// The application state.
    pub state: AppState,
    /// The change's one time, read once from the clock.
    pub now: i64,
    /// The write transaction: `&mut w.tx` serves as `&mut Conn`. Dropped
    /// without [`commit`](Self::commit), it rolls back.
    pub tx: patchport_db::Tx,
}

impl AdminWrite {
    /// Refuses anyone but an admin (403) before anything is opened, then
    /// begins the transaction.
    pub async fn begin() -> Result<Self, AppError> {
        Self::begin_as(require_admin()?).await
    }

    /// Begins the transaction for an admin already checked with
    /// [`require_admin`], when slow work (password hashing) must come
    /// between the check and the transaction. Refuses anyone else (403).
    pub async fn begin_as(me: UserView) -> Result<Self, AppError> {
        if me.role != patchport_core::Role::Admin {
            return Err(AppError::Forbidden);
        }
        let state = state()?;
        let now = state.clock.now();
        let tx = state.db.begin().await?;
        Ok(Self { me, state, now, tx })
    }

    /// Records an audit event by the admin; it commits with the change.
    pub async fn audit(
        &mut self,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), AppError> {
        audit(
            &mut self.tx,
            Some(&self.me),
            action,
            target,
            detail,
            self.now,
        )
        .await
    }

    /// Records the audit event and commits it with the change.
    pub async fn commit(
        mut self,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<(), AppError> {
        self.audit(action, target, detail).await?;
        self.commit_unaudited().await
    }

    /// Commits the change with no audit event of its own: for changes that
    /// record their own trail (rollout decisions) or were audited through
    /// [`audit`](Self::audit) only when something happened.
    pub async fn commit_unaudited(self) -> Result<(), AppError> {
        Ok(patchport_db::commit(self.tx).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::real_client;

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        let trusted: Vec<ipnet::IpNet> = vec![
            "127.0.0.1/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        // Not a trusted proxy: the header is the client's say-so.
        assert_eq!(
            real_client(ip("203.0.113.9"), &["198.51.100.1"], &trusted),
            ip("203.0.113.9")
        );
        // A trusted proxy: the address it saw.
        assert_eq!(
            real_client(ip("127.0.0.1"), &["198.51.100.1"], &trusted),
            ip("198.51.100.1")
        );
        // Chains: the last untrusted hop; what the client wrote before it does not count.
        assert_eq!(
            real_client(
                ip("10.0.0.2"),
                &["6.6.6.6, 198.51.100.1, 10.0.0.7"],
                &trusted
            ),
            ip("198.51.100.1")
        );
        assert_eq!(
            real_client(ip("10.0.0.2"), &["6.6.6.6", "198.51.100.1"], &trusted),
            ip("198.51.100.1"),
            "one header per proxy"
        );
        // Garbage stops the walk at the proxy that wrote it.
        assert_eq!(
            real_client(ip("127.0.0.1"), &["bogus"], &trusted),
            ip("127.0.0.1")
        );
        assert_eq!(real_client(ip("127.0.0.1"), &[], &trusted), ip("127.0.0.1"));
        // Nothing trusted: always the peer.
        assert_eq!(
            real_client(ip("127.0.0.1"), &["198.51.100.1"], &[]),
            ip("127.0.0.1")
        );
    }
}
