//! Test helpers: spawn the real portal the way `main` does, on port 0, with a
//! fresh database and a clock the test moves; act on it over HTTP.

#![allow(dead_code)]

use app::ssr::AppState;
use patchport::{Application, Settings};
use patchport_core::{Clock, ManualClock, Role, SystemClock};
use std::sync::Arc;

pub const ADMIN: &str = "admin-user";
pub const OWNER: &str = "owner-user";
pub const PASSWORD: &str = "test-password-1";

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: ManualClock,
    pub app_state: AppState,
    pub setup_code: Option<String>,
    _dir: tempfile::TempDir,
}

/// Every database URL to test on: SQLite always, PostgreSQL when configured
/// (and required under CI).
async fn database_urls(dir: &std::path::Path) -> Vec<String> {
    let mut urls = vec![patchport_db::testing::sqlite_url(dir)];
    urls.extend(patchport_db::testing::postgres_url().await);
    if std::env::var("CI").is_ok() {
        assert_eq!(
            urls.len(),
            2,
            "CI must test PostgreSQL too: set {}",
            patchport_db::testing::POSTGRES_ENV
        );
    }
    urls
}

async fn spawn(url: String, dir: tempfile::TempDir, seed: bool) -> TestApp {
    // Server errors show in the output of a failing test.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("PATCHPORT_LOG").unwrap_or_else(|_| "warn,patchport=info".into()),
        )
        .with_test_writer()
        .try_init();
    let settings = Settings {
        database_url: url,
        data_dir: dir.path().to_owned(),
        bind: "127.0.0.1:0".parse().unwrap(),
        public_url: "http://127.0.0.1/".parse().unwrap(),
        site_root: dir.path().join("site"),
        session_idle: 30 * 60,
        session_max: 12 * 3600,
        body_limit: 64 * 1024,
    };
    let clock = ManualClock::new(SystemClock.now());
    let application = Application::build(&settings, Arc::new(clock.clone()))
        .await
        .expect("build app");
    let port = application.port();
    let app_state = application.state().clone();
    if seed {
        for (name, role) in [(ADMIN, Role::Admin), (OWNER, Role::Owner)] {
            patchport::cli::add_user(&app_state.db, &clock, name, "", None, role, PASSWORD)
                .await
                .unwrap();
        }
    }
    let setup_code = application.setup_code();
    tokio::spawn(application.run_until(std::future::pending()));
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        clock,
        app_state,
        setup_code,
        _dir: dir,
    }
}

/// Runs `test` against a portal with an admin and an owner, once per backend.
pub async fn for_each_backend<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    run_all(test, true).await
}

/// Runs `test` against an empty portal (no accounts), once per backend.
pub async fn for_each_fresh_backend<F, Fut>(test: F)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    run_all(test, false).await
}

async fn run_all<F, Fut>(test: F, seed: bool)
where
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let probe = tempfile::tempdir().unwrap();
    for url in database_urls(probe.path()).await {
        eprintln!("backend: {}", url.split(':').next().unwrap_or_default());
        let dir = tempfile::tempdir().unwrap();
        // SQLite files go in the app's own temp dir.
        let url = if url.starts_with("sqlite:") {
            patchport_db::testing::sqlite_url(dir.path())
        } else {
            url
        };
        test(spawn(url, dir, seed).await).await;
    }
}

/// The session id from a response's `Set-Cookie`, if it sets one.
pub fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let value = v.strip_prefix("patchport_session=")?.split(';').next()?;
        (!value.is_empty()).then(|| value.to_owned())
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(c) = cookie {
            req = req.header("cookie", format!("patchport_session={c}"));
        }
        req.send().await.unwrap()
    }

    /// Calls a server function the way a hydrated page does (form-encoded).
    pub async fn post_fn(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).form(form);
        if let Some(c) = cookie {
            req = req.header("cookie", format!("patchport_session={c}"));
        }
        req.send().await.unwrap()
    }

    /// Calls a server function that takes JSON input.
    pub async fn post_json(
        &self,
        path: &str,
        cookie: Option<&str>,
        body: serde_json::Value,
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(c) = cookie {
            req = req.header("cookie", format!("patchport_session={c}"));
        }
        req.send().await.unwrap()
    }

    pub async fn post_fn_owned(
        &self,
        path: &str,
        cookie: Option<&str>,
        form: &[(String, String)],
    ) -> reqwest::Response {
        let borrowed: Vec<(&str, &str)> =
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        self.post_fn(path, cookie, &borrowed).await
    }

    /// Signs in and returns the session id, or `None` if refused.
    pub async fn login(&self, username: &str, password: &str) -> Option<String> {
        let resp = self
            .post_fn(
                "/api/login",
                None,
                &[
                    ("username", username),
                    ("password", password),
                    ("next", "/"),
                ],
            )
            .await;
        if resp.status().is_success() || resp.status().is_redirection() {
            session_cookie(&resp)
        } else {
            None
        }
    }

    /// Who the server thinks holds `cookie`.
    pub async fn whoami(&self, cookie: Option<&str>) -> Option<String> {
        let resp = self.post_fn("/api/whoami", cookie, &[]).await;
        assert_eq!(resp.status(), 200, "whoami is public");
        let user: Option<app::accounts::UserView> = resp.json().await.unwrap();
        user.map(|u| u.username)
    }

    pub async fn find_user(&self, name: &str) -> Option<i64> {
        let mut conn = self.app_state.db.read().await.unwrap();
        patchport_db::accounts::find_for_login(&mut conn, name)
            .await
            .unwrap()
            .map(|(a, _)| a.id)
    }

    pub async fn audit_count(&self, action: &str) -> i64 {
        let mut conn = self.app_state.db.read().await.unwrap();
        patchport_db::audit::list(&mut conn, action, 1, 1)
            .await
            .unwrap()
            .total
    }
}
