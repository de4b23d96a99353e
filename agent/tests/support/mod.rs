//! A real portal for the agent's tests: built the way `main` builds it, on
//! a fresh SQLite database, port 0, with a clock the test moves.

#![allow(dead_code)]

use patchport::{Application, Settings};
use patchport_core::{Clock, ManualClock, SystemClock};
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
}
