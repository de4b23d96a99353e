//! The Patches Missing report's rows: `db` computes them (severity names
//! from ranks, CVSS from tenths, the rollout from a second query), the
//! report page and the CSV export show them.

use crate::Timestamp;
use serde::{Deserialize, Serialize};

/// A row of the report by patch: a patch and where it is missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatchReportRow {
    /// Patch id.
    pub patch_id: i64,
    /// Release.
    pub release: String,
    /// Package.
    pub package: String,
    /// Target version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// From a security origin.
    pub security: bool,
    /// Servers it is open on (within the filter).
    pub servers: i64,
    /// Oldest detection among them.
    pub oldest: Timestamp,
    /// Highest severity of what it fixes on the counted servers (critical
    /// … negligible, or empty).
    pub severity: String,
    /// Highest CVSS score.
    pub cvss: Option<f64>,
    /// Fixes a known-exploited CVE.
    pub known_exploited: bool,
    /// Advisories it fixes on the counted server where it fixes the most
    /// (what an update fixes depends on the installed version).
    pub advisories: i64,
    /// Its rollout's state ("" when no rollout took it).
    pub rollout: String,
    /// Its rollout.
    pub rollout_id: Option<i64>,
}

/// A row of the report by server: a server and what it misses within the
/// filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerReportRow {
    /// Server id.
    pub server_id: i64,
    /// Host name.
    pub hostname: String,
    /// Release, e.g. `debian:12`.
    pub release: String,
    /// critical or standard.
    pub criticality: String,
    /// Owner's user name, or empty.
    pub owner: String,
    /// Patches missing (within the filter).
    pub missing: i64,
    /// Of those, security patches.
    pub security: i64,
    /// Of those, fixing a known-exploited CVE.
    pub known_exploited: i64,
    /// Worst severity among them.
    pub worst: String,
    /// Oldest detection among them.
    pub oldest: Timestamp,
}
