//! Security advisories: OSV records and the CISA Known Exploited
//! Vulnerabilities (KEV) catalog, checked on the way in, and the rules that
//! decide whether an advisory affects an installed package version.
//!
//! Everything here is a pure function of its input; the caller downloads
//! and unpacks the feeds (osv.dev's per-ecosystem `all.zip`, Ubuntu's
//! `ubuntu-security-notices` repository, CISA's
//! `known_exploited_vulnerabilities.json`) and hands over the bytes.
//!
//! # OSV
//!
//! [`parse_osv`] reads one record in the [OSV format] as osv.dev publishes
//! it for Debian (`DSA-`, `DLA-`, `DEBIAN-CVE-`), Ubuntu (`USN-`,
//! `UBUNTU-CVE-`), AlmaLinux (`ALSA-`), Rocky Linux (`RLSA-`) and Red Hat
//! (`RHSA-`). Unknown fields are ignored, `null` counts as absent, and what
//! is known is checked: the id, the timestamps (RFC 3339), every affected
//! package's ecosystem and name, range types, that each event has exactly
//! one key and that linear (`ECOSYSTEM`, `SEMVER`) ranges have an
//! `introduced` event, CVSS vectors, and sizes. A failure is an
//! [`AdvisoryError`] naming the record and the JSON path of the field, e.g.
//! `DSA-5678-1: affected[0].package.name: must not be empty`.
//!
//! [`Affected::affects`] follows the OSV evaluation algorithm for
//! `ECOSYSTEM` ranges: events are sorted by the release's version ordering
//! ([`VersionScheme`]: dpkg for Debian and Ubuntu, rpm for AlmaLinux, Rocky
//! and Red Hat, see [`ecosystem_scheme`]), `introduced: "0"` sorts before
//! everything, and a version is affected inside `[introduced, fixed)` or
//! `[introduced, last_affected]`, below a `limit` if there is one, or when
//! the record's `versions` list names it. `SEMVER` and `GIT` ranges are
//! parsed but not evaluated: they need SemVer ordering or the repository's
//! commit graph, and the distributions above publish `ECOSYSTEM` ranges
//! only.
//!
//! Package names follow the distributions: Debian, Ubuntu, AlmaLinux and
//! Rocky name the **source** package, Red Hat binary or source RPMs, so a
//! caller checks both an installed package's name and its source name.
//!
//! [`release_ecosystem`] maps a server's `/etc/os-release` (`ID`,
//! `VERSION_ID`) to the ecosystem names its advisories use; see there for
//! what is supported.
//!
//! ## CVE ids
//!
//! [`Advisory::cves`] collects CVE ids from the record's id, `aliases` and
//! `upstream`, and from the per-CVE records of distributions written
//! `<DB>-CVE-YYYY-NNNN` (`DEBIAN-CVE-…`, `UBUNTU-CVE-…`, which USNs list in
//! `upstream`). For distribution advisories whose own id is not a CVE
//! (`DSA-`, `USN-`, `ALSA-`, …) it also reads `related`: AlmaLinux and Rocky
//! list the CVEs an erratum fixes only there. A CVE record's `related`
//! names *other* vulnerabilities and is left out.
//!
//! ## CVSS
//!
//! `CVSS_V2`, `CVSS_V3` and `CVSS_V4` severity entries are parsed with the
//! RustSec `cvss` crate (Apache-2.0 OR MIT, no dependencies), which scores
//! all three versions; a vector that does not parse, lacks a base metric or
//! does not match its entry's type is a validation error. The score is the
//! base score rounded to one decimal, as the crate computes it (v3.0 and
//! v3.1 with their own round-up rules; for v4 the score covers whichever
//! metric groups the vector carries, which for OSV's base-only vectors is
//! CVSS-B). [`Advisory::cvss`] picks the vector of the highest CVSS version.
//! Ubuntu's qualitative priority (`{"type": "Ubuntu", "score": "high"}`) is
//! mapped by [`Advisory::ubuntu_priority`].
//!
//! # KEV
//!
//! [`parse_kev`] reads CISA's catalog: every entry's `cveID` must be a CVE
//! id, `dateAdded` (and `dueDate`, when given) a `YYYY-MM-DD` date, kept as
//! given and as Unix seconds at 00:00 UTC, and `count`, when present, must
//! equal the number of entries.
//!
//! # Dates
//!
//! RFC 3339 timestamps are parsed with jiff (the workspace's one date
//! crate; its parser needs no clock and builds for wasm). `T`, `t` or a
//! space may separate date and time; any UTC offset is accepted and
//! converted, fractions of a second are dropped, and a leap second counts
//! as the second before it.
//!
//! [OSV format]: https://ossf.github.io/osv-schema/

use crate::clock::Timestamp;
use crate::version::VersionScheme;
use serde::{Deserialize, Deserializer, Serialize};
use std::cmp::Ordering;
use std::fmt;

/// Largest OSV record [`parse_osv`] accepts, in bytes. Per-CVE records of
/// the Linux kernel list thousands of versions across releases and take a
/// few MiB; nothing real comes near this.
pub const MAX_OSV_BYTES: usize = 32 * 1024 * 1024;
/// Largest KEV catalog [`parse_kev`] accepts, in bytes (the catalog was
/// about 1.5 MiB in 2025).
pub const MAX_KEV_BYTES: usize = 64 * 1024 * 1024;
/// Longest advisory or vulnerability id, in characters.
pub const MAX_ID_CHARS: usize = 128;
/// Longest `summary`, in bytes (OSV recommends about 120 characters).
pub const MAX_SUMMARY_BYTES: usize = 8 * 1024;
/// Longest `details`, in bytes. Ubuntu's kernel notices list hundreds of
/// CVEs and subsystems and run to tens of KiB, so this leaves room.
pub const MAX_DETAILS_BYTES: usize = 256 * 1024;

const MAX_NAME_BYTES: usize = 256;
const MAX_VERSION_BYTES: usize = 256;
const MAX_ECOSYSTEM_BYTES: usize = 128;
const MAX_URL_BYTES: usize = 4096;
const MAX_LABEL_BYTES: usize = 64;
const MAX_IDS: usize = 10_000;
const MAX_AFFECTED: usize = 50_000;
const MAX_RANGES: usize = 1_000;
const MAX_EVENTS: usize = 10_000;
const MAX_VERSIONS: usize = 200_000;
const MAX_REFERENCES: usize = 10_000;
const MAX_SEVERITIES: usize = 100;
const MAX_KEV_TEXT_BYTES: usize = 64 * 1024;

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

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
struct Check<'a> {
    entry: &'a str,
}

impl Check<'_> {
    fn error(&self, field: impl Into<String>, problem: impl Into<String>) -> AdvisoryError {
        AdvisoryError {
            entry: self.entry.to_owned(),
            field: field.into(),
            problem: problem.into(),
        }
    }

    fn fail<T>(
        &self,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Result<T, AdvisoryError> {
        Err(self.error(field, problem))
    }

    /// Checks a text field: not blank when `required`, at most `max` bytes,
    /// and no control characters (tab, line feed and carriage return are
    /// allowed when `multiline`).
    fn text(
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
    fn id(&self, field: impl Fn() -> String, value: &str) -> Result<(), AdvisoryError> {
        if let Some(problem) = id_problem(value) {
            return self.fail(field(), problem);
        }
        Ok(())
    }

    /// Checks that a list has at most `max` entries.
    fn count(&self, field: &str, len: usize, max: usize) -> Result<(), AdvisoryError> {
        if len > max {
            return self.fail(field, format!("more than {max} entries"));
        }
        Ok(())
    }
}

fn id_problem(value: &str) -> Option<&'static str> {
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
fn quoted(value: &str) -> String {
    if value.chars().count() <= 40 {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(40).collect();
        format!("{head:?}…")
    }
}

/// `null` counts as absent: some generators write `"aliases": null`.
fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------

/// Parses an RFC 3339 timestamp (`2024-05-02T05:12:33.123Z`) into Unix
/// seconds. See the [module documentation](self) for the details.
pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
    if !matches!(text.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    text.parse::<jiff::Timestamp>()
        .ok()
        .map(jiff::Timestamp::as_second)
}

/// Parses a `YYYY-MM-DD` date into Unix seconds at 00:00 UTC.
pub fn parse_date(text: &str) -> Option<Timestamp> {
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes[range].iter().all(u8::is_ascii_digit);
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    if !(digits(0..4) && digits(5..7) && digits(8..10)) {
        return None;
    }
    let year: i16 = text[0..4].parse().ok()?;
    let month: i8 = text[5..7].parse().ok()?;
    let day: i8 = text[8..10].parse().ok()?;
    let date = jiff::civil::Date::new(year, month, day).ok()?;
    Some(
        date.to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_second(),
    )
}

// ---------------------------------------------------------------------------
// CVE ids
// ---------------------------------------------------------------------------

/// Whether `id` is a CVE id: `CVE-`, a four-digit year, `-`, and four or
/// more digits.
pub fn is_cve_id(id: &str) -> bool {
    let Some(rest) = id.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, number)) = rest.split_once('-') else {
        return false;
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    year.len() == 4 && digits(year) && number.len() >= 4 && digits(number)
}

/// The CVE id an OSV id stands for: the id itself if it is one, or the CVE
/// in a distribution's per-CVE record id (`DEBIAN-CVE-2024-2511`,
/// `UBUNTU-CVE-2024-6387`: upper-case letters, `-`, a CVE id).
fn cve_of(id: &str) -> Option<&str> {
    if is_cve_id(id) {
        return Some(id);
    }
    let (prefix, rest) = id.split_once('-')?;
    (!prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_uppercase()) && is_cve_id(rest))
        .then_some(rest)
}

// ---------------------------------------------------------------------------
// Severity and CVSS
// ---------------------------------------------------------------------------

/// A qualitative severity level, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeverityLevel {
    /// Ubuntu's `negligible`; CVSS's `None` (a score of 0.0).
    Negligible,
    /// Low.
    Low,
    /// Medium (Ubuntu, CVSS); Red Hat's and Alma's "Moderate".
    Medium,
    /// High (Ubuntu, CVSS); Red Hat's "Important".
    High,
    /// Critical.
    Critical,
}

impl SeverityLevel {
    /// The level's lower-case name, as Ubuntu spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            SeverityLevel::Negligible => "negligible",
            SeverityLevel::Low => "low",
            SeverityLevel::Medium => "medium",
            SeverityLevel::High => "high",
            SeverityLevel::Critical => "critical",
        }
    }

    /// Reads an Ubuntu priority (`negligible`, `low`, `medium`, `high`,
    /// `critical`, any case). `untriaged` and anything else is no level.
    pub fn from_ubuntu(priority: &str) -> Option<Self> {
        [
            SeverityLevel::Negligible,
            SeverityLevel::Low,
            SeverityLevel::Medium,
            SeverityLevel::High,
            SeverityLevel::Critical,
        ]
        .into_iter()
        .find(|level| priority.trim().eq_ignore_ascii_case(level.as_str()))
    }
}

/// One entry of a `severity` list: a scoring method and its score.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Severity {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`, or another method.
    #[serde(rename = "type")]
    pub kind: String,
    /// A CVSS vector, or the method's own score (`high` for Ubuntu).
    pub score: String,
}

/// A CVSS version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CvssVersion {
    /// CVSS v2.0 (vectors without a `CVSS:` prefix).
    #[serde(rename = "2.0")]
    V2_0,
    /// CVSS v3.0.
    #[serde(rename = "3.0")]
    V3_0,
    /// CVSS v3.1.
    #[serde(rename = "3.1")]
    V3_1,
    /// CVSS v4.0.
    #[serde(rename = "4.0")]
    V4_0,
}

impl CvssVersion {
    /// The version as written in vectors: `2.0`, `3.0`, `3.1`, `4.0`.
    pub fn as_str(self) -> &'static str {
        match self {
            CvssVersion::V2_0 => "2.0",
            CvssVersion::V3_0 => "3.0",
            CvssVersion::V3_1 => "3.1",
            CvssVersion::V4_0 => "4.0",
        }
    }

    /// The OSV severity type for this version: `CVSS_V2`, `CVSS_V3`, `CVSS_V4`.
    pub fn osv_type(self) -> &'static str {
        match self {
            CvssVersion::V2_0 => "CVSS_V2",
            CvssVersion::V3_0 | CvssVersion::V3_1 => "CVSS_V3",
            CvssVersion::V4_0 => "CVSS_V4",
        }
    }
}

/// A parsed CVSS vector and its base score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    /// The vector as the advisory gives it.
    pub vector: String,
    /// The base score, 0.0 to 10.0 with one decimal.
    pub score: f64,
    /// The CVSS version of the vector.
    pub version: CvssVersion,
}

impl Cvss {
    /// Parses a CVSS v2, v3.0, v3.1 or v4.0 vector and computes its score.
    /// Refuses vectors that lack a base metric.
    pub fn parse(vector: &str) -> Result<Cvss, String> {
        let parsed: cvss::Cvss = vector.parse().map_err(|e| format!("{e}"))?;
        let version = match &parsed {
            cvss::Cvss::CvssV20(_) => CvssVersion::V2_0,
            cvss::Cvss::CvssV30(v) | cvss::Cvss::CvssV31(v) => {
                // The crate's v3 parser accepts vectors with base metrics
                // missing and scores them as if they were zero.
                let complete = v.av.is_some()
                    && v.ac.is_some()
                    && v.pr.is_some()
                    && v.ui.is_some()
                    && v.s.is_some()
                    && v.c.is_some()
                    && v.i.is_some()
                    && v.a.is_some();
                if !complete {
                    return Err("lacks a base metric (AV, AC, PR, UI, S, C, I, A)".into());
                }
                if matches!(parsed, cvss::Cvss::CvssV30(_)) {
                    CvssVersion::V3_0
                } else {
                    CvssVersion::V3_1
                }
            }
            cvss::Cvss::CvssV40(_) => CvssVersion::V4_0,
            _ => return Err("unsupported CVSS version".into()),
        };
        let score = (parsed.score().clamp(0.0, 10.0) * 10.0).round() / 10.0;
        Ok(Cvss {
            vector: vector.to_owned(),
            score,
            version,
        })
    }

    /// The qualitative level of the score: for v3 and v4, 0.0 negligible
    /// (CVSS's "None"), up to 3.9 low, 6.9 medium, 8.9 high, then critical;
    /// v2 knows no critical and calls 7.0 and above high.
    pub fn level(&self) -> SeverityLevel {
        let s = self.score;
        if self.version == CvssVersion::V2_0 {
            return if s < 4.0 {
                SeverityLevel::Low
            } else if s < 7.0 {
                SeverityLevel::Medium
            } else {
                SeverityLevel::High
            };
        }
        if s < 0.1 {
            SeverityLevel::Negligible
        } else if s < 4.0 {
            SeverityLevel::Low
        } else if s < 7.0 {
            SeverityLevel::Medium
        } else if s < 9.0 {
            SeverityLevel::High
        } else {
            SeverityLevel::Critical
        }
    }
}

/// The CVSS version an OSV severity type announces, if it is a CVSS type.
fn cvss_type(kind: &str) -> Option<&'static [CvssVersion]> {
    match kind {
        "CVSS_V2" => Some(&[CvssVersion::V2_0]),
        "CVSS_V3" => Some(&[CvssVersion::V3_0, CvssVersion::V3_1]),
        "CVSS_V4" => Some(&[CvssVersion::V4_0]),
        _ => None,
    }
}

/// Parses a severity entry's vector if its type is a CVSS type: `None` for
/// other types, an error if the vector is bad or of another version.
fn severity_cvss(severity: &Severity) -> Option<Result<Cvss, String>> {
    let versions = cvss_type(&severity.kind)?;
    Some(Cvss::parse(&severity.score).and_then(|cvss| {
        if versions.contains(&cvss.version) {
            Ok(cvss)
        } else {
            Err(format!(
                "it is a CVSS {} vector, not {}",
                cvss.version.as_str(),
                severity.kind
            ))
        }
    }))
}

// ---------------------------------------------------------------------------
// OSV types
// ---------------------------------------------------------------------------

/// An OSV record, checked. Deserialising one (with serde, from the OSV JSON)
/// runs the same checks as [`parse_osv`]; serialising writes OSV JSON again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawAdvisory")]
pub struct Advisory {
    /// The record's id, e.g. `DSA-5678-1`, `USN-6859-1`, `ALSA-2024:2447`,
    /// `DEBIAN-CVE-2024-2511`.
    pub id: String,
    /// When the record was last modified, as given (RFC 3339).
    pub modified: String,
    /// [`Advisory::modified`] in Unix seconds.
    #[serde(skip_serializing)]
    pub modified_at: Timestamp,
    /// When the record was published, as given (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    /// [`Advisory::published`] in Unix seconds.
    #[serde(skip_serializing)]
    pub published_at: Option<Timestamp>,
    /// When the record was withdrawn, as given (RFC 3339); a withdrawn
    /// record affects nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    /// [`Advisory::withdrawn`] in Unix seconds.
    #[serde(skip_serializing)]
    pub withdrawn_at: Option<Timestamp>,
    /// Ids of the same vulnerability in other databases.
    pub aliases: Vec<String>,
    /// Ids of upstream vulnerabilities this record covers (distributions
    /// list the CVEs an advisory fixes here).
    pub upstream: Vec<String>,
    /// Ids of related vulnerabilities.
    pub related: Vec<String>,
    /// One-line summary (may be empty).
    pub summary: String,
    /// Details, CommonMark (may be empty).
    pub details: String,
    /// Severity scores for the whole record.
    pub severity: Vec<Severity>,
    /// The affected packages.
    pub affected: Vec<Affected>,
    /// Links.
    pub references: Vec<Reference>,
    /// The database's own fields (Rocky and Red Hat put ratings here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

/// One affected package and its affected versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Affected {
    /// The package.
    pub package: Package,
    /// Severity scores for this package only (OSV allows these instead of
    /// the record-wide ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub severity: Vec<Severity>,
    /// Ranges of affected versions.
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Affected versions, listed one by one.
    #[serde(default)]
    pub versions: Vec<String>,
    /// The ecosystem's own fields (Ubuntu: binaries and availability;
    /// Debian: urgency).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<serde_json::Value>,
    /// The database's own fields (Ubuntu: each CVE's priority and CVSS
    /// vectors in `cves_map`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<serde_json::Value>,
}

/// A package in an ecosystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// The OSV ecosystem, e.g. `Debian:12`, `Ubuntu:22.04:LTS`,
    /// `AlmaLinux:9`, `Red Hat:enterprise_linux:9::appstream`.
    pub ecosystem: String,
    /// The package name: the source package for Debian, Ubuntu, AlmaLinux
    /// and Rocky; a binary or source RPM for Red Hat.
    pub name: String,
    /// Package URL, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

/// How a range's versions are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RangeType {
    /// The ecosystem's own ordering (dpkg's, rpm's): the one evaluated here.
    Ecosystem,
    /// SemVer 2.0 ordering.
    Semver,
    /// Git commits: needs the repository's history.
    Git,
}

/// A range of affected versions, as a timeline of events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// How the versions are ordered.
    #[serde(rename = "type")]
    pub kind: RangeType,
    /// Repository URL, for `GIT` ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    /// The events, in any order.
    pub events: Vec<Event>,
}

/// One event of a range. In JSON, an object with exactly one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// The vulnerability appears in this version; `"0"` means from the
    /// beginning.
    Introduced(String),
    /// This version fixes it.
    Fixed(String),
    /// The last version known to be affected (later ones are presumed not).
    LastAffected(String),
    /// Versions from here on are outside the range; `"*"` is infinity.
    Limit(String),
}

impl Event {
    /// The event's version string.
    pub fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }

    /// The event's JSON key: `introduced`, `fixed`, `last_affected`, `limit`.
    pub fn key(&self) -> &'static str {
        match self {
            Event::Introduced(_) => "introduced",
            Event::Fixed(_) => "fixed",
            Event::LastAffected(_) => "last_affected",
            Event::Limit(_) => "limit",
        }
    }
}

/// A link about the vulnerability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// `ADVISORY`, `ARTICLE`, `REPORT`, `FIX`, `WEB`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The URL.
    pub url: String,
}

// ---------------------------------------------------------------------------
// OSV: evaluation
// ---------------------------------------------------------------------------

/// Orders events by version, `introduced: "0"` first. At equal versions an
/// `introduced` event comes first, so that each `introduced`/`fixed` pair is
/// a half-open interval (empty if both are equal) and `last_affected`
/// includes its version, whatever order the record lists them in.
fn event_order(scheme: VersionScheme, a: &Event, b: &Event) -> Ordering {
    let zero = |e: &Event| matches!(e, Event::Introduced(v) if v == "0");
    let later = |e: &Event| !matches!(e, Event::Introduced(_));
    match (zero(a), zero(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => scheme
            .compare(a.version(), b.version())
            .then_with(|| later(a).cmp(&later(b))),
    }
}

impl Range {
    /// Whether `version` is below one of the range's `limit` events (or the
    /// range has none).
    fn before_limits(&self, scheme: VersionScheme, version: &str) -> bool {
        let mut limits = self
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Limit(v) => Some(v.as_str()),
                _ => None,
            })
            .peekable();
        limits.peek().is_none()
            || limits.any(|limit| limit == "*" || scheme.compare(version, limit) == Ordering::Less)
    }

    /// OSV's `IncludedInRanges` for one range, with the scheme's ordering.
    fn includes(&self, scheme: VersionScheme, version: &str) -> bool {
        if self.kind != RangeType::Ecosystem || !self.before_limits(scheme, version) {
            return false;
        }
        let mut events: Vec<&Event> = self
            .events
            .iter()
            .filter(|e| !matches!(e, Event::Limit(_)))
            .collect();
        events.sort_by(|a, b| event_order(scheme, a, b));
        let mut vulnerable = false;
        for event in events {
            let order = || scheme.compare(version, event.version());
            match event {
                Event::Introduced(v) if v == "0" || order() != Ordering::Less => vulnerable = true,
                Event::Fixed(_) if order() != Ordering::Less => vulnerable = false,
                Event::LastAffected(_) if order() == Ordering::Greater => vulnerable = false,
                _ => {}
            }
        }
        vulnerable
    }
}

impl Affected {
    /// Whether `version` of this package is affected: it lies in one of the
    /// `ECOSYSTEM` ranges (ordered by `scheme`) or equals (by `scheme`) a
    /// listed version. `SEMVER` and `GIT` ranges are not evaluated; a blank
    /// version is never affected.
    pub fn affects(&self, scheme: VersionScheme, version: &str) -> bool {
        if version.trim().is_empty() {
            return false;
        }
        self.versions
            .iter()
            .any(|v| scheme.compare(version, v) == Ordering::Equal)
            || self.ranges.iter().any(|r| r.includes(scheme, version))
    }

    /// The `fixed` versions of the `ECOSYSTEM` and `SEMVER` ranges, in the
    /// order given, without repeats. (`GIT` ranges fix at commits, not
    /// versions.)
    pub fn fixed_versions(&self) -> Vec<String> {
        let mut fixed: Vec<String> = Vec::new();
        for range in self.ranges.iter().filter(|r| r.kind != RangeType::Git) {
            for event in &range.events {
                if let Event::Fixed(v) = event
                    && !fixed.contains(v)
                {
                    fixed.push(v.clone());
                }
            }
        }
        fixed
    }

    /// The version that fixes `version`: the lowest `fixed` event above it
    /// in an `ECOSYSTEM` range that `version` lies in. `None` when it is not
    /// affected through a range or no fix is known.
    pub fn fix_for(&self, scheme: VersionScheme, version: &str) -> Option<&str> {
        if version.trim().is_empty() {
            return None;
        }
        self.ranges
            .iter()
            .filter(|r| r.includes(scheme, version))
            .flat_map(|r| r.events.iter())
            .filter_map(|e| match e {
                Event::Fixed(v) if scheme.compare(version, v) == Ordering::Less => Some(v.as_str()),
                _ => None,
            })
            .min_by(|a, b| scheme.compare(a, b))
    }
}

/// Whether an advisory's ecosystem belongs to a release's ecosystem (as
/// [`release_ecosystem`] gives it): the same string, or the release's
/// followed by `::` and a repository, as Red Hat writes its CPE-derived
/// ecosystems (`Red Hat:enterprise_linux:9::appstream` belongs to
/// `Red Hat:enterprise_linux:9`).
pub fn ecosystem_matches(advisory: &str, release: &str) -> bool {
    advisory == release
        || advisory
            .strip_prefix(release)
            .is_some_and(|rest| rest.starts_with("::"))
}

impl Advisory {
    /// Whether the record was withdrawn.
    pub fn is_withdrawn(&self) -> bool {
        self.withdrawn.is_some()
    }

    /// The affected entries for package (or source package) `name` in any
    /// of `ecosystems` (see [`ecosystem_matches`]).
    pub fn matching<'a>(
        &'a self,
        ecosystems: &[String],
        name: &str,
    ) -> impl Iterator<Item = &'a Affected> {
        self.affected.iter().filter(move |a| {
            a.package.name == name
                && ecosystems
                    .iter()
                    .any(|e| ecosystem_matches(&a.package.ecosystem, e))
        })
    }

    /// Whether this advisory affects `version` of the package (or source
    /// package) `package_or_source` on a release whose ecosystems are
    /// `ecosystems`. Withdrawn advisories affect nothing. Debian, Ubuntu,
    /// AlmaLinux and Rocky name source packages; check both names.
    pub fn affects_package(
        &self,
        ecosystems: &[String],
        package_or_source: &str,
        scheme: VersionScheme,
        version: &str,
    ) -> bool {
        !self.is_withdrawn()
            && self
                .matching(ecosystems, package_or_source)
                .any(|a| a.affects(scheme, version))
    }

    /// The CVE ids this advisory is about, sorted, without repeats: see the
    /// [module documentation](self#cve-ids).
    pub fn cves(&self) -> Vec<String> {
        let own_cve = cve_of(&self.id).is_some();
        let related = self.related.iter().filter(|_| !own_cve);
        let mut cves: Vec<String> = std::iter::once(&self.id)
            .chain(&self.aliases)
            .chain(&self.upstream)
            .chain(related)
            .filter_map(|id| cve_of(id))
            .map(str::to_owned)
            .collect();
        cves.sort();
        cves.dedup();
        cves
    }

    /// All severity entries: the record's, its packages', and those the
    /// distributions keep in their own fields (Ubuntu lists each CVE's
    /// priority and CVSS vectors under
    /// `affected[].database_specific.cves_map.cves[].severity`).
    fn all_severities(&self) -> impl Iterator<Item = Severity> + '_ {
        self.severity
            .iter()
            .cloned()
            .chain(self.affected.iter().flat_map(|a| {
                a.severity
                    .iter()
                    .cloned()
                    .chain(ubuntu_cves_map(a.database_specific.as_ref()))
            }))
    }

    /// The CVSS vector of the highest CVSS version among all severity
    /// entries (see [`Advisory::ratings`]), with its base score; among
    /// vectors of the same version, the highest score. Vectors in a
    /// distribution's own fields that do not parse are left out (they are
    /// not part of the OSV schema, so they are not checked on import); see
    /// [`Advisory::ignored_vectors`].
    pub fn cvss(&self) -> Option<Cvss> {
        self.all_severities()
            .filter_map(|s| severity_cvss(&s)?.ok())
            .max_by(|a, b| {
                a.version
                    .cmp(&b.version)
                    .then_with(|| a.score.total_cmp(&b.score))
            })
    }

    /// CVSS vectors in a distribution's own fields that do not parse, so
    /// count for nothing: an import reports them rather than dropping them
    /// silently.
    pub fn ignored_vectors(&self) -> Vec<String> {
        self.all_severities()
            .filter(|s| matches!(severity_cvss(s), Some(Err(_))))
            .map(|s| s.score)
            .collect()
    }

    /// Ubuntu's priority for the vulnerability (severity entries of type
    /// `Ubuntu`, wherever the record keeps them), the highest if there are
    /// several.
    pub fn ubuntu_priority(&self) -> Option<SeverityLevel> {
        self.all_severities()
            .filter(|s| s.kind == "Ubuntu")
            .filter_map(|s| SeverityLevel::from_ubuntu(&s.score))
            .max()
    }

    /// Every rating the record carries, read from the shapes the
    /// distributions really publish:
    ///
    /// - CVSS vectors, in `severity`, `affected[].severity` or Ubuntu's
    ///   `cves_map` (the level of the base score);
    /// - Ubuntu's priority (`{"type": "Ubuntu", "score": "high"}`), at the
    ///   top of UBUNTU-CVE records and per CVE in USNs' `cves_map`, or per
    ///   package as `affected[].ecosystem_specific.ubuntu_priority` in
    ///   older UBUNTU-CVE records;
    /// - the Red Hat family's rating, which AlmaLinux (and Red Hat's own
    ///   errata) put only at the start of the summary ("Important: openssl
    ///   security update"): Critical, Important (high), Moderate (medium),
    ///   Low;
    /// - Debian's urgency in `affected[].ecosystem_specific.urgency` (low,
    ///   medium, high; "unimportant" is negligible, "not yet assigned" no
    ///   rating).
    pub fn ratings(&self) -> Vec<Rating> {
        let mut out = Vec::new();
        for s in self.all_severities() {
            match severity_cvss(&s) {
                Some(Ok(cvss)) => out.push(Rating {
                    level: cvss.level(),
                    source: format!(
                        "CVSS {} base score {:.1}",
                        cvss.version.as_str(),
                        cvss.score
                    ),
                }),
                Some(Err(_)) => {}
                None if s.kind == "Ubuntu" => {
                    if let Some(level) = SeverityLevel::from_ubuntu(&s.score) {
                        out.push(Rating {
                            level,
                            source: format!("Ubuntu priority {}", level.as_str()),
                        });
                    }
                }
                None => {}
            }
        }
        if let Some((word, level)) = red_hat_rating(&self.summary)
            && self
                .affected
                .iter()
                .all(|a| ecosystem_scheme(&a.package.ecosystem) == Some(VersionScheme::Rpm))
            && !self.affected.is_empty()
        {
            out.push(Rating {
                level,
                source: format!("{} rating {word}", vendor_of(&self.affected)),
            });
        }
        for a in &self.affected {
            let specific = |key: &str| {
                a.ecosystem_specific
                    .as_ref()
                    .and_then(|e| e.get(key))
                    .and_then(|v| v.as_str())
            };
            if let Some(level) = specific("ubuntu_priority").and_then(SeverityLevel::from_ubuntu) {
                out.push(Rating {
                    level,
                    source: format!("Ubuntu priority {}", level.as_str()),
                });
            }
            let urgency = specific("urgency");
            if let Some(level) = urgency.and_then(debian_urgency) {
                out.push(Rating {
                    level,
                    source: format!("Debian urgency {}", urgency.unwrap_or_default()),
                });
            }
        }
        out
    }

    /// The advisory's rating: the highest of [`Advisory::ratings`]; at the
    /// same level, the distribution's own assessment is named rather than
    /// a CVSS score.
    pub fn rating(&self) -> Option<Rating> {
        self.ratings().into_iter().max_by(|a, b| {
            a.level.cmp(&b.level).then_with(|| {
                b.source
                    .starts_with("CVSS")
                    .cmp(&a.source.starts_with("CVSS"))
            })
        })
    }

    /// The level of [`Advisory::rating`].
    pub fn severity_level(&self) -> Option<SeverityLevel> {
        self.rating().map(|r| r.level)
    }

    /// What kind of erratum this is, from its id: Red Hat and its
    /// rebuilds publish bug-fix (`RHBA`, `ALBA`, `RLBA`, `ELBA`) and
    /// enhancement (`RHEA`, `ALEA`, `RLEA`, `ELEA`) errata beside their
    /// security ones; everything else the portal imports (DSA, DLA,
    /// DEBIAN-CVE, USN, UBUNTU-CVE, ALSA, RLSA, RHSA, CVE records) is about
    /// security.
    pub fn kind(&self) -> ErratumKind {
        let prefix = self.id.split(['-', ':']).next().unwrap_or("");
        match prefix {
            "RHBA" | "ALBA" | "RLBA" | "ELBA" => ErratumKind::BugFix,
            "RHEA" | "ALEA" | "RLEA" | "ELEA" => ErratumKind::Enhancement,
            _ => ErratumKind::Security,
        }
    }

    /// Whether this advisory is fixed on a server by `offer` (see
    /// [`Affected::fixed_by_offer`]); withdrawn records fix nothing.
    pub fn fixed_by_offer(&self, offer: &Offer<'_>) -> bool {
        !self.is_withdrawn() && self.affected.iter().any(|a| a.fixed_by_offer(offer))
    }
}

/// A rating of an advisory and where it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rating {
    /// The level.
    pub level: SeverityLevel,
    /// Where it came from, for people: "Ubuntu priority high", "CVSS 3.1
    /// base score 7.5", "AlmaLinux rating Important", "Debian urgency low".
    pub source: String,
}

/// What an erratum is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErratumKind {
    /// Fixes vulnerabilities.
    Security,
    /// Fixes bugs only.
    #[serde(rename = "bugfix")]
    BugFix,
    /// Adds features only.
    Enhancement,
}

impl ErratumKind {
    /// The name stored and shown: `security`, `bugfix`, `enhancement`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErratumKind::Security => "security",
            ErratumKind::BugFix => "bugfix",
            ErratumKind::Enhancement => "enhancement",
        }
    }

    /// Reads [`ErratumKind::as_str`]'s names.
    pub fn parse(s: &str) -> Option<Self> {
        [
            ErratumKind::Security,
            ErratumKind::BugFix,
            ErratumKind::Enhancement,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// The severity entries of Ubuntu's `cves_map` in an affected entry's
/// `database_specific`: `{"cves_map": {"cves": [{"id": …, "severity":
/// [{"type": "CVSS_V3", "score": …}, {"type": "Ubuntu", "score":
/// "medium"}]}]}}`. Entries of another shape are ignored.
fn ubuntu_cves_map(specific: Option<&serde_json::Value>) -> Vec<Severity> {
    let Some(cves) = specific
        .and_then(|d| d.get("cves_map"))
        .and_then(|m| m.get("cves"))
        .and_then(|c| c.as_array())
    else {
        return Vec::new();
    };
    cves.iter()
        .filter_map(|cve| cve.get("severity")?.as_array())
        .flatten()
        .filter_map(|s| {
            Some(Severity {
                kind: s.get("type")?.as_str()?.to_owned(),
                score: s.get("score")?.as_str()?.to_owned(),
            })
        })
        .collect()
}

/// The Red Hat family's rating at the start of a summary ("Important:
/// kernel security update", or at its end in parentheses): the word and
/// its level. "None" (bug-fix errata) is no rating.
fn red_hat_rating(summary: &str) -> Option<(&str, SeverityLevel)> {
    let level = |word: &str| match word {
        "Critical" => Some(SeverityLevel::Critical),
        "Important" => Some(SeverityLevel::High),
        "Moderate" => Some(SeverityLevel::Medium),
        "Low" => Some(SeverityLevel::Low),
        _ => None,
    };
    let prefix = summary.split_once(':').map(|(word, _)| word.trim());
    // A few AlmaLinux errata put it at the end: "ALSA-2022:5468: php:8.0
    // security update (Important)".
    let suffix = summary
        .trim_end()
        .strip_suffix(')')
        .and_then(|s| s.rsplit_once('('))
        .map(|(_, word)| word.trim());
    [prefix, suffix]
        .into_iter()
        .flatten()
        .find_map(|word| Some((word, level(word)?)))
}

/// Debian's urgency as a level: the tracker writes low, medium, high
/// (sometimes marked with `*` or `**` for "guessed"), unimportant, "not yet
/// assigned" and "end-of-life".
fn debian_urgency(urgency: &str) -> Option<SeverityLevel> {
    match urgency.trim().trim_end_matches('*') {
        "unimportant" => Some(SeverityLevel::Negligible),
        "low" => Some(SeverityLevel::Low),
        "medium" => Some(SeverityLevel::Medium),
        "high" => Some(SeverityLevel::High),
        _ => None,
    }
}

/// Who publishes records of these ecosystems, for a rating's source.
fn vendor_of(affected: &[Affected]) -> &'static str {
    match affected
        .first()
        .and_then(|a| a.package.ecosystem.split(':').next())
    {
        Some("AlmaLinux") => "AlmaLinux",
        Some("Rocky Linux") => "Rocky Linux",
        _ => "Red Hat",
    }
}

// ---------------------------------------------------------------------------
// OSV: does an update fix an advisory on a server?
// ---------------------------------------------------------------------------

/// An update a server's package manager offers, with the versions its
/// advisories are compared with. Patch rows are shared by every server
/// that is offered the same update, but whether the update fixes an
/// advisory *there* depends on what that server has installed: `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer<'a> {
    /// The server's release as the catalog names it, `os-id:version-id`
    /// (e.g. `debian:12`, `almalinux:9.4`).
    pub release: &'a str,
    /// Binary package name.
    pub package: &'a str,
    /// Source package name, when known.
    pub source: Option<&'a str>,
    /// The installed version advisories compare (see
    /// [`compared_version`]).
    pub from: &'a str,
    /// The offered version advisories compare.
    pub to: &'a str,
    /// Where the update comes from (apt's origin label, dnf's repository):
    /// Ubuntu Pro's archives open the release's Pro ecosystems (see
    /// [`offer_ecosystems`]).
    pub origin: &'a str,
}

/// The version of a package that advisories of its format compare: Debian
/// and Ubuntu advisories name source packages with *source* versions, so
/// for deb packages the source version when known (a binary's version may
/// carry an epoch or a binNMU suffix its source lacks); the Red Hat family
/// names binary packages, so for rpm the binary EVR.
pub fn compared_version<'a>(
    format: crate::protocol::PackageFormat,
    binary: &'a str,
    source: Option<&'a str>,
) -> &'a str {
    match (format, source) {
        (crate::protocol::PackageFormat::Deb, Some(source)) if !source.trim().is_empty() => source,
        _ => binary,
    }
}

/// Whether an update's origin is Ubuntu Pro's Expanded Security
/// Maintenance: apt labels those archives `UbuntuESM` (esm-infra) and
/// `UbuntuESMApps` (esm-apps), as the ubuntu-pro-client writes them.
pub fn is_ubuntu_pro_origin(origin: &str) -> bool {
    matches!(origin_label(origin), "UbuntuESM" | "UbuntuESMApps")
}

/// The label part of an apt origin as the agent reports it
/// (`Label:Version/Archive`, e.g. `UbuntuESMApps:22.04/jammy-apps-security`).
fn origin_label(origin: &str) -> &str {
    origin.split(':').next().unwrap_or(origin).trim()
}

/// The ecosystems an offer's advisories may come from: the release's, and
/// for updates from Ubuntu Pro its Pro ecosystem (`Ubuntu:Pro:22.04:LTS`),
/// or for the FIPS archives (`UbuntuFIPS`, `UbuntuFIPSUpdates`,
/// `UbuntuFIPSPreview`) the matching FIPS stream
/// (`Ubuntu:Pro:FIPS-updates:22.04:LTS`). A machine without Pro gets its
/// updates from the plain archive, where Pro's fixes do not apply.
pub fn offer_ecosystems(release: &str, origin: &str) -> Vec<String> {
    let (os_id, version_id) = release.split_once(':').unwrap_or((release, ""));
    let mut ecosystems = release_ecosystem(os_id, version_id);
    if os_id.eq_ignore_ascii_case("ubuntu") {
        let stream = match origin_label(origin) {
            "UbuntuESM" | "UbuntuESMApps" => Some("Pro"),
            "UbuntuFIPS" => Some("Pro:FIPS"),
            "UbuntuFIPSUpdates" => Some("Pro:FIPS-updates"),
            "UbuntuFIPSPreview" => Some("Pro:FIPS-preview"),
            _ => None,
        };
        if let Some(stream) = stream {
            let extra: Vec<String> = ecosystems
                .iter()
                .filter_map(|e| e.strip_prefix("Ubuntu:"))
                .filter(|rest| rest.ends_with(":LTS"))
                .map(|rest| format!("Ubuntu:{stream}:{rest}"))
                .collect();
            ecosystems.extend(extra);
        }
    }
    ecosystems
}

impl Affected {
    /// Whether this entry names the offered package: Debian and Ubuntu
    /// name source packages (the binary's name stands in when its source
    /// is unknown); the Red Hat family names binary packages, sometimes
    /// source RPMs.
    fn names(&self, offer: &Offer<'_>) -> bool {
        let name = self.package.name.as_str();
        match self.package.ecosystem.split(':').next() {
            Some("Debian" | "Ubuntu") => name == offer.source.unwrap_or(offer.package),
            _ => name == offer.package || offer.source == Some(name),
        }
    }

    /// Whether the offered update fixes what this entry describes *on the
    /// server it is offered to*: the entry belongs to the server's release
    /// (see [`offer_ecosystems`]) and names the package, the installed
    /// version is affected (inside a range, below its fix, or listed), and
    /// the offered version is at or past the lowest fix above the installed
    /// one and not affected itself. A fix the server already has is not a
    /// reason to install the update; an update below the fix does not fix
    /// it; an entry without a fix (still vulnerable) is fixed by nothing.
    pub fn fixed_by_offer(&self, offer: &Offer<'_>) -> bool {
        let Some(scheme) = ecosystem_scheme(&self.package.ecosystem) else {
            return false;
        };
        let in_release = offer_ecosystems(offer.release, offer.origin)
            .iter()
            .any(|e| ecosystem_matches(&self.package.ecosystem, e));
        if !in_release || !self.names(offer) || !self.affects(scheme, offer.from) {
            return false;
        }
        let Some(fix) = self.fix_for(scheme, offer.from) else {
            return false;
        };
        scheme.compare(offer.to, fix) != Ordering::Less && !self.affects(scheme, offer.to)
    }

    /// This entry without the fields matching does not read (the
    /// distributions' own fields, which can be large): what the portal
    /// keeps to evaluate it again.
    pub fn for_matching(&self) -> Affected {
        Affected {
            ecosystem_specific: None,
            database_specific: None,
            severity: Vec::new(),
            ..self.clone()
        }
    }
}

// ---------------------------------------------------------------------------
// OSV: releases and ecosystems
// ---------------------------------------------------------------------------

/// The OSV ecosystems a server release's advisories are published under,
/// from `/etc/os-release`'s `ID` and `VERSION_ID`:
///
/// | `ID`        | `VERSION_ID` | ecosystems                                |
/// |-------------|--------------|-------------------------------------------|
/// | `debian`    | `12`         | `Debian:12`                               |
/// | `ubuntu`    | `22.04`      | `Ubuntu:22.04:LTS`, `Ubuntu:22.04`        |
/// | `ubuntu`    | `23.10`      | `Ubuntu:23.10`                            |
/// | `almalinux` | `9.4`        | `AlmaLinux:9`                             |
/// | `rocky`     | `9.3`        | `Rocky Linux:9`                           |
/// | `rhel`      | `9.4`        | `Red Hat:enterprise_linux:9`              |
///
/// Ubuntu releases `YY.04` with an even `YY` are LTS. Not covered, so left
/// to the caller: Ubuntu Pro/ESM (`Ubuntu:Pro:22.04:LTS`, only for attached
/// machines), Red Hat's EUS/AUS/E4S streams, Debian testing and unstable
/// (no `VERSION_ID`), and other distributions; these give an empty list.
/// Red Hat's ecosystems carry a repository (`…:9::appstream`), which
/// [`ecosystem_matches`] accounts for.
pub fn release_ecosystem(os_id: &str, version_id: &str) -> Vec<String> {
    let id = os_id.trim().to_ascii_lowercase();
    let mut parts = version_id.trim().split('.');
    let major = parts.next().unwrap_or("");
    let numeric = |s: &str| !s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit());
    if !numeric(major) {
        return Vec::new();
    }
    let major = major.trim_start_matches('0');
    let major = if major.is_empty() { "0" } else { major };
    match id.as_str() {
        "debian" => vec![format!("Debian:{major}")],
        "ubuntu" => {
            let minor = parts.next().unwrap_or("");
            if minor.len() != 2 || !numeric(minor) {
                return Vec::new();
            }
            let release = format!("{major}.{minor}");
            let lts = minor == "04" && major.parse::<u32>().is_ok_and(|y| y % 2 == 0);
            if lts {
                vec![format!("Ubuntu:{release}:LTS"), format!("Ubuntu:{release}")]
            } else {
                vec![format!("Ubuntu:{release}")]
            }
        }
        "almalinux" => vec![format!("AlmaLinux:{major}")],
        "rocky" => vec![format!("Rocky Linux:{major}")],
        "rhel" => vec![format!("Red Hat:enterprise_linux:{major}")],
        _ => Vec::new(),
    }
}

/// The version ordering of an OSV ecosystem: dpkg's for `Debian` and
/// `Ubuntu`, rpm's for `AlmaLinux`, `Rocky Linux` and `Red Hat` (with or
/// without a release suffix). `None` for other ecosystems.
pub fn ecosystem_scheme(ecosystem: &str) -> Option<VersionScheme> {
    match ecosystem.split(':').next()? {
        "Debian" | "Ubuntu" => Some(VersionScheme::Deb),
        "AlmaLinux" | "Rocky Linux" | "Red Hat" => Some(VersionScheme::Rpm),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// OSV: parsing and checking
// ---------------------------------------------------------------------------

#[derive(Deserialize)]
struct RawAdvisory {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    modified: Option<String>,
    #[serde(default)]
    published: Option<String>,
    #[serde(default)]
    withdrawn: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    aliases: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    upstream: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    related: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    summary: String,
    #[serde(default, deserialize_with = "nullable")]
    details: String,
    #[serde(default, deserialize_with = "nullable")]
    severity: Vec<RawSeverity>,
    #[serde(default, deserialize_with = "nullable")]
    affected: Vec<RawAffected>,
    #[serde(default, deserialize_with = "nullable")]
    references: Vec<RawReference>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawSeverity {
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    kind: String,
    #[serde(default, deserialize_with = "nullable")]
    score: String,
}

#[derive(Deserialize)]
struct RawAffected {
    #[serde(default)]
    package: Option<RawPackage>,
    #[serde(default, deserialize_with = "nullable")]
    severity: Vec<RawSeverity>,
    #[serde(default, deserialize_with = "nullable")]
    ranges: Vec<RawRange>,
    #[serde(default, deserialize_with = "nullable")]
    versions: Vec<String>,
    #[serde(default)]
    ecosystem_specific: Option<serde_json::Value>,
    #[serde(default)]
    database_specific: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawPackage {
    #[serde(default)]
    ecosystem: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    purl: Option<String>,
}

#[derive(Deserialize)]
struct RawRange {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    repo: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    events: Vec<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
struct RawReference {
    #[serde(rename = "type", default, deserialize_with = "nullable")]
    kind: String,
    #[serde(default, deserialize_with = "nullable")]
    url: String,
}

/// Parses and checks one OSV record (JSON). See the [module
/// documentation](self) for what is checked.
pub fn parse_osv(json: &[u8]) -> Result<Advisory, AdvisoryError> {
    if json.len() > MAX_OSV_BYTES {
        return Err(Check { entry: "?" }.error("", format!("larger than {MAX_OSV_BYTES} bytes")));
    }
    match serde_json::from_slice::<RawAdvisory>(json) {
        Ok(raw) => Advisory::try_from(raw),
        Err(e) => {
            // Name the record if its id can still be read.
            #[derive(Deserialize)]
            struct IdOnly {
                id: Option<String>,
            }
            let id = serde_json::from_slice::<IdOnly>(json)
                .ok()
                .and_then(|r| r.id)
                .filter(|id| id_problem(id).is_none());
            let entry = id.as_deref().unwrap_or("?");
            Err(Check { entry }.error("", format!("not a valid OSV record: {e}")))
        }
    }
}

fn check_severities(
    check: &Check<'_>,
    prefix: &str,
    raw: Vec<RawSeverity>,
) -> Result<Vec<Severity>, AdvisoryError> {
    check.count(&format!("{prefix}severity"), raw.len(), MAX_SEVERITIES)?;
    let mut out = Vec::with_capacity(raw.len());
    for (i, s) in raw.into_iter().enumerate() {
        let field = |name: &str| format!("{prefix}severity[{i}].{name}");
        check.text(|| field("type"), &s.kind, MAX_LABEL_BYTES, true, false)?;
        check.text(|| field("score"), &s.score, 1024, true, false)?;
        let severity = Severity {
            kind: s.kind,
            score: s.score,
        };
        if let Some(Err(problem)) = severity_cvss(&severity) {
            return check.fail(
                field("score"),
                format!("not a valid {} vector: {problem}", severity.kind),
            );
        }
        out.push(severity);
    }
    Ok(out)
}

fn check_ids(check: &Check<'_>, name: &str, ids: &[String]) -> Result<(), AdvisoryError> {
    check.count(name, ids.len(), MAX_IDS)?;
    for (i, id) in ids.iter().enumerate() {
        check.id(|| format!("{name}[{i}]"), id)?;
    }
    Ok(())
}

fn check_event(
    check: &Check<'_>,
    field: &str,
    raw: serde_json::Map<String, serde_json::Value>,
) -> Result<Event, AdvisoryError> {
    const ONE_KEY: &str = "must have exactly one of introduced, fixed, last_affected, limit";
    if raw.len() != 1 {
        return check.fail(field, ONE_KEY);
    }
    let Some((key, value)) = raw.into_iter().next() else {
        return check.fail(field, ONE_KEY);
    };
    let serde_json::Value::String(version) = value else {
        return check.fail(format!("{field}.{key}"), "must be a string");
    };
    check.text(
        || format!("{field}.{key}"),
        &version,
        MAX_VERSION_BYTES,
        true,
        false,
    )?;
    match key.as_str() {
        "introduced" => Ok(Event::Introduced(version)),
        "fixed" => Ok(Event::Fixed(version)),
        "last_affected" => Ok(Event::LastAffected(version)),
        "limit" => Ok(Event::Limit(version)),
        _ => check.fail(field, format!("unknown event {}; {ONE_KEY}", quoted(&key))),
    }
}

fn check_range(check: &Check<'_>, field: &str, raw: RawRange) -> Result<Range, AdvisoryError> {
    let kind = match raw.kind.as_deref() {
        None => return check.fail(format!("{field}.type"), "is missing"),
        Some("ECOSYSTEM") => RangeType::Ecosystem,
        Some("SEMVER") => RangeType::Semver,
        Some("GIT") => RangeType::Git,
        Some(other) => {
            return check.fail(
                format!("{field}.type"),
                format!(
                    "unknown range type {}; expected ECOSYSTEM, SEMVER or GIT",
                    quoted(other)
                ),
            );
        }
    };
    if let Some(repo) = &raw.repo {
        check.text(
            || format!("{field}.repo"),
            repo,
            MAX_URL_BYTES,
            false,
            false,
        )?;
    }
    let events_field = format!("{field}.events");
    if raw.events.is_empty() {
        return check.fail(events_field, "must not be empty");
    }
    check.count(&events_field, raw.events.len(), MAX_EVENTS)?;
    let mut events = Vec::with_capacity(raw.events.len());
    for (k, event) in raw.events.into_iter().enumerate() {
        events.push(check_event(check, &format!("{events_field}[{k}]"), event)?);
    }
    let linear = matches!(kind, RangeType::Ecosystem | RangeType::Semver);
    if linear && !events.iter().any(|e| matches!(e, Event::Introduced(_))) {
        return check.fail(events_field, "has no introduced event");
    }
    Ok(Range {
        kind,
        repo: raw.repo,
        events,
    })
}

fn check_affected(
    check: &Check<'_>,
    i: usize,
    raw: RawAffected,
) -> Result<Affected, AdvisoryError> {
    let field = format!("affected[{i}]");
    let Some(package) = raw.package else {
        return check.fail(format!("{field}.package"), "is missing");
    };
    let Some(ecosystem) = package.ecosystem else {
        return check.fail(format!("{field}.package.ecosystem"), "is missing");
    };
    let Some(name) = package.name else {
        return check.fail(format!("{field}.package.name"), "is missing");
    };
    check.text(
        || format!("{field}.package.ecosystem"),
        &ecosystem,
        MAX_ECOSYSTEM_BYTES,
        true,
        false,
    )?;
    check.text(
        || format!("{field}.package.name"),
        &name,
        MAX_NAME_BYTES,
        true,
        false,
    )?;
    if let Some(purl) = &package.purl {
        check.text(|| format!("{field}.package.purl"), purl, 1024, false, false)?;
    }
    let severity = check_severities(check, &format!("{field}."), raw.severity)?;
    check.count(&format!("{field}.ranges"), raw.ranges.len(), MAX_RANGES)?;
    let mut ranges = Vec::with_capacity(raw.ranges.len());
    for (j, range) in raw.ranges.into_iter().enumerate() {
        ranges.push(check_range(check, &format!("{field}.ranges[{j}]"), range)?);
    }
    check.count(
        &format!("{field}.versions"),
        raw.versions.len(),
        MAX_VERSIONS,
    )?;
    for (k, v) in raw.versions.iter().enumerate() {
        check.text(
            || format!("{field}.versions[{k}]"),
            v,
            MAX_VERSION_BYTES,
            true,
            false,
        )?;
    }
    Ok(Affected {
        package: Package {
            ecosystem,
            name,
            purl: package.purl,
        },
        severity,
        ranges,
        versions: raw.versions,
        ecosystem_specific: raw.ecosystem_specific.filter(|v| !v.is_null()),
        database_specific: raw.database_specific.filter(|v| !v.is_null()),
    })
}

fn check_time(check: &Check<'_>, field: &str, value: &str) -> Result<Timestamp, AdvisoryError> {
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

impl TryFrom<RawAdvisory> for Advisory {
    type Error = AdvisoryError;

    fn try_from(raw: RawAdvisory) -> Result<Self, AdvisoryError> {
        let Some(id) = raw.id else {
            return Check { entry: "?" }.fail("id", "is missing");
        };
        Check { entry: "?" }.id(|| "id".into(), &id)?;
        let check = Check { entry: &id };
        let Some(modified) = raw.modified else {
            return check.fail("modified", "is missing");
        };
        let modified_at = check_time(&check, "modified", &modified)?;
        let published_at = match &raw.published {
            Some(p) => Some(check_time(&check, "published", p)?),
            None => None,
        };
        let withdrawn_at = match &raw.withdrawn {
            Some(w) => Some(check_time(&check, "withdrawn", w)?),
            None => None,
        };
        check_ids(&check, "aliases", &raw.aliases)?;
        check_ids(&check, "upstream", &raw.upstream)?;
        check_ids(&check, "related", &raw.related)?;
        check.text(
            || "summary".into(),
            &raw.summary,
            MAX_SUMMARY_BYTES,
            false,
            true,
        )?;
        check.text(
            || "details".into(),
            &raw.details,
            MAX_DETAILS_BYTES,
            false,
            true,
        )?;
        let severity = check_severities(&check, "", raw.severity)?;
        check.count("affected", raw.affected.len(), MAX_AFFECTED)?;
        let mut affected = Vec::with_capacity(raw.affected.len());
        for (i, a) in raw.affected.into_iter().enumerate() {
            affected.push(check_affected(&check, i, a)?);
        }
        check.count("references", raw.references.len(), MAX_REFERENCES)?;
        let mut references = Vec::with_capacity(raw.references.len());
        for (i, r) in raw.references.into_iter().enumerate() {
            check.text(
                || format!("references[{i}].type"),
                &r.kind,
                MAX_LABEL_BYTES,
                false,
                false,
            )?;
            check.text(
                || format!("references[{i}].url"),
                &r.url,
                MAX_URL_BYTES,
                true,
                false,
            )?;
            references.push(Reference {
                kind: r.kind,
                url: r.url,
            });
        }
        Ok(Advisory {
            modified,
            modified_at,
            published: raw.published,
            published_at,
            withdrawn: raw.withdrawn,
            withdrawn_at,
            aliases: raw.aliases,
            upstream: raw.upstream,
            related: raw.related,
            summary: raw.summary,
            details: raw.details,
            severity,
            affected,
            references,
            database_specific: raw.database_specific.filter(|v| !v.is_null()),
            id,
        })
    }
}

// ---------------------------------------------------------------------------
// KEV
// ---------------------------------------------------------------------------

/// CISA's catalog of Known Exploited Vulnerabilities, checked.
/// Deserialising one runs the same checks as [`parse_kev`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawKev", rename_all = "camelCase")]
pub struct Kev {
    /// The catalog's title.
    pub title: String,
    /// Its version, e.g. `2024.05.01`.
    pub catalog_version: String,
    /// When it was released, as given (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_released: Option<String>,
    /// [`Kev::date_released`] in Unix seconds.
    #[serde(skip_serializing)]
    pub date_released_at: Option<Timestamp>,
    /// The number of entries the catalog claims (checked against the list).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// The entries.
    pub vulnerabilities: Vec<KevEntry>,
}

/// One known exploited vulnerability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KevEntry {
    /// The CVE id.
    #[serde(rename = "cveID")]
    pub cve_id: String,
    /// Vendor or project.
    pub vendor_project: String,
    /// Product.
    pub product: String,
    /// CISA's name for the vulnerability.
    pub vulnerability_name: String,
    /// When CISA added it, as given (`YYYY-MM-DD`).
    pub date_added: String,
    /// [`KevEntry::date_added`] in Unix seconds (00:00 UTC).
    #[serde(skip_serializing)]
    pub date_added_at: Timestamp,
    /// Description.
    pub short_description: String,
    /// What federal agencies must do.
    pub required_action: String,
    /// The deadline for agencies, as given (`YYYY-MM-DD`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// [`KevEntry::due_date`] in Unix seconds (00:00 UTC).
    #[serde(skip_serializing)]
    pub due_date_at: Option<Timestamp>,
    /// `Known` or `Unknown`.
    pub known_ransomware_campaign_use: String,
    /// Notes, usually links.
    pub notes: String,
    /// CWE ids.
    pub cwes: Vec<String>,
}

impl KevEntry {
    /// Whether CISA knows of ransomware campaigns using it.
    pub fn known_ransomware(&self) -> bool {
        self.known_ransomware_campaign_use
            .trim()
            .eq_ignore_ascii_case("known")
    }
}

impl Kev {
    /// The entry for a CVE id, if the catalog lists it.
    pub fn entry(&self, cve_id: &str) -> Option<&KevEntry> {
        self.vulnerabilities.iter().find(|e| e.cve_id == cve_id)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKev {
    #[serde(default, deserialize_with = "nullable")]
    title: String,
    #[serde(default, deserialize_with = "nullable")]
    catalog_version: String,
    #[serde(default)]
    date_released: Option<String>,
    #[serde(default)]
    count: Option<u64>,
    #[serde(default)]
    vulnerabilities: Option<Vec<RawKevEntry>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawKevEntry {
    #[serde(rename = "cveID", default)]
    cve_id: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    vendor_project: String,
    #[serde(default, deserialize_with = "nullable")]
    product: String,
    #[serde(default, deserialize_with = "nullable")]
    vulnerability_name: String,
    #[serde(default)]
    date_added: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    short_description: String,
    #[serde(default, deserialize_with = "nullable")]
    required_action: String,
    #[serde(default)]
    due_date: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    known_ransomware_campaign_use: String,
    #[serde(default, deserialize_with = "nullable")]
    notes: String,
    #[serde(default, deserialize_with = "nullable")]
    cwes: Vec<String>,
}

/// Parses and checks CISA's KEV catalog (JSON). Errors name the entry by its
/// CVE id when it has a valid one, else `KEV`.
pub fn parse_kev(json: &[u8]) -> Result<Kev, AdvisoryError> {
    let check = Check { entry: "KEV" };
    if json.len() > MAX_KEV_BYTES {
        return check.fail("", format!("larger than {MAX_KEV_BYTES} bytes"));
    }
    let raw: RawKev = serde_json::from_slice(json)
        .map_err(|e| check.error("", format!("not a valid KEV catalog: {e}")))?;
    Kev::try_from(raw)
}

fn check_kev_entry(i: usize, raw: RawKevEntry) -> Result<KevEntry, AdvisoryError> {
    let field = |name: &str| format!("vulnerabilities[{i}].{name}");
    let Some(cve_id) = raw.cve_id else {
        return Check { entry: "KEV" }.fail(field("cveID"), "is missing");
    };
    if cve_id.len() > MAX_ID_CHARS || !is_cve_id(&cve_id) {
        return Check { entry: "KEV" }.fail(
            field("cveID"),
            format!("{} is not a CVE id (CVE-YYYY-NNNN)", quoted(&cve_id)),
        );
    }
    let check = Check { entry: &cve_id };
    let short = |name: &str, value: &str| {
        check.text(|| field(name), value, MAX_KEV_TEXT_BYTES, false, true)
    };
    short("vendorProject", &raw.vendor_project)?;
    short("product", &raw.product)?;
    short("vulnerabilityName", &raw.vulnerability_name)?;
    short("shortDescription", &raw.short_description)?;
    short("requiredAction", &raw.required_action)?;
    short(
        "knownRansomwareCampaignUse",
        &raw.known_ransomware_campaign_use,
    )?;
    short("notes", &raw.notes)?;
    check.count(&field("cwes"), raw.cwes.len(), 1_000)?;
    for (k, cwe) in raw.cwes.iter().enumerate() {
        check.id(|| field(&format!("cwes[{k}]")), cwe)?;
    }
    let Some(date_added) = raw.date_added else {
        return check.fail(field("dateAdded"), "is missing");
    };
    let Some(date_added_at) = parse_date(&date_added) else {
        return check.fail(
            field("dateAdded"),
            format!("{} is not a date (YYYY-MM-DD)", quoted(&date_added)),
        );
    };
    let due_date = raw.due_date.filter(|d| !d.trim().is_empty());
    let due_date_at = match &due_date {
        Some(d) => Some(parse_date(d).map_or_else(
            || {
                check.fail(
                    field("dueDate"),
                    format!("{} is not a date (YYYY-MM-DD)", quoted(d)),
                )
            },
            Ok,
        )?),
        None => None,
    };
    Ok(KevEntry {
        vendor_project: raw.vendor_project,
        product: raw.product,
        vulnerability_name: raw.vulnerability_name,
        date_added,
        date_added_at,
        short_description: raw.short_description,
        required_action: raw.required_action,
        due_date,
        due_date_at,
        known_ransomware_campaign_use: raw.known_ransomware_campaign_use,
        notes: raw.notes,
        cwes: raw.cwes,
        cve_id,
    })
}

impl TryFrom<RawKev> for Kev {
    type Error = AdvisoryError;

    fn try_from(raw: RawKev) -> Result<Self, AdvisoryError> {
        let check = Check { entry: "KEV" };
        check.text(|| "title".into(), &raw.title, 1024, false, false)?;
        check.text(
            || "catalogVersion".into(),
            &raw.catalog_version,
            64,
            false,
            false,
        )?;
        let date_released = raw.date_released.filter(|d| !d.trim().is_empty());
        let date_released_at = match &date_released {
            Some(d) => Some(check_time(&check, "dateReleased", d)?),
            None => None,
        };
        let Some(raw_entries) = raw.vulnerabilities else {
            return check.fail("vulnerabilities", "is missing");
        };
        if let Some(count) = raw.count
            && count != raw_entries.len() as u64
        {
            return check.fail(
                "count",
                format!("says {count} but the catalog lists {}", raw_entries.len()),
            );
        }
        let mut vulnerabilities = Vec::with_capacity(raw_entries.len());
        for (i, entry) in raw_entries.into_iter().enumerate() {
            vulnerabilities.push(check_kev_entry(i, entry)?);
        }
        Ok(Kev {
            title: raw.title,
            catalog_version: raw.catalog_version,
            date_released,
            date_released_at,
            count: raw.count,
            vulnerabilities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    // Real records, copied unchanged from their public sources: see
    // `tests/fixtures/advisories/PROVENANCE.md` for repository, commit and
    // licence.
    const DSA: &str = include_str!("../tests/fixtures/advisories/debian/DSA-3029-1.json");
    const USN: &str = include_str!("../tests/fixtures/advisories/ubuntu/USN-6986-1.json");
    const USN_UNRATED: &str = include_str!("../tests/fixtures/advisories/ubuntu/USN-6409-1.json");
    const UBUNTU_CVE: &str =
        include_str!("../tests/fixtures/advisories/ubuntu/UBUNTU-CVE-2024-6119.json");
    const UBUNTU_CVE_OLD: &str =
        include_str!("../tests/fixtures/advisories/ubuntu/UBUNTU-CVE-2023-4911.json");
    const ALSA: &str =
        include_str!("../tests/fixtures/advisories/almalinux/almalinux9/ALSA-2024-2447.json");
    const ALSA_SUFFIX: &str =
        include_str!("../tests/fixtures/advisories/almalinux/almalinux8/ALSA-2022-5468.json");
    const ALBA: &str =
        include_str!("../tests/fixtures/advisories/almalinux/almalinux9/ALBA-2026-39332.json");
    const RHSA: &str = include_str!("../tests/fixtures/advisories/redhat/RHSA-2024-4546.json");

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_a_debian_dsa() {
        let a = parse_osv(DSA.as_bytes()).unwrap();
        assert_eq!(a.id, "DSA-3029-1");
        assert_eq!(a.modified, "2014-09-20T08:18:07Z");
        assert_eq!(a.modified_at, 1_411_201_087);
        assert_eq!(a.published_at, Some(1_411_171_200));
        assert_eq!(a.withdrawn_at, None);
        assert_eq!(a.summary, "nginx - security update");
        assert_eq!(a.cves(), strings(&["CVE-2014-3616"]));
        assert_eq!(a.kind(), ErratumKind::Security);
        assert_eq!(a.cvss(), None);
        assert_eq!(a.rating(), None, "DSAs carry no rating");
        assert_eq!(a.references[0].kind, "ADVISORY");
        let p = &a.affected[0];
        assert_eq!(p.package.ecosystem, "Debian:7");
        assert_eq!(p.fixed_versions(), strings(&["1.2.1-2.2+wheezy3"]));
        let deb = VersionScheme::Deb;
        let wheezy = release_ecosystem("debian", "7");
        for (version, affected) in [
            ("1.2.1-2.2+wheezy2", true),
            ("1.2.1-2.2", true),
            ("1.2.1-2.2+wheezy3", false),
            ("1.2.1-2.2+wheezy3+b1", false),
            ("1.6.2-1", false),
        ] {
            assert_eq!(
                a.affects_package(&wheezy, "nginx", deb, version),
                affected,
                "{version}"
            );
        }
        assert_eq!(
            p.fix_for(deb, "1.2.1-2.2+wheezy2"),
            Some("1.2.1-2.2+wheezy3")
        );
        assert_eq!(p.fix_for(deb, "1.6.2-1"), None);
        // The record names the source package, not the binary ones.
        assert!(!a.affects_package(&wheezy, "nginx-full", deb, "1.2.1-2.2"));
        // Another release's advisories do not apply.
        let jessie = release_ecosystem("debian", "8");
        assert!(!a.affects_package(&jessie, "nginx", deb, "1.2.1-2.2"));
    }

    #[test]
    fn usns_carry_their_ratings_per_cve() {
        let a = parse_osv(USN.as_bytes()).unwrap();
        assert_eq!(
            a.cves(),
            strings(&["CVE-2024-6119"]),
            "from UBUNTU-CVE-… in upstream"
        );
        assert!(a.severity.is_empty(), "no top-level severity in a real USN");
        // From affected[].database_specific.cves_map: two NVD vectors and
        // Ubuntu's priority; the rating is the highest of them.
        assert_eq!(a.ubuntu_priority(), Some(SeverityLevel::Medium));
        let cvss = a.cvss().unwrap();
        assert_eq!((cvss.version, cvss.score), (CvssVersion::V3_1, 7.5));
        let rating = a.rating().unwrap();
        assert_eq!(rating.level, SeverityLevel::High);
        assert_eq!(rating.source, "CVSS 3.1 base score 7.5");
        assert!(
            a.ratings()
                .iter()
                .any(|r| r.source == "Ubuntu priority medium"),
            "{:?}",
            a.ratings()
        );
        assert!(a.ignored_vectors().is_empty());
        let jammy = release_ecosystem("ubuntu", "22.04");
        assert_eq!(jammy, strings(&["Ubuntu:22.04:LTS", "Ubuntu:22.04"]));
        let deb = VersionScheme::Deb;
        assert!(a.affects_package(&jammy, "openssl", deb, "3.0.2-0ubuntu1.17"));
        assert!(!a.affects_package(&jammy, "openssl", deb, "3.0.2-0ubuntu1.18"));
        // Older USNs carry no rating at all.
        let unrated = parse_osv(USN_UNRATED.as_bytes()).unwrap();
        assert_eq!(unrated.rating(), None);
        assert_eq!(unrated.cves(), strings(&["CVE-2023-4527", "CVE-2023-4911"]));
    }

    #[test]
    fn ubuntu_cve_records_carry_ratings_at_the_top_or_per_package() {
        let a = parse_osv(UBUNTU_CVE.as_bytes()).unwrap();
        assert_eq!(a.cves(), strings(&["CVE-2024-6119"]));
        assert_eq!(a.ubuntu_priority(), Some(SeverityLevel::Medium));
        assert_eq!(a.severity_level(), Some(SeverityLevel::High), "NVD's 7.5");
        // The older schema keeps the priority in ecosystem_specific.
        let old = parse_osv(UBUNTU_CVE_OLD.as_bytes()).unwrap();
        let rating = old.rating().unwrap();
        assert_eq!(rating.level, SeverityLevel::High);
        assert_eq!(
            rating.source, "Ubuntu priority high",
            "the distribution's own, at the same level"
        );
        assert_eq!(old.cvss().unwrap().score, 7.8);
    }

    #[test]
    fn almalinux_errata_carry_their_rating_in_the_summary() {
        let a = parse_osv(ALSA.as_bytes()).unwrap();
        assert_eq!(
            a.cves(),
            strings(&[
                "CVE-2023-2975",
                "CVE-2023-3446",
                "CVE-2023-3817",
                "CVE-2023-5678",
                "CVE-2023-6129",
                "CVE-2023-6237",
                "CVE-2024-0727",
            ]),
            "AlmaLinux lists its CVEs in related"
        );
        assert_eq!(a.cvss(), None, "no CVSS in a real ALSA");
        let rating = a.rating().unwrap();
        assert_eq!(rating.level, SeverityLevel::Low);
        assert_eq!(rating.source, "AlmaLinux rating Low");
        assert_eq!(a.kind(), ErratumKind::Security);
        let suffix = parse_osv(ALSA_SUFFIX.as_bytes()).unwrap();
        assert_eq!(
            suffix.severity_level(),
            Some(SeverityLevel::High),
            "(Important) at the end"
        );
        let alba = parse_osv(ALBA.as_bytes()).unwrap();
        assert_eq!(alba.kind(), ErratumKind::BugFix);
        assert_eq!(alba.rating(), None, "None: is no rating");

        // AlmaLinux names binary packages and gives epochs.
        let alma9 = release_ecosystem("almalinux", "9.4");
        assert_eq!(alma9, strings(&["AlmaLinux:9"]));
        let rpm = VersionScheme::Rpm;
        for (version, affected) in [
            ("1:3.0.7-25.el9_3", true),
            ("1:3.0.7-26.el9", true),
            ("1:3.0.7~rc1-27.el9", true),
            ("1:3.0.7-27.el9", false),
            ("1:3.0.7-27.el9_4.1", false),
            ("1:3.0.8-1.el9", false),
            // Epoch 0 is older than epoch 1, whatever the version.
            ("3.0.7-99.el9", true),
        ] {
            assert_eq!(
                a.affects_package(&alma9, "openssl-libs", rpm, version),
                affected,
                "{version}"
            );
        }
        let alma8 = release_ecosystem("almalinux", "8.10");
        assert!(!a.affects_package(&alma8, "openssl-libs", rpm, "1:1.1.1k-9.el8"));
    }

    #[test]
    fn red_hat_streams_are_ecosystems_of_their_own() {
        let a = parse_osv(RHSA.as_bytes()).unwrap();
        assert_eq!(a.cvss().unwrap().score, 7.5);
        assert_eq!(a.severity_level(), Some(SeverityLevel::High));
        // Its fixes are for the extended-support streams (AUS, E4S, TUS) of
        // 8.6: not for a server on the main RHEL 8 stream.
        let rhel8 = release_ecosystem("rhel", "8.10");
        assert_eq!(rhel8, strings(&["Red Hat:enterprise_linux:8"]));
        assert_eq!(a.matching(&rhel8, "git-lfs").count(), 0);
        assert!(ecosystem_matches(
            "Red Hat:enterprise_linux:9::appstream",
            "Red Hat:enterprise_linux:9"
        ));
        assert!(!ecosystem_matches(
            "Red Hat:rhel_aus:8.6::appstream",
            "Red Hat:enterprise_linux:8"
        ));
    }

    /// A record with one change applied.
    fn record_with(record: &str, change: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut doc: Value = serde_json::from_str(record).unwrap();
        change(&mut doc);
        serde_json::to_vec(&doc).unwrap()
    }

    /// The USN (it has every list: versions, upstream, two packages) with
    /// one change applied.
    fn usn_with(change: impl FnOnce(&mut Value)) -> Vec<u8> {
        record_with(USN, change)
    }

    #[test]
    fn errors_name_the_record_and_the_field() {
        type Change = fn(&mut Value);
        let cases: &[(&str, &str, Change)] = &[
            ("?", "id", |d| {
                d.as_object_mut().unwrap().remove("id");
            }),
            ("?", "id", |d| d["id"] = json!("")),
            ("?", "id", |d| d["id"] = json!("USN 6986-1")),
            ("?", "id", |d| d["id"] = json!("x".repeat(129))),
            ("USN-6986-1", "modified", |d| {
                d.as_object_mut().unwrap().remove("modified");
            }),
            ("USN-6986-1", "modified", |d| {
                d["modified"] = json!("2024-13-01T00:00:00Z")
            }),
            ("USN-6986-1", "modified", |d| {
                d["modified"] = json!("2024-05-02")
            }),
            ("USN-6986-1", "modified", |d| {
                d["modified"] = json!("2024-05-02T05:12:33")
            }),
            ("USN-6986-1", "published", |d| {
                d["published"] = json!("yesterday")
            }),
            ("USN-6986-1", "withdrawn", |d| {
                d["withdrawn"] = json!("2024-02-30T00:00:00Z")
            }),
            ("USN-6986-1", "upstream[0]", |d| {
                d["upstream"][0] = json!("")
            }),
            ("USN-6986-1", "summary", |d| d["summary"] = json!("a\u{0}b")),
            ("USN-6986-1", "details", |d| {
                d["details"] = json!("x".repeat(MAX_DETAILS_BYTES + 1))
            }),
            ("USN-6986-1", "affected[0].package", |d| {
                d["affected"][0].as_object_mut().unwrap().remove("package");
            }),
            ("USN-6986-1", "affected[0].package.name", |d| {
                d["affected"][0]["package"]["name"] = json!("")
            }),
            ("USN-6986-1", "affected[0].package.name", |d| {
                d["affected"][0]["package"]["name"] = json!(null)
            }),
            ("USN-6986-1", "affected[0].package.ecosystem", |d| {
                d["affected"][0]["package"]
                    .as_object_mut()
                    .unwrap()
                    .remove("ecosystem");
            }),
            ("USN-6986-1", "affected[1].package.name", |d| {
                d["affected"][1]["package"]["name"] = json!("  ");
            }),
            ("USN-6986-1", "affected[0].ranges[0].type", |d| {
                d["affected"][0]["ranges"][0]["type"] = json!("RANGE")
            }),
            ("USN-6986-1", "affected[0].ranges[0].type", |d| {
                d["affected"][0]["ranges"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("type");
            }),
            ("USN-6986-1", "affected[0].ranges[0].events[1]", |d| {
                d["affected"][0]["ranges"][0]["events"][1] =
                    json!({"introduced": "1.0", "fixed": "3.0.2-0ubuntu1.18"})
            }),
            ("USN-6986-1", "affected[0].ranges[0].events[1]", |d| {
                d["affected"][0]["ranges"][0]["events"][1] = json!({})
            }),
            ("USN-6986-1", "affected[0].ranges[0].events[1]", |d| {
                d["affected"][0]["ranges"][0]["events"][1] = json!({"fixd": "1.0"})
            }),
            ("USN-6986-1", "affected[0].ranges[0].events[1].fixed", |d| {
                d["affected"][0]["ranges"][0]["events"][1] = json!({"fixed": 3})
            }),
            ("USN-6986-1", "affected[0].ranges[0].events[1].fixed", |d| {
                d["affected"][0]["ranges"][0]["events"][1] = json!({"fixed": ""})
            }),
            ("USN-6986-1", "affected[0].ranges[0].events", |d| {
                d["affected"][0]["ranges"][0]["events"] = json!([{"fixed": "1.0"}])
            }),
            ("USN-6986-1", "affected[0].ranges[0].events", |d| {
                d["affected"][0]["ranges"][0]["events"] = json!([])
            }),
            ("USN-6986-1", "affected[0].versions[2]", |d| {
                d["affected"][0]["versions"][2] = json!("")
            }),
            ("USN-6986-1", "severity[0].score", |d| {
                d["severity"] = json!([{"type": "CVSS_V3",
                    "score": "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}])
            }),
            (
                "USN-6986-1",
                "severity[0].score",
                |d| d["severity"] = json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L"}]),
            ),
            ("USN-6986-1", "severity[0].score", |d| {
                d["severity"] = json!([{"type": "CVSS_V3", "score": "high"}])
            }),
            ("USN-6986-1", "severity[1].score", |d| {
                d["severity"] = json!([{"type": "Ubuntu", "score": "high"}, {"type": "CVSS_V3",
                    "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}])
            }),
            ("USN-6986-1", "severity[0].type", |d| {
                d["severity"] = json!([{"type": "", "score": "high"}])
            }),
            ("USN-6986-1", "affected[0].severity[0].score", |d| {
                d["affected"][0]["severity"] =
                    json!([{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N"}])
            }),
            ("USN-6986-1", "references[0].url", |d| {
                d["references"][0]["url"] = json!("")
            }),
            ("USN-6986-1", "", |d| d["affected"] = json!("openssl")),
            ("?", "", |d| d["id"] = json!(5678)),
        ];
        for (entry, field, change) in cases {
            let err = parse_osv(&usn_with(change)).expect_err(field);
            assert_eq!(
                (err.entry.as_str(), err.field.as_str()),
                (*entry, *field),
                "{err}"
            );
        }
    }

    #[test]
    fn error_messages_read_well() {
        let err = parse_osv(&usn_with(|d| {
            d["affected"][0]["package"]["name"] = json!("")
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "USN-6986-1: affected[0].package.name: must not be empty"
        );
        let err = parse_osv(&usn_with(|d| {
            d["affected"][0]["ranges"][0]["events"][1] = json!({"introduced": "0", "fixed": "1"})
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "USN-6986-1: affected[0].ranges[0].events[1]: must have exactly one of \
             introduced, fixed, last_affected, limit"
        );
        let err = parse_osv(b"not json").unwrap_err();
        assert_eq!((err.entry.as_str(), err.field.as_str()), ("?", ""));
        assert!(
            err.to_string().starts_with("?: not a valid OSV record: "),
            "{err}"
        );
        let err = parse_osv(&vec![b' '; MAX_OSV_BYTES + 1]).unwrap_err();
        assert_eq!(err.entry, "?");
        // Deserialising with serde checks the same way.
        let bad = usn_with(|d| d["modified"] = json!("soon"));
        let err = serde_json::from_slice::<Advisory>(&bad).unwrap_err();
        assert!(err.to_string().contains("USN-6986-1: modified: "), "{err}");
    }

    #[test]
    fn nulls_count_as_absent() {
        let a = parse_osv(&usn_with(|d| {
            d["aliases"] = json!(null);
            d["summary"] = json!(null);
            d["published"] = json!(null);
            d["affected"][0]["versions"] = json!(null);
        }))
        .unwrap();
        assert!(a.aliases.is_empty());
        assert!(a.summary.is_empty());
        assert_eq!(a.published, None);
        assert!(a.affected[0].versions.is_empty());
    }

    #[test]
    fn records_round_trip_through_json() {
        for doc in [
            DSA,
            USN,
            USN_UNRATED,
            UBUNTU_CVE,
            UBUNTU_CVE_OLD,
            ALSA,
            ALSA_SUFFIX,
            ALBA,
            RHSA,
        ] {
            let a = parse_osv(doc.as_bytes()).unwrap();
            let json = serde_json::to_string(&a).unwrap();
            let back: Advisory = serde_json::from_str(&json).unwrap();
            assert_eq!(back, a);
            assert_eq!(parse_osv(json.as_bytes()).unwrap(), a);
        }
    }

    #[test]
    fn withdrawn_records_affect_nothing() {
        let a = parse_osv(&usn_with(|d| {
            d["withdrawn"] = json!("2024-06-01T00:00:00Z")
        }))
        .unwrap();
        assert!(a.is_withdrawn());
        assert_eq!(a.withdrawn_at, Some(1_717_200_000));
        let jammy = release_ecosystem("ubuntu", "22.04");
        assert!(!a.affects_package(&jammy, "openssl", VersionScheme::Deb, "3.0.2-0ubuntu1.17"));
        // The package entry itself still answers.
        assert!(a.affected[0].affects(VersionScheme::Deb, "3.0.2-0ubuntu1.17"));
        // And no update fixes a withdrawn advisory.
        let offer = Offer {
            release: "ubuntu:22.04",
            package: "libssl3",
            source: Some("openssl"),
            from: "3.0.2-0ubuntu1.17",
            to: "3.0.2-0ubuntu1.18",
            origin: "Ubuntu:22.04/jammy-security",
        };
        assert!(!a.fixed_by_offer(&offer));
        let live = parse_osv(USN.as_bytes()).unwrap();
        assert!(
            live.fixed_by_offer(&offer),
            "the same record, not withdrawn"
        );
    }

    #[test]
    fn offers_compare_source_versions_on_deb_and_open_pro_streams_by_origin() {
        use crate::protocol::PackageFormat::{Deb, Rpm};
        // A binNMU or an epoch on the binary only: Debian's fixes are
        // source versions.
        assert_eq!(compared_version(Deb, "1:2.4-1+b1", Some("2.4-1")), "2.4-1");
        assert_eq!(compared_version(Deb, "2.4-1", None), "2.4-1");
        assert_eq!(compared_version(Deb, "2.4-1", Some(" ")), "2.4-1");
        assert_eq!(
            compared_version(Rpm, "1:3.0.7-28.el9_4", Some("3.0.7")),
            "1:3.0.7-28.el9_4"
        );
        let jammy = |origin: &str| offer_ecosystems("ubuntu:22.04", origin);
        assert_eq!(
            jammy("Ubuntu:22.04/jammy-security"),
            strings(&["Ubuntu:22.04:LTS", "Ubuntu:22.04"])
        );
        assert_eq!(
            jammy("UbuntuESMApps:22.04/jammy-apps-security"),
            strings(&["Ubuntu:22.04:LTS", "Ubuntu:22.04", "Ubuntu:Pro:22.04:LTS"])
        );
        assert!(
            jammy("UbuntuFIPSUpdates:22.04/jammy-fips-updates")
                .contains(&"Ubuntu:Pro:FIPS-updates:22.04:LTS".to_owned())
        );
        assert!(is_ubuntu_pro_origin("UbuntuESM:20.04/focal-infra-security"));
        assert!(!is_ubuntu_pro_origin("Ubuntu:20.04/focal-security"));
        // Non-LTS releases have no Pro stream; other distributions ignore it.
        assert_eq!(
            offer_ecosystems("ubuntu:23.10", "UbuntuESM"),
            strings(&["Ubuntu:23.10"])
        );
        assert_eq!(
            offer_ecosystems("debian:12", "UbuntuESM"),
            strings(&["Debian:12"])
        );
    }

    #[test]
    fn cvss_vectors_of_every_version_are_scored() {
        for (vector, version, score, level) in [
            (
                "AV:N/AC:L/Au:N/C:P/I:P/A:P",
                CvssVersion::V2_0,
                7.5,
                SeverityLevel::High,
            ),
            (
                "AV:L/AC:M/Au:N/C:N/I:P/A:C",
                CvssVersion::V2_0,
                5.4,
                SeverityLevel::Medium,
            ),
            (
                "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                CvssVersion::V3_0,
                9.8,
                SeverityLevel::Critical,
            ),
            (
                "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H",
                CvssVersion::V3_1,
                8.1,
                SeverityLevel::High,
            ),
            (
                "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:N",
                CvssVersion::V3_1,
                0.0,
                SeverityLevel::Negligible,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                CvssVersion::V4_0,
                9.3,
                SeverityLevel::Critical,
            ),
            (
                "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
                CvssVersion::V4_0,
                8.5,
                SeverityLevel::High,
            ),
            (
                "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N",
                CvssVersion::V4_0,
                8.7,
                SeverityLevel::High,
            ),
        ] {
            let cvss = Cvss::parse(vector).unwrap();
            assert_eq!(
                (cvss.version, cvss.score, cvss.level()),
                (version, score, level),
                "{vector}"
            );
        }
        for bad in [
            "",
            "CVSS:3.1/AV:N/AC:L",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:Q",
            "CVSS:5.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:4.0/AV:N/AC:L",
            "AV:N/AC:L",
        ] {
            assert!(Cvss::parse(bad).is_err(), "{bad}");
        }
        // Mixed severity lists: the highest version, then the highest score.
        let a = parse_osv(&record_with(DSA, |d| {
            d["severity"] = json!([
                {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:C/I:C/A:C"},
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"},
                {"type": "Ubuntu", "score": "untriaged"}
            ]);
            d["affected"][0]["severity"] = json!([
                {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}
            ]);
        }))
        .unwrap();
        let cvss = a.cvss().unwrap();
        assert_eq!((cvss.version, cvss.score), (CvssVersion::V3_1, 7.5));
        assert_eq!(a.ubuntu_priority(), None, "untriaged is no level");
        assert_eq!(a.severity_level(), Some(SeverityLevel::High));
    }

    #[test]
    fn ubuntu_priorities_map_to_levels() {
        assert_eq!(
            SeverityLevel::from_ubuntu("negligible"),
            Some(SeverityLevel::Negligible)
        );
        assert_eq!(
            SeverityLevel::from_ubuntu("Medium"),
            Some(SeverityLevel::Medium)
        );
        assert_eq!(
            SeverityLevel::from_ubuntu("critical"),
            Some(SeverityLevel::Critical)
        );
        assert_eq!(SeverityLevel::from_ubuntu("untriaged"), None);
        assert_eq!(SeverityLevel::from_ubuntu(""), None);
        assert!(SeverityLevel::Negligible < SeverityLevel::Low);
        assert!(SeverityLevel::High < SeverityLevel::Critical);
    }

    #[test]
    fn cve_ids_are_collected_from_ids_aliases_and_upstream() {
        let doc = json!({
            "id": "CVE-2024-1234",
            "modified": "2024-05-02T00:00:00Z",
            "aliases": ["GHSA-xxxx-yyyy-zzzz", "CVE-2024-1234"],
            "upstream": ["CVE-2023-12345", "CVE-24-1", "cve-2024-9999", "DEBIAN-CVE-2024-123"],
            "related": ["CVE-2022-0001"]
        });
        let a = parse_osv(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(
            a.cves(),
            strings(&["CVE-2023-12345", "CVE-2024-1234"]),
            "a CVE record's related CVEs are other vulnerabilities"
        );
        assert!(is_cve_id("CVE-2021-44228"));
        assert!(is_cve_id("CVE-2024-1234567"));
        for bad in [
            "CVE-2021-442",
            "CVE-21-44228",
            "cve-2021-44228",
            "CVE-2021-4422a",
            "CVE-2021",
            "",
        ] {
            assert!(!is_cve_id(bad), "{bad}");
        }
        assert_eq!(cve_of("UBUNTU-CVE-2024-6387"), Some("CVE-2024-6387"));
        assert_eq!(cve_of("DEBIAN-CVE-2024-2511"), Some("CVE-2024-2511"));
        assert_eq!(cve_of("USN-6859-1"), None);
        assert_eq!(cve_of("-CVE-2024-2511"), None);
        assert_eq!(cve_of("Debian-CVE-2024-2511"), None);
    }

    fn affected(ranges: Vec<Range>, versions: &[&str]) -> Affected {
        Affected {
            package: Package {
                ecosystem: "Debian:12".into(),
                name: "pkg".into(),
                purl: None,
            },
            severity: vec![],
            ranges,
            versions: strings(versions),
            ecosystem_specific: None,
            database_specific: None,
        }
    }

    fn range(kind: RangeType, events: &[(&str, &str)]) -> Range {
        let events = events
            .iter()
            .map(|(key, v)| {
                let v = (*v).to_owned();
                match *key {
                    "introduced" => Event::Introduced(v),
                    "fixed" => Event::Fixed(v),
                    "last_affected" => Event::LastAffected(v),
                    "limit" => Event::Limit(v),
                    other => panic!("{other}"),
                }
            })
            .collect();
        Range {
            kind,
            repo: None,
            events,
        }
    }

    fn check(a: &Affected, scheme: VersionScheme, cases: &[(&str, bool)]) {
        for (version, expected) in cases {
            assert_eq!(a.affects(scheme, version), *expected, "{version} in {a:?}");
        }
    }

    use RangeType::{Ecosystem, Git, Semver};
    use VersionScheme::{Deb, Rpm};

    #[test]
    fn affects_follows_the_osv_algorithm() {
        // Introduced later than the beginning.
        let a = affected(
            vec![range(
                Ecosystem,
                &[("introduced", "2.0-1"), ("fixed", "2.0-5")],
            )],
            &[],
        );
        check(
            &a,
            Deb,
            &[
                ("1.9-1", false),
                ("2.0-1", true),
                ("2.0-4", true),
                ("2.0-5", false),
            ],
        );
        check(
            &a,
            Rpm,
            &[
                ("1.9-1", false),
                ("2.0-1", true),
                ("2.0-4", true),
                ("2.0-5", false),
            ],
        );

        // last_affected is inclusive.
        let a = affected(
            vec![range(
                Ecosystem,
                &[("introduced", "0"), ("last_affected", "1.2-3")],
            )],
            &[],
        );
        check(
            &a,
            Deb,
            &[
                ("1.2-2", true),
                ("1.2-3", true),
                ("1.2-3+b1", false),
                ("1.3-1", false),
            ],
        );

        // Equal versions: introduced comes first, whatever the listed order.
        let a = affected(
            vec![range(
                Ecosystem,
                &[("last_affected", "1.0"), ("introduced", "1.0")],
            )],
            &[],
        );
        check(&a, Deb, &[("0.9", false), ("1.0", true), ("1.0+b1", false)]);
        let a = affected(
            vec![range(Ecosystem, &[("fixed", "1.0"), ("introduced", "1.0")])],
            &[],
        );
        check(&a, Deb, &[("0.9", false), ("1.0", false), ("2.0", false)]);

        // Several introduced/fixed pairs in one range, given out of order.
        let a = affected(
            vec![range(
                Ecosystem,
                &[
                    ("fixed", "2.5"),
                    ("introduced", "2.0"),
                    ("fixed", "1.0"),
                    ("introduced", "0"),
                ],
            )],
            &[],
        );
        let cases = [
            ("0.5", true),
            ("1.0~rc1", true),
            ("1.0", false),
            ("1.5", false),
            ("2.0", true),
            ("2.4", true),
            ("2.5", false),
            ("3", false),
        ];
        check(&a, Deb, &cases);
        assert_eq!(a.fix_for(Deb, "0.5"), Some("1.0"));
        assert_eq!(a.fix_for(Deb, "2.1"), Some("2.5"));
        assert_eq!(a.fix_for(Deb, "1.5"), None);
        assert_eq!(a.fix_for(Deb, "3"), None);
        assert_eq!(a.fixed_versions(), strings(&["2.5", "1.0"]));

        // The same as two ranges.
        let a = affected(
            vec![
                range(Ecosystem, &[("introduced", "0"), ("fixed", "1.0")]),
                range(Ecosystem, &[("introduced", "2.0"), ("fixed", "2.5")]),
            ],
            &[],
        );
        check(&a, Deb, &cases);
        assert_eq!(a.fixed_versions(), strings(&["1.0", "2.5"]));

        // Unfixed.
        let a = affected(vec![range(Ecosystem, &[("introduced", "0")])], &[]);
        check(
            &a,
            Deb,
            &[
                ("0", true),
                ("~~", true),
                ("99:1", true),
                ("", false),
                ("  ", false),
            ],
        );
        assert_eq!(a.fix_for(Deb, "1.0"), None);
        assert!(a.fixed_versions().is_empty());

        // Limits.
        let a = affected(
            vec![range(Ecosystem, &[("introduced", "0"), ("limit", "2.0")])],
            &[],
        );
        check(
            &a,
            Deb,
            &[
                ("1.0", true),
                ("2.0~beta", true),
                ("2.0", false),
                ("3.0", false),
            ],
        );
        let a = affected(
            vec![range(Ecosystem, &[("introduced", "1.0"), ("limit", "*")])],
            &[],
        );
        check(&a, Deb, &[("0.9", false), ("1.0", true), ("999", true)]);
    }

    #[test]
    fn listed_versions_count_by_the_schemes_equality() {
        let a = affected(vec![], &["1.0-1", "1:2.0-3"]);
        check(
            &a,
            Deb,
            &[
                ("1.0-1", true),
                ("0:1.0-1", true),
                ("1.0-2", false),
                ("1:2.0-3", true),
                ("2.0-3", false),
            ],
        );
        let a = affected(vec![], &["3.0.7-27.el9"]);
        check(
            &a,
            Rpm,
            &[
                ("3.0.7-27.el9", true),
                ("0:3.0.7-27.el9", true),
                ("1:3.0.7-27.el9", false),
            ],
        );
        // Versions add to ranges.
        let a = affected(
            vec![range(Ecosystem, &[("introduced", "2.0"), ("fixed", "3.0")])],
            &["1.0"],
        );
        check(
            &a,
            Deb,
            &[("1.0", true), ("1.5", false), ("2.5", true), ("3.0", false)],
        );
    }

    #[test]
    fn only_ecosystem_ranges_are_evaluated() {
        let git = range(
            Git,
            &[
                ("introduced", "0"),
                ("fixed", "9f8a3c2b1d0e4f5a6b7c8d9e0f1a2b3c4d5e6f70"),
            ],
        );
        let a = affected(vec![git], &[]);
        check(&a, Deb, &[("1.0", false)]);
        assert!(a.fixed_versions().is_empty(), "commits are not versions");
        let a = affected(
            vec![range(Semver, &[("introduced", "0"), ("fixed", "1.2.3")])],
            &[],
        );
        check(&a, Deb, &[("1.0.0", false)]);
        assert_eq!(a.fixed_versions(), strings(&["1.2.3"]));
    }

    #[test]
    fn tilde_and_epoch_orderings_decide() {
        let a = affected(
            vec![range(
                Ecosystem,
                &[("introduced", "0"), ("fixed", "1:2.0~rc1-1")],
            )],
            &[],
        );
        check(
            &a,
            Deb,
            &[
                ("2.0~beta-1", true),
                ("1:2.0~beta-1", true),
                ("1:2.0~rc1-1", false),
                ("1:2.0-1", false),
            ],
        );
        let a = affected(
            vec![range(
                Ecosystem,
                &[("introduced", "0"), ("fixed", "2:9.0.2081-1.el9")],
            )],
            &[],
        );
        check(
            &a,
            Rpm,
            &[
                ("9.1.0-1.el9", true),
                ("2:9.0.2081-1.el9", false),
                ("2:9.0.2081-1.el9~1", true),
            ],
        );
    }

    fn simple_version() -> impl Strategy<Value = String> {
        (
            0u8..4,
            0u8..4,
            prop::sample::select(vec!["", "~rc1", "+b1", "~~"]),
            prop::option::of(0u8..3),
        )
            .prop_map(|(major, minor, suffix, revision)| match revision {
                Some(r) => format!("{major}.{minor}{suffix}-{r}"),
                None => format!("{major}.{minor}{suffix}"),
            })
    }

    proptest! {
        #[test]
        fn one_range_is_a_half_open_interval(
            a in simple_version(),
            b in simple_version(),
            v in simple_version(),
            rpm in any::<bool>(),
        ) {
            let scheme = if rpm { Rpm } else { Deb };
            let (low, high) = if scheme.compare(&a, &b) == Ordering::Greater { (b, a) } else { (a, b) };
            let expected = scheme.compare(&v, &low) != Ordering::Less
                && scheme.compare(&v, &high) == Ordering::Less;
            // Events in either order give the same answer.
            for events in [
                [("introduced", low.as_str()), ("fixed", high.as_str())],
                [("fixed", high.as_str()), ("introduced", low.as_str())],
            ] {
                let aff = affected(vec![range(Ecosystem, &events)], &[]);
                prop_assert_eq!(aff.affects(scheme, &v), expected);
                prop_assert_eq!(aff.fix_for(scheme, &v).is_some(), expected);
            }
        }
    }

    #[test]
    fn releases_map_to_ecosystems() {
        for (id, version, expected) in [
            ("debian", "12", &["Debian:12"][..]),
            ("debian", "11", &["Debian:11"]),
            ("debian", "", &[]),
            ("ubuntu", "22.04", &["Ubuntu:22.04:LTS", "Ubuntu:22.04"]),
            ("ubuntu", "24.04", &["Ubuntu:24.04:LTS", "Ubuntu:24.04"]),
            ("ubuntu", "23.10", &["Ubuntu:23.10"]),
            ("ubuntu", "23.04", &["Ubuntu:23.04"]),
            ("ubuntu", "22", &[]),
            ("almalinux", "9.4", &["AlmaLinux:9"]),
            ("almalinux", "8.10", &["AlmaLinux:8"]),
            ("rocky", "9.3", &["Rocky Linux:9"]),
            ("rhel", "9.4", &["Red Hat:enterprise_linux:9"]),
            ("RHEL", " 8.9 ", &["Red Hat:enterprise_linux:8"]),
            ("centos", "9", &[]),
            ("fedora", "40", &[]),
            ("rocky", "nine", &[]),
        ] {
            assert_eq!(
                release_ecosystem(id, version),
                strings(expected),
                "{id} {version}"
            );
        }
        for (ecosystem, scheme) in [
            ("Debian:12", Some(Deb)),
            ("Debian", Some(Deb)),
            ("Ubuntu:Pro:22.04:LTS", Some(Deb)),
            ("AlmaLinux:9", Some(Rpm)),
            ("Rocky Linux:9", Some(Rpm)),
            ("Red Hat:enterprise_linux:9::appstream", Some(Rpm)),
            ("npm", None),
            ("", None),
        ] {
            assert_eq!(ecosystem_scheme(ecosystem), scheme, "{ecosystem}");
        }
        assert!(ecosystem_matches("Debian:12", "Debian:12"));
        assert!(!ecosystem_matches("Debian:12", "Debian:1"));
        assert!(ecosystem_matches(
            "Red Hat:enterprise_linux:9::appstream",
            "Red Hat:enterprise_linux:9"
        ));
        assert!(!ecosystem_matches(
            "Red Hat:enterprise_linux:90::appstream",
            "Red Hat:enterprise_linux:9"
        ));
        assert!(!ecosystem_matches("Ubuntu:22.04:LTS", "Ubuntu:22.04"));
    }

    #[test]
    fn dates_and_timestamps_parse_strictly() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-05-02T05:12:33Z"), Some(1_714_626_753));
        assert_eq!(
            parse_rfc3339("2024-05-02t05:12:33.999999999z"),
            Some(1_714_626_753)
        );
        assert_eq!(
            parse_rfc3339("2024-05-02T07:12:33+02:00"),
            Some(1_714_626_753)
        );
        assert_eq!(parse_rfc3339("2024-05-02 05:12:33Z"), Some(1_714_626_753));
        for bad in [
            "",
            "2024-05-02",
            "2024-05-02T05:12:33",
            "2024-05-02X05:12:33Z",
            "2024-05-32T05:12:33Z",
            "2024-05-02T25:12:33Z",
            "2024-05-02T05:12:33Z junk",
            "24-05-02T05:12:33Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2023-11-21"), Some(1_700_524_800));
        assert_eq!(parse_date("2024-02-29"), Some(1_709_164_800));
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-1-01",
            "2024-01-01T00:00:00Z",
            "",
            "２０２４-01-01",
            "+024-01-01",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    /// The real CISA catalog (cisagov/kev-data, CC0; see PROVENANCE.md).
    const KEV: &str =
        include_str!("../tests/fixtures/advisories/kev/known_exploited_vulnerabilities.json");

    #[test]
    fn parses_the_kev_catalog() {
        let kev = parse_kev(KEV.as_bytes()).unwrap();
        assert_eq!(kev.catalog_version, "2025.08.25");
        assert_eq!(kev.date_released_at, Some(1_756_141_459));
        assert_eq!(kev.count, Some(1404));
        assert_eq!(kev.vulnerabilities.len(), 1404);
        let glibc = kev.entry("CVE-2023-4911").unwrap();
        assert_eq!(glibc.product, "GNU C Library");
        assert_eq!(glibc.date_added, "2023-11-21");
        assert_eq!(glibc.date_added_at, 1_700_524_800);
        assert_eq!(glibc.due_date_at, Some(1_702_339_200));
        assert!(!glibc.known_ransomware());
        assert_eq!(glibc.cwes, strings(&["CWE-122"]));
        assert!(kev.entry("CVE-2021-44228").unwrap().known_ransomware());
        assert_eq!(
            kev.entry("CVE-2024-1086").unwrap().date_added_at,
            1_717_027_200
        );
        assert!(kev.entry("CVE-2000-0001").is_none());
        // Round trip, and serde deserialisation checks too.
        let json = serde_json::to_string(&kev).unwrap();
        assert_eq!(serde_json::from_str::<Kev>(&json).unwrap(), kev);
    }

    fn kev_with(change: impl FnOnce(&mut Value)) -> Vec<u8> {
        record_with(KEV, change)
    }

    /// Where an entry is in the real catalog.
    fn kev_index(cve: &str) -> usize {
        let doc: Value = serde_json::from_str(KEV).unwrap();
        doc["vulnerabilities"]
            .as_array()
            .unwrap()
            .iter()
            .position(|v| v["cveID"] == cve)
            .unwrap()
    }

    /// The entry of `cve` in a catalog document.
    fn kev_entry<'a>(doc: &'a mut Value, cve: &str) -> &'a mut Value {
        let i = kev_index(cve);
        &mut doc["vulnerabilities"][i]
    }

    #[test]
    fn kev_errors_name_the_entry_and_field() {
        type Change = fn(&mut Value);
        let (glibc, kernel) = (kev_index("CVE-2023-4911"), kev_index("CVE-2024-1086"));
        let cases: Vec<(&str, String, Change)> = vec![
            ("KEV", format!("vulnerabilities[{glibc}].cveID"), |d| {
                kev_entry(d, "CVE-2023-4911")["cveID"] = json!("CVE-2023-491")
            }),
            ("KEV", format!("vulnerabilities[{kernel}].cveID"), |d| {
                kev_entry(d, "CVE-2024-1086")["cveID"] = json!("cve-2024-1086")
            }),
            ("KEV", "vulnerabilities[0].cveID".into(), |d| {
                d["vulnerabilities"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("cveID");
            }),
            (
                "CVE-2023-4911",
                format!("vulnerabilities[{glibc}].dateAdded"),
                |d| kev_entry(d, "CVE-2023-4911")["dateAdded"] = json!("2023-02-30"),
            ),
            (
                "CVE-2023-4911",
                format!("vulnerabilities[{glibc}].dateAdded"),
                |d| kev_entry(d, "CVE-2023-4911")["dateAdded"] = json!("11/21/2023"),
            ),
            (
                "CVE-2023-4911",
                format!("vulnerabilities[{glibc}].dateAdded"),
                |d| {
                    kev_entry(d, "CVE-2023-4911")
                        .as_object_mut()
                        .unwrap()
                        .remove("dateAdded");
                },
            ),
            (
                "CVE-2024-1086",
                format!("vulnerabilities[{kernel}].dueDate"),
                |d| kev_entry(d, "CVE-2024-1086")["dueDate"] = json!("soon"),
            ),
            (
                "CVE-2024-1086",
                format!("vulnerabilities[{kernel}].notes"),
                |d| kev_entry(d, "CVE-2024-1086")["notes"] = json!("a\u{7}b"),
            ),
            ("KEV", "count".into(), |d| d["count"] = json!(1405)),
            ("KEV", "dateReleased".into(), |d| {
                d["dateReleased"] = json!("2025-08-25")
            }),
            ("KEV", "vulnerabilities".into(), |d| {
                d.as_object_mut().unwrap().remove("vulnerabilities");
            }),
            ("KEV", "".into(), |d| d["count"] = json!("many")),
        ];
        for (entry, field, change) in &cases {
            let err = parse_kev(&kev_with(change)).expect_err(field);
            assert_eq!(
                (err.entry.as_str(), err.field.as_str()),
                (*entry, field.as_str()),
                "{err}"
            );
        }
        let err = parse_kev(&kev_with(|d| {
            kev_entry(d, "CVE-2023-4911")["cveID"] = json!("CVE-2023-491")
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "KEV: vulnerabilities[{glibc}].cveID: \"CVE-2023-491\" is not a CVE id (CVE-YYYY-NNNN)"
            )
        );
        assert_eq!(parse_kev(b"[]").unwrap_err().entry, "KEV");
        // No count and no release date are fine; an empty due date is none.
        let kev = parse_kev(&kev_with(|d| {
            let o = d.as_object_mut().unwrap();
            o.remove("count");
            o.remove("dateReleased");
            d["vulnerabilities"][0]["dueDate"] = json!("");
        }))
        .unwrap();
        assert_eq!((kev.count, kev.date_released_at), (None, None));
        assert_eq!(kev.vulnerabilities[0].due_date, None);
    }
}
