//! Accounts: who may sign in, and in which role.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// What a signed-in person may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs the portal: reports, rollouts, users, audit.
    Admin,
    /// Owns servers: sees and patches only their own.
    Owner,
}

impl Role {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Result<Self, AccountError> {
        match s {
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            _ => Err(AccountError::UnknownRole(s.to_owned())),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an account value was refused. The text is shown to users as is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AccountError {
    #[error("user name must be 3 to 64 characters")]
    UsernameLength,
    #[error("user name may contain only letters, digits, '.', '-', '_' and '@'")]
    UsernameCharacters,
    #[error("password must be at least {min} characters", min = Password::MIN_LEN)]
    PasswordTooShort,
    #[error("password must be at most {max} characters", max = Password::MAX_LEN)]
    PasswordTooLong,
    #[error("unknown role '{0}' (expected admin or owner)")]
    UnknownRole(String),
    #[error("email address must look like name@example.org")]
    Email,
}

/// An email address: one `@`, something on both sides, no spaces, at most
/// 254 characters. Deliverability is the mail server's business.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    /// Trims and checks an address.
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let addr = raw.trim();
        let ok = addr.len() <= 254
            && !addr.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(addr.split_once('@'), Some((local, domain))
                if !local.is_empty() && domain.contains('.') && !domain.contains('@')
                   && !domain.starts_with('.') && !domain.ends_with('.'));
        if ok {
            Ok(Self(addr.to_owned()))
        } else {
            Err(AccountError::Email)
        }
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user name: 3–64 characters of `[A-Za-z0-9._@-]`, compared in lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Username(String);

impl Username {
    /// Normalises (trims, lower-cases) and checks a user name.
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let name = raw.trim().to_lowercase();
        if !(3..=64).contains(&name.chars().count()) {
            return Err(AccountError::UsernameLength);
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'))
        {
            return Err(AccountError::UsernameCharacters);
        }
        Ok(Self(name))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A new password that meets the policy. Its `Debug` output is redacted.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// NIST SP 800-63B's minimum for memorised secrets chosen by users.
    pub const MIN_LEN: usize = 10;
    /// Bounds hashing work an attacker can ask for.
    pub const MAX_LEN: usize = 256;

    /// Checks a new password against the policy.
    pub fn parse(raw: &str) -> Result<Self, AccountError> {
        let n = raw.chars().count();
        if n < Self::MIN_LEN {
            return Err(AccountError::PasswordTooShort);
        }
        if n > Self::MAX_LEN {
            return Err(AccountError::PasswordTooLong);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The secret itself, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Where to go after signing in: `next` when it is a path on this portal,
/// else `/`. Only a plain absolute path passes: it starts with one `/`
/// (not `//` or `/\\`, which browsers read as another host), and every
/// character is one a URL path, query or fragment may carry as is. Browsers
/// drop tabs and line breaks from URLs before they parse them, so
/// `/\t/evil.example` would become `//evil.example`: control characters,
/// spaces and backslashes anywhere make it `/`. The result is always a
/// valid HTTP header value.
pub fn local_path(next: &str) -> &str {
    let allowed = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '.'
                    | '_'
                    | '~'
                    | '!'
                    | '$'
                    | '&'
                    | '\''
                    | '('
                    | ')'
                    | '*'
                    | '+'
                    | ','
                    | ';'
                    | '='
                    | ':'
                    | '@'
                    | '/'
                    | '%'
                    | '?'
                    | '#'
            )
    };
    let mut chars = next.chars();
    let plain = chars.next() == Some('/')
        && !matches!(chars.next(), Some('/' | '\\'))
        && next.len() <= 2048
        && next.chars().all(allowed)
        // An encoded slash or backslash right after the first one is left
        // alone by servers but not by every client router.
        && !next[1..].to_ascii_lowercase().starts_with("%2f")
        && !next[1..].to_ascii_lowercase().starts_with("%5c");
    if plain { next } else { "/" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_normalised_and_checked() {
        let cases: &[(&str, Result<&str, AccountError>)] = &[
            ("  Alice ", Ok("alice")),
            ("ops.team-1@corp", Ok("ops.team-1@corp")),
            ("ab", Err(AccountError::UsernameLength)),
            (&"x".repeat(65), Err(AccountError::UsernameLength)),
            ("bob smith", Err(AccountError::UsernameCharacters)),
            ("robert'); drop", Err(AccountError::UsernameCharacters)),
            ("émile", Err(AccountError::UsernameCharacters)),
        ];
        for (raw, want) in cases {
            let got = Username::parse(raw);
            assert_eq!(
                got.as_ref().map(Username::as_str).map_err(Clone::clone),
                want.clone(),
                "input {raw:?}"
            );
        }
    }

    #[test]
    fn passwords_enforce_length_and_hide_in_debug() {
        assert_eq!(
            Password::parse("short").unwrap_err(),
            AccountError::PasswordTooShort
        );
        assert_eq!(
            Password::parse(&"p".repeat(257)).unwrap_err(),
            AccountError::PasswordTooLong
        );
        let p = Password::parse("correct horse battery").unwrap();
        assert_eq!(p.expose(), "correct horse battery");
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        for ok in ["a@b.org", " ops@corp.example.com "] {
            assert!(Email::parse(ok).is_ok(), "{ok:?} should be accepted");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@b.org",
            "a b@c.org",
            "a@b@c.org",
            "a@.org",
            "a@org.",
        ] {
            assert_eq!(
                Email::parse(bad),
                Err(AccountError::Email),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn roles_round_trip_and_reject_unknown() {
        for role in [Role::Admin, Role::Owner] {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
        }
        assert!(matches!(
            Role::parse("root"),
            Err(AccountError::UnknownRole(_))
        ));
    }

    #[test]
    fn only_plain_local_paths_are_followed_after_sign_in() {
        for (next, expect) in [
            ("/", "/"),
            ("/servers/3", "/servers/3"),
            (
                "/report?severity=critical&min_age_days=30#top",
                "/report?severity=critical&min_age_days=30#top",
            ),
            ("/patches/7?server=2", "/patches/7?server=2"),
            ("", "/"),
            ("servers", "/"),
            ("https://evil.example/", "/"),
            ("//evil.example/phish", "/"),
            ("/\\evil.example", "/"),
            ("/\t/evil.example/phish", "/"),
            ("/\n/evil.example", "/"),
            ("/\r\nSet-Cookie: x=1", "/"),
            ("/\u{7f}/evil.example", "/"),
            ("/ /evil.example", "/"),
            ("/%2F/evil.example", "/"),
            ("/%2f%2fevil.example", "/"),
            ("/%5C/evil.example", "/"),
            ("/servers\\..\\x", "/"),
            ("/\u{ff0f}/evil.example", "/"),
            ("javascript:alert(1)", "/"),
        ] {
            assert_eq!(local_path(next), expect, "{next:?}");
            assert!(http_header_safe(local_path(next)), "{next:?}");
        }
        assert_eq!(local_path(&format!("/{}", "a".repeat(3000))), "/");
    }

    /// What `http::HeaderValue::from_str` accepts: visible ASCII and spaces.
    fn http_header_safe(value: &str) -> bool {
        value
            .bytes()
            .all(|b| b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b))
    }
}
