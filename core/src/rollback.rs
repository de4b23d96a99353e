//! Undoing a deployment on its servers. When an install job starts,
//! storage keeps the versions the server had of the job's packages (its
//! last report); [`plan`] turns a deployment's succeeded installs back into
//! rollback jobs to exactly those versions, and says for each server it
//! leaves alone why. The agent then downgrades (or refuses, changing
//! nothing, when an old version is no longer available), and the server's
//! next report shows the patches missing again.

use crate::Timestamp;
use crate::protocol::{JobSpec, PackageTarget};
use crate::state::JobState;
use std::collections::BTreeMap;
use std::fmt;

/// How long a rollback may wait for its agent before it expires.
pub const ROLLBACK_WINDOW: i64 = 86_400;

/// One server of the deployment, as storage read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Server id.
    pub server_id: i64,
    /// Its host name.
    pub host: String,
    /// The deployment's install job on it, if one was queued (a
    /// publication has none) and is still recorded.
    pub install: Option<Installed>,
    /// The newest rollback of that install job, if any: its state.
    pub rollback: Option<JobState>,
}

/// An install job and what it changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    /// The job.
    pub job_id: i64,
    /// Its state.
    pub state: JobState,
    /// The versions it installed.
    pub packages: Vec<PackageTarget>,
    /// The versions the server had when it started (`None`: not recorded,
    /// as for jobs started before rollbacks existed).
    pub before: Option<Vec<PackageTarget>>,
}

/// Why a server is not rolled back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The deployment queued no install there (a publication, or the job
    /// is gone).
    NoInstall {
        /// Host.
        host: String,
    },
    /// The install has not succeeded, so there is nothing to undo.
    NotInstalled {
        /// Host.
        host: String,
        /// The install's state.
        state: JobState,
    },
    /// The versions before the install were not recorded, or none differs.
    NothingRecorded {
        /// Host.
        host: String,
    },
    /// A rollback of this install is queued or running.
    UnderWay {
        /// Host.
        host: String,
    },
    /// This install was rolled back already.
    Done {
        /// Host.
        host: String,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoInstall { host } => {
                write!(f, "{host}: nothing was installed there by this deployment")
            }
            Refusal::NotInstalled { host, state } => write!(
                f,
                "{host}: the install {}, so there is nothing to roll back",
                match state {
                    JobState::Queued => "has not started",
                    JobState::Running | JobState::Rebooting => "is still running",
                    JobState::Failed => "failed",
                    JobState::Expired => "expired",
                    JobState::Cancelled => "was cancelled",
                    JobState::Succeeded => "succeeded",
                }
            ),
            Refusal::NothingRecorded { host } => write!(
                f,
                "{host}: the versions before the install were not recorded"
            ),
            Refusal::UnderWay { host } => write!(f, "{host}: a rollback is already under way"),
            Refusal::Done { host } => write!(f, "{host}: already rolled back"),
        }
    }
}

/// A rollback job to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// On this server.
    pub server_id: i64,
    /// Undoing this install job.
    pub install_job: i64,
    /// The versions to return to ([`JobSpec::Rollback`]).
    pub spec: JobSpec,
    /// Not before.
    pub not_before: Timestamp,
    /// Expires then.
    pub not_after: Timestamp,
}

/// What a rollback request does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Jobs to queue, in the order of the candidates.
    pub jobs: Vec<Job>,
    /// Servers left alone, and why.
    pub refused: Vec<Refusal>,
}

/// The versions to return to: for each package the install named, the
/// version recorded before it, where that differs.
pub fn versions_before(
    installed: &[PackageTarget],
    before: &[PackageTarget],
) -> Vec<PackageTarget> {
    let before: BTreeMap<(&str, &str), &PackageTarget> = before
        .iter()
        .map(|p| ((p.name.as_str(), p.arch.as_str()), p))
        .collect();
    installed
        .iter()
        .filter_map(|p| {
            before
                .get(&(p.name.as_str(), p.arch.as_str()))
                .filter(|b| b.version != p.version)
                .map(|b| (*b).clone())
        })
        .collect()
}

/// Plans rolling back `candidates` (one per server) at `now`.
pub fn plan(candidates: &[Candidate], now: Timestamp) -> Plan {
    let mut out = Plan::default();
    for c in candidates {
        let host = c.host.clone();
        let Some(install) = &c.install else {
            out.refused.push(Refusal::NoInstall { host });
            continue;
        };
        if install.state != JobState::Succeeded {
            out.refused.push(Refusal::NotInstalled {
                host,
                state: install.state,
            });
            continue;
        }
        match c.rollback {
            Some(JobState::Queued | JobState::Running | JobState::Rebooting) => {
                out.refused.push(Refusal::UnderWay { host });
                continue;
            }
            Some(JobState::Succeeded) => {
                out.refused.push(Refusal::Done { host });
                continue;
            }
            _ => {}
        }
        let packages = install
            .before
            .as_deref()
            .map(|before| versions_before(&install.packages, before))
            .unwrap_or_default();
        if packages.is_empty() {
            out.refused.push(Refusal::NothingRecorded { host });
            continue;
        }
        out.jobs.push(Job {
            server_id: c.server_id,
            install_job: install.job_id,
            spec: JobSpec::Rollback { packages },
            not_before: now,
            not_after: now + ROLLBACK_WINDOW,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(name: &str, version: &str) -> PackageTarget {
        PackageTarget {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
        }
    }

    fn candidate(state: JobState, rollback: Option<JobState>) -> Candidate {
        Candidate {
            server_id: 3,
            host: "web-1".into(),
            install: Some(Installed {
                job_id: 9,
                state,
                packages: vec![t("openssl", "3.0.15-1"), t("libssl3", "3.0.15-1")],
                before: Some(vec![t("openssl", "3.0.14-1"), t("libssl3", "3.0.14-1")]),
            }),
            rollback,
        }
    }

    #[test]
    fn a_succeeded_install_goes_back_to_the_versions_before_it() {
        let p = plan(&[candidate(JobState::Succeeded, None)], 1_000);
        assert!(p.refused.is_empty(), "{:?}", p.refused);
        assert_eq!(
            p.jobs,
            vec![Job {
                server_id: 3,
                install_job: 9,
                spec: JobSpec::Rollback {
                    packages: vec![t("openssl", "3.0.14-1"), t("libssl3", "3.0.14-1")]
                },
                not_before: 1_000,
                not_after: 1_000 + ROLLBACK_WINDOW,
            }]
        );
    }

    #[test]
    fn a_failed_rollback_may_be_asked_again() {
        for state in [JobState::Failed, JobState::Expired, JobState::Cancelled] {
            let p = plan(&[candidate(JobState::Succeeded, Some(state))], 0);
            assert_eq!(p.jobs.len(), 1, "{state:?}");
        }
    }

    #[test]
    fn every_refusal_names_the_host_and_why() {
        let mut unrecorded = candidate(JobState::Succeeded, None);
        unrecorded.install.as_mut().unwrap().before = None;
        let mut unchanged = candidate(JobState::Succeeded, None);
        unchanged.install.as_mut().unwrap().before =
            Some(vec![t("openssl", "3.0.15-1"), t("libssl3", "3.0.15-1")]);
        let mut published = candidate(JobState::Succeeded, None);
        published.install = None;
        let cases = [
            (
                candidate(JobState::Failed, None),
                "web-1: the install failed, so there is nothing to roll back",
            ),
            (
                candidate(JobState::Queued, None),
                "web-1: the install has not started, so there is nothing to roll back",
            ),
            (
                candidate(JobState::Succeeded, Some(JobState::Running)),
                "web-1: a rollback is already under way",
            ),
            (
                candidate(JobState::Succeeded, Some(JobState::Succeeded)),
                "web-1: already rolled back",
            ),
            (
                unrecorded,
                "web-1: the versions before the install were not recorded",
            ),
            (
                unchanged,
                "web-1: the versions before the install were not recorded",
            ),
            (
                published,
                "web-1: nothing was installed there by this deployment",
            ),
        ];
        for (c, text) in cases {
            let p = plan(std::slice::from_ref(&c), 0);
            assert!(p.jobs.is_empty(), "{c:?}");
            assert_eq!(p.refused.len(), 1);
            assert_eq!(p.refused[0].to_string(), text);
        }
    }

    #[test]
    fn only_packages_whose_version_changed_are_rolled_back() {
        let installed = vec![t("a", "2"), t("b", "2"), t("c", "2")];
        // b was already at 2; c was not installed before (not recorded).
        let before = vec![t("a", "1"), t("b", "2")];
        assert_eq!(versions_before(&installed, &before), vec![t("a", "1")]);
        // The architecture is part of the package.
        let mut other_arch = t("a", "1");
        other_arch.arch = "i386".into();
        assert!(versions_before(&installed, &[other_arch]).is_empty());
    }
}
