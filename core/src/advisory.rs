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
//! RFC 3339 timestamps are parsed with the `time` crate (already in the
//! workspace; only its parser is used, which needs no clock and builds for
//! wasm). `T`, `t` or a space may separate date and time; any UTC offset is
//! accepted and converted, fractions of a second are dropped, and a leap
//! second counts as the second before it.
//!
//! [OSV format]: https://ossf.github.io/osv-schema/

use crate::clock::Timestamp;
use crate::version::VersionScheme;
use serde::{Deserialize, Deserializer, Serialize};
use std::cmp::Ordering;
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::{Date, Month, OffsetDateTime};

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
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(OffsetDateTime::unix_timestamp)
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
    let year: i32 = text[0..4].parse().ok()?;
    let month: u8 = text[5..7].parse().ok()?;
    let day: u8 = text[8..10].parse().ok()?;
    let date = Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
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

    /// Whether a patch that brings this package to `version` on `release`
    /// (as the catalog names it, `os-id:version-id`, e.g. `debian:12`)
    /// fixes what this entry describes: the release belongs to the entry's
    /// ecosystem, `version` is outside the affected ranges, and it is at or
    /// past one of the fixed versions.
    pub fn fixed_by(&self, release: &str, version: &str) -> bool {
        let (os_id, version_id) = release.split_once(':').unwrap_or((release, ""));
        let in_release = release_ecosystem(os_id, version_id)
            .iter()
            .any(|e| ecosystem_matches(&self.package.ecosystem, e));
        let Some(scheme) = ecosystem_scheme(&self.package.ecosystem) else {
            return false;
        };
        in_release
            && !self.affects(scheme, version)
            && self
                .fixed_versions()
                .iter()
                .any(|fixed| scheme.compare(fixed, version) != Ordering::Greater)
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

    /// All severity entries: the record's and its packages'.
    fn all_severities(&self) -> impl Iterator<Item = &Severity> {
        self.severity
            .iter()
            .chain(self.affected.iter().flat_map(|a| a.severity.iter()))
    }

    /// The CVSS vector of the highest CVSS version among the record's and
    /// its packages' severity entries, with its base score; among vectors
    /// of the same version, the highest score.
    pub fn cvss(&self) -> Option<Cvss> {
        self.all_severities()
            .filter_map(|s| severity_cvss(s)?.ok())
            .max_by(|a, b| {
                a.version
                    .cmp(&b.version)
                    .then_with(|| a.score.total_cmp(&b.score))
            })
    }

    /// Ubuntu's priority for the vulnerability (severity entries of type
    /// `Ubuntu`), the highest if there are several.
    pub fn ubuntu_priority(&self) -> Option<SeverityLevel> {
        self.all_severities()
            .filter(|s| s.kind == "Ubuntu")
            .filter_map(|s| SeverityLevel::from_ubuntu(&s.score))
            .max()
    }

    /// The advisory's severity level: the distribution's own assessment
    /// (Ubuntu's priority) when given, else the level of [`Advisory::cvss`].
    pub fn severity_level(&self) -> Option<SeverityLevel> {
        self.ubuntu_priority()
            .or_else(|| self.cvss().map(|c| c.level()))
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

    const DSA: &str = r#"{
  "schema_version": "1.7.0",
  "id": "DSA-5678-1",
  "summary": "openssl - security update",
  "details": "\nMultiple vulnerabilities have been discovered in OpenSSL, a Secure\nSockets Layer toolkit, which may result in denial of service.\n\n\nFor the stable distribution (bookworm), these problems have been fixed in\nversion 3.0.15-1~deb12u1.\n\n\nWe recommend that you upgrade your openssl packages.\n",
  "aliases": [],
  "upstream": ["CVE-2024-2511", "CVE-2024-4603", "DEBIAN-CVE-2024-2511", "DEBIAN-CVE-2024-4603"],
  "related": [],
  "published": "2024-04-30T00:00:00Z",
  "modified": "2024-05-02T05:12:33.123456Z",
  "affected": [
    {
      "package": {
        "ecosystem": "Debian:12",
        "name": "openssl",
        "purl": "pkg:deb/debian/openssl?arch=source"
      },
      "ranges": [
        {
          "type": "ECOSYSTEM",
          "events": [
            {"introduced": "0"},
            {"fixed": "3.0.15-1~deb12u1"}
          ]
        }
      ],
      "versions": [
        "3.0.9-1",
        "3.0.11-1~deb12u1",
        "3.0.11-1~deb12u2",
        "3.0.13-1~deb12u1",
        "3.0.14-1~deb12u1"
      ],
      "database_specific": {
        "source": "https://storage.googleapis.com/debian-osv/dsa-osv/DSA-5678-1.json"
      }
    }
  ],
  "references": [
    {"type": "ADVISORY", "url": "https://www.debian.org/security/2024/dsa-5678"}
  ]
}"#;

    const DEBIAN_CVE: &str = r#"{
  "schema_version": "1.7.0",
  "id": "DEBIAN-CVE-2024-2511",
  "published": "2024-04-08T14:15:07.660Z",
  "modified": "2025-01-14T05:09:50.592834Z",
  "upstream": ["CVE-2024-2511"],
  "details": "Issue summary: Some non-default TLS server configurations can cause unbounded memory growth when processing TLSv1.3 sessions",
  "affected": [
    {
      "package": {"name": "openssl", "ecosystem": "Debian:11", "purl": "pkg:deb/debian/openssl?arch=source"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.1.1w-0+deb11u2"}]}],
      "versions": ["1.1.1n-0+deb11u4", "1.1.1n-0+deb11u5", "1.1.1w-0+deb11u1"],
      "ecosystem_specific": {"urgency": "not yet assigned"},
      "database_specific": {"source": "https://storage.googleapis.com/debian-osv/debian-cve-osv/DEBIAN-CVE-2024-2511.json"}
    },
    {
      "package": {"name": "openssl", "ecosystem": "Debian:12", "purl": "pkg:deb/debian/openssl?arch=source"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.14-1~deb12u1"}]}],
      "versions": ["3.0.11-1~deb12u2", "3.0.13-1~deb12u1"],
      "ecosystem_specific": {"urgency": "not yet assigned"},
      "database_specific": {"source": "https://storage.googleapis.com/debian-osv/debian-cve-osv/DEBIAN-CVE-2024-2511.json"}
    },
    {
      "package": {"name": "openssl", "ecosystem": "Debian:13", "purl": "pkg:deb/debian/openssl?arch=source"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.2.2-1"}]}],
      "database_specific": {"source": "https://storage.googleapis.com/debian-osv/debian-cve-osv/DEBIAN-CVE-2024-2511.json"}
    }
  ],
  "references": [
    {"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2024-2511"}
  ]
}"#;

    const USN: &str = r#"{
  "schema_version": "1.7.0",
  "id": "USN-6859-1",
  "summary": "openssh vulnerability",
  "details": "It was discovered that OpenSSH incorrectly handled signal management.\nA remote attacker could use this issue to bypass authentication and\nremotely access systems without proper credentials.\n",
  "aliases": [],
  "upstream": ["UBUNTU-CVE-2024-6387"],
  "related": [],
  "published": "2024-07-01T08:15:43.386476Z",
  "modified": "2024-07-01T08:15:43.386476Z",
  "severity": [{"type": "Ubuntu", "score": "high"}],
  "affected": [
    {
      "package": {
        "ecosystem": "Ubuntu:22.04:LTS",
        "name": "openssh",
        "purl": "pkg:deb/ubuntu/openssh@1:8.9p1-3ubuntu0.10?arch=source&distro=jammy"
      },
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:8.9p1-3ubuntu0.10"}]}],
      "versions": ["1:8.9p1-3", "1:8.9p1-3ubuntu0.1", "1:8.9p1-3ubuntu0.4", "1:8.9p1-3ubuntu0.7"],
      "ecosystem_specific": {
        "binaries": [
          {"binary_name": "openssh-client", "binary_version": "1:8.9p1-3ubuntu0.10"},
          {"binary_name": "openssh-server", "binary_version": "1:8.9p1-3ubuntu0.10"}
        ],
        "availability": "No subscription required"
      }
    },
    {
      "package": {
        "ecosystem": "Ubuntu:24.04:LTS",
        "name": "openssh",
        "purl": "pkg:deb/ubuntu/openssh@1:9.6p1-3ubuntu13.3?arch=source&distro=noble"
      },
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:9.6p1-3ubuntu13.3"}]}],
      "versions": ["1:9.6p1-3ubuntu11", "1:9.6p1-3ubuntu13"],
      "ecosystem_specific": {"availability": "No subscription required"}
    }
  ],
  "references": [
    {"type": "ADVISORY", "url": "https://ubuntu.com/security/notices/USN-6859-1"},
    {"type": "REPORT", "url": "https://ubuntu.com/security/CVE-2024-6387"}
  ]
}"#;

    const ALSA: &str = r#"{
  "id": "ALSA-2024:2447",
  "summary": "Low: openssl and openssl-fips-provider security update",
  "details": "OpenSSL is a toolkit that implements the Secure Sockets Layer (SSL) and Transport Layer Security (TLS) protocols, as well as a full-strength general-purpose cryptography library.\n\nSecurity Fix(es):\n\n* openssl: Excessive time spent checking DH keys and parameters (CVE-2023-3446)\n",
  "affected": [
    {
      "package": {"ecosystem": "AlmaLinux:9", "name": "openssl"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-27.el9"}]}]
    },
    {
      "package": {"ecosystem": "AlmaLinux:9", "name": "openssl-fips-provider"},
      "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.7-2.el9"}]}]
    }
  ],
  "published": "2024-04-30T00:00:00Z",
  "modified": "2024-05-13T13:04:06Z",
  "related": ["CVE-2023-3446", "CVE-2023-3817", "CVE-2023-5678", "CVE-2024-0727", "RHSA-2024:2447"],
  "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"}],
  "references": [
    {"type": "ADVISORY", "url": "https://errata.almalinux.org/9/ALSA-2024-2447.html"}
  ]
}"#;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn parses_a_debian_dsa() {
        let a = parse_osv(DSA.as_bytes()).unwrap();
        assert_eq!(a.id, "DSA-5678-1");
        assert_eq!(a.modified, "2024-05-02T05:12:33.123456Z");
        assert_eq!(a.modified_at, 1_714_626_753);
        assert_eq!(a.published_at, Some(1_714_435_200));
        assert_eq!(a.withdrawn_at, None);
        assert_eq!(a.summary, "openssl - security update");
        assert_eq!(a.cves(), strings(&["CVE-2024-2511", "CVE-2024-4603"]));
        assert_eq!(a.cvss(), None);
        assert_eq!(a.severity_level(), None);
        assert_eq!(a.references[0].kind, "ADVISORY");
        let p = &a.affected[0];
        assert_eq!(p.package.ecosystem, "Debian:12");
        assert_eq!(
            p.package.purl.as_deref(),
            Some("pkg:deb/debian/openssl?arch=source")
        );
        assert_eq!(p.ranges[0].kind, RangeType::Ecosystem);
        assert_eq!(
            p.ranges[0].events,
            vec![
                Event::Introduced("0".into()),
                Event::Fixed("3.0.15-1~deb12u1".into())
            ]
        );
        assert_eq!(p.fixed_versions(), strings(&["3.0.15-1~deb12u1"]));

        let deb = VersionScheme::Deb;
        let bookworm = release_ecosystem("debian", "12");
        for (version, affected) in [
            ("3.0.11-1~deb12u2", true),
            ("3.0.15-1~deb11u1", true),
            ("3.0.15-1~deb12u1", false),
            ("3.0.15-1~deb12u2", false),
            ("3.0.15-1", false),
            ("3.0.16-1", false),
        ] {
            assert_eq!(
                a.affects_package(&bookworm, "openssl", deb, version),
                affected,
                "{version}"
            );
        }
        assert_eq!(p.fix_for(deb, "3.0.11-1~deb12u2"), Some("3.0.15-1~deb12u1"));
        assert_eq!(p.fix_for(deb, "3.0.15-1"), None);
        // The record names the source package, not the binary one.
        assert!(!a.affects_package(&bookworm, "libssl3", deb, "3.0.11-1~deb12u2"));
        // Another release's advisories do not apply.
        let bullseye = release_ecosystem("debian", "11");
        assert!(!a.affects_package(&bullseye, "openssl", deb, "3.0.11-1~deb12u2"));
    }

    #[test]
    fn parses_a_debian_cve_record() {
        let a = parse_osv(DEBIAN_CVE.as_bytes()).unwrap();
        assert_eq!(a.cves(), strings(&["CVE-2024-2511"]));
        assert_eq!(a.affected.len(), 3);
        assert!(a.summary.is_empty());
        let deb = VersionScheme::Deb;
        let eco = |v: &str| release_ecosystem("debian", v);
        assert!(a.affects_package(&eco("11"), "openssl", deb, "1.1.1w-0+deb11u1"));
        assert!(!a.affects_package(&eco("11"), "openssl", deb, "1.1.1w-0+deb11u2"));
        assert!(a.affects_package(&eco("12"), "openssl", deb, "3.0.13-1~deb12u1"));
        assert!(!a.affects_package(&eco("12"), "openssl", deb, "3.0.14-1~deb12u1"));
        assert!(a.affects_package(&eco("13"), "openssl", deb, "3.2.1-3"));
        assert!(!a.affects_package(&eco("13"), "openssl", deb, "3.2.2-1"));
        assert!(!a.affects_package(&eco("10"), "openssl", deb, "1.1.1n-0+deb10u1"));
        let matching: Vec<_> = a.matching(&eco("12"), "openssl").collect();
        assert_eq!(matching.len(), 1);
        assert_eq!(matching[0].fixed_versions(), strings(&["3.0.14-1~deb12u1"]));
    }

    #[test]
    fn parses_an_ubuntu_usn_with_its_priority() {
        let a = parse_osv(USN.as_bytes()).unwrap();
        assert_eq!(a.cves(), strings(&["CVE-2024-6387"]));
        assert_eq!(a.ubuntu_priority(), Some(SeverityLevel::High));
        assert_eq!(a.severity_level(), Some(SeverityLevel::High));
        assert_eq!(a.cvss(), None);
        let jammy = release_ecosystem("ubuntu", "22.04");
        assert_eq!(jammy, strings(&["Ubuntu:22.04:LTS", "Ubuntu:22.04"]));
        let deb = VersionScheme::Deb;
        assert!(a.affects_package(&jammy, "openssh", deb, "1:8.9p1-3ubuntu0.7"));
        // Listed versions and the range agree.
        assert!(a.affects_package(&jammy, "openssh", deb, "1:8.9p1-3"));
        assert!(!a.affects_package(&jammy, "openssh", deb, "1:8.9p1-3ubuntu0.10"));
        assert!(!a.affects_package(&jammy, "openssh", deb, "1:8.9p1-3ubuntu0.11"));
        // Without the epoch the version is older than everything with one.
        assert!(a.affects_package(&jammy, "openssh", deb, "9.9p1-1"));
        let noble = release_ecosystem("ubuntu", "24.04");
        assert!(a.affects_package(&noble, "openssh", deb, "1:9.6p1-3ubuntu13"));
        assert!(!a.affects_package(&noble, "openssh", deb, "1:9.6p1-3ubuntu13.3"));
        // Ubuntu Pro is a separate ecosystem.
        let pro = strings(&["Ubuntu:Pro:22.04:LTS"]);
        assert!(!a.affects_package(&pro, "openssh", deb, "1:8.9p1-3"));
    }

    #[test]
    fn parses_an_almalinux_alsa_with_cvss_and_epochs() {
        let a = parse_osv(ALSA.as_bytes()).unwrap();
        assert_eq!(
            a.cves(),
            strings(&[
                "CVE-2023-3446",
                "CVE-2023-3817",
                "CVE-2023-5678",
                "CVE-2024-0727"
            ]),
            "Alma lists its CVEs in related"
        );
        let cvss = a.cvss().unwrap();
        assert_eq!(cvss.version, CvssVersion::V3_1);
        assert_eq!(cvss.score, 5.3);
        assert_eq!(cvss.vector, "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L");
        assert_eq!(cvss.level(), SeverityLevel::Medium);
        assert_eq!(a.severity_level(), Some(SeverityLevel::Medium));
        assert_eq!(a.ubuntu_priority(), None);

        let alma9 = release_ecosystem("almalinux", "9.4");
        assert_eq!(alma9, strings(&["AlmaLinux:9"]));
        let rpm = ecosystem_scheme(&a.affected[0].package.ecosystem).unwrap();
        assert_eq!(rpm, VersionScheme::Rpm);
        for (version, affected) in [
            ("1:3.0.7-25.el9_3", true),
            ("1:3.0.7-26.el9", true),
            ("1:3.0.7~rc1-27.el9", true),
            ("1:3.0.7-27.el9", false),
            ("1:3.0.7-27.el9_4.1", false),
            ("1:3.0.8-1.el9", false),
            ("2:1.0.0-1.el9", false),
            // Epoch 0 is older than epoch 1, whatever the version.
            ("3.0.7-99.el9", true),
            ("0:3.0.7-99.el9", true),
        ] {
            assert_eq!(
                a.affects_package(&alma9, "openssl", rpm, version),
                affected,
                "{version}"
            );
        }
        assert_eq!(
            a.affected[0].fix_for(rpm, "1:3.0.7-25.el9_3"),
            Some("1:3.0.7-27.el9")
        );
        let alma8 = release_ecosystem("almalinux", "8.10");
        assert!(!a.affects_package(&alma8, "openssl", rpm, "1:1.1.1k-9.el8"));
    }

    /// The DSA document with one change applied.
    fn dsa_with(change: impl FnOnce(&mut Value)) -> Vec<u8> {
        let mut doc: Value = serde_json::from_str(DSA).unwrap();
        change(&mut doc);
        serde_json::to_vec(&doc).unwrap()
    }

    #[test]
    fn errors_name_the_record_and_the_field() {
        type Change = fn(&mut Value);
        let cases: &[(&str, &str, Change)] = &[
            ("?", "id", |d| {
                d.as_object_mut().unwrap().remove("id");
            }),
            ("?", "id", |d| d["id"] = json!("")),
            ("?", "id", |d| d["id"] = json!("DSA 5678-1")),
            ("?", "id", |d| d["id"] = json!("x".repeat(129))),
            ("DSA-5678-1", "modified", |d| {
                d.as_object_mut().unwrap().remove("modified");
            }),
            ("DSA-5678-1", "modified", |d| {
                d["modified"] = json!("2024-13-01T00:00:00Z")
            }),
            ("DSA-5678-1", "modified", |d| {
                d["modified"] = json!("2024-05-02")
            }),
            ("DSA-5678-1", "modified", |d| {
                d["modified"] = json!("2024-05-02T05:12:33")
            }),
            ("DSA-5678-1", "published", |d| {
                d["published"] = json!("yesterday")
            }),
            ("DSA-5678-1", "withdrawn", |d| {
                d["withdrawn"] = json!("2024-02-30T00:00:00Z")
            }),
            ("DSA-5678-1", "upstream[1]", |d| {
                d["upstream"][1] = json!("")
            }),
            ("DSA-5678-1", "summary", |d| d["summary"] = json!("a\u{0}b")),
            ("DSA-5678-1", "details", |d| {
                d["details"] = json!("x".repeat(MAX_DETAILS_BYTES + 1))
            }),
            ("DSA-5678-1", "affected[0].package", |d| {
                d["affected"][0].as_object_mut().unwrap().remove("package");
            }),
            ("DSA-5678-1", "affected[0].package.name", |d| {
                d["affected"][0]["package"]["name"] = json!("")
            }),
            ("DSA-5678-1", "affected[0].package.name", |d| {
                d["affected"][0]["package"]["name"] = json!(null)
            }),
            ("DSA-5678-1", "affected[0].package.ecosystem", |d| {
                d["affected"][0]["package"]
                    .as_object_mut()
                    .unwrap()
                    .remove("ecosystem");
            }),
            ("DSA-5678-1", "affected[1].package.name", |d| {
                let mut second = d["affected"][0].clone();
                second["package"]["name"] = json!("  ");
                d["affected"].as_array_mut().unwrap().push(second);
            }),
            ("DSA-5678-1", "affected[0].ranges[0].type", |d| {
                d["affected"][0]["ranges"][0]["type"] = json!("RANGE")
            }),
            ("DSA-5678-1", "affected[0].ranges[0].type", |d| {
                d["affected"][0]["ranges"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("type");
            }),
            ("DSA-5678-1", "affected[0].ranges[0].events[1]", |d| {
                d["affected"][0]["ranges"][0]["events"][1] =
                    json!({"introduced": "1.0", "fixed": "3.0.15-1~deb12u1"})
            }),
            ("DSA-5678-1", "affected[0].ranges[0].events[1]", |d| {
                d["affected"][0]["ranges"][0]["events"][1] = json!({})
            }),
            ("DSA-5678-1", "affected[0].ranges[0].events[1]", |d| {
                d["affected"][0]["ranges"][0]["events"][1] = json!({"fixd": "1.0"})
            }),
            ("DSA-5678-1", "affected[0].ranges[0].events[1].fixed", |d| {
                d["affected"][0]["ranges"][0]["events"][1] = json!({"fixed": 3})
            }),
            ("DSA-5678-1", "affected[0].ranges[0].events[1].fixed", |d| {
                d["affected"][0]["ranges"][0]["events"][1] = json!({"fixed": ""})
            }),
            ("DSA-5678-1", "affected[0].ranges[0].events", |d| {
                d["affected"][0]["ranges"][0]["events"] = json!([{"fixed": "1.0"}])
            }),
            ("DSA-5678-1", "affected[0].ranges[0].events", |d| {
                d["affected"][0]["ranges"][0]["events"] = json!([])
            }),
            ("DSA-5678-1", "affected[0].versions[2]", |d| {
                d["affected"][0]["versions"][2] = json!("")
            }),
            ("DSA-5678-1", "severity[0].score", |d| {
                d["severity"] = json!([{"type": "CVSS_V3",
                    "score": "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}])
            }),
            (
                "DSA-5678-1",
                "severity[0].score",
                |d| d["severity"] = json!([{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L"}]),
            ),
            ("DSA-5678-1", "severity[0].score", |d| {
                d["severity"] = json!([{"type": "CVSS_V3", "score": "high"}])
            }),
            ("DSA-5678-1", "severity[1].score", |d| {
                d["severity"] = json!([{"type": "Ubuntu", "score": "high"}, {"type": "CVSS_V3",
                    "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}])
            }),
            ("DSA-5678-1", "severity[0].type", |d| {
                d["severity"] = json!([{"type": "", "score": "high"}])
            }),
            ("DSA-5678-1", "affected[0].severity[0].score", |d| {
                d["affected"][0]["severity"] =
                    json!([{"type": "CVSS_V4", "score": "CVSS:4.0/AV:N"}])
            }),
            ("DSA-5678-1", "references[0].url", |d| {
                d["references"][0]["url"] = json!("")
            }),
            ("DSA-5678-1", "", |d| d["affected"] = json!("openssl")),
            ("?", "", |d| d["id"] = json!(5678)),
        ];
        for (entry, field, change) in cases {
            let err = parse_osv(&dsa_with(change)).expect_err(field);
            assert_eq!(
                (err.entry.as_str(), err.field.as_str()),
                (*entry, *field),
                "{err}"
            );
        }
    }

    #[test]
    fn error_messages_read_well() {
        let err = parse_osv(&dsa_with(|d| {
            d["affected"][0]["package"]["name"] = json!("")
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "DSA-5678-1: affected[0].package.name: must not be empty"
        );
        let err = parse_osv(&dsa_with(|d| {
            d["affected"][0]["ranges"][0]["events"][1] = json!({"introduced": "0", "fixed": "1"})
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "DSA-5678-1: affected[0].ranges[0].events[1]: must have exactly one of \
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
        let bad = dsa_with(|d| d["modified"] = json!("soon"));
        let err = serde_json::from_slice::<Advisory>(&bad).unwrap_err();
        assert!(err.to_string().contains("DSA-5678-1: modified: "), "{err}");
    }

    #[test]
    fn nulls_count_as_absent() {
        let a = parse_osv(&dsa_with(|d| {
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
        for doc in [DSA, DEBIAN_CVE, USN, ALSA] {
            let a = parse_osv(doc.as_bytes()).unwrap();
            let json = serde_json::to_string(&a).unwrap();
            let back: Advisory = serde_json::from_str(&json).unwrap();
            assert_eq!(back, a);
            assert_eq!(parse_osv(json.as_bytes()).unwrap(), a);
        }
    }

    #[test]
    fn withdrawn_records_affect_nothing() {
        let a = parse_osv(&dsa_with(|d| {
            d["withdrawn"] = json!("2024-06-01T00:00:00Z")
        }))
        .unwrap();
        assert!(a.is_withdrawn());
        assert_eq!(a.withdrawn_at, Some(1_717_200_000));
        let bookworm = release_ecosystem("debian", "12");
        assert!(!a.affects_package(&bookworm, "openssl", VersionScheme::Deb, "3.0.11-1~deb12u2"));
        // The package entry itself still answers.
        assert!(a.affected[0].affects(VersionScheme::Deb, "3.0.11-1~deb12u2"));
    }

    #[test]
    fn red_hat_ecosystems_carry_a_repository() {
        let doc = r#"{
          "schema_version": "1.7.0",
          "id": "RHSA-2024:2447",
          "modified": "2024-05-23T10:21:16.954731Z",
          "published": "2024-04-30T09:41:52Z",
          "upstream": ["CVE-2023-3446", "CVE-2024-0727"],
          "summary": "Low: openssl and openssl-fips-provider security update",
          "severity": [
            {"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:L"},
            {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"}
          ],
          "affected": [
            {"package": {"ecosystem": "Red Hat:enterprise_linux:9::baseos", "name": "openssl", "purl": "pkg:rpm/redhat/openssl"},
             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-27.el9"}]}]},
            {"package": {"ecosystem": "Red Hat:rhel_eus:9.2::baseos", "name": "openssl"},
             "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1:3.0.7-18.el9_2.3"}]}]}
          ]
        }"#;
        let a = parse_osv(doc.as_bytes()).unwrap();
        let rhel9 = release_ecosystem("rhel", "9.4");
        assert_eq!(rhel9, strings(&["Red Hat:enterprise_linux:9"]));
        let rpm = VersionScheme::Rpm;
        assert!(a.affects_package(&rhel9, "openssl", rpm, "1:3.0.7-18.el9_2.3"));
        assert!(!a.affects_package(&rhel9, "openssl", rpm, "1:3.0.7-27.el9"));
        let matching: Vec<_> = a.matching(&rhel9, "openssl").collect();
        assert_eq!(matching.len(), 1, "the EUS stream is another ecosystem");
        // The highest CVSS version wins, whatever its score.
        let cvss = a.cvss().unwrap();
        assert_eq!((cvss.version, cvss.score), (CvssVersion::V4_0, 9.3));
        assert_eq!(cvss.level(), SeverityLevel::Critical);
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
        let a = parse_osv(&dsa_with(|d| {
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

    const KEV: &str = r#"{
    "title": "CISA Catalog of Known Exploited Vulnerabilities",
    "catalogVersion": "2024.07.02",
    "dateReleased": "2024-07-02T17:01:21.4567Z",
    "count": 3,
    "vulnerabilities": [
        {
            "cveID": "CVE-2021-44228",
            "vendorProject": "Apache",
            "product": "Log4j2",
            "vulnerabilityName": "Apache Log4j2 Remote Code Execution Vulnerability",
            "dateAdded": "2021-12-10",
            "shortDescription": "Apache Log4j2 contains a vulnerability where JNDI features do not protect against attacker-controlled JNDI-related endpoints, allowing for remote code execution.",
            "requiredAction": "For all affected software assets for which updates exist, the only acceptable remediation actions are: 1) Apply updates; OR 2) remove affected assets from agency networks.",
            "dueDate": "2021-12-24",
            "knownRansomwareCampaignUse": "Known",
            "notes": "https://logging.apache.org/log4j/2.x/security.html; https://nvd.nist.gov/vuln/detail/CVE-2021-44228",
            "cwes": ["CWE-20", "CWE-400", "CWE-502"]
        },
        {
            "cveID": "CVE-2023-4911",
            "vendorProject": "GNU",
            "product": "GNU C Library",
            "vulnerabilityName": "GNU C Library Buffer Overflow Vulnerability",
            "dateAdded": "2023-11-21",
            "shortDescription": "GNU C Library's dynamic loader ld.so contains a buffer overflow vulnerability when processing the GLIBC_TUNABLES environment variable, allowing a local attacker to execute code with elevated privileges.",
            "requiredAction": "Apply mitigations per vendor instructions or discontinue use of the product if mitigations are unavailable.",
            "dueDate": "2023-12-12",
            "knownRansomwareCampaignUse": "Unknown",
            "notes": "https://sourceware.org/git/?p=glibc.git;a=commit;h=1056e5b4c3f2d90ed2b4a55f96add28da2f4c8fa; https://nvd.nist.gov/vuln/detail/CVE-2023-4911",
            "cwes": ["CWE-122"]
        },
        {
            "cveID": "CVE-2024-1086",
            "vendorProject": "Linux",
            "product": "Kernel",
            "vulnerabilityName": "Linux Kernel Use-After-Free Vulnerability",
            "dateAdded": "2024-05-30",
            "shortDescription": "Linux kernel contains a use-after-free vulnerability in the netfilter: nf_tables component that allows an attacker to achieve local privilege escalation.",
            "requiredAction": "Apply mitigations per vendor instructions or discontinue use of the product if mitigations are unavailable.",
            "dueDate": "2024-06-20",
            "knownRansomwareCampaignUse": "Unknown",
            "notes": "https://nvd.nist.gov/vuln/detail/CVE-2024-1086",
            "cwes": ["CWE-416"]
        }
    ]
}"#;

    #[test]
    fn parses_the_kev_catalog() {
        let kev = parse_kev(KEV.as_bytes()).unwrap();
        assert_eq!(kev.catalog_version, "2024.07.02");
        assert_eq!(kev.date_released_at, Some(1_719_939_681));
        assert_eq!(kev.count, Some(3));
        assert_eq!(kev.vulnerabilities.len(), 3);
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
        let mut doc: Value = serde_json::from_str(KEV).unwrap();
        change(&mut doc);
        serde_json::to_vec(&doc).unwrap()
    }

    #[test]
    fn kev_errors_name_the_entry_and_field() {
        type Change = fn(&mut Value);
        let cases: &[(&str, &str, Change)] = &[
            ("KEV", "vulnerabilities[1].cveID", |d| {
                d["vulnerabilities"][1]["cveID"] = json!("CVE-2023-491")
            }),
            ("KEV", "vulnerabilities[2].cveID", |d| {
                d["vulnerabilities"][2]["cveID"] = json!("cve-2024-1086")
            }),
            ("KEV", "vulnerabilities[0].cveID", |d| {
                d["vulnerabilities"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("cveID");
            }),
            ("CVE-2023-4911", "vulnerabilities[1].dateAdded", |d| {
                d["vulnerabilities"][1]["dateAdded"] = json!("2023-02-30")
            }),
            ("CVE-2023-4911", "vulnerabilities[1].dateAdded", |d| {
                d["vulnerabilities"][1]["dateAdded"] = json!("11/21/2023")
            }),
            ("CVE-2023-4911", "vulnerabilities[1].dateAdded", |d| {
                d["vulnerabilities"][1]
                    .as_object_mut()
                    .unwrap()
                    .remove("dateAdded");
            }),
            ("CVE-2024-1086", "vulnerabilities[2].dueDate", |d| {
                d["vulnerabilities"][2]["dueDate"] = json!("soon")
            }),
            ("CVE-2024-1086", "vulnerabilities[2].notes", |d| {
                d["vulnerabilities"][2]["notes"] = json!("a\u{7}b")
            }),
            ("KEV", "count", |d| d["count"] = json!(4)),
            ("KEV", "dateReleased", |d| {
                d["dateReleased"] = json!("2024-07-02")
            }),
            ("KEV", "vulnerabilities", |d| {
                d.as_object_mut().unwrap().remove("vulnerabilities");
            }),
            ("KEV", "", |d| d["count"] = json!("three")),
        ];
        for (entry, field, change) in cases {
            let err = parse_kev(&kev_with(change)).expect_err(field);
            assert_eq!(
                (err.entry.as_str(), err.field.as_str()),
                (*entry, *field),
                "{err}"
            );
        }
        let err = parse_kev(&kev_with(|d| {
            d["vulnerabilities"][1]["cveID"] = json!("CVE-2023-491")
        }))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "KEV: vulnerabilities[1].cveID: \"CVE-2023-491\" is not a CVE id (CVE-YYYY-NNNN)"
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
