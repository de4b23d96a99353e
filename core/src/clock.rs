//! One clock for the whole application, so tests move time instead of
//! sleeping (observation periods, windows, session timeouts, leases).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Seconds since the Unix epoch, UTC. Stored as a plain integer in both
/// databases so that one query text works on SQLite and PostgreSQL.
pub type Timestamp = i64;

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time in seconds since the Unix epoch (UTC).
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as Timestamp)
            .unwrap_or_default()
    }
}

/// A clock that only moves when told to. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        Self(Arc::new(AtomicI64::new(start)))
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        self.0.load(Ordering::SeqCst)
    }
}

/// Formats a timestamp as `YYYY-MM-DD HH:MM:SS UTC` (with jiff, whose
/// time zone database is compiled in, so it renders identically on the
/// server and in the browser). An instant outside jiff's range (years
/// -9999 to 9999) is shown as its number of seconds.
pub fn format_utc(ts: Timestamp) -> String {
    match jiff::Timestamp::from_second(ts) {
        Ok(t) => t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Err(_) => format!("{ts} s since 1970 UTC"),
    }
}

/// The time zone times are shown in when nobody chose one.
pub const DEFAULT_ZONE: &str = "UTC";

/// The named zone (an IANA name such as `Europe/Berlin`), if jiff's
/// compiled-in database knows it.
pub fn zone(name: &str) -> Option<jiff::tz::TimeZone> {
    jiff::tz::TimeZone::get(name.trim()).ok()
}

/// Formats a timestamp in the reader's zone, named by its abbreviation:
/// `2027-03-29 21:30 CEST`; UTC when the zone is unknown. The same text
/// on the server and in the browser (jiff's database is compiled in).
pub fn format_in(ts: Timestamp, zone_name: &str) -> String {
    let tz = zone(zone_name).unwrap_or(jiff::tz::TimeZone::UTC);
    match jiff::Timestamp::from_second(ts) {
        Ok(t) => t.to_zoned(tz).strftime("%Y-%m-%d %H:%M %Z").to_string(),
        Err(_) => format!("{ts} s since 1970 UTC"),
    }
}

/// RFC 3339 in UTC (`2027-03-29T19:30:00Z`), for `<time datetime>` and
/// exports; empty outside jiff's range.
pub fn iso_utc(ts: Timestamp) -> String {
    jiff::Timestamp::from_second(ts)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// The value a `datetime-local` field shows for `ts` in the zone
/// (`2027-03-29T21:30`).
pub fn local_input(ts: Timestamp, zone_name: &str) -> String {
    let tz = zone(zone_name).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_second(ts)
        .map(|t| t.to_zoned(tz).strftime("%Y-%m-%dT%H:%M").to_string())
        .unwrap_or_default()
}

/// `HH:MM` of the instant in the zone.
pub fn local_hm(ts: Timestamp, zone_name: &str) -> String {
    let tz = zone(zone_name).unwrap_or(jiff::tz::TimeZone::UTC);
    jiff::Timestamp::from_second(ts)
        .map(|t| t.to_zoned(tz).strftime("%H:%M").to_string())
        .unwrap_or_default()
}

/// `days` days in the zone from the Monday of the week holding `now`: each
/// day's local midnight as an instant and its date (`YYYY-MM-DD`). Days
/// are 23 or 25 hours long across a daylight-saving change.
pub fn local_days(now: Timestamp, zone_name: &str, days: i64) -> Vec<(Timestamp, String)> {
    let tz = zone(zone_name).unwrap_or(jiff::tz::TimeZone::UTC);
    let Ok(today) = jiff::Timestamp::from_second(now).map(|t| t.to_zoned(tz.clone()).date()) else {
        return Vec::new();
    };
    let monday = today
        .checked_sub(jiff::Span::new().days(i64::from(today.weekday().to_monday_zero_offset())))
        .unwrap_or(today);
    (0..days)
        .filter_map(|d| {
            let date = monday.checked_add(jiff::Span::new().days(d)).ok()?;
            let start = date.to_zoned(tz.clone()).ok()?.timestamp().as_second();
            Some((start, date.to_string()))
        })
        .collect()
}

/// Why a wall-clock time typed in a zone names no instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalTimeError {
    /// Not `YYYY-MM-DDTHH:MM` (seconds optional).
    #[error("use the form YYYY-MM-DDTHH:MM")]
    Malformed,
    /// The zone is not one jiff knows.
    #[error("unknown time zone {0:?}")]
    UnknownZone(String),
    /// The clocks skip this time (the spring daylight-saving change).
    #[error("{time} does not exist in {zone}: the clocks move forward then")]
    Skipped {
        /// The time as typed.
        time: String,
        /// The zone.
        zone: String,
    },
}

/// Reads a wall-clock time typed in the reader's zone (`YYYY-MM-DDTHH:MM`,
/// as a `datetime-local` field sends it) as an instant. A time the clocks
/// skip is refused; a time they pass twice (the autumn change) is the
/// first of the two, as calendars read it.
pub fn parse_local(text: &str, zone_name: &str) -> Result<Timestamp, LocalTimeError> {
    let tz = zone(zone_name).ok_or_else(|| LocalTimeError::UnknownZone(zone_name.to_owned()))?;
    let dt: jiff::civil::DateTime = text.trim().parse().map_err(|_| LocalTimeError::Malformed)?;
    let ambiguous = tz.to_ambiguous_timestamp(dt);
    if matches!(ambiguous.offset(), jiff::tz::AmbiguousOffset::Gap { .. }) {
        return Err(LocalTimeError::Skipped {
            time: dt.strftime("%Y-%m-%d %H:%M").to_string(),
            zone: zone_name.to_owned(),
        });
    }
    ambiguous
        .compatible()
        .map(|t| t.as_second())
        .map_err(|_| LocalTimeError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_advanced_and_clones_share_time() {
        let clock = ManualClock::new(1_000);
        let shared = clock.clone();
        assert_eq!(clock.now(), 1_000);
        shared.advance(60);
        assert_eq!(clock.now(), 1_060);
    }

    #[test]
    fn format_utc_renders_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_utc(1_795_258_861), "2026-11-21 11:01:01 UTC");
        assert_eq!(format_utc(-1), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn times_show_in_the_readers_zone_across_daylight_saving() {
        // 2027-03-28 01:00 UTC: Berlin moves from CET (+1) to CEST (+2).
        let before = 1_806_192_000; // 2027-03-28 00:00 UTC
        assert_eq!(format_in(before, "Europe/Berlin"), "2027-03-28 01:00 CET");
        assert_eq!(
            format_in(before + 7_200, "Europe/Berlin"),
            "2027-03-28 04:00 CEST"
        );
        assert_eq!(format_in(before, "UTC"), "2027-03-28 00:00 UTC");
        assert_eq!(format_in(before, "Not/AZone"), "2027-03-28 00:00 UTC");
        assert_eq!(
            local_input(before + 7_200, "Europe/Berlin"),
            "2027-03-28T04:00"
        );
    }

    #[test]
    fn local_times_read_in_the_zone_refuse_the_skipped_hour() {
        let berlin = "Europe/Berlin";
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            parse_local("2027-03-29T21:30", berlin).map(|t| format_in(t, "UTC")),
            Ok("2027-03-29 19:30 UTC".to_owned())
        );
        assert_eq!(
            parse_local("2027-03-27T21:30", berlin).map(|t| format_in(t, "UTC")),
            Ok("2027-03-27 20:30 UTC".to_owned())
        );
        assert!(matches!(
            parse_local("2027-03-28T02:30", berlin),
            Err(LocalTimeError::Skipped { .. })
        ));
        // 02:30 happens twice on 2027-10-31; the first is still CEST.
        assert_eq!(
            parse_local("2027-10-31T02:30", berlin).map(|t| format_in(t, "UTC")),
            Ok("2027-10-31 00:30 UTC".to_owned())
        );
        assert_eq!(
            parse_local("tomorrow", berlin),
            Err(LocalTimeError::Malformed)
        );
        assert!(matches!(
            parse_local("2027-03-29T21:30", "Mars/Base"),
            Err(LocalTimeError::UnknownZone(_))
        ));
    }

    #[test]
    fn local_days_start_at_local_midnight_from_monday() {
        // Wednesday 2027-03-24 12:00 UTC; Berlin changes to CEST on Sunday 28th.
        let now = 1_806_192_000 - 4 * 86_400 + 12 * 3_600;
        let days = local_days(now, "Europe/Berlin", 14);
        assert_eq!(days.len(), 14);
        assert_eq!(days[0].1, "2027-03-22");
        assert_eq!(
            format_in(days[0].0, "Europe/Berlin"),
            "2027-03-22 00:00 CET"
        );
        // The Sunday of the change has 23 hours.
        assert_eq!(days[7].0 - days[6].0, 23 * 3_600);
        assert_eq!(
            format_in(days[7].0, "Europe/Berlin"),
            "2027-03-29 00:00 CEST"
        );
        assert_eq!(local_hm(days[7].0 + 3_600, "Europe/Berlin"), "01:00");
    }
}
