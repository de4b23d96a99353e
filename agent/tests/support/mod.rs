//! A real portal for the agent's tests: built the way `main` builds it, on
//! a fresh SQLite database, port 0, with a clock the test moves.

#![allow(dead_code)]

use patchport::{Application, Settings};
use patchport_core::protocol::{JobSpec, PackageTarget, secret_digest};
use patchport_core::{Clock, ManualClock, SystemClock};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

pub struct Portal {
    pub url: String,
    pub db: patchport_db::Db,
    pub clock: ManualClock,
    pub dir: tempfile::TempDir,
}

pub async fn portal() -> Portal {
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings {
        database_url: patchport_db::testing::sqlite_url(dir.path()),
        data_dir: dir.path().to_owned(),
        bind: "127.0.0.1:0".parse().unwrap(),
        public_url: "http://127.0.0.1/".parse().unwrap(),
        site_root: dir.path().join("site"),
        session_idle: 1800,
        session_max: 43_200,
        body_limit: 65_536,
        advisory_urls: vec![],
        kev_url: None,
        advisory_interval: 24 * 3600,
        scheduler_interval: 0,
        mail: patchport::config::MailSettings::files(dir.path().join("mail")),
        trusted_proxies: Vec::new(),
        max_hashes: 4,
        header_timeout: 10,
        request_timeout: 120,
    };
    let clock = ManualClock::new(SystemClock.now());
    let app = Application::build(&settings, Arc::new(clock.clone()))
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{}", app.port());
    let db = app.state().db.clone();
    tokio::spawn(app.run_until(std::future::pending()));
    Portal {
        url,
        db,
        clock,
        dir,
    }
}

impl Portal {
    /// A server's patches as (package, version, security, state), by
    /// package and version.
    pub async fn patches(&self, server_id: i64) -> Vec<(String, String, bool, String)> {
        let mut conn = self.db.read().await.unwrap();
        let mut rows: Vec<_> = patchport_db::servers::patch_rows(&mut conn, server_id)
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.package, p.version, p.security, p.state))
            .collect();
        rows.sort();
        rows
    }

    /// A server's patches of `package` as (version, state).
    pub async fn patches_of(&self, server_id: i64, package: &str) -> Vec<(String, String)> {
        self.patches(server_id)
            .await
            .into_iter()
            .filter(|(name, ..)| name == package)
            .map(|(_, version, _, state)| (version, state))
            .collect()
    }

    /// Stores the enrolment token `token` for `uses` servers, valid an hour.
    pub async fn create_token(&self, token: &str, label: &str, uses: i64) {
        let mut tx = self.db.begin().await.unwrap();
        let now = self.clock.now();
        patchport_db::agents::create_token(
            &mut tx,
            &secret_digest(token),
            label,
            None,
            now + 3600,
            uses,
            now,
        )
        .await
        .unwrap();
        patchport_db::commit(tx).await.unwrap();
    }

    /// Queues `spec` for `server_id`, due now, as an admin would; its id.
    pub async fn queue(&self, server_id: i64, spec: JobSpec) -> i64 {
        let now = self.clock.now();
        let mut tx = self.db.begin().await.unwrap();
        let id = patchport_db::jobs::create(
            &mut tx,
            &patchport_db::jobs::NewJob {
                server_id,
                spec: &spec,
                not_before: now,
                not_after: now + 3600,
                created_by: None,
            },
            now,
        )
        .await
        .unwrap();
        patchport_db::commit(tx).await.unwrap();
        id
    }

    /// Job `job_id` as the portal stores it.
    pub async fn job(&self, job_id: i64) -> patchport_db::jobs::JobRow {
        let mut conn = self.db.read().await.unwrap();
        patchport_db::jobs::get(&mut conn, job_id)
            .await
            .unwrap()
            .expect("the job exists")
    }

    /// The versions the server had when install job `job_id` started, as
    /// the portal recorded them for a rollback (`None`: not recorded).
    pub async fn previous(&self, job_id: i64) -> Option<Vec<PackageTarget>> {
        let mut conn = self.db.read().await.unwrap();
        let (previous,): (Option<String>,) =
            sqlx::query_as("select previous from job where id = $1")
                .bind(job_id)
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        previous.map(|json| serde_json::from_str(&json).unwrap())
    }

    /// Rolls the one server back to `version` of `name` (`arch`): the job
    /// queued, the agent with `config` run once; the job as it ended.
    pub async fn roll_back(
        &self,
        config: &Path,
        name: &str,
        version: &str,
        arch: &str,
    ) -> patchport_db::jobs::JobRow {
        let packages = vec![PackageTarget {
            name: name.into(),
            version: version.into(),
            arch: arch.into(),
        }];
        let server_id = self.only_server().await;
        let id = self.queue(server_id, JobSpec::Rollback { packages }).await;
        run_agent(config.to_owned(), vec!["run".into(), "--once".into()]).await;
        self.job(id).await
    }

    /// The id of the one server enrolled so far.
    pub async fn only_server(&self) -> i64 {
        let mut conn = self.db.read().await.unwrap();
        let servers = patchport_db::servers::list(&mut conn, &Default::default(), 1, 10)
            .await
            .unwrap();
        assert_eq!(servers.total, 1, "one server enrolled");
        servers.items[0].id
    }
}

/// How the agent refuses a rollback to `name` `version` (`arch`), as the
/// job's log starts.
pub fn rollback_refusal(name: &str, version: &str, arch: &str) -> String {
    format!(
        "patchport-agent refused the rollback: {name} {version} ({arch}) is no longer available \
         from the repositories or the package cache; nothing was changed\n"
    )
}

/// Runs the real `patchport-agent` binary with `--config config` and
/// `args`, off the async runtime; fails the test unless it succeeds, and
/// returns what it printed.
pub async fn run_agent(config: PathBuf, args: Vec<String>) -> String {
    let agent = env!("CARGO_BIN_EXE_patchport-agent");
    tokio::task::spawn_blocking(move || {
        let out = Command::new(agent)
            .arg("--config")
            .arg(&config)
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "patchport-agent {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    })
    .await
    .unwrap()
}
