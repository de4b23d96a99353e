//! The real agent client against the real portal (SQLite, port 0): enrol,
//! report, digest-only check-ins, spooling while the portal is down, and a
//! revoked credential.

mod support;

use patchport_agent::client::{Client, ClientError};
use patchport_agent::config::Config;
use patchport_agent::runner::Runner;
use patchport_core::Clock;
use patchport_core::protocol::{AvailableUpdate, InstalledPackage, OsInfo, PackageFormat, Report};
use support::{Portal, portal};

fn report() -> Report {
    Report {
        hostname: "agent-test".into(),
        os: OsInfo {
            id: "debian".into(),
            id_like: vec![],
            version_id: "12".into(),
            version_codename: Some("bookworm".into()),
            pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
        },
        kernel: "6.1.0-28-amd64".into(),
        arch: "amd64".into(),
        boot_id: "boot-1".into(),
        package_format: PackageFormat::Deb,
        packages: vec![InstalledPackage {
            name: "openssl".into(),
            version: "3.0.11-1~deb12u2".into(),
            arch: "amd64".into(),
            source_name: Some("openssl".into()),
            source_version: None,
        }],
        updates: vec![AvailableUpdate {
            name: "openssl".into(),
            arch: "amd64".into(),
            installed_version: Some("3.0.11-1~deb12u2".into()),
            version: "3.0.15-1~deb12u1".into(),
            origin: "Debian-Security:12/stable-security".into(),
            security: true,
            advisories: vec![],
            source_name: None,
            source_version: None,
        }],
        reboot_required: false,
        reboot_required_packages: vec![],
        agent_version: "test".into(),
    }
}

impl Portal {
    /// Enrols an agent through the real client, keeping its state in `dir`.
    async fn enrol(&self, dir: &std::path::Path) -> Config {
        let token = "ppe_agent_test_token";
        self.create_token(token, "test", 5).await;
        let url = self.url.clone();
        let state_dir = dir.to_owned();
        blocking(move || {
            let enrolled = Client::new(&url, None, false)
                .unwrap()
                .enroll(token, "agent-test")
                .unwrap();
            Config {
                url,
                server_id: enrolled.server_id,
                credential: enrolled.credential,
                ca_file: None,
                allow_http: false,
                state_dir,
                packages: Default::default(),
            }
        })
        .await
    }
}

/// Runs blocking agent code off the runtime that serves the portal.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrol_report_and_check_in_with_digest_only_when_unchanged() {
    let portal = portal().await;
    let state = tempfile::tempdir().unwrap();
    let config = portal.enrol(state.path()).await;
    let c = config.clone();
    blocking(move || Runner::new(&c).unwrap().check_in(report()).unwrap()).await;

    let patches = portal.patches(config.server_id).await;
    let mut conn = portal.db.read().await.unwrap();
    assert_eq!(
        patches,
        [(
            "openssl".into(),
            "3.0.15-1~deb12u1".into(),
            true,
            "missing".into()
        )]
    );
    let (_, first_report) = patchport_db::servers::check_in_times(&mut conn, config.server_id)
        .await
        .unwrap();
    drop(conn);

    // Unchanged: only the digest travels, so the report time stays.
    portal.clock.advance(300);
    let c = config.clone();
    blocking(move || Runner::new(&c).unwrap().check_in(report()).unwrap()).await;
    let mut conn = portal.db.read().await.unwrap();
    let (check_in, report_at) = patchport_db::servers::check_in_times(&mut conn, config.server_id)
        .await
        .unwrap();
    assert_eq!(
        report_at, first_report,
        "no full report for an unchanged state"
    );
    assert_eq!(
        check_in,
        first_report.map(|t| t + 300),
        "but the check-in is recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_cannot_be_sent_is_spooled_and_delivered_once_later() {
    let portal = portal().await;
    let state = tempfile::tempdir().unwrap();
    let live = portal.enrol(state.path()).await;
    // Nothing listens on this port: the portal is "down".
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let down = Config {
        url: down_url,
        ..live.clone()
    };
    let err = blocking(move || Runner::new(&down).unwrap().check_in(report()).unwrap_err()).await;
    assert!(matches!(err, ClientError::Unreachable(_)), "{err}");
    assert!(err.is_transient());
    let spool = state.path().join("spool/report.json");
    assert!(spool.exists(), "the report waits in the spool");
    assert!(portal.patches(live.server_id).await.is_empty());

    let c = live.clone();
    blocking(move || Runner::new(&c).unwrap().check_in(report()).unwrap()).await;
    assert!(!spool.exists(), "delivered, so the spool is empty");
    assert_eq!(
        portal.patches(live.server_id).await.len(),
        1,
        "delivered once"
    );

    // A revoked credential is final: no retry, no spool.
    let mut tx = portal.db.begin().await.unwrap();
    patchport_db::agents::revoke_credential(&mut tx, live.server_id, portal.clock.now())
        .await
        .unwrap();
    patchport_db::commit(tx).await.unwrap();
    let c = live.clone();
    let mut changed = report();
    changed.boot_id = "boot-2".into();
    let err = blocking(move || Runner::new(&c).unwrap().check_in(changed).unwrap_err()).await;
    assert!(matches!(err, ClientError::Unauthorized), "{err}");
    assert!(!err.is_transient());
    assert!(!spool.exists());
}

/// Answers every command with success and remembers what it ran; the real
/// package manager is exercised by `install_deb.rs`.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<patchport_agent::jobs::Command>>);

impl patchport_agent::jobs::System for Recorder {
    fn run(
        &self,
        command: &patchport_agent::jobs::Command,
        _timeout: std::time::Duration,
    ) -> patchport_agent::jobs::Ran {
        self.0.lock().unwrap().push(command.clone());
        patchport_agent::jobs::Ran {
            exit_code: Some(0),
            log: "done\n".into(),
        }
    }
}

impl Portal {
    async fn job_state(&self, id: i64) -> (String, String) {
        let mut conn = self.db.read().await.unwrap();
        let job = patchport_db::jobs::get(&mut conn, id)
            .await
            .unwrap()
            .unwrap();
        (job.state, job.log)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_result_waits_in_the_spool_while_the_portal_is_down_and_arrives_once() {
    use patchport_agent::runner::Cycle;
    use patchport_core::protocol::JobSpec;
    let portal = portal().await;
    let state = tempfile::tempdir().unwrap();
    let config = portal.enrol(state.path()).await;
    let c = config.clone();
    blocking(move || Runner::new(&c).unwrap().check_in(report()).unwrap()).await;
    let job = portal.queue(config.server_id, JobSpec::Refresh).await;

    // The check-in hands out the job; the result cannot be delivered
    // because the "portal" answering it is down by then.
    let c = config.clone();
    let answer = blocking(move || Runner::new(&c).unwrap().check_in(report()).unwrap()).await;
    assert_eq!(answer.jobs.len(), 1);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = Config {
        url: format!("http://{}", closed.local_addr().unwrap()),
        ..config.clone()
    };
    drop(closed);
    let outcome = blocking(move || {
        let system = Recorder::default();
        let cycle = Runner::new(&down)
            .unwrap()
            .run_jobs(&answer.jobs, &system, &report());
        (cycle, system.0.into_inner().unwrap())
    })
    .await;
    assert_eq!(outcome.0, Cycle::RanJobs);
    assert_eq!(outcome.1.len(), 1, "ran once");
    assert_eq!(outcome.1[0].args, ["update", "--quiet"]);
    assert_eq!(portal.job_state(job).await.0, "running", "no result yet");
    let spooled = std::fs::read_dir(state.path().join("spool/results"))
        .unwrap()
        .count();
    assert_eq!(spooled, 1, "the result waits on disk");

    // Back up: the next cycle delivers it, and only once.
    let c = config.clone();
    let cycle = blocking(move || {
        let collect = || Ok(report());
        Runner::new(&c)
            .unwrap()
            .cycle(&collect, &Recorder::default())
    })
    .await
    .unwrap();
    assert!(matches!(cycle, Cycle::Idle(_)), "{cycle:?}");
    let (state_now, log) = portal.job_state(job).await;
    assert_eq!(state_now, "succeeded");
    assert_eq!(log, "done\n");
    assert_eq!(
        std::fs::read_dir(state.path().join("spool/results"))
            .unwrap()
            .count(),
        0,
        "delivered, so the spool is empty"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_killed_during_a_job_reports_it_failed_when_it_starts_again() {
    use patchport_core::protocol::{JobOrder, JobSpec};
    let portal = portal().await;
    let state = tempfile::tempdir().unwrap();
    let config = portal.enrol(state.path()).await;
    let c = config.clone();
    blocking(move || Runner::new(&c).unwrap().check_in(report()).unwrap()).await;
    let job = portal.queue(config.server_id, JobSpec::Refresh).await;
    let c = config.clone();
    let answer = blocking(move || Runner::new(&c).unwrap().check_in(report()).unwrap()).await;
    let order: &JobOrder = &answer.jobs[0];
    // What a killed agent leaves behind: the running-job marker, no result.
    std::fs::write(
        state.path().join("running-job.json"),
        serde_json::to_vec(order).unwrap(),
    )
    .unwrap();
    let c = config.clone();
    let ran = blocking(move || {
        let system = Recorder::default();
        let collect = || Ok(report());
        Runner::new(&c).unwrap().cycle(&collect, &system).unwrap();
        system.0.into_inner().unwrap().len()
    })
    .await;
    assert_eq!(ran, 0, "the interrupted job is not run again by the agent");
    let (state_now, log) = portal.job_state(job).await;
    assert_eq!(state_now, "failed");
    assert!(log.contains("stopped while this job was running"), "{log}");
    assert!(!state.path().join("running-job.json").exists());
}
