//! A booked reboot as a calendar entry (`.ics`), for the server's owner
//! (and admins) to put into their own calendar: downloaded from the
//! server's page, and attached to the booking mails (`crate::mail`).

use crate::middleware::{SignedIn, error_response};
use app::accounts::UserView;
use app::ssr::AppState;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use icalendar::{Calendar, Component, Event, EventLike, EventStatus, Property};
use patchport_core::Timestamp;
use patchport_core::clock::format_in;
use patchport_core::notice::CalendarEntry;

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
    let entry = CalendarEntry {
        server_id: id,
        host: server.row.hostname,
        at: booking.at,
        window_end: Some(booking.until),
        sequence: patchport_db::mail::calendar_revision(&mut conn, id).await?,
    };
    let body = ics(&entry, &user.zone, &state.public_url, state.clock.now());
    Ok(Some((file_name(&entry.host), body)))
}

/// A booked reboot (or its cancellation) as an iCalendar file, its text in
/// `zone`, its links under `public_url`, made at `stamp`. The route and
/// the booking mails make it here. Each server has one entry (one `UID`),
/// revised by `SEQUENCE`, so a calendar moves or removes the entry an
/// earlier mail or download put in instead of adding another.
pub fn ics(entry: &CalendarEntry, zone: &str, public_url: &str, stamp: Timestamp) -> String {
    let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
    let domain = url::Url::parse(public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "patchport".into());
    let link = format!(
        "{}/servers/{}",
        public_url.trim_end_matches('/'),
        entry.server_id
    );
    let host = &entry.host;
    // Start and end are UTC instants (`…Z`), which every calendar shows in
    // its reader's zone; the text names the times in the reader's zone too.
    let (method, status, description) = match entry.window_end {
        Some(until) => (
            "PUBLISH",
            EventStatus::Confirmed,
            format!(
                "Patchport reboots {host} at {}, inside its maintenance window, which closes \
                 at {}. Change or cancel the booking: {link}",
                format_in(entry.at, zone),
                format_in(until, zone)
            ),
        ),
        None => (
            "CANCEL",
            EventStatus::Cancelled,
            format!(
                "The reboot of {host} booked for {} was cancelled. Book another: {link}",
                format_in(entry.at, zone)
            ),
        ),
    };
    let event = Event::new()
        .uid(&format!("reboot-server-{}@{domain}", entry.server_id))
        .sequence(u32::try_from(entry.sequence).unwrap_or_default())
        .summary(&format!("Reboot of {host}"))
        .description(&description)
        .url(&link)
        .status(status)
        .starts(at(entry.at))
        .ends(at(entry.at + ENTRY_MINUTES * 60))
        .timestamp(at(stamp))
        .done();
    Calendar::new()
        .name("Patchport")
        .append_property(Property::new("METHOD", method))
        .push(event)
        .done()
        .to_string()
}

/// The file name of a server's entry (`reboot-web-1.ics`): host names
/// come from agents, so only a safe subset of characters goes into the
/// quoted `Content-Disposition` value or a mail's attachment name.
pub fn file_name(host: &str) -> String {
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
    use patchport_core::notice::CalendarEntry;

    #[test]
    fn one_entry_per_server_published_then_cancelled_in_the_readers_zone() {
        let mut entry = CalendarEntry {
            server_id: 7,
            host: "db-1".into(),
            // 2027-03-29 02:30 UTC, 04:30 in Berlin (summer time).
            at: 1_806_287_400,
            window_end: Some(1_806_287_400 + 3600),
            sequence: 3,
        };
        let published = super::ics(&entry, "Europe/Berlin", "https://pp.example.org/", 0);
        let unfolded = published.replace("\r\n ", "");
        for line in [
            "METHOD:PUBLISH",
            "UID:reboot-server-7@pp.example.org",
            "SEQUENCE:3",
            "STATUS:CONFIRMED",
            "DTSTART:20270329T023000Z",
            "URL:https://pp.example.org/servers/7",
        ] {
            assert!(
                unfolded.contains(&format!("\r\n{line}\r\n")),
                "{line} in {published}"
            );
        }
        assert!(unfolded.contains("at 2027-03-29 04:30 CEST"), "{unfolded}");
        entry.window_end = None;
        entry.sequence = 4;
        let cancelled = super::ics(&entry, "UTC", "https://pp.example.org", 0).replace("\r\n ", "");
        for line in [
            "METHOD:CANCEL",
            "STATUS:CANCELLED",
            "SEQUENCE:4",
            "UID:reboot-server-7@pp.example.org",
        ] {
            assert!(
                cancelled.contains(&format!("\r\n{line}\r\n")),
                "{line} in {cancelled}"
            );
        }
    }

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
