//! The OSV record as the portal keeps it, checked: an [`Advisory`], its
//! affected packages with their ranges, events and listed versions, its
//! references, and what kind of erratum it is. Reading and checking a
//! record is in `parse`, evaluating its ranges in `ranges`.

use super::parse::RawAdvisory;
use super::scores::Severity;
use crate::clock::Timestamp;
use serde::{Deserialize, Serialize};

/// An OSV record, checked. Deserialising one (with serde, from the OSV JSON)
/// runs the same checks as [`parse_osv`]; serialising writes OSV JSON again.
///
/// [`parse_osv`]: super::parse_osv
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

impl Advisory {
    /// Whether the record was withdrawn.
    pub fn is_withdrawn(&self) -> bool {
        self.withdrawn.is_some()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::advisory::fixtures::*;
    use crate::advisory::parse_osv;

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
}
