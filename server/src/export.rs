//! CSV export of the Patches Missing report: exactly the rows of the
//! current filter, streamed in batches so a large report never sits in
//! memory whole.

use crate::middleware::{SignedIn, error_response};
use app::report::ReportFilter;
use app::ssr::AppState;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::stream;

/// Rows fetched per batch.
const BATCH: i64 = 5_000;

/// `GET /export/patches.csv?<filter>` (admins).
pub async fn patches_csv(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    filter: Result<Query<ReportFilter>, axum::extract::rejection::QueryRejection>,
) -> Response {
    if user.role != patchport_core::Role::Admin {
        return (StatusCode::FORBIDDEN, "administrators only").into_response();
    }
    let Ok(Query(filter)) = filter else {
        return (StatusCode::BAD_REQUEST, "unreadable filter").into_response();
    };
    let view = match filter.view.as_str() {
        "" | "patch" => View::Patch,
        "server" => View::Server,
        _ => return (StatusCode::BAD_REQUEST, "view must be patch or server").into_response(),
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
            Err(e) => return error_response(&e),
        }
    };
    let body = csv_stream(state.db.clone(), query, view);
    let filename = match view {
        View::Patch => "patches-missing.csv",
        View::Server => "patches-missing-by-server.csv",
    };
    Response::builder()
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        )
        .body(Body::from_stream(body))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// What a CSV row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// One row per patch, as the report by patch shows it.
    Patch,
    /// One row per server and missing patch.
    Server,
}

/// The CSV of a report query: a header, then batches of rows, each batch
/// one short read (by-server rows continue after the last key instead of
/// counting an offset). A failed batch ends the stream with an error, so
/// the download is visibly cut short rather than silently truncated.
pub fn csv_stream(
    db: patchport_db::Db,
    query: patchport_db::report::PatchQuery,
    view: View,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let header_row = header_row(view);
    let start = match view {
        View::Patch => Cursor::Page(1),
        View::Server => Cursor::After(0, 0),
    };
    let batches = stream::unfold(Some(start), move |cursor| {
        let db = db.clone();
        let query = query.clone();
        async move {
            let cursor = cursor?;
            match batch(&db, &query, cursor).await {
                Err(e) => {
                    tracing::error!(error = %app::errors::error_chain(&e), "export batch failed");
                    Some((Err(std::io::Error::other("export failed")), None))
                }
                Ok((out, next)) => Some((Ok(out), next)),
            }
        }
    });
    futures_util::StreamExt::chain(stream::iter([Ok(header_row)]), batches)
}

/// Where the next batch of rows starts.
#[derive(Clone, Copy)]
enum Cursor {
    /// By patch: the page (of [`BATCH`] rows) to read.
    Page(i64),
    /// By server: after this (server id, patch id).
    After(i64, i64),
}

/// The header record of a view's CSV.
fn header_row(view: View) -> Vec<u8> {
    match view {
        View::Patch => csv_bytes(&[
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
        ]),
        View::Server => csv_bytes(&[
            "hostname",
            "criticality",
            "owner",
            "release",
            "package",
            "installed_version",
            "version",
            "arch",
            "severity",
            "cvss",
            "known_exploited",
            "security",
            "state",
            "detected_utc",
        ]),
    }
}

/// One batch of rows from `cursor` on, as CSV, and where the next batch
/// starts (none after the last).
async fn batch(
    db: &patchport_db::Db,
    query: &patchport_db::report::PatchQuery,
    cursor: Cursor,
) -> Result<(Vec<u8>, Option<Cursor>), patchport_db::StorageError> {
    let mut conn = db.read().await?;
    let mut out = Records::new();
    let next = match cursor {
        Cursor::Page(page) => patch_rows(&mut conn, query, page, &mut out).await?,
        Cursor::After(server, patch) => {
            server_rows(&mut conn, query, (server, patch), &mut out).await?
        }
    };
    Ok((out.into_bytes(), next))
}

/// Writes a page of the report by patch; returns the next page unless
/// this one was the last.
async fn patch_rows(
    conn: &mut patchport_db::Conn,
    query: &patchport_db::report::PatchQuery,
    page: i64,
    out: &mut Records,
) -> Result<Option<Cursor>, patchport_db::StorageError> {
    let found = patchport_db::report::by_patch(conn, query, page, BATCH).await?;
    for r in &found.items {
        out.write(&[
            r.package.as_str(),
            r.version.as_str(),
            r.arch.as_str(),
            r.release.as_str(),
            r.severity.as_str(),
            &cvss_cell(r.cvss),
            yes_no(r.known_exploited),
            yes_no(r.security),
            &r.advisories.to_string(),
            &r.servers.to_string(),
            &patchport_core::clock::format_utc(r.oldest),
        ]);
    }
    Ok((found.items.len() as i64 == BATCH).then_some(Cursor::Page(page + 1)))
}

/// Writes the server-patch rows after `after`; returns where the next
/// batch starts unless this one was the last.
async fn server_rows(
    conn: &mut patchport_db::Conn,
    query: &patchport_db::report::PatchQuery,
    after: (i64, i64),
    out: &mut Records,
) -> Result<Option<Cursor>, patchport_db::StorageError> {
    let rows = patchport_db::report::detail_after(conn, query, after, BATCH).await?;
    for r in &rows {
        out.write(&[
            r.hostname.as_str(),
            r.criticality.as_str(),
            r.owner.as_str(),
            r.release.as_str(),
            r.package.as_str(),
            r.installed_version.as_str(),
            r.version.as_str(),
            r.arch.as_str(),
            r.severity.as_str(),
            &cvss_cell(r.cvss),
            yes_no(r.known_exploited),
            yes_no(r.security),
            r.state.as_str(),
            &patchport_core::clock::format_utc(r.first_seen),
        ]);
    }
    Ok(match rows.last() {
        Some(last) if rows.len() as i64 == BATCH => {
            Some(Cursor::After(last.server_id, last.patch_id))
        }
        _ => None,
    })
}

/// A CVSS score with one decimal, or empty.
fn cvss_cell(cvss: Option<f64>) -> String {
    cvss.map(|c| format!("{c:.1}")).unwrap_or_default()
}

/// A flag as `yes` or `no`.
fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// CSV records written by `csv::Writer` (quoted where needed), with
/// formula-looking cells defused so a spreadsheet never runs them.
struct Records(csv::Writer<Vec<u8>>);

impl Records {
    fn new() -> Self {
        Records(
            csv::WriterBuilder::new()
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(Vec::new()),
        )
    }

    /// Appends one record. Writing to memory cannot fail.
    fn write<S: AsRef<str>>(&mut self, fields: &[S]) {
        let record = fields.iter().map(|f| defuse(f.as_ref()));
        self.0
            .write_record(record)
            .expect("a CSV record written to memory");
    }

    fn into_bytes(self) -> Vec<u8> {
        self.0.into_inner().expect("a CSV buffer in memory")
    }
}

/// A cell that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`,
/// or a leading tab or carriage return, which some strip before looking)
/// gets a leading `'`, so it is shown as text and never run.
fn defuse(cell: &str) -> std::borrow::Cow<'_, [u8]> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into_bytes().into()
    } else {
        cell.as_bytes().into()
    }
}

/// One CSV record on its own (the header).
fn csv_bytes<S: AsRef<str>>(fields: &[S]) -> Vec<u8> {
    let mut out = Records::new();
    out.write(fields);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_quoted_where_needed_and_formulas_defused() {
        let out = csv_bytes(&[
            "plain",
            "a,b",
            "say \"hi\"",
            "=1+1",
            "-x,y",
            "",
            "line\nbreak",
            "\t=cmd()",
            "\r@SUM(A1)",
        ]);
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "plain,\"a,b\",\"say \"\"hi\"\"\",'=1+1,\"'-x,y\",,\"line\nbreak\",'\t=cmd(),\"'\r@SUM(A1)\"\n"
        );
        // What a CSV reader makes of it.
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(out.as_slice());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(
            record.iter().collect::<Vec<_>>(),
            [
                "plain",
                "a,b",
                "say \"hi\"",
                "'=1+1",
                "'-x,y",
                "",
                "line\nbreak",
                "'\t=cmd()",
                "'\r@SUM(A1)"
            ]
        );
    }
}
