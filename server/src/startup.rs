//! Building and running the portal. `main` and the tests go through the same
//! [`Application::build`], the tests on port 0 with a fresh database and a
//! clock they can move.

use crate::config::Settings;
use crate::middleware;
use app::app::{App, shell};
use app::ssr::{AppState, AuthSettings, sessions::SqlSessionStore};
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use leptos::prelude::LeptosOptions;
use leptos_axum::{AxumRouteListing, LeptosRoutes, generate_route_list};
use patchport_core::Clock;
use patchport_db::Db;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

/// A built portal, bound to its port, not yet serving.
pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    advisory_sources: AdvisorySources,
    scheduler_interval: u64,
    mailer: Arc<crate::mail::Mailer>,
    mail_interval: u64,
    header_timeout: std::time::Duration,
}

/// Where advisories are fetched from on a schedule, and how often.
#[derive(Debug, Clone)]
struct AdvisorySources {
    osv: Vec<String>,
    kev: Option<String>,
    every: std::time::Duration,
}

impl Application {
    /// Connects to the database, applies migrations, prepares the first-run
    /// setup code if no admin exists, and binds the listener.
    pub async fn build(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        let db = connect(settings).await?;
        let setup_code = {
            let mut conn = db.read().await?;
            if patchport_db::accounts::admin_exists(&mut conn).await? {
                None
            } else {
                Some(new_setup_code())
            }
        };
        if let Some(code) = &setup_code {
            tracing::warn!(
                setup_url = %settings.public_url.join("setup").map(|u| u.to_string()).unwrap_or_default(),
                setup_code = %code,
                "no administrator exists yet: open the setup page and enter this one-time setup code \
                 (or create one with `patchport user add --admin`)"
            );
        }
        let listener = TcpListener::bind(settings.bind).await?;
        let addr = listener.local_addr()?;
        let leptos_options = LeptosOptions::builder()
            .output_name("patchport")
            .site_root(settings.site_root.display().to_string())
            .site_pkg_dir("pkg")
            .site_addr(addr)
            .build();
        let mailer = Arc::new(crate::mail::Mailer::new(
            &settings.mail,
            &settings.public_url,
        )?);
        let state = AppState {
            db,
            clock,
            auth: AuthSettings {
                idle_timeout: settings.session_idle,
                absolute_timeout: settings.session_max,
                throttle: Default::default(),
                trusted_proxies: settings.trusted_proxies.clone(),
                hashes: Arc::new(tokio::sync::Semaphore::new(settings.max_hashes)),
                secure_cookies: settings.secure_cookies(),
            },
            setup_code: Arc::new(Mutex::new(setup_code)),
            leptos_options,
            mail_to: mailer.describe().into(),
            public_url: settings.public_url.as_str().into(),
        };
        let router = router(&state, settings);
        Ok(Self {
            listener,
            router,
            state,
            advisory_sources: AdvisorySources {
                osv: settings.advisory_urls.clone(),
                kev: settings.kev_url.clone(),
                every: std::time::Duration::from_secs(settings.advisory_interval),
            },
            scheduler_interval: settings.scheduler_interval,
            mailer,
            mail_interval: settings.mail.interval,
            header_timeout: std::time::Duration::from_secs(settings.header_timeout),
        })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.listener
            .local_addr()
            .map(|a| a.port())
            .unwrap_or_default()
    }

    /// The application state (tests use it to reach the database).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The mail sender (tests run its passes themselves).
    pub fn mailer(&self) -> Arc<crate::mail::Mailer> {
        self.mailer.clone()
    }

    /// The one-time setup code, while no admin exists.
    pub fn setup_code(&self) -> Option<String> {
        self.state.setup_code.lock().ok().and_then(|c| c.clone())
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn run_until(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let sweeper = tokio::spawn(sweep_expired_sessions(self.state.clone()));
        // Named in `scheduler_turn.holder` and the scheduler's log lines.
        let instance = format!(
            "pid {} on {}",
            std::process::id(),
            self.listener.local_addr()?
        );
        let job_sweeper = (self.scheduler_interval > 0).then(|| {
            tokio::spawn(sweep_jobs(
                self.state.clone(),
                std::time::Duration::from_secs(self.scheduler_interval),
                instance,
            ))
        });
        let mail_worker = (self.mail_interval > 0).then(|| {
            tokio::spawn(crate::mail::run_worker(
                self.state.db.clone(),
                self.state.clock.clone(),
                self.mailer.clone(),
                std::time::Duration::from_secs(self.mail_interval),
            ))
        });
        let fetcher = (!self.advisory_sources.osv.is_empty()
            || self.advisory_sources.kev.is_some())
        .then(|| tokio::spawn(fetch_advisories(self.state.clone(), self.advisory_sources)));
        tracing::info!(addr = %self.listener.local_addr()?, "serving");
        serve(self.listener, self.router, self.header_timeout, shutdown).await;
        sweeper.abort();
        if let Some(j) = job_sweeper {
            j.abort();
        }
        if let Some(m) = mail_worker {
            m.abort();
        }
        if let Some(f) = fetcher {
            f.abort();
        }
        self.state.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the
/// open connections finish their requests. `axum::serve` sets no
/// header-read timeout; hyper's HTTP/1 keeps one once it has a timer, so
/// a client that sends its headers slower than `header_timeout` is
/// disconnected instead of holding its connection forever.
async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: std::time::Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use tower::Service as _;
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait, go on.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let router = router.clone();
        let service = hyper::service::service_fn(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request
                    .extensions_mut()
                    .insert(axum::extract::ConnectInfo::<SocketAddr>(remote));
                router.clone().call(request)
            },
        );
        let connection = graceful.watch(
            builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned(),
        );
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection closed with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Connects to the configured database and migrates it.
pub async fn connect(settings: &Settings) -> anyhow::Result<Db> {
    if settings.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&settings.data_dir)?;
    }
    let db = Db::connect(&settings.database_url).await?;
    db.migrate().await?;
    Ok(db)
}

/// The app's routes, walked once per process. `generate_route_list` runs
/// the app with resource loading suppressed for the whole process
/// (leptos_server's global `SuppressResourceLoad`): a page that another
/// portal in the same process renders meanwhile keeps a resource pending
/// for ever (leptos-rs/leptos#4773). Only the tests start several portals
/// in one process, where it showed as a rare hanging page.
fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(App)).clone()
}

fn router(state: &AppState, settings: &Settings) -> Router {
    let routes = route_list();
    let sessions =
        SessionManagerLayer::new(SqlSessionStore::new(state.db.clone(), state.clock.clone()))
            .with_name(state.auth.cookie_name("patchport_session"))
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(settings.secure_cookies())
            .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
                settings.session_idle,
            )));
    let ui = Router::new()
        .route("/healthz", get(healthz))
        .route("/export/patches.csv", get(crate::export::patches_csv))
        .route("/servers/{id}/reboot.ics", get(crate::calendar::reboot_ics))
        .leptos_routes_with_context(state, routes, middleware::provide_page_nonce, {
            let options = state.leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            AppState,
            _,
        >(middleware::provide_page_nonce, shell))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::auth_gate,
        ))
        .layer(sessions)
        .layer(axum::middleware::from_fn(middleware::same_origin))
        .layer(axum::middleware::from_fn(middleware::server_fn_errors))
        .layer(RequestBodyLimitLayer::new(settings.body_limit));
    Router::new()
        .merge(crate::agent_api::router())
        .merge(ui)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::security_headers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::client_address,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            std::time::Duration::from_secs(settings.request_timeout),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state.clone())
}

async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    match state.db.ping().await {
        Ok(()) => (StatusCode::OK, "ok"),
        Err(e) => {
            tracing::error!(error = %app::errors::error_chain(&e), "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

async fn sweep_expired_sessions(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
    loop {
        tick.tick().await;
        let swept = async {
            let mut tx = state.db.begin().await?;
            let n = patchport_db::sessions::delete_expired(&mut tx, state.clock.now()).await?;
            patchport_db::commit(tx).await?;
            Ok::<_, patchport_db::StorageError>(n)
        };
        match swept.await {
            Ok(n) if n > 0 => tracing::debug!(sessions = n, "expired sessions deleted"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %app::errors::error_chain(&e), "session sweep failed"),
        }
    }
}

/// Expires overdue jobs and takes back leases of silent agents every
/// `every` (a minute by default), so job states stay true for servers that stopped checking in;
/// advances rollouts (tests, observations, approvals, deployment
/// follow-ups); also records the dashboard's daily snapshot (every five
/// minutes). With several instances on one database, each pass first
/// takes the scheduler's turn (`db::rollouts::take_turn`): the pass runs on
/// one instance per interval, whichever asks first once it is due.
async fn sweep_jobs(state: AppState, every: std::time::Duration, instance: String) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let seconds = i64::try_from(every.as_secs()).unwrap_or(i64::MAX);
    loop {
        tick.tick().await;
        let turn = async {
            let mut conn = state.db.write().await?;
            patchport_db::rollouts::take_turn(
                &mut conn,
                "scheduler",
                &instance,
                state.clock.now(),
                seconds,
            )
            .await
        };
        match turn.await {
            Ok(true) => {
                tracing::debug!(target: "patchport::scheduler", %instance, "scheduler turn taken")
            }
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(error = %app::errors::error_chain(&e), "scheduler turn not taken");
                continue;
            }
        }
        let swept = async {
            let mut tx = state.db.begin().await?;
            let n = patchport_db::jobs::sweep(&mut tx, None, state.clock.now()).await?;
            patchport_db::commit(tx).await?;
            Ok::<_, patchport_db::StorageError>(n)
        };
        match swept.await {
            Ok(n) if n > 0 => tracing::info!(jobs = n, "overdue jobs expired or offered again"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %app::errors::error_chain(&e), "job sweep failed"),
        }
        // Owners hear once when one of their servers goes silent.
        let noticed = async {
            let mut tx = state.db.begin().await?;
            let n = patchport_db::servers::notice_silent(&mut tx, state.clock.now()).await?;
            patchport_db::commit(tx).await?;
            Ok::<_, patchport_db::StorageError>(n)
        };
        match noticed.await {
            Ok(n) if n > 0 => tracing::info!(servers = n, "owners told of silent servers"),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %app::errors::error_chain(&e), "silent-server notices failed")
            }
        }
        // The rollout scheduler: each step in its own transaction (a
        // failed one is logged inside and runs again next time); on
        // PostgreSQL each step runs on one instance at a time.
        let done = patchport_db::rollouts::tick(&state.db, state.clock.now()).await;
        if done.advanced() {
            tracing::info!(?done, "rollouts advanced");
        }
        // Imports whose process stopped are failed (after half an hour of
        // silence: a live import records progress every few seconds), and
        // server-patch versions left stale by an import are matched again.
        let matched = async {
            let now = state.clock.now();
            let mut conn = state.db.write().await?;
            let abandoned =
                patchport_db::advisories::abandon_silent(&mut conn, now - 1800, now).await?;
            drop(conn);
            if abandoned > 0 {
                tracing::warn!(
                    imports = abandoned,
                    "advisory imports interrupted by a stop marked failed"
                );
            }
            crate::advisories::match_stale(&state.db, state.clock.as_ref(), None)
                .await
                .map_err(anyhow::Error::from)
        };
        match matched.await {
            Ok(n) if n > 0 => {
                tracing::info!(versions = n, "server-patches matched to advisories again")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "matching advisories failed"),
        }
        // Counted on a read connection; only the one-row upsert writes.
        let snapshot = async {
            let now = state.clock.now();
            let mut conn = state.db.read().await?;
            if patchport_db::report::snapshot_due(&mut conn, now).await? {
                let counts = patchport_db::report::dashboard(&mut conn, now).await?;
                drop(conn);
                let mut conn = state.db.write().await?;
                patchport_db::report::record_snapshot(&mut conn, &counts, now).await?;
            }
            Ok::<_, patchport_db::StorageError>(())
        };
        if let Err(e) = snapshot.await {
            tracing::warn!(error = %app::errors::error_chain(&e), "report snapshot failed");
        }
    }
}

/// Fetches and imports the configured advisory sources at start and then
/// on the interval. Each source is imported all or nothing; a failure is
/// logged (with the URL and the reason) and the next source still runs.
async fn fetch_advisories(state: AppState, sources: AdvisorySources) {
    let mut tick = tokio::time::interval(sources.every);
    loop {
        tick.tick().await;
        for url in &sources.osv {
            match crate::advisories::import_url(&state.db, state.clock.as_ref(), url, "schedule")
                .await
            {
                Ok(done) => tracing::info!(
                    url,
                    read = done.read,
                    new = done.inserted,
                    changed = done.updated,
                    "advisories fetched"
                ),
                Err(e) => tracing::warn!(url, error = %e, "advisories not imported"),
            }
        }
        if let Some(url) = &sources.kev {
            match crate::advisories::import_kev_url(
                &state.db,
                state.clock.as_ref(),
                url,
                "schedule",
            )
            .await
            {
                Ok(done) => {
                    tracing::info!(
                        url,
                        read = done.read,
                        changed = done.inserted,
                        "known exploited vulnerabilities fetched"
                    )
                }
                Err(e) => tracing::warn!(url, error = %e, "KEV catalog not imported"),
            }
        }
    }
}

/// A setup code that is easy to copy from a log: 3 groups of 4 characters
/// from an alphabet without look-alikes (about 60 bits).
fn new_setup_code() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    (0..3)
        .map(|_| {
            (0..4)
                .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Completes on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
