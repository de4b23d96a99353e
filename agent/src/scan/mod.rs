//! Collecting a [`patchport_core::protocol::Report`]: one parser per tool
//! whose output we read, and [`collect`] to run the tools for real.
//!
//! The parsers are strict on purpose: an update the agent fails to see is an
//! unpatched server the portal calls clean, so a line we do not understand is
//! an error naming that line, never something to skip. The few things that
//! are skipped are skipped by decision, and a comment at that spot says why.

pub mod apt;
pub mod collect;
pub mod dnf;
pub mod dpkg;
pub mod os_release;
pub mod reboot;
pub mod rpm;

pub use collect::{collect, collect_with};

use std::io;
use std::path::PathBuf;

/// Longest excerpt of an offending line or of a command's stderr that goes
/// into an error: enough to recognise it, not enough to flood a log.
const EXCERPT_CHARS: usize = 400;

/// Everything that can go wrong while collecting a report.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    /// One line of a tool's output (or of a file) does not have the expected
    /// shape.
    #[error("{input}, line {line}: {message}: `{text}`")]
    Parse {
        /// What was being parsed, e.g. `dpkg-query output`.
        input: &'static str,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        message: String,
        /// The line itself (shortened when very long).
        text: String,
    },
    /// A key that must be present is missing.
    #[error("{input}: required key {key} is missing")]
    MissingKey {
        /// What was being parsed, e.g. `/etc/os-release`.
        input: &'static str,
        /// The missing key.
        key: &'static str,
    },
    /// The output as a whole is inconsistent (each line parsed, but together
    /// they do not add up).
    #[error("{input}: {message}")]
    Inconsistent {
        /// What was being parsed.
        input: &'static str,
        /// What does not add up.
        message: String,
    },
    /// A command could not be started or waited for.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The command line, for the log.
        command: String,
        /// Why.
        source: io::Error,
    },
    /// A command ran but failed.
    #[error("`{command}` failed ({status}){}", stderr_note(.stderr_tail))]
    Command {
        /// The command line, for the log.
        command: String,
        /// Exit status, signal or timeout, in words.
        status: String,
        /// The end of its standard error, where tools put the reason.
        stderr_tail: String,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The machine has neither of the package managers the agent supports.
    #[error("no supported package manager: neither dpkg-query nor rpm found in {search_path}")]
    UnsupportedSystem {
        /// The directories that were searched.
        search_path: String,
    },
}

impl ScanError {
    /// A [`ScanError::Parse`] for line `index` (0-based, as from
    /// `enumerate`) of `input`.
    pub(crate) fn parse(
        input: &'static str,
        index: usize,
        text: &str,
        message: impl Into<String>,
    ) -> Self {
        ScanError::Parse {
            input,
            line: index + 1,
            message: message.into(),
            text: excerpt(text),
        }
    }
}

/// How a command error ends: the stderr tail, or nothing when it was empty.
fn stderr_note(stderr_tail: &str) -> String {
    if stderr_tail.is_empty() {
        String::new()
    } else {
        format!("; stderr ends with: {stderr_tail}")
    }
}

/// `text` cut to [`EXCERPT_CHARS`] characters (never inside a character).
fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The last [`EXCERPT_CHARS`] characters of `text`, trimmed: tools print the
/// actual reason for a failure last, after any warnings.
fn tail(text: &str) -> String {
    let text = text.trim();
    let count = text.chars().count();
    if count <= EXCERPT_CHARS {
        return text.to_owned();
    }
    match text.char_indices().nth(count - EXCERPT_CHARS) {
        Some((cut, _)) => format!("…{}", &text[cut..]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_name_input_line_and_text() {
        let err = ScanError::parse("dpkg-query output", 4, "bad line", "expected 6 fields");
        assert_eq!(
            err.to_string(),
            "dpkg-query output, line 5: expected 6 fields: `bad line`"
        );
    }

    #[test]
    fn excerpts_and_tails_are_bounded_and_keep_whole_characters() {
        let long = "é".repeat(EXCERPT_CHARS + 10);
        let ex = excerpt(&long);
        assert_eq!(
            ex.chars().count(),
            EXCERPT_CHARS + 1,
            "cut plus the ellipsis"
        );
        assert!(ex.ends_with('…'));
        let t = tail(&format!("start {long} the reason"));
        assert!(t.starts_with('…'), "tail marks the cut: {t}");
        assert!(t.ends_with("the reason"), "tail keeps the end: {t}");
        assert_eq!(tail("  short\n"), "short", "short text is only trimmed");
        assert_eq!(excerpt("short"), "short");
    }
}
