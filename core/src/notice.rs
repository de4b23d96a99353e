//! What Patchport tells people, as data. A [`Notice`] is a kind plus the
//! facts it reports (host, packages, times); storage keeps it as JSON next
//! to the notification and the mail, and the subject, body and link come
//! only from the templates here, so the words live in one place and a
//! notice can be rendered again later (in another time zone, say).
//!
//! - [`Notice`]: every kind, with [`Notice::kind`], [`Notice::subject`],
//!   [`Notice::body`], [`Notice::link`].
//! - [`follow_booking`]: which reminder or outcome a booked reboot is due.
//! - [`settle_booking`]: what one mail says about the booking changes of a
//!   quiet period; [`Notice::calendar`]: the calendar entry a mail carries.

use crate::Timestamp;
use crate::clock::{DEFAULT_ZONE, format_in};
use crate::state::JobState;
use serde::{Deserialize, Serialize};

/// How a password came to be changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PasswordChange {
    /// By its owner, on the account page.
    AccountPage,
    /// Through a reset link.
    ResetLink,
    /// By an administrator.
    Administrator,
}

/// How a booked reboot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RebootOutcome {
    /// The server came back with a new boot id.
    Done,
    /// The job failed.
    Failed,
    /// The window closed before the agent picked the job up.
    Missed,
}

/// One thing to tell someone: its kind (the variant, stored as `kind`,
/// one of [`crate::mail::KINDS`]) and its facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notice {
    /// Patches were published for the owner's servers.
    Published {
        /// Each patch and server: "openssl 3.0.15 on web-1".
        items: Vec<String>,
    },
    /// An install on the owner's server ended.
    InstallDone {
        /// The server.
        server_id: i64,
        /// Its host name.
        host: String,
        /// "name version" of each package.
        packages: Vec<String>,
        /// Succeeded, or else failed.
        succeeded: bool,
    },
    /// The server was patched without a reboot and must be rebooted.
    RebootNeeded {
        /// The server.
        server_id: i64,
        /// Its host name.
        host: String,
        /// "name version" of each package installed.
        packages: Vec<String>,
        /// Reboot by then.
        deadline: Timestamp,
    },
    /// A reboot was booked or moved: the time it settled on once the
    /// owner stopped changing it (see [`settle_booking`]).
    RebootBooked {
        /// The server.
        server_id: i64,
        /// Its host name.
        host: String,
        /// When it reboots.
        at: Timestamp,
        /// When its window closes.
        window_end: Timestamp,
        /// The revision of the server's calendar entry (`SEQUENCE`): each
        /// booking mail about the server counts up, so a calendar replaces
        /// the entry an earlier mail made.
        #[serde(default)]
        sequence: i64,
    },
    /// A booked reboot was cancelled (after its booking had been told).
    RebootCancelled {
        /// The server.
        server_id: i64,
        /// Its host name.
        host: String,
        /// When it would have rebooted.
        at: Timestamp,
        /// The revision of the server's calendar entry, as for a booking.
        #[serde(default)]
        sequence: i64,
        /// An admin changed the server's maintenance windows and the time
        /// fell outside all of them (else the owner or an admin cancelled).
        #[serde(default)]
        windows_changed: bool,
    },
    /// A booked reboot is near.
    RebootReminder {
        /// The server.
        server_id: i64,
        /// Its host name.
        host: String,
        /// When it reboots.
        at: Timestamp,
        /// Within the hour (else within a day).
        within_hour: bool,
    },
    /// A booked reboot ended.
    RebootOutcome {
        /// The server.
        server_id: i64,
        /// Its host name.
        host: String,
        /// When it was booked for.
        at: Timestamp,
        /// How it ended.
        outcome: RebootOutcome,
    },
    /// The owner's server stopped checking in.
    ServerSilent {
        /// The server.
        server_id: i64,
        /// Its host name.
        host: String,
        /// Its last check-in.
        last_check_in: Timestamp,
    },
    /// A test install failed and stopped a rollout.
    TestFailed {
        /// The rollout.
        rollout_id: i64,
        /// Package name.
        package: String,
        /// Version.
        version: String,
        /// Which test servers failed and how.
        failures: Vec<String>,
    },
    /// An observation ended and the policy asks an admin to decide.
    ObservationEnded {
        /// The rollout.
        rollout_id: i64,
        /// Package name.
        package: String,
        /// Version.
        version: String,
    },
    /// An owner let a reboot deadline pass.
    DeadlineMissed {
        /// The server.
        server_id: i64,
        /// Its host name.
        host: String,
        /// Patched (the obligation began) at.
        since: Timestamp,
        /// The deadline.
        deadline: Timestamp,
        /// How often the owner booked.
        bookings: i64,
    },
    /// An agent's old credential was presented again during a rotation.
    CredentialConflict {
        /// The server.
        server_id: i64,
        /// Its host name.
        host: String,
        /// Where the request came from.
        source: String,
    },
    /// An account was created for someone (the link holds a secret and is
    /// not part of the notice).
    Invitation {
        /// The account's user name.
        username: String,
    },
    /// Someone asked for a password reset (the link is not part of it).
    PasswordReset {
        /// The account's user name.
        username: String,
    },
    /// The account's password was changed.
    PasswordChanged {
        /// The account's user name.
        username: String,
        /// How.
        how: PasswordChange,
        /// When.
        at: Timestamp,
    },
}

impl Notice {
    /// The stored kind (one of [`crate::mail::KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Notice::Published { .. } => "published",
            Notice::InstallDone { .. } => "install_done",
            Notice::RebootNeeded { .. } => "reboot_needed",
            Notice::RebootBooked { .. } => "reboot_booked",
            Notice::RebootCancelled { .. } => "reboot_cancelled",
            Notice::RebootReminder { .. } => "reboot_reminder",
            Notice::RebootOutcome { .. } => "reboot_outcome",
            Notice::ServerSilent { .. } => "server_silent",
            Notice::TestFailed { .. } => "test_failed",
            Notice::ObservationEnded { .. } => "observation_ended",
            Notice::DeadlineMissed { .. } => "deadline_missed",
            Notice::CredentialConflict { .. } => "credential_conflict",
            Notice::Invitation { .. } => "invitation",
            Notice::PasswordReset { .. } => "password_reset",
            Notice::PasswordChanged { .. } => "password_changed",
        }
    }

    /// Where in the portal the reader acts on it ("/servers/3"). Empty for
    /// the kinds whose link holds a secret: that link is made by the
    /// caller and never stored with the notice.
    pub fn link(&self) -> String {
        match self {
            Notice::Published { .. } => "/servers".into(),
            Notice::InstallDone { server_id, .. }
            | Notice::RebootNeeded { server_id, .. }
            | Notice::RebootBooked { server_id, .. }
            | Notice::RebootCancelled { server_id, .. }
            | Notice::RebootReminder { server_id, .. }
            | Notice::RebootOutcome { server_id, .. }
            | Notice::ServerSilent { server_id, .. }
            | Notice::DeadlineMissed { server_id, .. }
            | Notice::CredentialConflict { server_id, .. } => format!("/servers/{server_id}"),
            Notice::TestFailed { rollout_id, .. } | Notice::ObservationEnded { rollout_id, .. } => {
                format!("/rollouts/{rollout_id}")
            }
            Notice::Invitation { .. } | Notice::PasswordReset { .. } => String::new(),
            Notice::PasswordChanged { .. } => "/account".into(),
        }
    }

    /// The subject line, times in UTC.
    pub fn subject(&self) -> String {
        self.subject_in(DEFAULT_ZONE)
    }

    /// What happened, times in UTC.
    pub fn body(&self) -> String {
        self.body_in(DEFAULT_ZONE)
    }

    /// The subject line, times in the reader's zone.
    pub fn subject_in(&self, zone: &str) -> String {
        match self {
            Notice::Published { items } => {
                format!("{} patch(es) published for your servers", items.len())
            }
            Notice::InstallDone {
                host, succeeded, ..
            } => {
                let how = if *succeeded { "finished" } else { "failed" };
                format!("Install on {host} {how}")
            }
            Notice::RebootNeeded { host, .. } => {
                format!("{host} was patched: please schedule its reboot")
            }
            Notice::RebootBooked { host, at, .. } => {
                format!("Reboot of {host} booked for {}", format_in(*at, zone))
            }
            Notice::RebootCancelled { host, at, .. } => {
                format!("Reboot of {host} on {} cancelled", format_in(*at, zone))
            }
            Notice::RebootReminder {
                host, within_hour, ..
            } => {
                let when = if *within_hour {
                    "in an hour"
                } else {
                    "tomorrow"
                };
                format!("{host} reboots {when}")
            }
            Notice::RebootOutcome { host, outcome, .. } => match outcome {
                RebootOutcome::Done => format!("{host} rebooted"),
                RebootOutcome::Failed => format!("Reboot of {host} failed"),
                RebootOutcome::Missed => format!("Reboot of {host} was missed"),
            },
            Notice::ServerSilent {
                host,
                last_check_in,
                ..
            } => format!(
                "{host} has not checked in since {}",
                format_in(*last_check_in, zone)
            ),
            Notice::TestFailed {
                package, version, ..
            } => format!("Test install of {package} {version} failed"),
            Notice::ObservationEnded {
                package, version, ..
            } => format!("{package} {version} awaits approval"),
            Notice::DeadlineMissed { host, .. } => format!("{host} missed its reboot deadline"),
            Notice::CredentialConflict { host, .. } => {
                format!("{host}: agent credential revoked, enrol it again")
            }
            Notice::Invitation { .. } => "You are invited to Patchport".into(),
            Notice::PasswordReset { .. } => "Choose a new Patchport password".into(),
            Notice::PasswordChanged { .. } => "Your Patchport password was changed".into(),
        }
    }

    /// What happened, in a sentence or two, times in the reader's zone.
    pub fn body_in(&self, zone: &str) -> String {
        match self {
            Notice::Published { items } => format!(
                "These patches are ready for you to install from the self-service portal:\n{}",
                items.join("\n")
            ),
            Notice::InstallDone {
                host,
                packages,
                succeeded: true,
                ..
            } => format!(
                "Installed on {host}: {}. A reboot may be needed; the server page says.",
                packages.join(", ")
            ),
            Notice::InstallDone { host, packages, .. } => format!(
                "The install of {} on {host} failed. The log is on the server page.",
                packages.join(", ")
            ),
            Notice::RebootNeeded {
                host,
                packages,
                deadline,
                ..
            } => format!(
                "Installed on {host} without a reboot: {}. Please book a reboot in one of its \
                 maintenance windows before {}.",
                packages.join(", "),
                format_in(*deadline, zone)
            ),
            Notice::ServerSilent {
                host,
                last_check_in,
                ..
            } => server_silent_body(host, *last_check_in, zone),
            Notice::TestFailed {
                package,
                version,
                failures,
                ..
            } => format!(
                "The rollout of {package} {version} stopped: test install failed on {}. \
                 The logs are on the rollout page.",
                failures.join("; ")
            ),
            Notice::ObservationEnded {
                package, version, ..
            } => format!(
                "The observation of {package} {version} ended. The policy asks an admin to \
                 approve or decline it."
            ),
            Notice::RebootBooked { .. }
            | Notice::RebootCancelled { .. }
            | Notice::RebootReminder { .. }
            | Notice::RebootOutcome { .. }
            | Notice::DeadlineMissed { .. } => self.reboot_body(zone),
            Notice::CredentialConflict { host, source, .. } => format!(
                "During a credential rotation the old credential of {host} was presented again \
                 (from {source}) after its replacement had been handed out. Either a copy of it \
                 is used elsewhere, or the agent lost the answer. Both credentials are revoked: \
                 enrol the server again with a new token, and check the server if it was not you."
            ),
            Notice::Invitation { .. }
            | Notice::PasswordReset { .. }
            | Notice::PasswordChanged { .. } => self.account_body(zone),
        }
    }

    /// The body of the reboot notices (empty for the other kinds).
    fn reboot_body(&self, zone: &str) -> String {
        match self {
            Notice::RebootBooked {
                host,
                at,
                window_end,
                ..
            } => format!(
                "{host} will reboot at {}, inside its maintenance window (closes {}).",
                format_in(*at, zone),
                format_in(*window_end, zone)
            ),
            Notice::RebootCancelled {
                host,
                at,
                windows_changed,
                ..
            } => {
                let why = if *windows_changed {
                    " because an admin changed its maintenance windows and that time is no \
                     longer inside one"
                } else {
                    ""
                };
                format!(
                    "The reboot of {host} booked for {} was cancelled{why}. If it still needs \
                     one, book a new time on the server's page.",
                    format_in(*at, zone)
                )
            }
            Notice::RebootReminder {
                host,
                at,
                within_hour,
                ..
            } => {
                let within = if *within_hour {
                    ""
                } else {
                    ", within 24 hours"
                };
                format!(
                    "Reminder: {host} reboots at {}{within}.",
                    format_in(*at, zone)
                )
            }
            Notice::RebootOutcome {
                host, at, outcome, ..
            } => reboot_outcome_body(host, *at, *outcome, zone),
            Notice::DeadlineMissed {
                host,
                since,
                deadline,
                bookings,
                ..
            } => format!(
                "{host} was patched on {} and should have rebooted by {}. Its owner booked \
                 {bookings} time(s). Reboot it, or talk to its owner.",
                format_in(*since, zone),
                format_in(*deadline, zone)
            ),
            _ => String::new(),
        }
    }

    /// The body of the account mails (empty for the other kinds).
    fn account_body(&self, zone: &str) -> String {
        match self {
            Notice::Invitation { username } => format!(
                "An administrator created the Patchport account '{username}' for you. Choose \
                 your password to sign in; the link works once, for 7 days."
            ),
            Notice::PasswordReset { username } => format!(
                "Someone (hopefully you) asked to reset the password of the Patchport account \
                 '{username}'. The link works once, for an hour. If it was not you, ignore this \
                 mail: your password stays as it is."
            ),
            Notice::PasswordChanged { username, how, at } => {
                let how = match how {
                    PasswordChange::AccountPage => "on your account page",
                    PasswordChange::ResetLink => "through a reset link",
                    PasswordChange::Administrator => "by an administrator",
                };
                format!(
                    "The password of your account {username} was changed {how} on {}. If this \
                     was not you, ask an administrator to reset it at once.",
                    format_in(*at, zone)
                )
            }
            _ => String::new(),
        }
    }

    /// The calendar entry the mail carries (as an `.ics` attachment), for
    /// the notices that set or remove one.
    pub fn calendar(&self) -> Option<CalendarEntry> {
        match self {
            Notice::RebootBooked {
                server_id,
                host,
                at,
                window_end,
                sequence,
            } => Some(CalendarEntry {
                server_id: *server_id,
                host: host.clone(),
                at: *at,
                window_end: Some(*window_end),
                sequence: *sequence,
            }),
            Notice::RebootCancelled {
                server_id,
                host,
                at,
                sequence,
                ..
            } => Some(CalendarEntry {
                server_id: *server_id,
                host: host.clone(),
                at: *at,
                window_end: None,
                sequence: *sequence,
            }),
            _ => None,
        }
    }

    /// The facts as stored (JSON, with the kind).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a notice always serialises")
    }
}

/// The body of a silent server's notice.
fn server_silent_body(host: &str, last_check_in: Timestamp, zone: &str) -> String {
    format!(
        "The Patchport agent on {host} last reported at {} and has been silent for more than \
         a day. Until it reports again, its missing patches and reboot state may be out of \
         date, and installs and reboots queued for it cannot run. Check that the server is up \
         and that the patchport-agent service is running.",
        format_in(last_check_in, zone)
    )
}

/// The body of a reboot's outcome.
fn reboot_outcome_body(host: &str, at: Timestamp, outcome: RebootOutcome, zone: &str) -> String {
    let when = format_in(at, zone);
    match outcome {
        RebootOutcome::Done => {
            format!("{host} rebooted as booked and came back with a new boot id.")
        }
        RebootOutcome::Failed => {
            format!("The reboot of {host} booked for {when} failed; see the server's jobs.")
        }
        RebootOutcome::Missed => format!(
            "{host} did not reboot in its window (booked for {when}): the agent did not pick \
             the job up in time. Please book again."
        ),
    }
}

/// A booked reboot as the follow-up reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Booking {
    /// When it reboots.
    pub at: Timestamp,
    /// Its job's state.
    pub state: JobState,
    /// Whether the day's reminder went out (or was not needed).
    pub reminded_day: bool,
    /// Whether the hour's reminder went out (or was not needed).
    pub reminded_hour: bool,
}

/// What the follow-up marks on a booking once it acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingMark {
    /// The outcome was told (or needs no telling): the booking is done.
    OutcomeTold,
    /// The hour's reminder went out (which also makes the day's pointless).
    RemindedHour,
    /// The day's reminder went out.
    RemindedDay,
}

/// What a booked reboot is due at `now`: a reminder 24 hours and 1 hour
/// before (each once, and only while it is still queued), or its outcome
/// once the job ended: done, failed, or missed (expired). A cancelled (or
/// moved) booking ends without a word; a running one waits. Returns the
/// mark to set and, with it, how the owner is told (None: nothing to say).
pub fn follow_booking(b: &Booking, now: Timestamp) -> Option<(BookingMark, Option<BookingNews>)> {
    use BookingMark::*;
    let outcome = |o| Some((OutcomeTold, Some(BookingNews::Outcome(o))));
    match b.state {
        JobState::Succeeded => outcome(RebootOutcome::Done),
        JobState::Failed => outcome(RebootOutcome::Failed),
        JobState::Expired => outcome(RebootOutcome::Missed),
        JobState::Cancelled => Some((OutcomeTold, None)),
        JobState::Queued if !b.reminded_hour && b.at - now <= 3600 => Some((
            RemindedHour,
            Some(BookingNews::Reminder { within_hour: true }),
        )),
        JobState::Queued if !b.reminded_day && b.at - now > 3600 && b.at - now <= 86_400 => Some((
            RemindedDay,
            Some(BookingNews::Reminder { within_hour: false }),
        )),
        _ => None,
    }
}

/// What an owner hears about a booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingNews {
    /// A reminder.
    Reminder {
        /// Within the hour (else within a day).
        within_hour: bool,
    },
    /// How it ended.
    Outcome(RebootOutcome),
}

impl BookingNews {
    /// The notice for `host` (server `server_id`) booked for `at`.
    pub fn notice(self, server_id: i64, host: &str, at: Timestamp) -> Notice {
        let host = host.to_owned();
        match self {
            BookingNews::Reminder { within_hour } => Notice::RebootReminder {
                server_id,
                host,
                at,
                within_hour,
            },
            BookingNews::Outcome(outcome) => Notice::RebootOutcome {
                server_id,
                host,
                at,
                outcome,
            },
        }
    }
}

/// A server's booked reboot as a calendar entry: one entry per server
/// (its `UID`), revised (`SEQUENCE`) each time a mail moves or removes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEntry {
    /// The server.
    pub server_id: i64,
    /// Its host name.
    pub host: String,
    /// When it reboots (or would have).
    pub at: Timestamp,
    /// When its window closes; None when the booking was cancelled.
    pub window_end: Option<Timestamp>,
    /// The entry's revision.
    pub sequence: i64,
}

impl CalendarEntry {
    /// The entry removes the booking from the reader's calendar.
    pub fn cancelled(&self) -> bool {
        self.window_end.is_none()
    }
}

/// The booking an owner was last told of by a booking mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Told {
    /// The time told.
    pub at: Timestamp,
    /// Its reboot job's state now (None when the job is gone).
    pub state: Option<JobState>,
}

/// What the one mail at the end of a quiet period says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// Booked (or moved) for `at`, in a window that closes at `until`.
    Booked {
        /// When it reboots.
        at: Timestamp,
        /// When its window closes.
        until: Timestamp,
    },
    /// The booking told before was cancelled.
    Cancelled {
        /// The time told.
        at: Timestamp,
    },
    /// Nothing to tell.
    Nothing,
}

impl Settled {
    /// The notice that tells it about `host` (server `server_id`), as
    /// revision `sequence` of its calendar entry; None for nothing.
    /// `windows_changed`: an admin's change of the windows cancelled it.
    pub fn notice(
        self,
        server_id: i64,
        host: String,
        sequence: i64,
        windows_changed: bool,
    ) -> Option<Notice> {
        match self {
            Settled::Booked { at, until } => Some(Notice::RebootBooked {
                server_id,
                host,
                at,
                window_end: until,
                sequence,
            }),
            Settled::Cancelled { at } => Some(Notice::RebootCancelled {
                server_id,
                host,
                at,
                sequence,
                windows_changed,
            }),
            Settled::Nothing => None,
        }
    }
}

/// What to tell a server's owner once its booking stopped changing for a
/// quiet period: `told` is what the last booking mail said, `current` the
/// booking now (time, window end). Only the end state counts: moves in
/// between are not told, a booking moved back to the time told needs no
/// mail, and one booked and cancelled again before anything was told
/// needs none either. A told booking whose job ran (or runs) is over: its
/// outcome mail follows, so its absence is no cancellation.
pub fn settle_booking(told: Option<Told>, current: Option<(Timestamp, Timestamp)>) -> Settled {
    let live = told.filter(|t| matches!(t.state, Some(JobState::Queued | JobState::Cancelled)));
    match (live, current) {
        (Some(t), Some((at, _))) if t.at == at => Settled::Nothing,
        (_, Some((at, until))) => Settled::Booked { at, until },
        (Some(t), None) if t.state == Some(JobState::Cancelled) => Settled::Cancelled { at: t.at },
        _ => Settled::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = 1_700_000_000;

    fn every_kind() -> Vec<Notice> {
        let host = || "web-1".to_owned();
        vec![
            Notice::Published {
                items: vec!["a 1 on web-1".into()],
            },
            Notice::InstallDone {
                server_id: 3,
                host: host(),
                packages: vec!["bash 1.0".into()],
                succeeded: true,
            },
            Notice::RebootNeeded {
                server_id: 3,
                host: host(),
                packages: vec!["bash 1.0".into()],
                deadline: NOW,
            },
            Notice::RebootBooked {
                server_id: 3,
                host: host(),
                at: NOW,
                window_end: NOW + 3600,
                sequence: 1,
            },
            Notice::RebootCancelled {
                server_id: 3,
                host: host(),
                at: NOW,
                sequence: 2,
                windows_changed: true,
            },
            Notice::RebootReminder {
                server_id: 3,
                host: host(),
                at: NOW,
                within_hour: true,
            },
            Notice::RebootOutcome {
                server_id: 3,
                host: host(),
                at: NOW,
                outcome: RebootOutcome::Missed,
            },
            Notice::ServerSilent {
                server_id: 3,
                host: host(),
                last_check_in: NOW,
            },
            Notice::TestFailed {
                rollout_id: 9,
                package: "bash".into(),
                version: "1.0".into(),
                failures: vec!["web-1: exit code 100".into()],
            },
            Notice::ObservationEnded {
                rollout_id: 9,
                package: "bash".into(),
                version: "1.0".into(),
            },
            Notice::DeadlineMissed {
                server_id: 3,
                host: host(),
                since: NOW,
                deadline: NOW + 86_400,
                bookings: 2,
            },
            Notice::CredentialConflict {
                server_id: 3,
                host: host(),
                source: "10.0.0.9".into(),
            },
            Notice::Invitation {
                username: "ann".into(),
            },
            Notice::PasswordReset {
                username: "ann".into(),
            },
            Notice::PasswordChanged {
                username: "ann".into(),
                how: PasswordChange::ResetLink,
                at: NOW,
            },
        ]
    }

    #[test]
    fn every_mail_kind_has_a_notice_and_every_notice_a_kind() {
        let mut kinds: Vec<_> = every_kind().iter().map(Notice::kind).collect();
        let mut names: Vec<_> = crate::mail::KINDS.iter().map(|k| k.name).collect();
        kinds.sort();
        names.sort();
        assert_eq!(kinds, names);
    }

    #[test]
    fn notices_round_trip_as_stored_with_their_kind() {
        for n in every_kind() {
            let json = n.to_json();
            let value: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(value["kind"], n.kind(), "{json}");
            assert_eq!(serde_json::from_str::<Notice>(&json).unwrap(), n);
        }
    }

    #[test]
    fn secret_links_are_not_part_of_a_notice() {
        for n in every_kind() {
            let secret = matches!(n, Notice::Invitation { .. } | Notice::PasswordReset { .. });
            assert_eq!(n.link().is_empty(), secret, "{}", n.kind());
        }
    }

    #[test]
    fn templates_say_what_happened() {
        let installed = Notice::InstallDone {
            server_id: 3,
            host: "web-1".into(),
            packages: vec!["bash 1.0".into(), "curl 1.0".into()],
            succeeded: true,
        };
        assert_eq!(installed.subject(), "Install on web-1 finished");
        assert_eq!(
            installed.body(),
            "Installed on web-1: bash 1.0, curl 1.0. A reboot may be needed; the server page says."
        );
        assert_eq!(installed.link(), "/servers/3");
        let failed = Notice::InstallDone {
            server_id: 3,
            host: "web-1".into(),
            packages: vec!["bash 1.0".into()],
            succeeded: false,
        };
        assert_eq!(failed.subject(), "Install on web-1 failed");
        assert_eq!(
            failed.body(),
            "The install of bash 1.0 on web-1 failed. The log is on the server page."
        );
        let published = Notice::Published {
            items: vec!["pkg7 1.0-2 on web-1".into(), "pkg8 1.0-2 on web-1".into()],
        };
        assert_eq!(
            published.subject(),
            "2 patch(es) published for your servers"
        );
        assert_eq!(
            published.body(),
            "These patches are ready for you to install from the self-service portal:\n\
             pkg7 1.0-2 on web-1\npkg8 1.0-2 on web-1"
        );
        let booked = Notice::RebootBooked {
            server_id: 3,
            host: "web-1".into(),
            at: 0,
            window_end: 3600,
            sequence: 1,
        };
        assert_eq!(
            booked.subject(),
            "Reboot of web-1 booked for 1970-01-01 00:00 UTC"
        );
        // A reader in Berlin reads it in their own zone, across the
        // daylight-saving change of 2027-03-28 (CET before, CEST after).
        let spring = Notice::RebootBooked {
            server_id: 3,
            host: "web-1".into(),
            at: 1_806_193_800,
            window_end: 1_806_193_800 + 7_200,
            sequence: 1,
        };
        assert_eq!(
            spring.body_in("Europe/Berlin"),
            "web-1 will reboot at 2027-03-28 01:30 CET, inside its maintenance window \
             (closes 2027-03-28 04:30 CEST)."
        );
        assert_eq!(
            booked.body(),
            "web-1 will reboot at 1970-01-01 00:00 UTC, inside its maintenance window \
             (closes 1970-01-01 01:00 UTC)."
        );
        let changed = Notice::PasswordChanged {
            username: "ann".into(),
            how: PasswordChange::Administrator,
            at: 0,
        };
        assert!(
            changed
                .body()
                .contains("changed by an administrator on 1970-01-01")
        );
    }

    fn booking(state: JobState, at: Timestamp, day: bool, hour: bool) -> Booking {
        Booking {
            at,
            state,
            reminded_day: day,
            reminded_hour: hour,
        }
    }

    #[test]
    fn bookings_are_reminded_once_a_day_and_an_hour_ahead_then_told_the_outcome() {
        use BookingMark::*;
        use BookingNews::*;
        let q = JobState::Queued;
        // Two days ahead: nothing yet.
        assert_eq!(
            follow_booking(&booking(q, NOW + 2 * 86_400, false, false), NOW),
            None
        );
        // Within a day: the day's reminder, once.
        assert_eq!(
            follow_booking(&booking(q, NOW + 7200, false, false), NOW),
            Some((RemindedDay, Some(Reminder { within_hour: false })))
        );
        assert_eq!(
            follow_booking(&booking(q, NOW + 7200, true, false), NOW),
            None
        );
        // Within the hour: the hour's, even when the day's never went out.
        assert_eq!(
            follow_booking(&booking(q, NOW + 600, false, false), NOW),
            Some((RemindedHour, Some(Reminder { within_hour: true })))
        );
        assert_eq!(
            follow_booking(&booking(q, NOW + 600, true, true), NOW),
            None
        );
        // Running: wait for the end.
        assert_eq!(
            follow_booking(&booking(JobState::Running, NOW, true, true), NOW),
            None
        );
        for (state, outcome) in [
            (JobState::Succeeded, RebootOutcome::Done),
            (JobState::Failed, RebootOutcome::Failed),
            (JobState::Expired, RebootOutcome::Missed),
        ] {
            assert_eq!(
                follow_booking(&booking(state, NOW, false, false), NOW),
                Some((OutcomeTold, Some(Outcome(outcome))))
            );
        }
        assert_eq!(
            follow_booking(&booking(JobState::Cancelled, NOW + 600, false, false), NOW),
            Some((OutcomeTold, None))
        );
    }

    #[test]
    fn cancellations_say_why_and_booking_notices_carry_their_calendar_entry() {
        let cancelled = |windows_changed| Notice::RebootCancelled {
            server_id: 3,
            host: "web-1".into(),
            at: 0,
            sequence: 4,
            windows_changed,
        };
        assert_eq!(
            cancelled(false).subject(),
            "Reboot of web-1 on 1970-01-01 00:00 UTC cancelled"
        );
        assert_eq!(
            cancelled(false).body(),
            "The reboot of web-1 booked for 1970-01-01 00:00 UTC was cancelled. If it still \
             needs one, book a new time on the server's page."
        );
        assert!(
            cancelled(true).body_in("Europe/Berlin").contains(
                "01:00 CET was cancelled because an admin changed its maintenance windows"
            )
        );
        let entry = cancelled(false).calendar().unwrap();
        assert!(entry.cancelled());
        assert_eq!((entry.server_id, entry.at, entry.sequence), (3, 0, 4));
        let booked = Notice::RebootBooked {
            server_id: 3,
            host: "web-1".into(),
            at: NOW,
            window_end: NOW + 600,
            sequence: 2,
        }
        .calendar()
        .unwrap();
        assert!(!booked.cancelled());
        assert_eq!(booked.window_end, Some(NOW + 600));
        assert_eq!(
            Notice::Invitation {
                username: "ann".into()
            }
            .calendar(),
            None
        );
        // Booking notices stored before the calendar entries had no
        // revision: they still read.
        let old = r#"{"kind":"reboot_booked","server_id":3,"host":"web-1","at":0,"window_end":60}"#;
        assert!(matches!(
            serde_json::from_str::<Notice>(old).unwrap(),
            Notice::RebootBooked { sequence: 0, .. }
        ));
    }

    #[test]
    fn a_quiet_period_of_booking_changes_is_told_by_where_it_ended() {
        use JobState::*;
        let told = |at, state| {
            Some(Told {
                at,
                state: Some(state),
            })
        };
        let booked = |at| Settled::Booked { at, until: at + 60 };
        // Nothing told yet: the final time, or nothing if cancelled again.
        assert_eq!(settle_booking(None, Some((NOW, NOW + 60))), booked(NOW));
        assert_eq!(settle_booking(None, None), Settled::Nothing);
        // Told, then moved (the told job was cancelled by the move).
        assert_eq!(
            settle_booking(told(NOW, Cancelled), Some((NOW + 600, NOW + 660))),
            booked(NOW + 600)
        );
        // Moved away and back again: the mail said it already.
        assert_eq!(
            settle_booking(told(NOW, Cancelled), Some((NOW, NOW + 60))),
            Settled::Nothing
        );
        assert_eq!(
            settle_booking(told(NOW, Queued), Some((NOW, NOW + 60))),
            Settled::Nothing
        );
        // Told, then moved and cancelled, or just cancelled.
        assert_eq!(
            settle_booking(told(NOW, Cancelled), None),
            Settled::Cancelled { at: NOW }
        );
        // The told reboot ran (its outcome is mailed) or its job is gone:
        // a new booking is news, its absence is not.
        for state in [Running, Succeeded, Failed, Expired] {
            assert_eq!(settle_booking(told(NOW, state), None), Settled::Nothing);
            assert_eq!(
                settle_booking(told(NOW, state), Some((NOW, NOW + 60))),
                booked(NOW)
            );
        }
        let gone = Some(Told {
            at: NOW,
            state: None,
        });
        assert_eq!(settle_booking(gone, None), Settled::Nothing);
        // Told as a booking or a cancellation, at the entry's revision.
        let kind = |s: Settled| s.notice(3, "web-1".into(), 7, true).map(|n| n.kind());
        assert_eq!(kind(booked(NOW)), Some("reboot_booked"));
        assert_eq!(
            kind(Settled::Cancelled { at: NOW }),
            Some("reboot_cancelled")
        );
        assert_eq!(kind(Settled::Nothing), None);
        assert_eq!(
            booked(NOW)
                .notice(3, "web-1".into(), 7, false)
                .and_then(|n| n.calendar())
                .map(|c| (c.sequence, c.window_end)),
            Some((7, Some(NOW + 60)))
        );
    }
}
