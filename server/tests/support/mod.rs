//! Test helpers: spawn the real portal the way `main` does, on port 0, with a
//! fresh database and a clock the test moves; act on it over HTTP.

#![allow(dead_code)]

pub mod sink;

use app::ssr::AppState;
use patchport::{Application, Settings};
use patchport_core::protocol::{
    AvailableUpdate, CheckInRequest, CheckInResponse, InstalledPackage, JobSpec, OsInfo,
    PackageFormat, PackageTarget, Report, secret_digest,
};
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
    pub settings: Settings,
    pub mailer: Arc<patchport::mail::Mailer>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    serving: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: Arc<tempfile::TempDir>,
}

/// A portal with settings changed by `customise`, once per backend.
pub async fn for_each_backend_with<C, F, Fut>(customise: C, test: F)
where
    C: Fn(&mut Settings),
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    each_backend(customise, test, true).await
}

/// A portal on SQLite that fetches advisories from `osv` and `kev` (at
/// start, then daily).
pub async fn spawn_fetching(osv: Vec<String>, kev: Option<String>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = patchport_db::testing::sqlite_url(dir.path());
    let settings = test_settings(url, dir.path(), osv, kev);
    let clock = ManualClock::new(SystemClock.now());
    start(settings, clock, Arc::new(dir), true).await
}

fn test_settings(
    url: String,
    dir: &std::path::Path,
    advisory_urls: Vec<String>,
    kev_url: Option<String>,
) -> Settings {
    Settings {
        database_url: url,
        data_dir: dir.to_owned(),
        bind: "127.0.0.1:0".parse().unwrap(),
        public_url: "http://127.0.0.1/".parse().unwrap(),
        site_root: dir.join("site"),
        session_idle: 30 * 60,
        session_max: 12 * 3600,
        body_limit: 64 * 1024,
        advisory_urls,
        kev_url,
        advisory_interval: 24 * 3600,
        scheduler_interval: 0,
        mail: patchport::config::MailSettings::files(dir.join("mail")),
        trusted_proxies: Vec::new(),
        max_hashes: 4,
        header_timeout: 10,
        request_timeout: 120,
    }
}

/// Builds and serves a portal; seeds the admin and owner accounts.
async fn start(
    settings: Settings,
    clock: ManualClock,
    dir: Arc<tempfile::TempDir>,
    seed: bool,
) -> TestApp {
    // Server errors show in the output of a failing test.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("PATCHPORT_LOG").unwrap_or_else(|_| "warn,patchport=info".into()),
        )
        .with_test_writer()
        .try_init();
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
    let mailer = application.mailer();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    // Stops only when asked (`restart`): a dropped sender (the test kept
    // only some fields of its TestApp) leaves it serving.
    let serving = tokio::spawn(application.run_until(async {
        if stopped.await.is_err() {
            std::future::pending::<()>().await
        }
    }));
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        clock,
        app_state,
        setup_code,
        settings,
        mailer,
        stop: Some(stop),
        serving: Some(serving),
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
    each_backend(|_| {}, test, seed).await
}

/// Runs `test` once per backend on a fresh database, with settings
/// changed by `customise`.
async fn each_backend<C, F, Fut>(customise: C, test: F, seed: bool)
where
    C: Fn(&mut Settings),
    F: Fn(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let probe = tempfile::tempdir().unwrap();
    for url in patchport_db::testing::urls(probe.path()).await {
        eprintln!("backend: {}", url.split(':').next().unwrap_or_default());
        let dir = tempfile::tempdir().unwrap();
        // SQLite files go in the app's own temp dir.
        let url = if url.starts_with("sqlite:") {
            patchport_db::testing::sqlite_url(dir.path())
        } else {
            url
        };
        let mut settings = test_settings(url, dir.path(), vec![], None);
        customise(&mut settings);
        let clock = ManualClock::new(SystemClock.now());
        test(start(settings, clock, Arc::new(dir), seed).await).await;
    }
}

/// The session id from a response's `Set-Cookie`, if it sets one (named
/// `__Host-patchport_session` when the portal's public URL is https).
pub fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.headers().get_all("set-cookie").iter().find_map(|v| {
        let v = v.to_str().ok()?;
        let v = v.strip_prefix("__Host-").unwrap_or(v);
        let value = v.strip_prefix("patchport_session=")?.split(';').next()?;
        (!value.is_empty()).then(|| value.to_owned())
    })
}

impl TestApp {
    /// Stops this portal (as a shutdown would) and starts a new one on the
    /// same database, settings and clock.
    pub async fn restart(mut self) -> TestApp {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(serving) = self.serving.take() {
            serving.await.unwrap().unwrap();
        }
        start(
            self.settings.clone(),
            self.clock.clone(),
            self._dir.clone(),
            false,
        )
        .await
    }

    /// Runs one pass of the mail worker now.
    pub async fn deliver_mail(&self) -> patchport::mail::Delivery {
        patchport::mail::deliver_due(&self.app_state.db, &self.clock, &self.mailer)
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `Cookie` header that carries session `id`.
    pub fn session_header(&self, id: &str) -> String {
        format!(
            "{}={id}",
            self.app_state.auth.cookie_name("patchport_session")
        )
    }

    pub async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(c) = cookie {
            req = req.header("cookie", self.session_header(c));
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
            req = req.header("cookie", self.session_header(c));
        }
        req.send().await.unwrap()
    }

    /// A daily UTC window named `name` for `hosts`, opening at `opens`'s
    /// time of day for two hours, made by `admin`; its id.
    pub async fn daily_window(&self, admin: &str, name: &str, opens: i64, hosts: &[&str]) -> i64 {
        let window = serde_json::json!({"days": [1, 2, 3, 4, 5, 6, 7], "start_minute": (opens % 86_400) / 60,
            "duration_minutes": 120, "time_zone": "UTC"});
        let resp = self
            .post_json("/api/admin/windows/create", Some(admin),
                serde_json::json!({"name": name, "window": window, "hostnames": hosts, "group_ids": []}))
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        resp.json().await.unwrap()
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
            req = req.header("cookie", self.session_header(c));
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

/// An installed Debian package built from `source`.
pub fn pkg(name: &str, source: &str, version: &str) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: "amd64".into(),
        source_name: Some(source.into()),
        source_version: None,
    }
}

/// A security update of `name` from `from` to `to`.
pub fn update(name: &str, from: &str, to: &str) -> AvailableUpdate {
    AvailableUpdate {
        name: name.into(),
        arch: "amd64".into(),
        installed_version: Some(from.into()),
        version: to.into(),
        origin: "Debian-Security:12/stable-security".into(),
        security: true,
        advisories: vec![],
        source_name: None,
        source_version: None,
    }
}

/// A normalised Debian 12 report.
pub fn report(
    hostname: &str,
    packages: Vec<InstalledPackage>,
    updates: Vec<AvailableUpdate>,
) -> Report {
    let mut r = Report {
        hostname: hostname.into(),
        os: OsInfo {
            id: "debian".into(),
            id_like: vec![],
            version_id: "12".into(),
            version_codename: Some("bookworm".into()),
            pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
        },
        kernel: "6.1.0-28-amd64".into(),
        arch: "amd64".into(),
        boot_id: "b".into(),
        package_format: PackageFormat::Deb,
        packages,
        updates,
        reboot_required: false,
        reboot_required_packages: vec![],
        agent_version: "test".into(),
    };
    r.normalise();
    r
}

impl TestApp {
    /// A server that reported `r`, straight into storage.
    pub async fn reported(&self, r: &Report) -> i64 {
        let now = self.clock.now();
        let mut tx = self.app_state.db.begin().await.unwrap();
        let id = patchport_db::servers::create(&mut tx, &r.hostname, now)
            .await
            .unwrap();
        let done = patchport_db::servers::apply_report(&mut tx, id, r, &r.digest(), now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut conn = self.app_state.db.write().await.unwrap();
        patchport_db::servers::raise_security(&mut conn, &done.security_raised)
            .await
            .unwrap();
        id
    }
}

/// Agents over the real agent API.
impl TestApp {
    pub async fn token(&self, max_uses: i64, valid_for: i64) -> String {
        let token = format!("ppe_test_{}", rand_suffix());
        let mut tx = self.app_state.db.begin().await.unwrap();
        let admin = self.find_user(ADMIN).await.unwrap();
        let now = self.clock_now();
        patchport_db::agents::create_token(
            &mut tx,
            &secret_digest(&token),
            "test",
            Some(admin),
            now + valid_for,
            max_uses,
            now,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        token
    }

    pub fn clock_now(&self) -> i64 {
        use patchport_core::Clock;
        self.clock.now()
    }

    pub async fn enroll(&self, token: &str) -> reqwest::Response {
        self.client
            .post(self.url("/agent/v1/enroll"))
            .json(&serde_json::json!({ "token": token, "hostname": "web-1" }))
            .send()
            .await
            .unwrap()
    }

    pub async fn check_in(&self, credential: &str, req: &CheckInRequest) -> reqwest::Response {
        self.client
            .post(self.url("/agent/v1/check-in"))
            .bearer_auth(credential)
            .json(req)
            .send()
            .await
            .unwrap()
    }

    pub async fn enrolled(&self) -> (i64, String) {
        let token = self.token(1, 3600).await;
        let resp = self.enroll(&token).await;
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        (
            body["server_id"].as_i64().unwrap(),
            body["credential"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn send_result(
        &self,
        credential: &str,
        job_id: i64,
        body: serde_json::Value,
    ) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/agent/v1/jobs/{job_id}/result")))
            .bearer_auth(credential)
            .json(&body)
            .send()
            .await
            .unwrap()
    }
}

pub fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A check-in carrying the whole report.
pub fn full(r: &Report) -> CheckInRequest {
    CheckInRequest {
        digest: r.digest(),
        report: Some(r.clone()),
    }
}

/// A simulated agent: its credential and what it reports.
pub struct Agent {
    pub credential: String,
    pub report: Report,
    /// The updates its installs took out of the report, which a rollback
    /// brings back.
    pub installed: Vec<AvailableUpdate>,
}

impl Agent {
    /// The installed versions become `packages`' versions.
    fn set_versions(&mut self, packages: &[PackageTarget]) {
        for p in packages {
            for installed in &mut self.report.packages {
                if installed.name == p.name && installed.arch == p.arch {
                    installed.version = p.version.clone();
                }
            }
        }
    }
}

impl TestApp {
    /// One scheduler tick at the test clock's time; every step must work.
    pub async fn tick(&self) -> patchport_db::rollouts::Ticked {
        let done = patchport_db::rollouts::tick(&self.app_state.db, self.clock.now()).await;
        assert!(
            done.failed.is_empty(),
            "scheduler steps failed: {:?}",
            done.failed
        );
        done
    }

    /// An enrolled server missing `updates` that reported over the agent
    /// API, with its criticality, owned by the owner.
    pub async fn server(
        &self,
        host: &str,
        updates: &[(&str, &str)],
        critical: bool,
    ) -> (i64, Agent) {
        let (id, credential) = self.enrolled().await;
        let r = report(
            host,
            updates.iter().map(|(n, _)| pkg(n, n, "1.0-1")).collect(),
            updates.iter().map(|(n, v)| update(n, "1.0-1", v)).collect(),
        );
        let resp = self.check_in(&credential, &full(&r)).await;
        assert_eq!(resp.status(), 200);
        let owner = self.find_user(OWNER).await;
        let mut conn = self.app_state.db.write().await.unwrap();
        patchport_db::servers::set_assignment(
            &mut conn,
            id,
            owner,
            if critical { "critical" } else { "standard" },
        )
        .await
        .unwrap();
        (
            id,
            Agent {
                credential,
                report: r,
                installed: vec![],
            },
        )
    }

    pub async fn test_group(&self, servers: &[i64]) {
        let mut tx = self.app_state.db.begin().await.unwrap();
        let g = patchport_db::groups::create(&mut tx, "canary", 0)
            .await
            .unwrap();
        patchport_db::groups::set_test_group(&mut tx, Some(g))
            .await
            .unwrap();
        for s in servers {
            patchport_db::groups::set_server_groups(&mut tx, *s, &[g])
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }

    /// The state of `package`'s patch on a server.
    pub async fn patch_state(&self, server: i64, package: &str) -> String {
        let mut conn = self.app_state.db.read().await.unwrap();
        patchport_db::servers::patch_rows(&mut conn, server)
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.package == package)
            .map(|p| p.state)
            .unwrap_or_default()
    }

    /// Sends the publish / deploy form as the browser does.
    pub async fn deploy(&self, cookie: Option<&str>, form: serde_json::Value) -> reqwest::Response {
        self.post_json(
            "/api/admin/deployments/create",
            cookie,
            serde_json::json!({ "request": form }),
        )
        .await
    }

    /// The simulated agent checks in, runs the first job it is handed and
    /// reports the outcome as the real agent does: an install that worked
    /// is followed by a report with the new versions installed and without
    /// those updates; a rollback by one with the old versions and the
    /// updates offered again; a reboot by a check-in with a new boot id.
    /// Returns the job's kind, or None when nothing was due.
    pub async fn agent_runs(&self, agent: &mut Agent, succeed: bool) -> Option<&'static str> {
        let resp = self.check_in(&agent.credential, &full(&agent.report)).await;
        assert_eq!(resp.status(), 200);
        let answer: CheckInResponse = resp.json().await.unwrap();
        let order = answer.jobs.into_iter().next()?;
        let outcome = match (&order.spec, succeed) {
            (_, false) => "failed",
            (JobSpec::Reboot, true) => "rebooting",
            (_, true) => "succeeded",
        };
        let log = if succeed {
            "Setting up packages"
        } else {
            "E: Sub-process /usr/bin/dpkg returned an error code (1)"
        };
        let resp = self
            .send_result(
                &agent.credential,
                order.id,
                serde_json::json!({"attempt": order.attempt, "outcome": outcome,
                    "exit_code": if succeed { 0 } else { 100 }, "log": log}),
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let kind = match &order.spec {
            JobSpec::Install { packages } => {
                if succeed {
                    let (done, left) = std::mem::take(&mut agent.report.updates)
                        .into_iter()
                        .partition(|u| {
                            packages
                                .iter()
                                .any(|p| p.name == u.name && p.version == u.version)
                        });
                    agent.report.updates = left;
                    agent.installed.extend(done);
                    agent.set_versions(packages);
                }
                "install"
            }
            JobSpec::Rollback { packages } => {
                if succeed {
                    agent.set_versions(packages);
                    for p in packages {
                        let offered = agent
                            .installed
                            .iter()
                            .filter(|u| u.name == p.name && u.arch == p.arch);
                        agent.report.updates.extend(offered.cloned().map(|mut u| {
                            u.installed_version = Some(p.version.clone());
                            u
                        }));
                    }
                }
                "rollback"
            }
            JobSpec::Reboot => {
                agent.report.boot_id = format!("{}-rebooted", agent.report.boot_id);
                "reboot"
            }
            JobSpec::Refresh => "refresh",
        };
        agent.report.normalise();
        let resp = self.check_in(&agent.credential, &full(&agent.report)).await;
        assert_eq!(resp.status(), 200);
        Some(kind)
    }
}
