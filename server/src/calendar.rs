//! A booked reboot as a calendar entry (`.ics`), for the server's owner
//! (and admins) to put into their own calendar.

use crate::middleware::{SignedIn, error_response};
use app::accounts::UserView;
use app::ssr::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use icalendar::{Calendar, Component, Event, EventLike};
use patchport_core::clock::format_in;

/// How long the calendar entry lasts: the reboot itself is quicker, but
/// services take a while to settle.
const ENTRY_MINUTES: i64 = 30;

/// `GET /servers/{id}/reboot.ics`: the server's booked reboot. Others'
/// servers and servers without a booking are "not found".
pub async fn reboot_ics(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    Path(id): Path<i64>,
) -> Response {
    match entry(&state, &user, id).await {
        Ok(Some((name, body))) => (
            [
                (
                    header::CONTENT_TYPE,
                    "text/calendar; charset=utf-8".to_owned(),
                ),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            body,
        )
            .into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, "no reboot is booked for this server").into_response(),
        Err(e) => error_response(&e),
    }
}

async fn entry(
    state: &AppState,
    user: &UserView,
    id: i64,
) -> Result<Option<(String, String)>, app::errors::AppError> {
    let mut conn = state.db.read().await?;
    let server = app::servers::visible_server(&mut conn, user, id).await?;
    let Some(booking) = patchport_db::windows::booked_reboots(&mut conn, id)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(None);
    };
    let host = server.row.hostname;
    let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
    let domain = url::Url::parse(&state.public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "patchport".into());
    let link = format!("{}/servers/{id}", state.public_url.trim_end_matches('/'));
    // Start and end are UTC instants (`…Z`), which every calendar shows in
    // its reader's zone; the text names the times in the reader's zone too.
    let event = Event::new()
        .uid(&format!("reboot-{}@{domain}", booking.job_id))
        .summary(&format!("Reboot of {host}"))
        .description(&format!(
            "Patchport reboots {host} at {}, inside its maintenance window, which closes at {}. \
             Change or cancel the booking: {link}",
            format_in(booking.at, &user.zone),
            format_in(booking.until, &user.zone)
        ))
        .url(&link)
        .starts(at(booking.at))
        .ends(at(booking.at + ENTRY_MINUTES * 60))
        .timestamp(at(state.clock.now()))
        .done();
    let calendar = Calendar::new().name("Patchport").push(event).done();
    Ok(Some((file_name(&host), calendar.to_string())))
}

/// The download's file name: host names come from agents, so only a safe
/// subset of characters goes into the quoted `Content-Disposition` value.
fn file_name(host: &str) -> String {
    let host: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    format!("reboot-{host}.ics")
}

#[cfg(test)]
mod tests {
    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(
            super::file_name("db-01.example.org"),
            "reboot-db-01.example.org.ics"
        );
        assert_eq!(
            super::file_name("x\"; filename=evil.exe\r\nSet-Cookie: a=b"),
            "reboot-x___filename_evil.exe__Set-Cookie__a_b.ics"
        );
        assert_eq!(
            super::file_name(&"h".repeat(300)).len(),
            "reboot-.ics".len() + 100
        );
    }
}
