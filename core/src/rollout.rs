//! The rollout workflow: a patch's path from first detection to approval
//! or decline, and the policies that drive it.
//!
//! ```text
//! new ──▶ testing ──▶ observing ──▶ approved
//!  │         │            │
//!  │         ▼            └────────▶ declined
//!  │     test failed ──▶ testing (retried) / declined
//!  └──────────────────▶ approved / declined (an admin decides at once)
//! ```
//!
//! Every change is a [`Transition`] checked here, so the portal, its UI and
//! the scheduler agree on what may happen next.

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Where a rollout stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    /// Detected; not yet tested.
    New,
    /// Install jobs run on the test group's servers that miss it.
    Testing,
    /// A test install failed: stopped until an admin retries or declines.
    TestFailed,
    /// Installed on the test group; waiting out the observation period.
    Observing,
    /// Approved: published and/or deployed by the policy's actions.
    Approved,
    /// Declined: neither published nor deployed; owners no longer see it.
    Declined,
}

impl RolloutState {
    /// Every state, in workflow order.
    pub const ALL: [RolloutState; 6] = [
        Self::New,
        Self::Testing,
        Self::TestFailed,
        Self::Observing,
        Self::Approved,
        Self::Declined,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Testing => "testing",
            Self::TestFailed => "test_failed",
            Self::Observing => "observing",
            Self::Approved => "approved",
            Self::Declined => "declined",
        }
    }

    /// The name people read.
    pub fn label(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Testing => "testing",
            Self::TestFailed => "test failed",
            Self::Observing => "observing",
            Self::Approved => "approved",
            Self::Declined => "declined",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether nothing can follow.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Approved | Self::Declined)
    }
}

/// What moves a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Install on the test group (the policy, or an admin retrying).
    StartTest,
    /// Every test install succeeded: observe.
    TestPassed,
    /// A test install failed.
    TestFailed,
    /// Nothing to test on (no test-group server misses the patch): observe
    /// without a test install.
    SkipTest,
    /// Approve (the policy after observation, or an admin at any time
    /// before).
    Approve,
    /// Decline (an admin, with a reason).
    Decline,
}

/// A transition the workflow does not allow from the current state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("a rollout that is {} cannot {}", from.label(), what(*transition))]
pub struct NotAllowed {
    /// The state it was in.
    pub from: RolloutState,
    /// What was asked.
    pub transition: Transition,
}

fn what(t: Transition) -> &'static str {
    match t {
        Transition::StartTest => "start testing",
        Transition::TestPassed => "pass its test",
        Transition::TestFailed => "fail its test",
        Transition::SkipTest => "skip its test",
        Transition::Approve => "be approved",
        Transition::Decline => "be declined",
    }
}

/// The state `transition` leads to from `from`, or why it may not happen.
pub fn next(from: RolloutState, transition: Transition) -> Result<RolloutState, NotAllowed> {
    use RolloutState as S;
    use Transition as T;
    let to = match (from, transition) {
        (S::New | S::TestFailed, T::StartTest) => S::Testing,
        (S::Testing, T::TestPassed) => S::Observing,
        (S::Testing, T::TestFailed) => S::TestFailed,
        (S::New, T::SkipTest) => S::Observing,
        (S::New | S::Testing | S::TestFailed | S::Observing, T::Approve) => S::Approved,
        (S::New | S::Testing | S::TestFailed | S::Observing, T::Decline) => S::Declined,
        _ => return Err(NotAllowed { from, transition }),
    };
    Ok(to)
}

/// What an admin decides on a rollout, one at a time or several at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Approve now: the policy's actions follow.
    Approve,
    /// Decline, with a reason: nothing is published or deployed any more.
    Decline,
    /// Install on the test group (again): a new rollout, or one whose test
    /// failed.
    Retest,
}

impl Decision {
    /// Every decision, as the pages offer them.
    pub const ALL: [Decision; 3] = [Self::Approve, Self::Decline, Self::Retest];

    /// The name forms and links use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Decline => "decline",
            Self::Retest => "retest",
        }
    }

    /// Parses a form's name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    /// The transition it asks of the workflow.
    pub fn transition(self) -> Transition {
        match self {
            Self::Approve => Transition::Approve,
            Self::Decline => Transition::Decline,
            Self::Retest => Transition::StartTest,
        }
    }

    /// Why a rollout in state `from` cannot take this decision, if it
    /// cannot.
    pub fn refusal(self, from: RolloutState) -> Option<NotAllowed> {
        next(from, self.transition()).err()
    }
}

/// How one test-group server's install went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestInstall {
    /// Queued or running.
    Pending,
    /// Installed.
    Succeeded,
    /// Failed, expired or cancelled: it did not install.
    Failed,
}

/// The installation success check: waits for every test server's result;
/// any failure fails the test.
pub fn test_verdict(installs: &[TestInstall]) -> Option<Transition> {
    if installs.contains(&TestInstall::Failed) {
        Some(Transition::TestFailed)
    } else if installs.iter().all(|i| *i == TestInstall::Succeeded) {
        Some(Transition::TestPassed)
    } else {
        None
    }
}

/// Observation periods policies may choose, in days.
pub const OBSERVATION_DAYS: std::ops::RangeInclusive<u32> = 7..=30;

/// What a policy covers and what it does. Admins edit it in the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Lowest severity covered: "" (any), "low", "medium", "high",
    /// "critical". Patches without a known severity count as "" only.
    pub min_severity: String,
    /// Only security patches.
    pub security_only: bool,
    /// Package name patterns (`*` and `?`), one per line; empty covers
    /// every package.
    pub include: Vec<String>,
    /// Package name patterns never covered.
    pub exclude: Vec<String>,
    /// OS releases covered (`debian:12`); empty covers all.
    pub releases: Vec<String>,
    /// New patches go to the test group automatically.
    pub auto_test: bool,
    /// Days to observe after a successful test install.
    pub observation_days: u32,
    /// After observation the policy approves by itself (else an admin must).
    pub auto_approve: bool,
    /// Approval publishes to the self-service portal for critical servers.
    pub publish_critical: bool,
    /// Approval deploys to standard servers (next window, no forced
    /// reboot) and asks their owners to schedule the reboot.
    pub deploy_standard: bool,
}

impl Default for Policy {
    /// The partial automation the product is built around: security
    /// patches of any severity, tested, observed for 7 days, approved
    /// automatically, published for critical servers and deployed to
    /// standard ones.
    fn default() -> Self {
        Self {
            min_severity: String::new(),
            security_only: true,
            include: Vec::new(),
            exclude: Vec::new(),
            releases: Vec::new(),
            auto_test: true,
            observation_days: 7,
            auto_approve: true,
            publish_critical: true,
            deploy_standard: true,
        }
    }
}

/// Why a policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyError {
    /// Observation outside 7 to 30 days.
    #[error("observation period: {0} days is outside 7 to 30")]
    Observation(u32),
    /// Unknown severity.
    #[error("minimum severity: {0:?} is not one of low, medium, high, critical")]
    Severity(String),
    /// A pattern that cannot be a package name pattern.
    #[error("package pattern {0:?}: use letters, digits, . + - _ and the wildcards * and ?")]
    Pattern(String),
    /// A release not written as `os:version`.
    #[error("release {0:?}: write it as os:version, for example debian:12")]
    Release(String),
}

/// Facts about a patch that a policy looks at.
#[derive(Debug, Clone, Copy)]
pub struct PatchFacts<'a> {
    /// Binary package name.
    pub package: &'a str,
    /// `os:version`.
    pub release: &'a str,
    /// 0 unknown, 1 negligible, 2 low … 5 critical.
    pub severity_rank: i64,
    /// From a security origin or fixing an advisory.
    pub security: bool,
}

/// The rank of a severity name ("" and unknown names rank 0).
pub fn severity_rank(name: &str) -> i64 {
    match name {
        "critical" => 5,
        "high" => 4,
        "medium" => 3,
        "low" => 2,
        "negligible" | "none" => 1,
        _ => 0,
    }
}

impl Policy {
    /// Checks and tidies a policy from a form: trims patterns and releases
    /// and drops empty lines.
    pub fn validated(mut self) -> Result<Self, PolicyError> {
        if !OBSERVATION_DAYS.contains(&self.observation_days) {
            return Err(PolicyError::Observation(self.observation_days));
        }
        if !self.min_severity.is_empty() && severity_rank(&self.min_severity) < 2 {
            return Err(PolicyError::Severity(self.min_severity));
        }
        let tidy = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect()
        };
        self.include = tidy(self.include);
        self.exclude = tidy(self.exclude);
        self.releases = tidy(self.releases);
        for p in self.include.iter().chain(&self.exclude) {
            let ok = p.len() <= 128
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".+-_*?".contains(c));
            if !ok {
                return Err(PolicyError::Pattern(p.clone()));
            }
        }
        for r in &self.releases {
            let ok = r.split_once(':').is_some_and(|(os, v)| {
                !os.is_empty()
                    && !v.is_empty()
                    && r.len() <= 64
                    && r.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".:-_".contains(c))
            });
            if !ok {
                return Err(PolicyError::Release(r.clone()));
            }
        }
        Ok(self)
    }

    /// Whether the policy covers a patch.
    pub fn covers(&self, p: &PatchFacts<'_>) -> bool {
        let matches = |pattern: &String| wildmatch::WildMatch::new(pattern).matches(p.package);
        (!self.security_only || p.security)
            && p.severity_rank >= severity_rank(&self.min_severity)
            && (self.include.is_empty() || self.include.iter().any(matches))
            && !self.exclude.iter().any(matches)
            && (self.releases.is_empty() || self.releases.iter().any(|r| r == p.release))
    }

    /// Seconds of observation.
    pub fn observation_seconds(&self) -> i64 {
        i64::from(self.observation_days) * 86_400
    }
}

/// A server that misses a patch being approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing {
    /// Server id.
    pub server_id: i64,
    /// Critical (else standard).
    pub critical: bool,
    /// Whether it has a maintenance window.
    pub has_window: bool,
}

/// Where an approval sends the patch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalPlan {
    /// Servers it is published for (their owners install it).
    pub publish: Vec<i64>,
    /// Servers it is deployed to in their next maintenance window, without
    /// a forced reboot.
    pub in_windows: Vec<i64>,
}

/// Carries out a policy's approval over the servers that miss the patch:
/// published for the critical ones (if the policy says so), deployed to
/// the standard ones in their next window (if it says so), and published
/// for a standard server without a window, which cannot be patched in one.
pub fn plan_approval(policy: &Policy, missing: &[Missing]) -> ApprovalPlan {
    let mut plan = ApprovalPlan::default();
    for m in missing {
        if m.critical {
            if policy.publish_critical {
                plan.publish.push(m.server_id);
            }
        } else if policy.deploy_standard {
            if m.has_window {
                plan.in_windows.push(m.server_id);
            } else {
                plan.publish.push(m.server_id);
            }
        }
    }
    plan
}

/// What the policy writes in a rollout's history, or on the deployments
/// its approval makes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PolicyNote {
    /// A new patch came under a policy.
    #[error("covered by policy {0}")]
    CoveredBy(String),
    /// Test installs failed (each "host: state why").
    #[error("test install failed on {}", .0.join("; "))]
    TestFailed(Vec<String>),
    /// Every test install succeeded.
    #[error("installed on every test server; observing for {days} days")]
    Observing {
        /// The observation, in days.
        days: i64,
    },
    /// The observation ended and the policy approves.
    #[error("observation ended without a decline")]
    ObservationEnded,
    /// The approval published the patch.
    #[error("approved by the rollout")]
    Published,
    /// The approval deploys the patch in maintenance windows.
    #[error("approved by the rollout: installed in each server's next maintenance window")]
    InWindows,
    /// An admin rolled a deployment of the patch back on these servers.
    #[error("deployment #{deployment} rolled back on {}", .hosts.join(", "))]
    RolledBack {
        /// The deployment.
        deployment: i64,
        /// Where rollback jobs were queued.
        hosts: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use RolloutState as S;
    use Transition as T;

    #[test]
    fn the_partial_automation_path_is_allowed() {
        let mut s = S::New;
        for t in [T::StartTest, T::TestPassed, T::Approve] {
            s = next(s, t).unwrap();
        }
        assert_eq!(s, S::Approved);
    }

    #[test]
    fn final_states_take_nothing() {
        for from in [S::Approved, S::Declined] {
            for t in [
                T::StartTest,
                T::TestPassed,
                T::TestFailed,
                T::SkipTest,
                T::Approve,
                T::Decline,
            ] {
                let err = next(from, t).unwrap_err();
                assert_eq!(err.from, from);
            }
        }
        assert_eq!(
            next(S::Declined, T::Approve).unwrap_err().to_string(),
            "a rollout that is declined cannot be approved"
        );
    }

    #[test]
    fn a_failed_test_stops_until_retried_or_declined() {
        let failed = next(S::Testing, T::TestFailed).unwrap();
        assert_eq!(failed, S::TestFailed);
        assert!(next(failed, T::TestPassed).is_err());
        assert_eq!(next(failed, T::StartTest).unwrap(), S::Testing);
        assert_eq!(next(failed, T::Decline).unwrap(), S::Declined);
        assert!(next(S::Observing, T::StartTest).is_err());
    }

    #[test]
    fn the_test_waits_for_every_server_and_any_failure_fails_it() {
        use TestInstall::*;
        assert_eq!(test_verdict(&[Succeeded, Pending]), None);
        assert_eq!(test_verdict(&[Succeeded, Succeeded]), Some(T::TestPassed));
        assert_eq!(test_verdict(&[Pending, Failed]), Some(T::TestFailed));
        assert_eq!(test_verdict(&[]), Some(T::TestPassed));
    }

    #[test]
    fn decisions_follow_the_transitions_and_say_why_not() {
        use Decision as D;
        for d in D::ALL {
            assert_eq!(D::parse(d.as_str()), Some(d));
        }
        assert_eq!(D::parse("wipe"), None);
        assert_eq!(D::Approve.refusal(S::Observing), None);
        assert_eq!(D::Retest.refusal(S::TestFailed), None);
        assert_eq!(
            D::Approve.refusal(S::Declined).unwrap().to_string(),
            "a rollout that is declined cannot be approved"
        );
        assert_eq!(
            D::Retest.refusal(S::Observing).unwrap().to_string(),
            "a rollout that is observing cannot start testing"
        );
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for s in S::ALL {
            assert_eq!(RolloutState::parse(s.as_str()), Some(s));
        }
        assert_eq!(RolloutState::parse("bogus"), None);
    }

    fn facts(package: &str, severity_rank: i64, security: bool) -> PatchFacts<'_> {
        PatchFacts {
            package,
            release: "debian:12",
            severity_rank,
            security,
        }
    }

    #[test]
    fn coverage_follows_severity_security_patterns_and_release() {
        let p = Policy {
            min_severity: "high".into(),
            include: vec!["openssl*".into(), "lib?sl".into()],
            exclude: vec!["openssl-doc".into()],
            releases: vec!["debian:12".into()],
            ..Policy::default()
        }
        .validated()
        .unwrap();
        assert!(p.covers(&facts("openssl", 5, true)));
        assert!(p.covers(&facts("libssl", 4, true)));
        assert!(!p.covers(&facts("openssl", 3, true)), "below the minimum");
        assert!(!p.covers(&facts("openssl", 5, false)), "not security");
        assert!(!p.covers(&facts("openssl-doc", 5, true)), "excluded");
        assert!(!p.covers(&facts("curl", 5, true)), "not included");
        let other = PatchFacts {
            release: "ubuntu:24.04",
            ..facts("openssl", 5, true)
        };
        assert!(!p.covers(&other), "other release");
        let any = Policy {
            security_only: false,
            ..Policy::default()
        };
        assert!(any.covers(&facts("curl", 0, false)));
    }

    #[test]
    fn bad_policies_are_refused_with_the_reason() {
        let with = |f: fn(&mut Policy)| {
            let mut p = Policy::default();
            f(&mut p);
            p.validated().unwrap_err().to_string()
        };
        assert!(with(|p| p.observation_days = 6).contains("outside 7 to 30"));
        assert!(with(|p| p.observation_days = 31).contains("outside 7 to 30"));
        assert!(with(|p| p.min_severity = "severe".into()).contains("minimum severity"));
        assert!(with(|p| p.include = vec!["open ssl".into()]).contains("package pattern"));
        assert!(with(|p| p.releases = vec!["debian".into()]).contains("os:version"));
        let tidy = Policy {
            include: vec![" openssl ".into(), "".into()],
            ..Policy::default()
        }
        .validated()
        .unwrap();
        assert_eq!(tidy.include, vec!["openssl".to_owned()]);
    }

    #[test]
    fn an_approval_publishes_for_critical_and_deploys_to_standard_servers_in_windows() {
        let m = |server_id, critical, has_window| Missing {
            server_id,
            critical,
            has_window,
        };
        let missing = [
            m(1, true, true),
            m(2, false, true),
            m(3, false, false),
            m(4, true, false),
        ];
        let both = Policy {
            publish_critical: true,
            deploy_standard: true,
            ..Policy::default()
        };
        assert_eq!(
            plan_approval(&both, &missing),
            ApprovalPlan {
                publish: vec![1, 3, 4],
                in_windows: vec![2],
            }
        );
        let neither = Policy {
            publish_critical: false,
            deploy_standard: false,
            ..Policy::default()
        };
        assert_eq!(plan_approval(&neither, &missing), ApprovalPlan::default());
        let critical_only = Policy {
            publish_critical: true,
            deploy_standard: false,
            ..Policy::default()
        };
        assert_eq!(plan_approval(&critical_only, &missing).publish, vec![1, 4]);
    }
}
