//! Choosing what a publication or deployment acts on: given what storage
//! read for each chosen (server, patch), [`plan`] says which server-patches
//! it targets (grouped per server: one install job each, or publications),
//! which it leaves out and why, and which owners to tell. Storage writes
//! the plan; the texts people read are here.

use crate::Timestamp;
use crate::protocol::{JobSpec, PackageTarget};
use crate::rollout::{RolloutState, Transition};
use crate::state::{DeployKind, PatchState, RebootOption};
use crate::window::Occurrence;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// How long a deployment's install job may wait before it expires.
pub const INSTALL_WINDOW: i64 = 7 * 86_400;

/// When a deployment reboots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reboot {
    /// Never (owners are asked to schedule it).
    None,
    /// Right after the install succeeded.
    AfterInstall,
    /// At this time (not before the install succeeded).
    At(Timestamp),
}

impl Reboot {
    /// As stored: the option and, for [`Reboot::At`], its time.
    pub fn stored(self) -> (RebootOption, Option<Timestamp>) {
        match self {
            Reboot::None => (RebootOption::None, None),
            Reboot::AfterInstall => (RebootOption::After, None),
            Reboot::At(t) => (RebootOption::At, Some(t)),
        }
    }
}

/// A patch as people name it: "openssl 3.0.15".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchName {
    /// Package.
    pub package: String,
    /// Version.
    pub version: String,
}

impl fmt::Display for PatchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.package, self.version)
    }
}

/// Why a publication or deployment is refused before anything is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No patch or no server was chosen.
    NothingChosen,
    /// These patches were declined.
    Declined(Vec<PatchName>),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NothingChosen => f.write_str("choose at least one patch and one server"),
            Refusal::Declined(names) => {
                f.write_str("declined, so not published or deployed: ")?;
                for (i, name) in names.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name}")?;
                }
                Ok(())
            }
        }
    }
}

/// Refuses a choice without patches or servers.
pub fn check_choice(patch_ids: &[i64], server_ids: &[i64]) -> Result<(), Refusal> {
    if patch_ids.is_empty() || server_ids.is_empty() {
        return Err(Refusal::NothingChosen);
    }
    Ok(())
}

/// Refuses when any chosen patch was declined (`declined` lists them).
pub fn check_declined(declined: Vec<PatchName>) -> Result<(), Refusal> {
    if declined.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Declined(declined))
    }
}

/// What is asked for.
#[derive(Debug, Clone, Copy)]
pub struct DeployRequest<'a> {
    /// Publish or deploy.
    pub kind: DeployKind,
    /// Install not before (deploy, unless in windows).
    pub not_before: Timestamp,
    /// Install in each server's next maintenance window instead (deploy):
    /// each server's next window, as storage read it; servers without one
    /// are left out.
    pub windows: Option<&'a HashMap<i64, Occurrence>>,
    /// Now.
    pub now: Timestamp,
}

/// One chosen (server, patch), as storage read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Server id.
    pub server_id: i64,
    /// Its host name.
    pub host: String,
    /// Its owner's account, if any.
    pub owner: Option<i64>,
    /// Patch id.
    pub patch_id: i64,
    /// The patch.
    pub package: PackageTarget,
    /// Where the patch stands on the server; `None` when the server does
    /// not offer it.
    pub state: Option<PatchState>,
}

/// Why a server-patch (or a whole server) is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Publishing what is published already.
    AlreadyPublished,
    /// Queued or installing.
    BeingInstalled,
    /// Installed.
    Installed,
    /// Superseded.
    Superseded,
    /// The server does not offer the patch.
    NotOffered,
    /// Installing in windows, and the server has none.
    NoWindow,
}

impl SkipReason {
    /// Every reason.
    pub const ALL: [SkipReason; 6] = [
        SkipReason::AlreadyPublished,
        SkipReason::BeingInstalled,
        SkipReason::Installed,
        SkipReason::Superseded,
        SkipReason::NotOffered,
        SkipReason::NoWindow,
    ];

    /// The name it is stored under.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::AlreadyPublished => "already_published",
            SkipReason::BeingInstalled => "being_installed",
            SkipReason::Installed => "installed",
            SkipReason::Superseded => "superseded",
            SkipReason::NotOffered => "not_offered",
            SkipReason::NoWindow => "no_window",
        }
    }

    /// The reason stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == name)
    }

    /// Why a server-patch in `state` is left out of a `kind`, or `None`
    /// when it is a target.
    pub fn of(kind: DeployKind, state: Option<PatchState>) -> Option<Self> {
        match state {
            Some(PatchState::Missing | PatchState::Failed) => None,
            Some(PatchState::Published) if kind == DeployKind::Deploy => None,
            Some(PatchState::Published) => Some(SkipReason::AlreadyPublished),
            Some(PatchState::Queued | PatchState::Installing) => Some(SkipReason::BeingInstalled),
            Some(PatchState::Installed) => Some(SkipReason::Installed),
            Some(PatchState::Superseded) => Some(SkipReason::Superseded),
            None => Some(SkipReason::NotOffered),
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::AlreadyPublished => "is already published",
            SkipReason::BeingInstalled => "is already being installed",
            SkipReason::Installed => "is already installed",
            SkipReason::Superseded => "was replaced by a newer version",
            SkipReason::NotOffered => "is not offered to this server",
            SkipReason::NoWindow => "has no maintenance window",
        })
    }
}

/// Something left out: a server-patch, or (with `patch` None) a whole
/// server. Displays as "web-1: openssl 3.0.15 is already installed".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The server's host name.
    pub host: String,
    /// The patch, or None for the whole server.
    pub patch: Option<PatchName>,
    /// Why.
    pub reason: SkipReason,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.patch {
            Some(patch) => write!(f, "{}: {patch} {}", self.host, self.reason),
            None => write!(f, "{}: {}", self.host, self.reason),
        }
    }
}

/// An install job to queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallJob {
    /// What it installs.
    pub spec: JobSpec,
    /// Not before.
    pub not_before: Timestamp,
    /// Expires then.
    pub not_after: Timestamp,
}

/// What is done on one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTargets {
    /// Server id.
    pub server_id: i64,
    /// The patches it acts on, in the order read.
    pub patch_ids: Vec<i64>,
    /// The install job (deploy), or None (publish: the patches are
    /// published).
    pub job: Option<InstallJob>,
}

/// An owner to tell about patches published for their servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerNotice {
    /// The owner's account.
    pub owner: i64,
    /// Each patch and server: "openssl 3.0.15 on web-1".
    pub items: Vec<String>,
}

impl OwnerNotice {
    /// What the owner is told.
    pub fn notice(&self) -> crate::notice::Notice {
        crate::notice::Notice::Published {
            items: self.items.clone(),
        }
    }
}

/// What to change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployPlan {
    /// Per server (by id), each with at least one patch.
    pub servers: Vec<ServerTargets>,
    /// What is left out: server-patches in the order read, then servers
    /// without a window.
    pub skips: Vec<Skip>,
    /// Owners to tell (publish), by account id.
    pub notices: Vec<OwnerNotice>,
}

impl DeployPlan {
    /// Server-patches acted on.
    pub fn targets(&self) -> usize {
        self.servers.iter().map(|s| s.patch_ids.len()).sum()
    }

    /// Install jobs queued.
    pub fn jobs(&self) -> usize {
        self.servers.iter().filter(|s| s.job.is_some()).count()
    }
}

/// Plans a publication or deployment of `rows` (read by server, then
/// patch): see [`DeployPlan`].
pub fn plan(request: &DeployRequest<'_>, rows: &[Candidate]) -> DeployPlan {
    let mut out = DeployPlan::default();
    let mut per_server: BTreeMap<i64, (&Candidate, Vec<&Candidate>)> = BTreeMap::new();
    let mut owners: BTreeMap<i64, Vec<String>> = BTreeMap::new();
    for row in rows {
        let patch = PatchName {
            package: row.package.name.clone(),
            version: row.package.version.clone(),
        };
        if let Some(reason) = SkipReason::of(request.kind, row.state) {
            out.skips.push(Skip {
                host: row.host.clone(),
                patch: Some(patch),
                reason,
            });
            continue;
        }
        if let Some(owner) = row.owner {
            owners
                .entry(owner)
                .or_default()
                .push(format!("{patch} on {}", row.host));
        }
        per_server
            .entry(row.server_id)
            .or_insert_with(|| (row, Vec::new()))
            .1
            .push(row);
    }
    for (server, items) in per_server.into_values() {
        let job = match request.kind {
            DeployKind::Publish => None,
            DeployKind::Deploy => match install_time(request, server.server_id) {
                Some((not_before, not_after)) => Some(InstallJob {
                    spec: JobSpec::Install {
                        packages: items.iter().map(|c| c.package.clone()).collect(),
                    },
                    not_before,
                    not_after,
                }),
                None => {
                    out.skips.push(Skip {
                        host: server.host.clone(),
                        patch: None,
                        reason: SkipReason::NoWindow,
                    });
                    continue;
                }
            },
        };
        out.servers.push(ServerTargets {
            server_id: server.server_id,
            patch_ids: items.iter().map(|c| c.patch_id).collect(),
            job,
        });
    }
    if request.kind == DeployKind::Publish {
        out.notices = owners
            .into_iter()
            .map(|(owner, items)| OwnerNotice { owner, items })
            .collect();
    }
    out
}

/// When a server's install job may run, or None (no window).
fn install_time(request: &DeployRequest<'_>, server_id: i64) -> Option<(Timestamp, Timestamp)> {
    match request.windows {
        Some(windows) => windows
            .get(&server_id)
            .map(|o| (o.start.max(request.now), o.end)),
        None => Some((request.not_before, request.not_before + INSTALL_WINDOW)),
    }
}

/// A rollout to start testing, as storage read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCandidate {
    /// Rollout id.
    pub rollout_id: i64,
    /// Its state (new, or retried after a failed test).
    pub state: Option<RolloutState>,
    /// The test-group servers that miss its patch (by id), with the
    /// patch's package.
    pub servers: Vec<(i64, PackageTarget)>,
}

/// What a rollout's event says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestNote {
    /// Test installs were queued.
    Installing,
    /// An admin retried the test.
    Retried,
    /// No test server misses the patch.
    NothingToTest,
}

impl fmt::Display for TestNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TestNote::Installing => "installing on the test group",
            TestNote::Retried => "retried",
            TestNote::NothingToTest => {
                "no server of the test group misses this patch: observing without a test install"
            }
        })
    }
}

/// One test-group server's install job, for some rollouts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestJob {
    /// Server id.
    pub server_id: i64,
    /// The rollouts it tests.
    pub rollout_ids: Vec<i64>,
    /// The job.
    pub job: InstallJob,
}

/// A rollout with nothing to test: it goes on to observing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Untested {
    /// Rollout id.
    pub rollout_id: i64,
    /// A retried test (its earlier test installs are forgotten, and the
    /// test restarts and passes); otherwise a new rollout skips the test.
    pub retried: bool,
}

impl Untested {
    /// The transitions it makes, each with its note: the last one starts
    /// the observation.
    pub fn steps(self) -> &'static [(Transition, TestNote)] {
        if self.retried {
            &[
                (Transition::StartTest, TestNote::Retried),
                (Transition::TestPassed, TestNote::NothingToTest),
            ]
        } else {
            &[(Transition::SkipTest, TestNote::NothingToTest)]
        }
    }
}

/// What starting tests changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestPlan {
    /// One install job per test-group server (by id), for all the patches
    /// it tests now.
    pub jobs: Vec<TestJob>,
    /// The rollouts that start testing (by id).
    pub testing: Vec<i64>,
    /// The rollouts with nothing to test, in the order read.
    pub untested: Vec<Untested>,
}

/// Plans test installs, starting `now`, for `rollouts`.
pub fn plan_tests(rollouts: &[TestCandidate], now: Timestamp) -> TestPlan {
    let mut per_server: BTreeMap<i64, (Vec<i64>, Vec<PackageTarget>)> = BTreeMap::new();
    let mut out = TestPlan::default();
    for r in rollouts {
        if r.servers.is_empty() {
            out.untested.push(Untested {
                rollout_id: r.rollout_id,
                retried: r.state != Some(RolloutState::New),
            });
        }
        for (server_id, target) in &r.servers {
            let (ids, packages) = per_server.entry(*server_id).or_default();
            ids.push(r.rollout_id);
            packages.push(target.clone());
        }
    }
    let mut testing: Vec<i64> = Vec::new();
    for (server_id, (rollout_ids, packages)) in per_server {
        testing.extend(&rollout_ids);
        out.jobs.push(TestJob {
            server_id,
            rollout_ids,
            job: InstallJob {
                spec: JobSpec::Install { packages },
                not_before: now,
                not_after: now + INSTALL_WINDOW,
            },
        });
    }
    testing.sort_unstable();
    testing.dedup();
    out.testing = testing;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn row(server_id: i64, patch_id: i64, state: Option<PatchState>) -> Candidate {
        Candidate {
            server_id,
            host: format!("web-{server_id}"),
            owner: Some(100 + server_id % 2),
            patch_id,
            package: PackageTarget {
                name: format!("pkg{patch_id}"),
                version: "1.0-2".into(),
                arch: "x86_64".into(),
            },
            state,
        }
    }

    fn request(kind: DeployKind) -> DeployRequest<'static> {
        DeployRequest {
            kind,
            not_before: 1_000,
            windows: None,
            now: 500,
        }
    }

    #[test]
    fn each_state_is_a_target_or_skipped_with_its_text() {
        use DeployKind::{Deploy, Publish};
        use PatchState as P;
        let table: &[(DeployKind, Option<PatchState>, Option<&str>)] = &[
            (Publish, Some(P::Missing), None),
            (Deploy, Some(P::Missing), None),
            (Publish, Some(P::Failed), None),
            (Deploy, Some(P::Failed), None),
            (Deploy, Some(P::Published), None),
            (
                Publish,
                Some(P::Published),
                Some("web-1: pkg7 1.0-2 is already published"),
            ),
            (
                Deploy,
                Some(P::Queued),
                Some("web-1: pkg7 1.0-2 is already being installed"),
            ),
            (
                Publish,
                Some(P::Installing),
                Some("web-1: pkg7 1.0-2 is already being installed"),
            ),
            (
                Deploy,
                Some(P::Installed),
                Some("web-1: pkg7 1.0-2 is already installed"),
            ),
            (
                Publish,
                Some(P::Superseded),
                Some("web-1: pkg7 1.0-2 was replaced by a newer version"),
            ),
            (
                Deploy,
                None,
                Some("web-1: pkg7 1.0-2 is not offered to this server"),
            ),
        ];
        for &(kind, state, text) in table {
            let p = plan(&request(kind), &[row(1, 7, state)]);
            let skipped: Vec<String> = p.skips.iter().map(ToString::to_string).collect();
            match text {
                Some(text) => {
                    assert_eq!(skipped, vec![text.to_owned()], "{kind:?} {state:?}");
                    assert!(p.servers.is_empty());
                }
                None => {
                    assert!(skipped.is_empty(), "{kind:?} {state:?}");
                    assert_eq!(p.servers[0].patch_ids, vec![7]);
                }
            }
        }
    }

    #[test]
    fn a_deployment_queues_one_job_per_server() {
        let rows = [
            row(1, 7, Some(PatchState::Missing)),
            row(1, 8, Some(PatchState::Published)),
            row(2, 7, Some(PatchState::Installed)),
            row(2, 8, Some(PatchState::Failed)),
            row(3, 7, None),
        ];
        let p = plan(&request(DeployKind::Deploy), &rows);
        assert_eq!(p.targets(), 3);
        assert_eq!(p.jobs(), 2);
        assert_eq!(p.servers[0].server_id, 1);
        assert_eq!(p.servers[0].patch_ids, vec![7, 8]);
        let job = p.servers[0].job.as_ref().unwrap();
        assert_eq!(
            (job.not_before, job.not_after),
            (1_000, 1_000 + INSTALL_WINDOW)
        );
        let JobSpec::Install { packages } = &job.spec else {
            panic!("an install");
        };
        let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["pkg7", "pkg8"]);
        assert_eq!(p.servers[1].server_id, 2);
        assert_eq!(p.servers[1].patch_ids, vec![8]);
        assert_eq!(p.skips.len(), 2);
        assert!(p.notices.is_empty(), "deployments tell nobody here");
    }

    #[test]
    fn a_publication_queues_nothing_and_tells_each_owner_once() {
        let rows = [
            row(1, 7, Some(PatchState::Missing)),
            row(1, 8, Some(PatchState::Failed)),
            row(2, 7, Some(PatchState::Missing)),
            row(3, 7, Some(PatchState::Missing)),
        ];
        let p = plan(&request(DeployKind::Publish), &rows);
        assert_eq!((p.targets(), p.jobs()), (4, 0));
        assert_eq!(p.notices.len(), 2);
        let odd = &p.notices[1];
        assert_eq!(odd.owner, 101);
        assert_eq!(
            odd.items,
            [
                "pkg7 1.0-2 on web-1",
                "pkg8 1.0-2 on web-1",
                "pkg7 1.0-2 on web-3"
            ]
        );
        assert_eq!(
            odd.notice().subject(),
            "3 patch(es) published for your servers"
        );
        assert_eq!(
            p.notices[0].notice().subject(),
            "1 patch(es) published for your servers"
        );
    }

    #[test]
    fn installing_in_windows_leaves_out_servers_without_one() {
        let windows = HashMap::from([
            (
                1,
                Occurrence {
                    start: 400,
                    end: 900,
                },
            ),
            (
                2,
                Occurrence {
                    start: 2_000,
                    end: 3_000,
                },
            ),
        ]);
        let rows = [
            row(1, 7, Some(PatchState::Missing)),
            row(2, 7, Some(PatchState::Missing)),
            row(3, 7, Some(PatchState::Missing)),
            row(3, 8, Some(PatchState::Installed)),
        ];
        let req = DeployRequest {
            windows: Some(&windows),
            ..request(DeployKind::Deploy)
        };
        let p = plan(&req, &rows);
        let times: Vec<(Timestamp, Timestamp)> = p
            .servers
            .iter()
            .map(|s| s.job.as_ref().map(|j| (j.not_before, j.not_after)).unwrap())
            .collect();
        assert_eq!(times, [(500, 900), (2_000, 3_000)], "not before now");
        let skipped: Vec<String> = p.skips.iter().map(ToString::to_string).collect();
        assert_eq!(
            skipped,
            [
                "web-3: pkg8 1.0-2 is already installed",
                "web-3: has no maintenance window"
            ]
        );
    }

    #[test]
    fn refusals_say_why() {
        assert_eq!(
            check_choice(&[], &[1]).unwrap_err().to_string(),
            "choose at least one patch and one server"
        );
        assert_eq!(check_choice(&[1], &[2]), Ok(()));
        let declined = vec![
            PatchName {
                package: "xz".into(),
                version: "1.0-2".into(),
            },
            PatchName {
                package: "zlib".into(),
                version: "1.0-3".into(),
            },
        ];
        assert_eq!(
            check_declined(declined).unwrap_err().to_string(),
            "declined, so not published or deployed: xz 1.0-2, zlib 1.0-3"
        );
        assert_eq!(check_declined(Vec::new()), Ok(()));
    }

    #[test]
    fn reboot_options_are_stored_as_before() {
        assert_eq!(Reboot::None.stored(), (RebootOption::None, None));
        assert_eq!(Reboot::AfterInstall.stored(), (RebootOption::After, None));
        assert_eq!(Reboot::At(9).stored(), (RebootOption::At, Some(9)));
    }

    fn test_candidate(rollout_id: i64, state: RolloutState, servers: &[i64]) -> TestCandidate {
        TestCandidate {
            rollout_id,
            state: Some(state),
            servers: servers
                .iter()
                .map(|s| (*s, row(*s, rollout_id, None).package))
                .collect(),
        }
    }

    #[test]
    fn tests_queue_one_job_per_test_server() {
        let p = plan_tests(
            &[
                test_candidate(5, RolloutState::New, &[2, 1]),
                test_candidate(3, RolloutState::TestFailed, &[2]),
                test_candidate(4, RolloutState::New, &[]),
                test_candidate(6, RolloutState::TestFailed, &[]),
            ],
            100,
        );
        let jobs: Vec<(i64, Vec<i64>, usize)> = p
            .jobs
            .iter()
            .map(|j| {
                let JobSpec::Install { packages } = &j.job.spec else {
                    panic!("an install");
                };
                (j.server_id, j.rollout_ids.clone(), packages.len())
            })
            .collect();
        assert_eq!(jobs, [(1, vec![5], 1), (2, vec![5, 3], 2)]);
        assert_eq!(
            (p.jobs[0].job.not_before, p.jobs[0].job.not_after),
            (100, 100 + INSTALL_WINDOW)
        );
        assert_eq!(p.testing, [3, 5]);
        assert_eq!(
            p.untested,
            [
                Untested {
                    rollout_id: 4,
                    retried: false
                },
                Untested {
                    rollout_id: 6,
                    retried: true
                }
            ]
        );
    }

    #[test]
    fn skip_reasons_are_stored_under_names_that_read_back() {
        for r in SkipReason::ALL {
            assert_eq!(SkipReason::parse(r.as_str()), Some(r));
        }
        let names: std::collections::BTreeSet<_> =
            SkipReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), SkipReason::ALL.len(), "distinct names");
        assert_eq!(SkipReason::parse("Installed"), None);
    }

    #[test]
    fn untested_rollouts_skip_or_pass_the_test_and_say_why() {
        let new = Untested {
            rollout_id: 1,
            retried: false,
        };
        let retried = Untested {
            retried: true,
            ..new
        };
        assert_eq!(
            new.steps(),
            [(Transition::SkipTest, TestNote::NothingToTest)]
        );
        assert_eq!(
            retried.steps(),
            [
                (Transition::StartTest, TestNote::Retried),
                (Transition::TestPassed, TestNote::NothingToTest)
            ]
        );
        assert_eq!(
            TestNote::NothingToTest.to_string(),
            "no server of the test group misses this patch: observing without a test install"
        );
        assert_eq!(
            TestNote::Installing.to_string(),
            "installing on the test group"
        );
        assert_eq!(TestNote::Retried.to_string(), "retried");
    }

    fn any_state() -> impl Strategy<Value = Option<PatchState>> {
        prop::option::of(prop::sample::select(PatchState::ALL))
    }

    proptest! {
        #[test]
        fn every_candidate_is_a_target_or_skipped_exactly_once(
            states in prop::collection::vec(any_state(), 0..24),
            publish in any::<bool>(),
            windowless in prop::collection::btree_set(0i64..4, 0..4),
            in_windows in any::<bool>(),
        ) {
            let kind = if publish { DeployKind::Publish } else { DeployKind::Deploy };
            // Four servers, each offered patches 0..6 (in read order).
            let rows: Vec<Candidate> = states
                .iter()
                .enumerate()
                .map(|(i, s)| row(i as i64 / 6, i as i64 % 6, *s))
                .collect();
            let windows: HashMap<i64, Occurrence> = (0..4)
                .filter(|s| !windowless.contains(s))
                .map(|s| (s, Occurrence { start: 0, end: 10 }))
                .collect();
            let req = DeployRequest {
                windows: in_windows.then_some(&windows),
                ..request(kind)
            };
            let p = plan(&req, &rows);
            let mut seen: Vec<(i64, i64)> = Vec::new();
            for s in &p.servers {
                prop_assert!(!s.patch_ids.is_empty());
                prop_assert_eq!(s.job.is_some(), kind == DeployKind::Deploy);
                seen.extend(s.patch_ids.iter().map(|p| (s.server_id, *p)));
            }
            let mut skipped_patches = 0;
            for skip in &p.skips {
                match skip.reason {
                    SkipReason::NoWindow => {
                        let host = skip.host.clone();
                        let left: Vec<(i64, i64)> = rows
                            .iter()
                            .filter(|r| r.host == host && SkipReason::of(kind, r.state).is_none())
                            .map(|r| (r.server_id, r.patch_id))
                            .collect();
                        prop_assert!(!left.is_empty());
                        seen.extend(left);
                    }
                    _ => skipped_patches += 1,
                }
            }
            prop_assert_eq!(seen.len() + skipped_patches, rows.len());
            seen.sort_unstable();
            seen.dedup();
            prop_assert_eq!(seen.len() + skipped_patches, rows.len(), "no server-patch twice");
        }

        #[test]
        fn every_test_server_gets_one_job_for_its_rollouts(
            servers in prop::collection::vec(prop::collection::btree_set(0i64..5, 0..4), 0..8),
            new in prop::collection::vec(any::<bool>(), 8),
        ) {
            let rollouts: Vec<TestCandidate> = servers
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let state = if new[i] { RolloutState::New } else { RolloutState::TestFailed };
                    let s: Vec<i64> = s.iter().copied().collect();
                    test_candidate(i as i64, state, &s)
                })
                .collect();
            let p = plan_tests(&rollouts, 0);
            let ids: Vec<i64> = p.jobs.iter().map(|j| j.server_id).collect();
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            sorted.dedup();
            prop_assert_eq!(&ids, &sorted, "one job per server, by id");
            for r in &rollouts {
                let jobs = p.jobs.iter().filter(|j| j.rollout_ids.contains(&r.rollout_id)).count();
                prop_assert_eq!(jobs, r.servers.len());
                prop_assert_eq!(p.testing.contains(&r.rollout_id), !r.servers.is_empty());
                let untested = p.untested.iter().find(|u| u.rollout_id == r.rollout_id);
                prop_assert_eq!(untested.is_some(), r.servers.is_empty());
                if let Some(u) = untested {
                    prop_assert_eq!(u.retried, r.state != Some(RolloutState::New));
                }
            }
        }
    }
}
