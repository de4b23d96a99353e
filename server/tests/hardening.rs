//! Sign-in that cannot be raced or turned against its users, and redirects
//! that stay on the portal, on SQLite and PostgreSQL (issue 14).

mod support;

use support::{ADMIN, OWNER, PASSWORD, TestApp, for_each_backend, for_each_backend_with};

impl TestApp {
    /// A sign-in attempt, as the sign-in form posts it, from `cookie`'s
    /// browser (its device cookie) and with extra headers.
    async fn attempt(
        &self,
        username: &str,
        password: &str,
        next: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut req = self.client.post(self.url("/api/login")).form(&[
            ("username", username),
            ("password", password),
            ("next", next),
        ]);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap()
    }

    async fn failed_checks(&self, username: &str) -> i64 {
        let mut conn = self.app_state.db.read().await.unwrap();
        let (n,): (i64,) = sqlx::query_as(
            "select count(*) from audit_event where action = 'login.failed' and target = $1",
        )
        .bind(username)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        n
    }
}

/// The device cookie a successful sign-in sets (`name=value`).
fn device_cookie(resp: &reqwest::Response) -> String {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("patchport_device="))
        .and_then(|v| v.split(';').next())
        .expect("a device cookie")
        .to_owned()
}

#[tokio::test]
async fn a_burst_of_wrong_passwords_checks_at_most_the_free_ones() {
    for_each_backend(|app| async move {
        // The admin signed in from this browser before: a known device.
        let earlier = app.attempt(ADMIN, PASSWORD, "/", &[]).await;
        assert!(earlier.status().is_success() || earlier.status().is_redirection());
        let device = device_cookie(&earlier);
        let owner_device = device_cookie(&app.attempt(OWNER, PASSWORD, "/", &[]).await);
        let owner = app.login(OWNER, PASSWORD).await.unwrap();

        // 100 wrong passwords at once for the admin's name, and meanwhile
        // a signed-in page.
        let wrong: Vec<String> = (0..100).map(|i| format!("wrong password {i}")).collect();
        let burst =
            futures_util::future::join_all(wrong.iter().map(|w| app.attempt(ADMIN, w, "/", &[])));
        let page = async {
            let started = std::time::Instant::now();
            let resp = app.get("/servers", Some(&owner)).await;
            assert_eq!(resp.status(), 200);
            started.elapsed()
        };
        let (answers, waited) = tokio::join!(burst, page);
        eprintln!("a signed-in page during the burst took {waited:?}");
        let mut statuses = std::collections::BTreeMap::new();
        for resp in &answers {
            *statuses.entry(resp.status().as_u16()).or_insert(0) += 1;
        }
        assert_eq!(statuses.get(&422), Some(&5), "{statuses:?}");
        assert_eq!(statuses.get(&429), Some(&95), "{statuses:?}");
        assert_eq!(
            app.failed_checks(ADMIN).await,
            5,
            "only five passwords were checked"
        );
        // Far below the 23 s the page took while every attempt was hashed.
        assert!(
            waited < std::time::Duration::from_secs(2),
            "page took {waited:?}"
        );

        // The right password from a new browser waits out the block…
        let new_browser = app.attempt(ADMIN, PASSWORD, "/", &[]).await;
        assert_eq!(new_browser.status(), 429);
        // …but not from the admin's own, known browser.
        let known = app
            .attempt(ADMIN, PASSWORD, "/", &[("cookie", &device)])
            .await;
        assert!(
            known.status().is_success() || known.status().is_redirection(),
            "known device: {}",
            known.status()
        );
        // A device cookie of another account does not help: its attempts
        // count on the name and the address like any browser's.
        for _ in 0..5 {
            let borrowed = app
                .attempt(ADMIN, "wrong again", "/", &[("cookie", &owner_device)])
                .await;
            assert_eq!(borrowed.status(), 422);
        }
        let borrowed = app
            .attempt(ADMIN, PASSWORD, "/", &[("cookie", &owner_device)])
            .await;
        assert_eq!(borrowed.status(), 429);
    })
    .await;
}

#[tokio::test]
async fn the_hashing_slots_turn_a_flood_into_429_and_give_the_count_back() {
    for_each_backend(|app| async move {
        // Every slot taken (as by a flood of sign-ins from everywhere).
        let held = app
            .app_state
            .auth
            .hashes
            .clone()
            .acquire_many_owned(4)
            .await
            .unwrap();
        let busy = app.attempt(ADMIN, PASSWORD, "/", &[]).await;
        assert_eq!(busy.status(), 429);
        let body = busy.text().await.unwrap();
        assert!(body.contains("Too many sign-ins at once"), "{body}");
        drop(held);
        // The refused attempt was not counted against the name.
        for _ in 0..4 {
            assert_eq!(app.attempt(ADMIN, "wrong", "/", &[]).await.status(), 422);
        }
        let ok = app.attempt(ADMIN, PASSWORD, "/", &[]).await;
        assert!(
            ok.status().is_success() || ok.status().is_redirection(),
            "{}",
            ok.status()
        );
    })
    .await;
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_real_client_is_throttled() {
    let proxied = |s: &mut patchport::Settings| {
        s.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    };
    for_each_backend_with(proxied, |app| async move {
        let from = |ip: &'static str| [("x-forwarded-for", ip)];
        // Five failures of one client behind the proxy, each for another
        // name: its address is blocked…
        for i in 0..5 {
            let resp = app
                .attempt(&format!("nobody-{i}"), "wrong", "/", &from("203.0.113.5"))
                .await;
            assert_eq!(resp.status(), 422);
        }
        let blocked = app.attempt("nobody-9", "wrong", "/", &from("203.0.113.5")).await;
        assert_eq!(blocked.status(), 429);
        // …another client behind the same proxy is not.
        let other = app.attempt(OWNER, PASSWORD, "/", &from("198.51.100.7")).await;
        assert!(other.status().is_success() || other.status().is_redirection());
        // The audit trail names the real client.
        let mut conn = app.app_state.db.read().await.unwrap();
        let (source,): (String,) = sqlx::query_as(
            "select source from audit_event where action = 'login.succeeded' order by id desc limit 1",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(source, "198.51.100.7");
    })
    .await;
    // Without a trusted proxy the header is the client's say-so: ignored.
    for_each_backend(|app| async move {
        for i in 0..5 {
            let resp = app
                .attempt(
                    &format!("nobody-{i}"),
                    "wrong",
                    "/",
                    &[("x-forwarded-for", &format!("203.0.113.{i}"))],
                )
                .await;
            assert_eq!(resp.status(), 422);
        }
        let blocked = app
            .attempt(
                "nobody-9",
                "wrong",
                "/",
                &[("x-forwarded-for", "198.51.100.99")],
            )
            .await;
        assert_eq!(blocked.status(), 429, "all from 127.0.0.1");
    })
    .await;
}

#[tokio::test]
async fn after_sign_in_only_local_paths_are_followed() {
    for_each_backend(|app| async move {
        for (next, expect) in [
            ("/servers/3", "/servers/3"),
            ("/report?severity=critical", "/report?severity=critical"),
            ("//evil.example/phish", "/"),
            ("/\t/evil.example/phish", "/"),
            ("/\\evil.example", "/"),
            ("https://evil.example/", "/"),
            ("/%2F/evil.example", "/"),
            ("/\r\nSet-Cookie: stolen=1", "/"),
            ("/\u{7f}x", "/"),
        ] {
            // A plain form post (no JavaScript) gets a real redirect.
            let resp = app
                .attempt(OWNER, PASSWORD, next, &[("accept", "text/html")])
                .await;
            assert_eq!(resp.status(), 302, "{next:?}");
            assert_eq!(
                resp.headers()["location"].to_str().unwrap(),
                expect,
                "{next:?}"
            );
        }
    })
    .await;
}

#[tokio::test]
async fn a_weaker_stored_hash_is_made_again_at_sign_in() {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    for_each_backend(|app| async move {
        let weak = argon2::Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            argon2::Params::new(4096, 1, 1, None).unwrap(),
        )
        .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        let owner = app.find_user(OWNER).await.unwrap();
        let mut tx = app.app_state.db.begin().await.unwrap();
        patchport_db::accounts::set_password_hash(&mut tx, owner, &weak, app.clock_now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(app.login(OWNER, PASSWORD).await.is_some());
        let mut conn = app.app_state.db.read().await.unwrap();
        let stored = patchport_db::accounts::password_hash(&mut conn, owner)
            .await
            .unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        drop(conn);
        assert!(
            app.login(OWNER, PASSWORD).await.is_some(),
            "the new hash works"
        );
    })
    .await;
}

#[tokio::test]
async fn without_its_database_the_portal_answers_503_not_500() {
    for_each_backend(|app| async move {
        let (_, credential) = app.enrolled().await;
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        // The database goes away (as when PostgreSQL stops).
        app.app_state.db.close().await;
        assert_eq!(app.get("/healthz", None).await.status(), 503);
        let call = app
            .post_fn("/api/admin/enrollment/list", Some(&admin), &[])
            .await;
        assert_eq!(call.status(), 503, "a server function");
        let body = call.text().await.unwrap();
        assert!(
            !body.to_lowercase().contains("pool"),
            "no internal text: {body}"
        );
        let check_in = app
            .check_in(
                &credential,
                &patchport_core::protocol::CheckInRequest {
                    digest: String::new(),
                    report: None,
                },
            )
            .await;
        assert_eq!(check_in.status(), 503, "the agent API");
    })
    .await;
}

#[tokio::test]
async fn unreadable_input_to_a_server_function_is_400_or_413_not_500() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        for form in [
            &[("id", "abc"), ("page", "1")][..],
            &[("page", "1")][..],
            &[("id", "99999999999999999999999"), ("page", "1")][..],
        ] {
            let resp = app.post_fn("/api/patches/detail", Some(&admin), form).await;
            assert_eq!(resp.status(), 400, "{form:?}");
            let body = resp.text().await.unwrap();
            assert!(body.contains("The request could not be read."), "{body}");
            assert!(!body.contains("deserializ"), "no internal wording: {body}");
        }
        // A body over the limit sent in chunks (no Content-Length) is 413.
        let addr = app.base.trim_start_matches("http://").to_owned();
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let chunk = format!("username={}", "a".repeat(70 * 1024));
        let request = format!(
            "POST /api/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
            chunk.len()
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{}", answer.lines().next().unwrap_or(""));
    })
    .await;
}

#[tokio::test]
async fn an_owner_refused_an_admin_function_is_in_the_audit_trail() {
    for_each_backend(|app| async move {
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        assert_eq!(app.audit_count("access.denied").await, 0);
        let resp = app
            .post_fn("/api/admin/enrollment/list", Some(&owner), &[])
            .await;
        assert_eq!(resp.status(), 403);
        assert_eq!(app.audit_count("access.denied").await, 1);
        let mut conn = app.app_state.db.read().await.unwrap();
        let (actor, target): (String, String) = sqlx::query_as(
            "select actor_name, target from audit_event where action = 'access.denied'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(
            (actor.as_str(), target.as_str()),
            (OWNER, "/api/admin/enrollment/list")
        );
        drop(conn);
        // An admin's own calls are not refusals.
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let resp = app
            .post_fn("/api/admin/enrollment/list", Some(&admin), &[])
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(app.audit_count("access.denied").await, 1);
    })
    .await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for_each_backend_with(
        |settings| settings.header_timeout = 1,
        |app| async move {
            let addr = app.base.trim_start_matches("http://").to_owned();
            // Slow clients, each sending half a request line and stopping.
            let mut slow = Vec::new();
            for _ in 0..50 {
                let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
                stream
                    .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                    .await
                    .unwrap();
                slow.push(stream);
            }
            // The portal still answers meanwhile.
            assert_eq!(app.get("/healthz", None).await.status(), 200);
            // Within a few seconds every slow connection is closed by the
            // portal (a read returns end of stream or a reset, never hangs).
            for mut stream in slow {
                let mut buf = Vec::new();
                let read = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    stream.read_to_end(&mut buf),
                )
                .await;
                assert!(read.is_ok(), "a slow connection was still open after 5 s");
            }
        },
    )
    .await;
}

/// A TCP relay between the portal and PostgreSQL that can be cut (every
/// open connection dropped, new ones closed at once, as a PostgreSQL that
/// stops) and restored.
struct Relay {
    addr: std::net::SocketAddr,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl Relay {
    async fn start(upstream: String) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (flag, conns) = (up.clone(), open.clone());
        let accepting = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let upstream = upstream.clone();
                let relayed = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                conns.lock().unwrap().push(relayed.abort_handle());
            }
        });
        Self {
            addr,
            up,
            open,
            accepting,
        }
    }

    fn cut(&self) {
        self.up.store(false, std::sync::atomic::Ordering::SeqCst);
        for conn in self.open.lock().unwrap().drain(..) {
            conn.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accepting.abort();
    }
}

#[tokio::test]
async fn when_postgresql_stops_the_portal_answers_503_and_recovers_without_a_restart() {
    let Ok(base) = std::env::var(patchport_db::testing::POSTGRES_ENV) else {
        eprintln!(
            "SKIPPED: {} is not set",
            patchport_db::testing::POSTGRES_ENV
        );
        return;
    };
    let upstream = url::Url::parse(&base).unwrap();
    let upstream = format!(
        "{}:{}",
        upstream.host_str().unwrap_or("127.0.0.1"),
        upstream.port().unwrap_or(5432)
    );
    let relay = Relay::start(upstream).await;
    let relay_addr = relay.addr;
    for_each_backend_with(
        move |settings| {
            if let Ok(mut url) = url::Url::parse(&settings.database_url)
                && url.scheme() == "postgres"
            {
                url.set_host(Some("127.0.0.1")).unwrap();
                url.set_port(Some(relay_addr.port())).unwrap();
                settings.database_url = url.to_string();
            }
        },
        |app| {
            let relay = &relay;
            async move {
                if !app.settings.database_url.starts_with("postgres") {
                    return; // SQLite has no server to stop
                }
                let admin = app.login(ADMIN, PASSWORD).await.unwrap();
                assert_eq!(app.get("/healthz", None).await.status(), 200);
                relay.cut();
                assert_eq!(app.get("/healthz", None).await.status(), 503);
                let call = app
                    .post_fn("/api/admin/enrollment/list", Some(&admin), &[])
                    .await;
                assert_eq!(call.status(), 503, "{}", call.text().await.unwrap());
                assert!(
                    app.login(ADMIN, PASSWORD).await.is_none(),
                    "no sign-in meanwhile"
                );
                // PostgreSQL is back: the same portal process serves again.
                relay.restore();
                assert_eq!(app.get("/healthz", None).await.status(), 200);
                let call = app
                    .post_fn("/api/admin/enrollment/list", Some(&admin), &[])
                    .await;
                assert_eq!(call.status(), 200, "the session survived");
                assert!(app.login(ADMIN, PASSWORD).await.is_some());
            }
        },
    )
    .await;
}

#[tokio::test]
async fn two_hundred_agents_reporting_at_once_all_get_through() {
    use support::{full, pkg, report, update};
    for_each_backend(|app| async move {
        // 200 servers enrol at once with one token, then all send a full
        // report at once: on SQLite every one waits its turn at the one
        // writer; none may answer "database is locked" (or anything but 200).
        let token = app.token(200, 3600).await;
        let enrolled = futures_util::future::join_all((0..200).map(|_| app.enroll(&token))).await;
        let mut credentials = Vec::new();
        for resp in enrolled {
            assert_eq!(resp.status(), 200);
            let body: serde_json::Value = resp.json().await.unwrap();
            credentials.push(body["credential"].as_str().unwrap().to_owned());
        }
        let reports: Vec<_> = (0..200)
            .map(|i| {
                let host = format!("host-{i}");
                let packages = (0..40)
                    .map(|p| pkg(&format!("lib{p}"), &format!("lib{p}"), "1.0-1"))
                    .collect();
                let updates = (0..10)
                    .map(|p| update(&format!("lib{p}"), "1.0-1", "1.0-2"))
                    .collect();
                full(&report(&host, packages, updates))
            })
            .collect();
        let answers = futures_util::future::join_all(
            credentials
                .iter()
                .zip(&reports)
                .map(|(c, r)| app.check_in(c, r)),
        )
        .await;
        let mut statuses = std::collections::BTreeMap::new();
        for resp in answers {
            *statuses.entry(resp.status().as_u16()).or_insert(0) += 1;
        }
        assert_eq!(statuses, std::collections::BTreeMap::from([(200, 200)]));
        let mut conn = app.app_state.db.read().await.unwrap();
        let (n,): (i64,) =
            sqlx::query_as("select count(*) from server where last_report_at is not null")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!(n, 200, "every report was applied");
    })
    .await;
}
