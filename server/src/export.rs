//! CSV export of the Patches Missing report: exactly the rows of the
//! current filter, streamed in batches so a large report never sits in
//! memory whole.

use app::accounts::UserView;
use app::report::ReportFilter;
use app::ssr::AppState;
use axum::Extension;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;

/// Rows fetched per batch.
const BATCH: i64 = 2_000;

/// `GET /export/patches.csv?<filter>` (admins).
pub async fn patches_csv(
    State(state): State<AppState>,
    user: Option<Extension<UserView>>,
    filter: Result<Query<ReportFilter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(Extension(user)) = user else {
        return (StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    if user.role != patchport_core::Role::Admin {
        return (StatusCode::FORBIDDEN, "administrators only").into_response();
    }
    let Ok(Query(filter)) = filter else {
        return (StatusCode::BAD_REQUEST, "unreadable filter").into_response();
    };
    let now = state.clock.now();
    let query = {
        let mut conn = match state.db.read().await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %app::errors::error_chain(&e), "export");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        match app::report::patch_query(filter, &mut conn, now).await {
            Ok(q) => q,
            Err(e) => {
                return (
                    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                    e.to_string(),
                )
                    .into_response();
            }
        }
    };
    let header_row = csv_bytes(&[
        "package",
        "version",
        "arch",
        "release",
        "severity",
        "cvss",
        "known_exploited",
        "security",
        "advisories",
        "servers",
        "oldest_detection_utc",
    ]);
    // Page by page until a short page: each batch is one query.
    let batches = stream::unfold(Some(1_i64), move |page| {
        let state = state.clone();
        let query = query.clone();
        async move {
            let page = page?;
            let rows = async {
                let mut conn = state.db.read().await?;
                patchport_db::report::by_patch(&mut conn, &query, page, BATCH).await
            }
            .await;
            match rows {
                Err(e) => {
                    tracing::error!(error = %app::errors::error_chain(&e), "export batch failed");
                    Some((Err(std::io::Error::other("export failed")), None))
                }
                Ok(found) => {
                    let next = (found.items.len() as i64 == BATCH).then_some(page + 1);
                    let mut out = Vec::new();
                    for r in &found.items {
                        let yes_no = |b: bool| if b { "yes" } else { "no" };
                        out.extend(csv_bytes(&[
                            r.package.as_str(),
                            r.version.as_str(),
                            r.arch.as_str(),
                            r.release.as_str(),
                            r.severity.as_str(),
                            &r.cvss.map(|c| format!("{c:.1}")).unwrap_or_default(),
                            yes_no(r.known_exploited),
                            yes_no(r.security),
                            &r.advisories.to_string(),
                            &r.servers.to_string(),
                            &patchport_core::clock::format_utc(r.oldest),
                        ]));
                    }
                    Some((Ok::<_, std::io::Error>(out), next))
                }
            }
        }
    });
    let body = stream::iter([Ok::<_, std::io::Error>(header_row)]);
    let body = futures_util::StreamExt::chain(body, batches);
    Response::builder()
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"patches-missing.csv\"",
        )
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// One CSV record, quoted as needed (and with formula-looking cells
/// defused, so a spreadsheet never runs them).
fn csv_bytes<S: AsRef<str>>(fields: &[S]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let safe: Vec<String> = fields
        .iter()
        .map(|f| {
            let f = f.as_ref();
            if f.starts_with(['=', '+', '-', '@']) {
                format!("'{f}")
            } else {
                f.to_owned()
            }
        })
        .collect();
    let _ = writer.write_record(&safe);
    writer.into_inner().unwrap_or_default()
}
