//! The words of the refusals storage reports: business rules that said no
//! (not database errors). Storage returns them as
//! `StorageError::Conflict(refusal.to_string())`, so every sentence a
//! person reads is written here, in core, and none in `db/`.

use thiserror::Error;

/// A request storage refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Refusal {
    /// A mail to send again is still waiting to go.
    #[error("this mail is still queued")]
    MailStillQueued,
    /// A mail's one-time link went out and was removed.
    #[error("its one-time link was sent and removed: send a new invitation or reset instead")]
    SecretLinkGone,
    /// A kind of mail that cannot be switched off (or no kind at all).
    #[error("'{0}' is not a kind of mail that can be switched off")]
    NotOptional(String),
    /// Someone else changed the rollout between reading and writing.
    #[error("the rollout changed meanwhile; reload")]
    RolloutChanged,
    /// `#x` where x is not a number.
    #[error("{0:?} is not a server number")]
    NotAServerNumber(String),
    /// `#12` when there is no server 12.
    #[error("no server {0}")]
    NoServerNumbered(String),
    /// A host name no server has.
    #[error("no server named {0:?}")]
    NoServerNamed(String),
    /// A host name several servers share.
    #[error(
        "{name:?} names {} servers ({}): write the one you mean by its number",
        ids.len(),
        ids.iter().map(|id| format!("#{id}")).collect::<Vec<_>>().join(", ")
    )]
    Ambiguous {
        /// The name given.
        name: String,
        /// The servers that have it.
        ids: Vec<i64>,
    },
    /// A server chosen by id is gone.
    #[error("a chosen server does not exist")]
    ServerGone,
}

/// Why an enrolment token cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// No token has this hash.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Revoked by an admin.
    Revoked,
    /// Already used as often as allowed.
    UsedUp,
}

impl TokenRefusal {
    /// Text for the audit trail (never sent to the agent, which only learns
    /// that the token was refused); also its `Display`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenRefusal::Unknown => "unknown token",
            TokenRefusal::Expired => "token expired",
            TokenRefusal::Revoked => "token revoked",
            TokenRefusal::UsedUp => "token used up",
        }
    }
}

impl std::fmt::Display for TokenRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for TokenRefusal {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ambiguous_name_lists_the_servers_by_number() {
        let r = Refusal::Ambiguous {
            name: "web".into(),
            ids: vec![3, 7],
        };
        assert_eq!(
            r.to_string(),
            "\"web\" names 2 servers (#3, #7): write the one you mean by its number"
        );
    }
}
