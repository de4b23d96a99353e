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

/// Server functions whose input could not be read (missing or malformed
/// arguments, a body over the limit) fail before their code runs, and the
/// server-function layer sends those with 500 and its own wording. Here
/// they become what they are: 413 for a body over the limit, 400 for the
/// rest, with a plain message; real internal errors keep their 500.
pub async fn server_fn_errors(req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let res = next.run(req).await;
    if res.status() != StatusCode::INTERNAL_SERVER_ERROR
        || !res
            .headers()
            .contains_key(server_fn::error::SERVER_FN_ERROR_HEADER)
    {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        parts.status = StatusCode::INTERNAL_SERVER_ERROR;
        return Response::from_parts(parts, Body::from("Something went wrong on the server."));
    };
    match serde_json::from_slice::<app::errors::AppError>(&bytes) {
        Ok(app::errors::AppError::Request(detail)) => {
            let too_large = detail.contains("length limit");
            tracing::info!(%detail, "server function input refused");
            let (status, message) = if too_large {
                (StatusCode::PAYLOAD_TOO_LARGE, "The request is too large.")
            } else {
                (StatusCode::BAD_REQUEST, "The request could not be read.")
            };
            let error = app::errors::AppError::Request(message.to_owned());
            parts.status = status;
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(
                parts,
                Body::from(serde_json::to_vec(&error).unwrap_or_default()),
            )
        }
        _ => Response::from_parts(parts, Body::from(bytes)),
    }
}

/// Records who is really asking ([`app::ssr::ClientAddr`]): the peer, or
/// for requests through a trusted proxy the address it forwarded. Every
/// handler, the throttles and the audit trail read it from here.
pub async fn client_address(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(peer) = peer {
        let client = {
            let forwarded: Vec<&str> = req
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            app::ssr::real_client(peer, &forwarded, &state.auth.trusted_proxies)
        };
        req.extensions_mut().insert(app::ssr::ClientAddr(client));
    }
    next.run(req).await
}

/// The nonce of a page's scripts, chosen here before the page renders
/// (see [`provide_page_nonce`]), so that the page and its
/// Content-Security-Policy header always carry the same one.
#[derive(Debug, Clone)]
pub struct PageNonce(pub String);

/// Gives the page being rendered the request's [`PageNonce`] (Leptos's
/// hydration scripts and `use_nonce` read it), in place of the one Leptos
/// would make up itself.
pub fn provide_page_nonce() {
    use leptos::prelude::{provide_context, use_context};
    if let Some(nonce) =
        use_context::<http::request::Parts>().and_then(|p| p.extensions.get::<PageNonce>().cloned())
    {
        provide_context(leptos::nonce::Nonce::from_value(nonce.0));
    }
}

/// Security headers on every response. An HTML page's
/// Content-Security-Policy allows its scripts by the nonce chosen here for
/// it; everything else gets the strict policy without a nonce.
pub async fn security_headers(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let is_static = is_static(path);
    // Pages whose address holds a secret (a reset or invitation token)
    // send no referrer at all, not even to this portal's own requests.
    let secret_url = path.starts_with("/reset/") || path.starts_with("/invite/");
    // 128 random bits, hex.
    let nonce = (!is_static).then(|| app::ssr::new_secret()[..32].to_owned());
    if let Some(n) = &nonce {
        req.extensions_mut().insert(PageNonce(n.clone()));
    }
    let mut res = next.run(req).await;
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/html"));
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static(if secret_url {
            "no-referrer"
        } else {
            "same-origin"
        }),
    );
    if state.auth.secure_cookies {
        // Served over https (its public URL says so): browsers keep to it.
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    let policy = app::app::content_security_policy(nonce.as_deref().filter(|_| html));
    if let Ok(v) = HeaderValue::from_str(&policy) {
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
    if let Some(user) = &user {
        req.extensions_mut().insert(user.clone());
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
    let source = req
        .extensions()
        .get::<app::ssr::ClientAddr>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let response = next.run(req).await;
    if response.status() == StatusCode::FORBIDDEN
        && let Some(actor) = &user
    {
        audit_denied(&state, actor, &path, &source).await;
    }
    response
}

/// Records a signed-in user's refused request (an owner calling an admin
/// function): probing shows in the audit trail. Best effort: a failure to
/// record is logged, the refusal stands either way.
async fn audit_denied(state: &AppState, actor: &app::accounts::UserView, path: &str, source: &str) {
    let recorded = async {
        let mut conn = state.db.write().await?;
        patchport_db::audit::record(
            &mut conn,
            &patchport_db::audit::NewAuditEvent {
                actor_id: Some(actor.id),
                actor_name: &actor.username,
                action: "access.denied",
                target: path,
                detail: "refused: admins only",
                source,
            },
            state.clock.now(),
        )
        .await
    };
    if let Err(e) = recorded.await {
        tracing::warn!(error = %app::errors::error_chain(&e), path, "refused request not audited");
    }
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
