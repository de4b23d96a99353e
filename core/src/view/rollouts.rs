//! What a decision on a rollout did: `db` reports it (right after the
//! decision, or later from what is stored), the rollout pages show it, one
//! rollout at a time or for each of a bulk decision.

use crate::Timestamp;
use crate::rollout::RolloutState;
use serde::{Deserialize, Serialize};

/// A server an approval sent the patch to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentTo {
    /// Server id.
    pub server_id: i64,
    /// Host name.
    pub hostname: String,
    /// When its install may start (deployed: its maintenance window's next
    /// opening); `None` when published (its owner installs it).
    pub from: Option<Timestamp>,
}

/// One deployment an approval made, with its servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDeployment {
    /// The deployment (its page shows each server's progress).
    pub deployment_id: i64,
    /// Its servers, by host name.
    pub servers: Vec<SentTo>,
}

/// What an approval did, as its policy says (see
/// `patchport_core::rollout::plan_approval`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDone {
    /// Published to the self-service portal (critical servers, and
    /// standard ones without a maintenance window): their owners install it.
    pub published: Option<ApprovalDeployment>,
    /// Deployed to standard servers in their next maintenance window,
    /// without a forced reboot.
    pub deployed: Option<ApprovalDeployment>,
    /// Servers that miss the patch and were sent nothing: the policy
    /// leaves them to an admin (host names).
    pub left: Vec<String>,
}

/// What a decision did to one rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Approved, and what the approval published and deployed where.
    Approved(ApprovalDone),
    /// Declined: publications withdrawn, queued installs of it cancelled.
    Declined,
    /// Sent to the test group again: the state it is in now (testing, or
    /// observing when no test-group server misses the patch).
    Retested(RolloutState),
    /// Not decided, and why; nothing of it was written.
    Refused(String),
}

impl Outcome {
    /// A short name for the outcome (`approved`, `declined`, `retested`,
    /// `refused`), for pages and tests to tell them apart.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Approved(_) => "approved",
            Outcome::Declined => "declined",
            Outcome::Retested(_) => "retested",
            Outcome::Refused(_) => "refused",
        }
    }
}

/// A rollout with what a decision did to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    /// The rollout.
    pub rollout_id: i64,
    /// Its patch's package (empty when the rollout does not exist).
    pub package: String,
    /// Its patch's version.
    pub version: String,
    /// What happened.
    pub outcome: Outcome,
}
