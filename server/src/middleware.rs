//! Protection every route inherits: security headers, same-origin checks
//! for mutating requests, and the sign-in gate.

use app::ssr::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use tower_sessions::Session;

/// Paths that anybody may load without signing in.
fn is_public_path(path: &str) -> bool {
    matches!(
        path,
        "/login" | "/setup" | "/forgot" | "/healthz" | "/favicon.ico" | "/robots.txt"
    ) || is_static(path)
        || path.starts_with("/reset/")
        || path.starts_with("/invite/")
}

fn is_static(path: &str) -> bool {
    path.starts_with("/pkg/")
}

/// Security headers on every response. Pages carry their own
/// Content-Security-Policy with a per-response nonce; everything else gets
/// the strict one without a nonce.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let is_static = is_static(req.uri().path());
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if !h.contains_key(header::CONTENT_SECURITY_POLICY)
        && let Ok(v) = HeaderValue::from_str(&app::app::content_security_policy(None))
    {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if !is_static {
        // Pages and API answers may hold personal data: never cache them.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Refuses mutating requests that a browser says come from another site
/// (`Sec-Fetch-Site`), or whose `Origin` names another host. Requests with
/// neither header do not come from a browser page and carry no ambient
/// authority an attacker could borrow.
pub async fn same_origin(req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let headers = req.headers();
    let fetch_site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    let allowed = match fetch_site {
        Some(site) => matches!(site, "same-origin" | "none"),
        None => match headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
            None => true,
            Some(origin) => {
                let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
                url::Url::parse(origin)
                    .ok()
                    .and_then(|u| {
                        u.host_str().map(|h| match u.port() {
                            Some(p) => format!("{h}:{p}"),
                            None => h.to_owned(),
                        })
                    })
                    .is_some_and(|o| Some(o.as_str()) == host)
            }
        },
    };
    if allowed {
        next.run(req).await
    } else {
        tracing::warn!(path = %req.uri().path(), ?fetch_site, "cross-origin request refused");
        (StatusCode::FORBIDDEN, "Cross-origin request refused.").into_response()
    }
}

/// Resolves the session to a user (stored in the request's extensions for
/// server functions and pages) and refuses anonymous requests to anything
/// not on the public list: server functions get 401, pages a redirect to
/// the sign-in page.
pub async fn auth_gate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if is_static(&path) {
        return next.run(req).await;
    }
    if path == "/setup" && !setup_pending(&state).await {
        return (
            StatusCode::NOT_FOUND,
            "Not found: Patchport is already set up.",
        )
            .into_response();
    }
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        tracing::error!("session layer missing");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let user = match app::ssr::auth::resolve(&state, &session).await {
        Ok(user) => user,
        Err(e) => {
            return (
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                e.to_string(),
            )
                .into_response();
        }
    };
    let signed_in = user.is_some();
    if let Some(user) = user {
        req.extensions_mut().insert(user);
    }
    if path.starts_with("/api/") {
        if !signed_in && !app::PUBLIC_SERVER_FNS.contains(&path.as_str()) {
            return unauthorized_server_fn();
        }
    } else if !signed_in && !is_public_path(&path) {
        let target = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let next_param =
            url::form_urlencoded::byte_serialize(target.as_bytes()).collect::<String>();
        return Redirect::to(&format!("/login?next={next_param}")).into_response();
    }
    next.run(req).await
}

/// The setup page exists only while the first admin is still missing. An
/// admin may also appear from the command line while the portal runs; then
/// the setup code is dropped here.
async fn setup_pending(state: &AppState) -> bool {
    let has_code = state
        .setup_code
        .lock()
        .map(|c| c.is_some())
        .unwrap_or(false);
    if !has_code {
        return false;
    }
    let admin_exists = match state.db.read().await {
        Ok(mut conn) => patchport_db::accounts::admin_exists(&mut conn)
            .await
            .unwrap_or(true),
        Err(_) => true,
    };
    if admin_exists && let Ok(mut code) = state.setup_code.lock() {
        *code = None;
    }
    !admin_exists
}

/// A 401 in the shape server-function clients decode as `AppError`.
fn unauthorized_server_fn() -> Response {
    let body = serde_json::to_string(&app::errors::AppError::Unauthorized).unwrap_or_default();
    Response::builder()
        .status(StatusCode::UNAUTHORIZED)
        .header(header::CONTENT_TYPE, "application/json")
        .header(server_fn::error::SERVER_FN_ERROR_HEADER, "unauthorized")
        .body(Body::from(body))
        .unwrap_or_else(|_| StatusCode::UNAUTHORIZED.into_response())
}

/// The signed-in user of a plain axum route (one outside the server
/// functions); without one the route answers 401.
pub struct SignedIn(pub app::accounts::UserView);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<app::accounts::UserView>()
            .cloned()
            .map(SignedIn)
            .ok_or_else(|| (StatusCode::UNAUTHORIZED, "sign in first").into_response())
    }
}

/// An application error as the plain routes answer it: its status and
/// message.
pub fn error_response(e: &app::errors::AppError) -> Response {
    (
        StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        e.to_string(),
    )
        .into_response()
}
