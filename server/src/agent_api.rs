//! The agent API, version 1: versioned JSON routes beside the UI's server
//! functions. Agents authenticate with a per-server bearer credential, not a
//! session; every refusal is audited.

use app::ssr::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use patchport_core::protocol::{
    self, CheckInRequest, CheckInResponse, EnrollRequest, EnrollResponse, JobResult, MAX_JOB_LOG,
    MAX_REPORT_BYTES, secret_digest,
};
use patchport_db::{agents, audit, jobs, servers};
use subtle::ConstantTimeEq;
use tower_http::limit::RequestBodyLimitLayer;

/// The agent API's routes, with their own (larger) body limit.
pub fn router() -> Router<AppState> {
    // Each route reads no more than its largest honest body: an anonymous
    // enrolment a few hundred bytes, a job result its 64 KiB log, only a
    // check-in a whole report.
    Router::new()
        .route(
            "/agent/v1/enroll",
            post(enroll).layer(RequestBodyLimitLayer::new(ENROLL_BYTES)),
        )
        .route(
            "/agent/v1/check-in",
            post(check_in).layer(RequestBodyLimitLayer::new(MAX_REPORT_BYTES)),
        )
        .route(
            "/agent/v1/jobs/{id}/result",
            post(job_result).layer(RequestBodyLimitLayer::new(RESULT_BYTES)),
        )
        .route("/agent/v1/openapi.json", get(openapi))
        .layer(DefaultBodyLimit::disable())
}

/// Largest enrolment request: a token and a host name.
const ENROLL_BYTES: usize = 4 * 1024;
/// Largest job result: the outcome and up to 64 KiB of log, which JSON may
/// escape up to six times over (`\u0000`); a longer log is refused by the
/// result's own check (422).
const RESULT_BYTES: usize = 512 * 1024;

/// What can go wrong, with its HTTP status chosen here and only here.
#[derive(Debug)]
pub enum ApiError {
    /// Missing, wrong, expired, revoked or used-up token or credential.
    Unauthorized,
    /// The body is not what the API expects.
    BadRequest(String),
    /// Well-formed but refused (validation), nothing was changed.
    Unprocessable(String),
    /// The body is larger than the limit.
    TooLarge,
    /// No such job for this server.
    NotFound,
    /// The result is for an attempt that is no longer current.
    Stale,
    /// Our fault; the cause is logged.
    Internal,
    /// The database cannot be reached now: the agent spools and retries.
    Unavailable,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "unauthorized".to_owned()),
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::Unprocessable(m) => (StatusCode::UNPROCESSABLE_ENTITY, m),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large".to_owned(),
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "no such job".to_owned()),
            ApiError::Stale => (
                StatusCode::CONFLICT,
                "this attempt is no longer current (its lease ran out or the job ended)".to_owned(),
            ),
            ApiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; see the portal log".to_owned(),
            ),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the portal cannot reach its database; try again later".to_owned(),
            ),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

impl From<patchport_db::StorageError> for ApiError {
    fn from(e: patchport_db::StorageError) -> Self {
        tracing::error!(error = %app::errors::error_chain(&e), "agent API storage error");
        if e.is_unavailable() {
            ApiError::Unavailable
        } else {
            ApiError::Internal
        }
    }
}

fn body<T>(payload: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    payload.map(|Json(v)| v).map_err(|e| match e {
        JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge
        }
        other => ApiError::BadRequest(other.body_text()),
    })
}

async fn audit_refusal(
    state: &AppState,
    action: &str,
    target: &str,
    detail: &str,
    source: &str,
) -> Result<(), ApiError> {
    let mut tx = state.db.begin().await?;
    let event = audit::NewAuditEvent {
        actor_name: "agent",
        action,
        target,
        detail,
        source,
        ..Default::default()
    };
    audit::record(&mut tx, &event, state.clock.now()).await?;
    patchport_db::commit(tx).await?;
    Ok(())
}

/// `POST /agent/v1/enroll`
#[utoipa::path(post, path = "/agent/v1/enroll",
    summary = "Trade a one-time enrolment token for a per-server credential",
    request_body = EnrollRequest,
    responses(
        (status = 200, description = "Enrolled", body = EnrollResponse),
        (status = 400, description = "Malformed body"),
        (status = 401, description = "Token unknown, expired, revoked or used up"),
        (status = 413, description = "Body larger than the limit"),
        (status = 422, description = "Invalid host name"),
        (status = 503, description = "The database cannot be reached; try again later"),
    ))]
async fn enroll(
    State(state): State<AppState>,
    axum::Extension(client): axum::Extension<app::ssr::ClientAddr>,
    payload: Result<Json<EnrollRequest>, JsonRejection>,
) -> Result<Json<EnrollResponse>, ApiError> {
    let req = body(payload)?;
    let source = client.0.to_string();
    let hostname = req.hostname.trim();
    protocol::check_hostname(hostname).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    match agents::use_token(&mut tx, &secret_digest(req.token.trim()), now).await? {
        Err(refusal) => {
            drop(tx);
            audit_refusal(
                &state,
                "agent.enroll_refused",
                hostname,
                refusal.as_str(),
                &source,
            )
            .await?;
            Err(ApiError::Unauthorized)
        }
        Ok(token_id) => {
            let server_id = servers::create(&mut tx, hostname, now).await?;
            let secret = app::ssr::new_secret();
            agents::set_credential(&mut tx, server_id, &secret_digest(&secret), now).await?;
            let event = audit::NewAuditEvent {
                actor_name: "agent",
                action: "agent.enrolled",
                target: hostname,
                detail: &format!("server {server_id}, token {token_id}"),
                source: &source,
                ..Default::default()
            };
            audit::record(&mut tx, &event, now).await?;
            patchport_db::commit(tx).await?;
            tracing::info!(server_id, hostname, "agent enrolled");
            Ok(Json(EnrollResponse {
                server_id,
                credential: format!("{server_id}.{secret}"),
            }))
        }
    }
}

/// Who is calling: the server, and whether it has a credential rotation
/// pending.
#[derive(Debug, Clone, Copy)]
struct Caller {
    server_id: i64,
    /// An admin asked for a new credential and the agent still uses the
    /// current one: hand it a new one.
    rotate: bool,
}

/// Checks `Authorization: Bearer <server id>.<secret>` in constant time.
/// During a rotation the new secret is accepted too, and its first use
/// retires the old one.
async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    source: &str,
) -> Result<Caller, ApiError> {
    let Some((server_id, secret)) = presented_credential(headers) else {
        return auth_failed(state, "", "missing or malformed credential", source).await;
    };
    let mut conn = state.db.read().await?;
    let stored = agents::credential(&mut conn, server_id).await?;
    drop(conn);
    let (is_current, is_next) = compare_secret(stored.as_ref(), secret);
    match stored {
        // The new credential went to whoever presented the current one
        // first; the current one again means two holders (or a lost
        // answer): nobody keeps a credential, admins are told.
        Some(c) if is_current && c.rotate_requested && c.next_secret_hash.is_some() => {
            credential_conflict(state, server_id, source).await?;
            Err(ApiError::Unauthorized)
        }
        Some(c) if is_current => Ok(Caller {
            server_id,
            rotate: c.rotate_requested,
        }),
        Some(c) if is_next && c.next_secret_hash.is_some() => {
            complete_rotation(state, server_id, source).await?;
            Ok(Caller {
                server_id,
                rotate: false,
            })
        }
        stored => {
            let reason = if stored.is_some() {
                "wrong credential"
            } else {
                "no live credential (revoked or unknown server)"
            };
            auth_failed(state, &format!("server {server_id}"), reason, source).await
        }
    }
}

/// The (server id, secret) of an `Authorization: Bearer <server id>.<secret>`
/// header, if there is one of that form.
fn presented_credential(headers: &HeaderMap) -> Option<(i64, &str)> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .and_then(|v| v.split_once('.'))
        .and_then(|(id, secret)| Some((id.parse::<i64>().ok()?, secret)))
}

/// Whether `secret` is the stored current secret and whether it is the
/// pending next one, both compared in constant time.
fn compare_secret(stored: Option<&agents::StoredCredential>, secret: &str) -> (bool, bool) {
    let given = secret_digest(secret);
    // Compare against something even when the server has no credential, so
    // unknown and known servers take the same time.
    let filler = "0".repeat(64);
    let current = stored.map_or(&filler, |c| &c.secret_hash);
    let next = stored
        .and_then(|c| c.next_secret_hash.as_ref())
        .unwrap_or(&filler);
    let is_current = bool::from(given.as_bytes().ct_eq(current.as_bytes()));
    let is_next = bool::from(given.as_bytes().ct_eq(next.as_bytes()));
    (is_current, is_next)
}

/// Retires a server's old credential on the first use of its new one, and
/// records it.
async fn complete_rotation(state: &AppState, server_id: i64, source: &str) -> Result<(), ApiError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    agents::complete_rotation(&mut tx, server_id, now).await?;
    let (host, _) = servers::host_and_owner(&mut tx, server_id).await?;
    let event = audit::NewAuditEvent {
        actor_name: "agent",
        action: "agent.credential_rotated",
        target: &host,
        detail: "the agent switched to its new credential",
        source,
        ..Default::default()
    };
    audit::record(&mut tx, &event, now).await?;
    patchport_db::commit(tx).await?;
    Ok(())
}

/// Audits a refused authentication and refuses it.
async fn auth_failed(
    state: &AppState,
    target: &str,
    reason: &str,
    source: &str,
) -> Result<Caller, ApiError> {
    audit_refusal(state, "agent.auth_failed", target, reason, source).await?;
    Err(ApiError::Unauthorized)
}

/// Revokes a server's credentials after its current one was presented
/// twice during a rotation, records it and tells the admins.
async fn credential_conflict(
    state: &AppState,
    server_id: i64,
    source: &str,
) -> Result<(), ApiError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if agents::rotation_conflict(&mut tx, server_id, now).await? {
        let (hostname, _) = servers::host_and_owner(&mut tx, server_id).await?;
        let event = audit::NewAuditEvent {
            actor_name: "agent",
            action: "agent.credential_conflict",
            target: &hostname,
            detail: "the current credential was presented again after its replacement was handed out; \
                     both revoked",
            source,
            ..Default::default()
        };
        audit::record(&mut tx, &event, now).await?;
        let notice = patchport_core::notice::Notice::CredentialConflict {
            server_id,
            host: hostname,
            source: source.to_owned(),
        };
        patchport_db::mail::notify_admins(&mut tx, &notice, now).await?;
    }
    patchport_db::commit(tx).await?;
    Ok(())
}

/// `POST /agent/v1/check-in`
#[utoipa::path(post, path = "/agent/v1/check-in",
    summary = "Report the server's state: a digest, plus the full report when it changed",
    security(("agentCredential" = [])),
    request_body = CheckInRequest,
    responses(
        (status = 200, description = "Accepted", body = CheckInResponse),
        (status = 400, description = "Malformed body"),
        (status = 401, description = "Missing, wrong or revoked credential"),
        (status = 413, description = "Body larger than the limit"),
        (status = 422, description = "Report refused (invalid field or digest mismatch); nothing changed"),
        (status = 503, description = "The database cannot be reached; try again later"),
    ))]
async fn check_in(
    State(state): State<AppState>,
    axum::Extension(client): axum::Extension<app::ssr::ClientAddr>,
    headers: HeaderMap,
    payload: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<CheckInResponse>, ApiError> {
    let source = client.0.to_string();
    let caller = authenticate(&state, &headers, &source).await?;
    let server_id = caller.server_id;
    let req = check_in_request(payload)?;
    let now = state.clock.now();
    let new_credential = if caller.rotate {
        Some(stage_rotation(&state, server_id, &source).await?)
    } else {
        None
    };
    let (send_report, job, next_job_at) = match req.report {
        Some(report) => {
            let job = accept_report(&state, server_id, report, &req.digest, now).await?;
            (false, job, None)
        }
        None => digest_only(&state, server_id, &req.digest, now).await?,
    };
    Ok(Json(CheckInResponse {
        send_report,
        next_check_in: next_check_in(now, next_job_at),
        jobs: job.into_iter().collect(),
        new_credential,
    }))
}

/// Reads a check-in's body. Parsed here rather than by `Json`, whose error
/// paths cost a third of the parse on 1,500-package reports; serde's
/// messages still name the line and column.
fn check_in_request(
    payload: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<CheckInRequest, ApiError> {
    let bytes = payload.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge
        } else {
            ApiError::BadRequest(e.body_text())
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::BadRequest(format!("invalid check-in: {e}")))
}

/// Stages a new credential for a server whose rotation is pending and
/// returns it; refuses (and revokes) when another check-in with the same
/// credential got there first.
async fn stage_rotation(
    state: &AppState,
    server_id: i64,
    source: &str,
) -> Result<String, ApiError> {
    let secret = app::ssr::new_secret();
    let mut tx = state.db.begin().await?;
    let staged = agents::stage_rotation(&mut tx, server_id, &secret_digest(&secret)).await?;
    patchport_db::commit(tx).await?;
    if !staged {
        // Another check-in with the same credential got there first.
        credential_conflict(state, server_id, source).await?;
        return Err(ApiError::Unauthorized);
    }
    Ok(format!("{server_id}.{secret}"))
}

/// Checks a full report against its digest and reconciles it, then claims
/// the server's next job if it has open ones. Refused reports change
/// nothing.
async fn accept_report(
    state: &AppState,
    server_id: i64,
    mut report: protocol::Report,
    expected: &str,
    now: i64,
) -> Result<Option<protocol::JobOrder>, ApiError> {
    report
        .validate()
        .map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    report.normalise();
    let digest = report.digest();
    if digest != expected {
        return Err(ApiError::Unprocessable(
            "digest: does not match the report".into(),
        ));
    }
    // Reports of different servers update shared catalog rows (and
    // the counts on them); PostgreSQL may end one of two crossing
    // transactions as a deadlock, which is simply run again.
    let mut attempt = 1;
    loop {
        let run = async {
            let mut tx = state.db.begin().await?;
            let done = servers::apply_report(&mut tx, server_id, &report, &digest, now).await?;
            let job = if done.open_jobs {
                jobs::claim(&mut tx, server_id, now).await?
            } else {
                None
            };
            patchport_db::commit(tx).await?;
            Ok::<_, patchport_db::StorageError>((done, job))
        };
        match run.await {
            Ok((done, job)) => {
                tracing::debug!(server_id, ?done, "report reconciled");
                if !done.security_raised.is_empty() {
                    raise_security(state, &done.security_raised).await;
                }
                return Ok(job);
            }
            Err(e) if e.is_retryable() && attempt < 3 => {
                tracing::info!(server_id, attempt, "report lost a race; running it again");
                back_off(attempt).await;
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A check-in with the digest only: records it, and returns whether the
/// portal needs the full report, the server's next job (claimed only while
/// the portal knows its current state) and when a queued job becomes due.
async fn digest_only(
    state: &AppState,
    server_id: i64,
    digest: &str,
    now: i64,
) -> Result<(bool, Option<protocol::JobOrder>, Option<i64>), ApiError> {
    // The hot path: one statement records the check-in and says
    // whether anything else needs doing.
    let mut conn = state.db.write().await?;
    let touched = servers::touch(&mut conn, server_id, now).await?;
    drop(conn);
    let unchanged = touched
        .as_ref()
        .is_some_and(|t| !t.report_digest.is_empty() && t.report_digest == digest);
    // Jobs only while the portal knows the server's current state
    // (a reboot is confirmed against the boot id it knows).
    let next_job_at = touched.as_ref().and_then(|t| t.next_job_at);
    let job = if unchanged && touched.is_some_and(|t| t.open_jobs) {
        let mut tx = state.db.begin().await?;
        let job = jobs::claim(&mut tx, server_id, now).await?;
        patchport_db::commit(tx).await?;
        job
    } else {
        None
    };
    Ok((!unchanged, job, next_job_at))
}

/// Waits a little before running a transaction that lost a race again,
/// longer each attempt and with jitter, so the same two do not collide
/// again at once.
async fn back_off(attempt: u64) {
    let pause = rand::Rng::gen_range(&mut rand::thread_rng(), 10..50) * attempt;
    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
}

/// Counts patches a report first showed to come from a security origin as
/// security, after the report committed (see
/// `servers::Reconciled::security_raised`). Failing here does not fail the
/// check-in: the catalog is unchanged, and the next report that claims the
/// patch tries again.
async fn raise_security(state: &AppState, ids: &[i64]) {
    for attempt in 1..=3u64 {
        let run = async {
            let mut tx = state.db.begin().await?;
            servers::raise_security(&mut tx, ids).await?;
            patchport_db::commit(tx).await
        };
        match run.await {
            Ok(()) => return,
            Err(e) if e.is_retryable() && attempt < 3 => back_off(attempt).await,
            Err(e) => {
                tracing::warn!(error = %e, ?ids, "could not mark patches as security; a later report will");
                return;
            }
        }
    }
}

/// Seconds until the agent should check in again: the usual interval, or
/// sooner when a queued job becomes due before that (a reboot booked for
/// 22:00 starts within about 30 s of it, not up to 5 min later).
fn next_check_in(now: i64, next_job_at: Option<i64>) -> u64 {
    let interval = protocol::CHECK_IN_INTERVAL;
    match next_job_at {
        Some(at) if at > now => (at - now).clamp(30, interval as i64) as u64,
        _ => interval,
    }
}

/// `POST /agent/v1/jobs/{id}/result`
#[utoipa::path(post, path = "/agent/v1/jobs/{id}/result",
    summary = "Report how an attempt at a job ended; repeating a result is harmless",
    security(("agentCredential" = [])),
    params(("id" = i64, Path, description = "The job's id")),
    request_body = JobResult,
    responses(
        (status = 200, description = "Recorded (`applied`) or already recorded (`repeated`)", body = ResultRecorded),
        (status = 400, description = "Malformed body"),
        (status = 401, description = "Missing, wrong or revoked credential"),
        (status = 404, description = "No such job for this server"),
        (status = 409, description = "The attempt is no longer current (lease expired, job offered again or ended)"),
        (status = 413, description = "Body larger than the limit"),
        (status = 422, description = "Invalid result (log too long, rebooting for a non-reboot job)"),
        (status = 503, description = "The database cannot be reached; try again later"),
    ))]
async fn job_result(
    State(state): State<AppState>,
    axum::Extension(client): axum::Extension<app::ssr::ClientAddr>,
    Path(job_id): Path<i64>,
    headers: HeaderMap,
    payload: Result<Json<JobResult>, JsonRejection>,
) -> Result<Json<ResultRecorded>, ApiError> {
    let source = client.0.to_string();
    let server_id = authenticate(&state, &headers, &source).await?.server_id;
    let result = body(payload)?;
    if result.log.len() > 2 * MAX_JOB_LOG {
        return Err(ApiError::Unprocessable(format!(
            "log: longer than {} bytes",
            2 * MAX_JOB_LOG
        )));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let recorded = match jobs::record_result(&mut tx, server_id, job_id, &result, now).await {
        Err(patchport_db::StorageError::NotFound) => return Err(ApiError::NotFound),
        Err(patchport_db::StorageError::Conflict(m)) => return Err(ApiError::Unprocessable(m)),
        other => other?,
    };
    if recorded == jobs::Recorded::Stale {
        return Err(ApiError::Stale);
    }
    if recorded == jobs::Recorded::Applied {
        let (host, _) = servers::host_and_owner(&mut tx, server_id).await?;
        let outcome = result.outcome.as_str();
        let exit = result
            .exit_code
            .map_or_else(|| "no exit code".to_owned(), |c| format!("exit code {c}"));
        let event = audit::NewAuditEvent {
            actor_name: "agent",
            action: "job.result",
            target: &host,
            detail: &format!("job {job_id} attempt {}: {outcome}, {exit}", result.attempt),
            source: &source,
            ..Default::default()
        };
        audit::record(&mut tx, &event, now).await?;
    }
    patchport_db::commit(tx).await?;
    Ok(Json(ResultRecorded {
        recorded: if recorded == jobs::Recorded::Applied {
            Recorded::Applied
        } else {
            Recorded::Repeated
        },
    }))
}

/// How a job result was taken.
#[derive(Debug, Clone, Copy, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Recorded {
    /// Recorded now.
    Applied,
    /// The same result was already recorded; nothing changed.
    Repeated,
}

/// Answer to a job result.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ResultRecorded {
    /// Whether this result was new.
    pub recorded: Recorded,
}

/// The agent API's OpenAPI document, derived from the protocol types and
/// the routes' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "Patchport agent API",
        version = "1",
        description = "Routes used by patchport-agent. Check-ins and job results authenticate \
            with `Authorization: Bearer <credential>` as returned by enrolment."
    ),
    paths(enroll, check_in, job_result),
    modifiers(&BearerCredential)
)]
pub struct AgentApi;

/// Adds the agent credential's security scheme.
struct BearerCredential;

impl utoipa::Modify for BearerCredential {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "agentCredential",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// `GET /agent/v1/openapi.json`: the API's description.
async fn openapi() -> impl IntoResponse {
    Json(<AgentApi as utoipa::OpenApi>::openapi())
}
