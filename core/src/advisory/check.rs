//! Errors, and the checks that produce them for the OSV and KEV parsers
//! alike: [`AdvisoryError`] names the entry and the JSON path of the
//! offending field; `Check` builds such errors for one entry and checks
//! texts, identifiers, list sizes and timestamps on the way in.

use super::MAX_ID_CHARS;
use super::dates::parse_rfc3339;
use crate::clock::Timestamp;
use serde::{Deserialize, Deserializer};
use std::fmt;

/// Why an advisory or the KEV catalog was refused. Names the entry and the
/// JSON path of the offending field, so whoever reads the log knows where
/// to look.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvisoryError {
    /// The advisory id (for KEV, the entry's CVE id or `KEV`), or `?` when
    /// it is missing or unusable.
    pub entry: String,
    /// JSON path of the offending field, e.g. `affected[2].ranges[0].events[1]`;
    /// empty when the document as a whole is unreadable.
    pub field: String,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for AdvisoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}: {}", self.entry, self.problem)
        } else {
            write!(f, "{}: {}: {}", self.entry, self.field, self.problem)
        }
    }
}

impl std::error::Error for AdvisoryError {}

/// Builds errors for one entry.
pub(super) struct Check<'a> {
    pub(super) entry: &'a str,
}

impl Check<'_> {
    pub(super) fn error(
        &self,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> AdvisoryError {
        AdvisoryError {
            entry: self.entry.to_owned(),
            field: field.into(),
            problem: problem.into(),
        }
    }

    pub(super) fn fail<T>(
        &self,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Result<T, AdvisoryError> {
        Err(self.error(field, problem))
    }

    /// Checks a text field: not blank when `required`, at most `max` bytes,
    /// and no control characters (tab, line feed and carriage return are
    /// allowed when `multiline`).
    pub(super) fn text(
        &self,
        field: impl Fn() -> String,
        value: &str,
        max: usize,
        required: bool,
        multiline: bool,
    ) -> Result<(), AdvisoryError> {
        if required && value.trim().is_empty() {
            return self.fail(field(), "must not be empty");
        }
        if value.len() > max {
            return self.fail(field(), format!("longer than {max} bytes"));
        }
        let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\t' | '\n' | '\r'));
        if value.chars().any(bad) {
            return self.fail(field(), "contains control characters");
        }
        Ok(())
    }

    /// Checks an identifier: 1 to [`MAX_ID_CHARS`] characters, no spaces or
    /// control characters.
    pub(super) fn id(&self, field: impl Fn() -> String, value: &str) -> Result<(), AdvisoryError> {
        if let Some(problem) = id_problem(value) {
            return self.fail(field(), problem);
        }
        Ok(())
    }

    /// Checks that a list has at most `max` entries.
    pub(super) fn count(&self, field: &str, len: usize, max: usize) -> Result<(), AdvisoryError> {
        if len > max {
            return self.fail(field, format!("more than {max} entries"));
        }
        Ok(())
    }
}

pub(super) fn id_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("must not be empty")
    } else if value.chars().count() > MAX_ID_CHARS {
        Some("longer than 128 characters")
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("must not contain spaces or control characters")
    } else {
        None
    }
}

/// A short, escaped rendering of a value for an error message.
pub(super) fn quoted(value: &str) -> String {
    if value.chars().count() <= 40 {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(40).collect();
        format!("{head:?}…")
    }
}

/// `null` counts as absent: some generators write `"aliases": null`.
pub(super) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

pub(super) fn check_time(
    check: &Check<'_>,
    field: &str,
    value: &str,
) -> Result<Timestamp, AdvisoryError> {
    parse_rfc3339(value).map_or_else(
        || {
            check.fail(
                field,
                format!("{} is not an RFC 3339 timestamp", quoted(value)),
            )
        },
        Ok,
    )
}
