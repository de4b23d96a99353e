//! The kinds of mail Patchport sends, who gets them, and what each asks of
//! its reader. Storage queues them, the portal's worker renders and sends
//! them, and the preferences page lists them from here.

use serde::{Deserialize, Serialize};

/// Who a kind of mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Audience {
    /// Server owners (and admins who own servers).
    Owner,
    /// Administrators.
    Admin,
    /// Anyone with an account; cannot be switched off.
    Account,
}

/// One kind of mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    /// Stored name.
    pub name: &'static str,
    /// What it is about, for the preferences page.
    pub label: &'static str,
    /// Who gets it.
    pub audience: Audience,
    /// The button or link text that leads to what to do next.
    pub action: &'static str,
}

impl Kind {
    /// Whether people may switch this kind off. Account mails (invitation,
    /// password reset) are asked for, so they always go.
    pub fn optional(&self) -> bool {
        self.audience != Audience::Account
    }
}

/// Every kind, in the order the preferences page shows them.
pub const KINDS: &[Kind] = &[
    Kind {
        name: "published",
        label: "Patches published for your servers",
        audience: Audience::Owner,
        action: "Review and install",
    },
    Kind {
        name: "install_done",
        label: "An install on your server finished or failed",
        audience: Audience::Owner,
        action: "See the result",
    },
    Kind {
        name: "reboot_needed",
        label: "A server needs a reboot: please schedule it",
        audience: Audience::Owner,
        action: "Book the reboot",
    },
    Kind {
        name: "reboot_booked",
        label: "A reboot was booked or moved (with a calendar entry)",
        audience: Audience::Owner,
        action: "See or change the booking",
    },
    Kind {
        name: "reboot_cancelled",
        label: "A booked reboot was cancelled",
        audience: Audience::Owner,
        action: "See the server",
    },
    Kind {
        name: "reboot_reminder",
        label: "Reminders 24 hours and 1 hour before a booked reboot",
        audience: Audience::Owner,
        action: "See or change the booking",
    },
    Kind {
        name: "reboot_outcome",
        label: "A booked reboot was done, failed or missed",
        audience: Audience::Owner,
        action: "See the server",
    },
    Kind {
        name: "server_silent",
        label: "One of your servers stopped checking in",
        audience: Audience::Owner,
        action: "See the server",
    },
    Kind {
        name: "test_failed",
        label: "A test install failed",
        audience: Audience::Admin,
        action: "Open the rollout",
    },
    Kind {
        name: "observation_ended",
        label: "An observation period ended and waits for approval",
        audience: Audience::Admin,
        action: "Decide",
    },
    Kind {
        name: "deadline_missed",
        label: "An owner let a reboot deadline pass",
        audience: Audience::Admin,
        action: "See the server",
    },
    Kind {
        name: "credential_conflict",
        label: "An agent's old credential was used twice during a rotation (possible theft)",
        audience: Audience::Admin,
        action: "Enrol the server again",
    },
    Kind {
        name: "invitation",
        label: "Account invitation",
        audience: Audience::Account,
        action: "Choose your password",
    },
    Kind {
        name: "password_reset",
        label: "Password reset",
        audience: Audience::Account,
        action: "Choose a new password",
    },
    Kind {
        name: "password_changed",
        label: "Your password was changed",
        audience: Audience::Account,
        action: "Open your account",
    },
];

/// The kind with this stored name.
pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

/// How long the worker waits before trying a mail again after a transient
/// failure: 30 s doubling per attempt, at most an hour.
pub fn retry_delay(attempts: i64) -> i64 {
    let n = attempts.clamp(1, 8) as u32 - 1;
    (30_i64 << n).min(3600)
}

/// After this many tries a mail is given up (dead letter).
pub const MAX_ATTEMPTS: i64 = 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_unique_and_account_mails_cannot_be_switched_off() {
        let mut names: Vec<_> = KINDS.iter().map(|k| k.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KINDS.len());
        assert!(!kind("password_reset").unwrap().optional());
        assert!(kind("published").unwrap().optional());
        assert!(kind("nonsense").is_none());
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(retry_delay(1), 30);
        assert_eq!(retry_delay(2), 60);
        assert_eq!(retry_delay(5), 480);
        assert_eq!(retry_delay(8), 3600);
        assert_eq!(retry_delay(11), 3600);
    }
}
