//! Maintenance windows: recurring periods (days of the week, a start time,
//! a duration) in a named time zone, when automatic deployments and
//! booked reboots may run.
//!
//! Daylight saving, as RFC 5545 does it for calendar events:
//! - a start time that does not exist on a spring-forward day (02:30 when
//!   clocks jump from 02:00 to 03:00) is read with the offset before the
//!   jump, so the window starts at 03:30 the new time, one real hour after
//!   01:30 the old time, and still lasts its full duration;
//! - a start time that happens twice on a fall-back day (02:30 when clocks
//!   go back from 03:00 to 02:00) starts at the first of the two;
//! - durations are real elapsed time: a 2-hour window is 2 hours long even
//!   when the clocks change inside it.
//!
//! The time zone database is compiled in (jiff's bundled tzdb), so the
//! portal and the browser agree regardless of the machine's own copy.

use crate::Timestamp;
use jiff::civil::{Date, Time};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Longest window: a week.
pub const MAX_DURATION_MINUTES: u32 = 7 * 24 * 60;

/// A recurring maintenance window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// Days it starts on, 1 = Monday … 7 = Sunday (ISO 8601).
    pub days: Vec<u8>,
    /// Local start time, minutes after midnight.
    pub start_minute: u16,
    /// Length in minutes.
    pub duration_minutes: u32,
    /// IANA time zone name, e.g. `Europe/Berlin`.
    pub time_zone: String,
}

/// Why a window was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WindowError {
    /// No day, or a day outside 1–7.
    #[error("days: choose at least one day of the week")]
    Days,
    /// Start outside the day.
    #[error("start time must be between 00:00 and 23:59")]
    Start,
    /// Duration zero or longer than a week.
    #[error("duration must be between 1 minute and 7 days")]
    Duration,
    /// Not an IANA time zone name.
    #[error("unknown time zone {0:?}: use a name like Europe/Berlin or UTC")]
    TimeZone(String),
}

/// One occurrence of a window, as Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Occurrence {
    /// Opens.
    pub start: Timestamp,
    /// Closes (exclusive).
    pub end: Timestamp,
}

impl Occurrence {
    /// Whether `t` is inside.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t < self.end
    }
}

impl Window {
    /// Checks a window from a form; days are sorted and deduplicated.
    pub fn validated(mut self) -> Result<Self, WindowError> {
        self.days.sort_unstable();
        self.days.dedup();
        if self.days.is_empty() || self.days.iter().any(|d| !(1..=7).contains(d)) {
            return Err(WindowError::Days);
        }
        if self.start_minute >= 24 * 60 {
            return Err(WindowError::Start);
        }
        if self.duration_minutes == 0 || self.duration_minutes > MAX_DURATION_MINUTES {
            return Err(WindowError::Duration);
        }
        self.zone()?;
        Ok(self)
    }

    fn zone(&self) -> Result<TimeZone, WindowError> {
        TimeZone::get(&self.time_zone).map_err(|_| WindowError::TimeZone(self.time_zone.clone()))
    }

    /// The occurrence starting on local date `date`, if the window starts
    /// on that weekday.
    fn on(&self, tz: &TimeZone, date: Date) -> Option<Occurrence> {
        let weekday = date.weekday().to_monday_one_offset() as u8;
        if !self.days.contains(&weekday) {
            return None;
        }
        let time = Time::new(
            (self.start_minute / 60) as i8,
            (self.start_minute % 60) as i8,
            0,
            0,
        )
        .ok()?;
        // `compatible`: a time in a gap moves forward by the gap, the
        // first of two times in a fold wins (RFC 5545).
        let start = tz
            .to_ambiguous_zoned(date.to_datetime(time))
            .compatible()
            .ok()?
            .timestamp()
            .as_second();
        Some(Occurrence {
            start,
            end: start + i64::from(self.duration_minutes) * 60,
        })
    }

    /// Occurrences that have not ended at `after`, in order: the one open
    /// at `after` (if any) first. At most `n`.
    pub fn upcoming(&self, after: Timestamp, n: usize) -> Vec<Occurrence> {
        let Ok(tz) = self.zone() else {
            return Vec::new();
        };
        let Ok(now) = jiff::Timestamp::from_second(after) else {
            return Vec::new();
        };
        // Start far enough back to catch a window still open (up to a
        // week long) and walk forward day by day.
        let mut date = now.to_zoned(tz.clone()).date();
        for _ in 0..8 {
            date = date.yesterday().unwrap_or(date);
        }
        let mut out = Vec::new();
        // Bounded: two weeks back and forth beyond what n needs.
        for _ in 0..(n * 7 + 16) {
            if let Some(o) = self.on(&tz, date)
                && o.end > after
            {
                out.push(o);
                if out.len() == n {
                    break;
                }
            }
            match date.tomorrow() {
                Ok(d) => date = d,
                Err(_) => break,
            }
        }
        out
    }

    /// The occurrence open at `t`, if any.
    pub fn open_at(&self, t: Timestamp) -> Option<Occurrence> {
        self.upcoming(t, 1).into_iter().find(|o| o.contains(t))
    }

    /// Readable summary: "Mon, Wed 22:00–02:00 Europe/Berlin (4 h)".
    pub fn describe(&self) -> String {
        const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let days: Vec<&str> = self
            .days
            .iter()
            .filter_map(|d| NAMES.get(usize::from(d.saturating_sub(1))).copied())
            .collect();
        let end = (u32::from(self.start_minute) + self.duration_minutes) % (24 * 60);
        let hours = self.duration_minutes / 60;
        let minutes = self.duration_minutes % 60;
        let length = match (hours, minutes) {
            (0, m) => format!("{m} min"),
            (h, 0) => format!("{h} h"),
            (h, m) => format!("{h} h {m} min"),
        };
        format!(
            "{} {:02}:{:02}–{:02}:{:02} {} ({length})",
            days.join(", "),
            self.start_minute / 60,
            self.start_minute % 60,
            end / 60,
            end % 60,
            self.time_zone
        )
    }
}

/// The weekday number (1 = Monday) of a Unix time in a zone; for tests and
/// the calendar.
pub fn weekday_in(t: Timestamp, time_zone: &str) -> Option<u8> {
    let tz = TimeZone::get(time_zone).ok()?;
    let ts = jiff::Timestamp::from_second(t).ok()?;
    Some(ts.to_zoned(tz).weekday().to_monday_one_offset() as u8)
}

/// Why a reboot could not be booked at the time asked for.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BookingRefusal {
    /// In the past.
    #[error("that time has passed")]
    Past,
    /// The server has no window at all.
    #[error("this server has no maintenance window: ask an admin to give it one")]
    NoWindow,
    /// Outside every window; says when the next one opens.
    #[error("outside this server's maintenance windows; the next one is {}", next_text(.next))]
    Outside {
        /// The next occurrence of any of its windows.
        next: Option<Occurrence>,
    },
    /// Later than the reboot's deadline.
    #[error(
        "this server must reboot by {}: choose a time before that",
        crate::clock::format_utc(*.deadline)
    )]
    AfterDeadline {
        /// The deadline.
        deadline: Timestamp,
    },
    /// Moved too often.
    #[error(
        "this reboot was already moved {deferrals} time(s), the most allowed: ask an admin to move it"
    )]
    TooManyDeferrals {
        /// How often it was moved.
        deferrals: i64,
    },
}

impl BookingRefusal {
    /// The refusal with its times in the reader's zone (the `Display` text
    /// gives them in UTC, for logs).
    pub fn explain(&self, zone: &str) -> String {
        let at = |ts| crate::clock::format_in(ts, zone);
        match self {
            Self::Outside { next } => match next {
                Some(o) => format!(
                    "outside this server's maintenance windows; the next one is {} to {}",
                    at(o.start),
                    at(o.end)
                ),
                None => "outside this server's maintenance windows".to_owned(),
            },
            Self::AfterDeadline { deadline } => format!(
                "this server must reboot by {}: choose a time before that",
                at(*deadline)
            ),
            other => other.to_string(),
        }
    }
}

/// "start to end" of an occurrence, or nothing.
fn next_text(next: &Option<Occurrence>) -> String {
    next.map(|o| {
        format!(
            "{} to {}",
            crate::clock::format_utc(o.start),
            crate::clock::format_utc(o.end)
        )
    })
    .unwrap_or_default()
}

/// A reboot the server owes (it was patched without one), as a booking
/// sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Duty {
    /// Reboot by then.
    pub deadline_at: Timestamp,
    /// Bookings made before this one.
    pub bookings: i64,
    /// The rules' most moves allowed.
    pub max_deferrals: i64,
}

/// Checks a reboot booked for `at` (a minute of slack for filling in the
/// form; a time just past becomes now): it must fall inside one of the
/// server's `windows`, before its `duty`'s deadline and within the moves
/// allowed. Returns the time to book and the window's occurrence.
pub fn check_booking(
    at: Timestamp,
    now: Timestamp,
    windows: &[&Window],
    duty: Option<Duty>,
) -> Result<(Timestamp, Occurrence), BookingRefusal> {
    if at < now - 60 {
        return Err(BookingRefusal::Past);
    }
    let at = at.max(now);
    if windows.is_empty() {
        return Err(BookingRefusal::NoWindow);
    }
    let Some(open) = windows.iter().find_map(|w| w.open_at(at)) else {
        let next = windows
            .iter()
            .filter_map(|w| w.upcoming(at, 1).into_iter().next())
            .min_by_key(|o| o.start);
        return Err(BookingRefusal::Outside { next });
    };
    if let Some(duty) = duty {
        if at > duty.deadline_at {
            return Err(BookingRefusal::AfterDeadline {
                deadline: duty.deadline_at,
            });
        }
        if duty.bookings > duty.max_deferrals {
            return Err(BookingRefusal::TooManyDeferrals {
                deferrals: duty.bookings - 1,
            });
        }
    }
    Ok((at, open))
}

/// Where a booked reboot stands once its server's windows changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refit {
    /// Still inside a window that closes when its job expires.
    Same,
    /// Still inside a window, which now closes at this time: its job
    /// should expire then.
    Until(Timestamp),
    /// Inside none of the server's windows any more.
    Outside,
}

/// Checks a reboot booked for `at`, whose job expires at `until` (the end
/// of the window it was booked in), against the server's `windows` as they
/// are now. Of several windows open at `at`, the one it was booked in wins,
/// else the one that closes last.
pub fn refit(at: Timestamp, until: Timestamp, windows: &[&Window]) -> Refit {
    let ends: Vec<Timestamp> = windows
        .iter()
        .filter_map(|w| w.open_at(at))
        .map(|o| o.end)
        .collect();
    match ends.iter().max() {
        None => Refit::Outside,
        Some(_) if ends.contains(&until) => Refit::Same,
        Some(&end) => Refit::Until(end),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> Timestamp {
        s.parse::<jiff::Timestamp>().unwrap().as_second()
    }

    fn window(days: &[u8], start: &str, minutes: u32, tz: &str) -> Window {
        let (h, m) = start.split_once(':').unwrap();
        Window {
            days: days.to_vec(),
            start_minute: h.parse::<u16>().unwrap() * 60 + m.parse::<u16>().unwrap(),
            duration_minutes: minutes,
            time_zone: tz.into(),
        }
        .validated()
        .unwrap()
    }

    #[test]
    fn weekly_windows_in_a_zone() {
        // Tuesdays and Thursdays 22:00–02:00 in Berlin (CET, UTC+1, in
        // January).
        let w = window(&[2, 4], "22:00", 240, "Europe/Berlin");
        let next = w.upcoming(utc("2027-01-04T12:00:00Z"), 3); // a Monday
        assert_eq!(
            next,
            vec![
                Occurrence {
                    start: utc("2027-01-05T21:00:00Z"),
                    end: utc("2027-01-06T01:00:00Z")
                },
                Occurrence {
                    start: utc("2027-01-07T21:00:00Z"),
                    end: utc("2027-01-08T01:00:00Z")
                },
                Occurrence {
                    start: utc("2027-01-12T21:00:00Z"),
                    end: utc("2027-01-13T01:00:00Z")
                },
            ]
        );
        // Inside the Tuesday window after midnight (Wednesday local).
        let t = utc("2027-01-06T00:30:00Z");
        assert_eq!(w.open_at(t), Some(next[0]));
        assert_eq!(w.upcoming(t, 1)[0], next[0], "the open one comes first");
        assert_eq!(
            w.open_at(utc("2027-01-06T01:00:00Z")),
            None,
            "the end is exclusive"
        );
        assert_eq!(w.describe(), "Tue, Thu 22:00–02:00 Europe/Berlin (4 h)");
    }

    #[test]
    fn a_start_time_skipped_by_spring_forward_opens_after_the_gap() {
        // Sunday 2027-03-28: Berlin jumps from 02:00 CET to 03:00 CEST.
        let w = window(&[7], "02:30", 60, "Europe/Berlin");
        let o = w.upcoming(utc("2027-03-27T00:00:00Z"), 1)[0];
        // 02:30 read with the offset before the jump (+01:00) = 01:30 UTC,
        // which is 03:30 CEST; it still lasts an hour.
        assert_eq!(o.start, utc("2027-03-28T01:30:00Z"));
        assert_eq!(o.end, utc("2027-03-28T02:30:00Z"));
        // A week later it is 02:30 CEST = 00:30 UTC again.
        let next = w.upcoming(o.end, 1)[0];
        assert_eq!(next.start, utc("2027-04-04T00:30:00Z"));
    }

    #[test]
    fn a_start_time_repeated_by_fall_back_opens_at_the_first() {
        // Sunday 2027-10-31: Berlin goes back from 03:00 CEST to 02:00 CET,
        // so 02:30 happens at 00:30 UTC and again at 01:30 UTC.
        let w = window(&[7], "02:30", 120, "Europe/Berlin");
        let o = w.upcoming(utc("2027-10-30T00:00:00Z"), 1)[0];
        assert_eq!(o.start, utc("2027-10-31T00:30:00Z"));
        assert_eq!(o.end - o.start, 2 * 3600, "two real hours");
    }

    #[test]
    fn a_window_spanning_the_change_keeps_its_real_length() {
        // US: 2027-03-14 clocks jump at 02:00 EST to 03:00 EDT.
        let w = window(&[7], "01:00", 180, "America/New_York");
        let o = w.upcoming(utc("2027-03-13T00:00:00Z"), 1)[0];
        assert_eq!(o.start, utc("2027-03-14T06:00:00Z")); // 01:00 EST
        assert_eq!(o.end, utc("2027-03-14T09:00:00Z")); // 05:00 EDT local
    }

    #[test]
    fn bad_windows_are_refused_with_the_reason() {
        let base = || Window {
            days: vec![1],
            start_minute: 0,
            duration_minutes: 60,
            time_zone: "UTC".into(),
        };
        let err = |w: Window| w.validated().unwrap_err().to_string();
        assert!(
            err(Window {
                days: vec![],
                ..base()
            })
            .contains("days")
        );
        assert!(
            err(Window {
                days: vec![8],
                ..base()
            })
            .contains("days")
        );
        assert!(
            err(Window {
                start_minute: 1440,
                ..base()
            })
            .contains("start time")
        );
        assert!(
            err(Window {
                duration_minutes: 0,
                ..base()
            })
            .contains("duration")
        );
        assert!(
            err(Window {
                duration_minutes: MAX_DURATION_MINUTES + 1,
                ..base()
            })
            .contains("duration")
        );
        assert!(
            err(Window {
                time_zone: "Mars/Olympus".into(),
                ..base()
            })
            .contains("Mars/Olympus")
        );
        let tidy = Window {
            days: vec![3, 1, 3],
            ..base()
        }
        .validated()
        .unwrap();
        assert_eq!(tidy.days, vec![1, 3]);
    }

    #[test]
    fn weekdays_are_read_in_the_window_zone() {
        // Monday 2027-01-04 23:30 UTC is already Tuesday in Berlin.
        assert_eq!(weekday_in(utc("2027-01-04T23:30:00Z"), "UTC"), Some(1));
        assert_eq!(
            weekday_in(utc("2027-01-04T23:30:00Z"), "Europe/Berlin"),
            Some(2)
        );
    }

    #[test]
    fn bookings_fall_inside_a_window_before_the_deadline() {
        // Every day 22:00 UTC for two hours.
        let w = Window {
            days: (1..=7).collect(),
            start_minute: 22 * 60,
            duration_minutes: 120,
            time_zone: "UTC".into(),
        };
        let day = 19_000 * 86_400;
        let inside = day + 22 * 3600 + 600;
        let now = day + 3600;
        let open = Occurrence {
            start: day + 22 * 3600,
            end: day + 24 * 3600,
        };
        assert_eq!(check_booking(inside, now, &[&w], None), Ok((inside, open)));
        // A minute late is now; more is refused.
        assert_eq!(
            check_booking(inside - 30, inside, &[&w], None),
            Ok((inside, open))
        );
        assert_eq!(
            check_booking(inside - 61, inside, &[&w], None),
            Err(BookingRefusal::Past)
        );
        assert_eq!(
            check_booking(inside, now, &[], None),
            Err(BookingRefusal::NoWindow)
        );
        let refused = check_booking(day + 12 * 3600, now, &[&w], None).unwrap_err();
        assert_eq!(refused, BookingRefusal::Outside { next: Some(open) });
        assert!(
            refused
                .to_string()
                .ends_with("the next one is 2022-01-08 22:00:00 UTC to 2022-01-09 00:00:00 UTC"),
            "{refused}"
        );
        let duty = |deadline_at, bookings| {
            Some(Duty {
                deadline_at,
                bookings,
                max_deferrals: 2,
            })
        };
        assert_eq!(
            check_booking(inside, now, &[&w], duty(inside - 1, 1)),
            Err(BookingRefusal::AfterDeadline {
                deadline: inside - 1
            })
        );
        assert_eq!(
            check_booking(inside, now, &[&w], duty(inside, 2)),
            Ok((inside, open))
        );
        assert_eq!(
            check_booking(inside, now, &[&w], duty(inside, 3)),
            Err(BookingRefusal::TooManyDeferrals { deferrals: 2 })
        );
    }

    #[test]
    fn bookings_refit_to_changed_windows() {
        let nightly = window(&[1, 2, 3, 4, 5, 6, 7], "22:00", 240, "UTC");
        // 2027-03-01 is a Monday.
        let opens = utc("2027-03-01T22:00:00Z");
        let at = opens + 3600;
        assert_eq!(refit(at, opens + 4 * 3600, &[&nightly]), Refit::Same);
        // Shortened to 3 hours: still inside, the job expires earlier.
        let shorter = window(&[1, 2, 3, 4, 5, 6, 7], "22:00", 180, "UTC");
        assert_eq!(
            refit(at, opens + 4 * 3600, &[&shorter]),
            Refit::Until(opens + 3 * 3600)
        );
        // Moved to the weekend, or away altogether: outside.
        let weekend = window(&[6, 7], "22:00", 240, "UTC");
        assert_eq!(refit(at, opens + 4 * 3600, &[&weekend]), Refit::Outside);
        assert_eq!(refit(at, opens + 4 * 3600, &[]), Refit::Outside);
        // Two windows hold it: the one it was booked in stays.
        assert_eq!(
            refit(at, opens + 3 * 3600, &[&nightly, &shorter]),
            Refit::Same
        );
        assert_eq!(
            refit(at, opens + 2 * 3600, &[&shorter, &nightly]),
            Refit::Until(opens + 4 * 3600)
        );
        // In another zone the same local hours are other instants.
        let berlin = window(&[1, 2, 3, 4, 5, 6, 7], "22:00", 240, "Europe/Berlin");
        assert_eq!(
            refit(at, opens + 4 * 3600, &[&berlin]),
            Refit::Until(opens + 3 * 3600)
        );
    }
}
