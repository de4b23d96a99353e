//! Integration tests: the real portal on port 0, over HTTP, on SQLite and
//! (when `PATCHPORT_TEST_POSTGRES` is set) on PostgreSQL.

mod support;

use support::{ADMIN, OWNER, PASSWORD, TestApp, for_each_backend};

#[tokio::test]
async fn session_cookie_changes_at_login_and_the_old_one_stops_working() {
    for_each_backend(|app| async move {
        let first = app.login(ADMIN, PASSWORD).await.expect("first sign-in");
        assert_eq!(app.whoami(Some(&first)).await.as_deref(), Some(ADMIN));
        // Signing in again while holding a session must issue a new id.
        let resp = app
            .post_fn(
                "/api/login",
                Some(&first),
                &[("username", OWNER), ("password", PASSWORD), ("next", "/")],
            )
            .await;
        let second = support::session_cookie(&resp).expect("a new session cookie at sign-in");
        assert_ne!(first, second, "session id must change at sign-in");
        assert_eq!(app.whoami(Some(&second)).await.as_deref(), Some(OWNER));
        assert_eq!(
            app.whoami(Some(&first)).await,
            None,
            "pre-login session id must be dead"
        );
    })
    .await;
}

#[tokio::test]
async fn logout_deletes_the_session_and_the_old_cookie_is_rejected() {
    for_each_backend(|app| async move {
        let cookie = app.login(OWNER, PASSWORD).await.unwrap();
        assert_eq!(app.get("/", Some(&cookie)).await.status(), 200);
        let resp = app.post_fn("/api/logout", Some(&cookie), &[]).await;
        assert!(
            resp.status().is_success() || resp.status().is_redirection(),
            "logout: {}",
            resp.status()
        );
        assert_eq!(app.whoami(Some(&cookie)).await, None);
        let page = app.get("/", Some(&cookie)).await;
        assert_eq!(page.status(), 303);
        assert_eq!(page.headers()["location"], "/login?next=%2F");
        let again = app.post_fn("/api/logout", Some(&cookie), &[]).await;
        assert!(
            again.status().is_success() || again.status().is_redirection(),
            "signing out twice is harmless: {}",
            again.status()
        );
        let fn_call = app
            .post_fn(
                "/api/admin/users/list",
                Some(&cookie),
                &[("search", ""), ("page", "1")],
            )
            .await;
        assert_eq!(fn_call.status(), 401);
    })
    .await;
}

#[tokio::test]
async fn cross_origin_posts_to_server_functions_are_refused() {
    for_each_backend(|app| async move {
        let cookie = app.login(ADMIN, PASSWORD).await.unwrap();
        let form = [
            ("username", "mallory"),
            ("display_name", ""),
            ("email", ""),
            ("role", "admin"),
            ("password", "carbon-kettle-91"),
        ];
        let cases: &[(&str, &str, u16)] = &[
            ("origin", "http://evil.example", 403),
            ("origin", "null", 403),
            ("sec-fetch-site", "cross-site", 403),
            ("sec-fetch-site", "same-site", 403),
        ];
        for (header, value, want) in cases {
            let resp = app
                .client
                .post(app.url("/api/admin/users/create"))
                .header("cookie", format!("patchport_session={cookie}"))
                .header(*header, *value)
                .form(&form)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), *want, "{header}: {value}");
        }
        assert!(
            app.find_user("mallory").await.is_none(),
            "nothing was created by refused requests"
        );
        let same = app
            .client
            .post(app.url("/api/admin/users/create"))
            .header("cookie", format!("patchport_session={cookie}"))
            .header("origin", app.base.as_str())
            .header("sec-fetch-site", "same-origin")
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(same.status(), 200, "same-origin request works");
        assert!(app.find_user("mallory").await.is_some());
    })
    .await;
}

#[tokio::test]
async fn an_owner_calling_admin_server_functions_is_refused_and_nothing_changes() {
    for_each_backend(|app| async move {
        let cookie = app.login(OWNER, PASSWORD).await.unwrap();
        let admin_id = app.find_user(ADMIN).await.unwrap().to_string();
        let calls: &[(&str, Vec<(&str, &str)>)] = &[
            (
                "/api/admin/users/create",
                vec![
                    ("username", "eve"),
                    ("display_name", ""),
                    ("email", ""),
                    ("role", "admin"),
                    ("password", "carbon-kettle-91"),
                ],
            ),
            (
                "/api/admin/users/set_disabled",
                vec![("id", &admin_id), ("disabled", "true")],
            ),
            (
                "/api/admin/users/set_role",
                vec![("id", &admin_id), ("role", "owner")],
            ),
            (
                "/api/admin/users/reset_password",
                vec![("id", &admin_id), ("password", "carbon-kettle-91")],
            ),
            ("/api/admin/audit", vec![("action", ""), ("page", "1")]),
            ("/api/admin/enrollment/create", vec![("label", "x"), ("valid_hours", "1"), ("max_uses", "1")]),
            ("/api/admin/enrollment/list", vec![]),
            ("/api/admin/enrollment/revoke", vec![("id", "1")]),
            ("/api/admin/servers/revoke_agent", vec![("server_id", "1")]),
            ("/api/admin/servers/assign", vec![("server_id", "1"), ("owner", ""), ("criticality", "standard")]),
            ("/api/admin/servers/rotate_credential", vec![("server_id", "1")]),
            ("/api/admin/groups/list", vec![]),
            ("/api/admin/groups/create", vec![("name", "x")]),
            ("/api/admin/groups/delete", vec![("id", "1")]),
            ("/api/admin/groups/set_test", vec![("id", "1")]),
            ("/api/admin/jobs/cancel", vec![("job_id", "1")]),
        ];
        for (path, body) in [
            ("/api/admin/servers/set_groups", serde_json::json!({"server_id": 1, "group_ids": []})),
            ("/api/admin/jobs/queue", serde_json::json!({"server_id": 1, "kind": "refresh", "patch_ids": [], "start_at": "", "window_hours": 1})),
        ] {
            let resp = app.post_json(path, Some(&cookie), body).await;
            assert_eq!(resp.status(), 403, "{path}");
        }
        let list = app.post_json("/api/admin/users/list", Some(&cookie), serde_json::json!({"filter": {"search": "", "role": "", "status": "", "sort": "", "descending": false}, "page": 1})).await;
        assert_eq!(list.status(), 403, "list users");
        for (path, form) in calls {
            let resp = app.post_fn(path, Some(&cookie), form).await;
            assert_eq!(resp.status(), 403, "{path}");
            let body: app::errors::AppError = resp.json().await.unwrap();
            assert_eq!(body, app::errors::AppError::Forbidden, "{path}");
        }
        assert!(app.find_user("eve").await.is_none());
        assert!(
            app.login(ADMIN, PASSWORD).await.is_some(),
            "admin untouched: not disabled, password unchanged"
        );
        let page = app.get("/admin/users", Some(&cookie)).await;
        assert_eq!(page.status(), 403, "admin page refused to owner");
        assert_eq!(app.get("/setup", None).await.status(), 404, "no setup page once an admin exists");
        assert!(page.text().await.unwrap().contains("Administrators only"));
    })
    .await;
}

#[tokio::test]
async fn every_server_function_needs_a_signed_in_user_unless_allow_listed() {
    for_each_backend(|app| async move {
        let registered: Vec<&str> = server_fn::axum::server_fn_paths().map(|(p, _)| p).collect();
        assert!(
            registered.len() >= 10,
            "server functions are registered: {registered:?}"
        );
        for public in app::PUBLIC_SERVER_FNS {
            assert!(
                registered.contains(public),
                "allow-listed {public} is a registered server function"
            );
        }
        for path in registered
            .iter()
            .filter(|p| !app::PUBLIC_SERVER_FNS.contains(p))
        {
            let resp = app.post_fn(path, None, &[]).await;
            assert_eq!(resp.status(), 401, "{path} must refuse anonymous callers");
        }
    })
    .await;
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    for_each_backend(|app| async move {
        let big = "x".repeat(200 * 1024);
        let resp = app
            .post_fn(
                "/api/login",
                None,
                &[("username", &big), ("password", "x"), ("next", "/")],
            )
            .await;
        assert_eq!(resp.status(), 413);
    })
    .await;
}

#[tokio::test]
async fn security_headers_are_on_pages_and_the_csp_nonce_matches_the_scripts() {
    for_each_backend(|app| async move {
        let resp = app.get("/login", None).await;
        assert_eq!(resp.status(), 200);
        let h = resp.headers().clone();
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "same-origin");
        assert_eq!(h["cache-control"], "no-store");
        let csp = h["content-security-policy"].to_str().unwrap().to_owned();
        for part in [
            "'wasm-unsafe-eval'",
            "frame-ancestors 'none'",
            "default-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(part), "CSP has {part}: {csp}");
        }
        assert!(!csp.contains("'unsafe-inline'"), "no unsafe-inline: {csp}");
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|s| s.split('\'').next())
            .expect("page CSP has a nonce");
        let html = resp.text().await.unwrap();
        assert!(
            html.contains(&format!("nonce=\"{nonce}\"")),
            "the hydration script carries the CSP nonce"
        );

        let cookie = app.login(ADMIN, PASSWORD).await.unwrap();
        // Every page the portal renders, streamed or awaited, found or not:
        // its scripts carry the nonce its header allows, a new one each time.
        let nonce_of = |csp: &str| {
            csp.split("'nonce-")
                .nth(1)
                .and_then(|s| s.split('\'').next())
                .map(str::to_owned)
        };
        let mut seen: Vec<String> = vec![nonce.to_owned()];
        for path in [
            "/admin/users",
            "/servers",
            "/report",
            "/windows",
            "/",
            "/no-such-page",
        ] {
            let page = app.get(path, Some(&cookie)).await;
            assert_eq!(page.headers()["cache-control"], "no-store", "{path}");
            let csp = page.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_owned();
            let nonce =
                nonce_of(&csp).unwrap_or_else(|| panic!("{path}: page CSP has a nonce: {csp}"));
            let html = page.text().await.unwrap();
            assert!(
                html.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: scripts carry the header's nonce"
            );
            assert!(!seen.contains(&nonce), "{path}: a new nonce for each page");
            seen.push(nonce);
        }
        // What is not a page allows no inline script at all.
        let json = app.post_fn("/api/whoami", Some(&cookie), &[]).await;
        let csp = json.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(nonce_of(&csp).is_none(), "no nonce outside pages: {csp}");
        assert_eq!(
            app.get("/healthz", None).await.headers()["x-frame-options"],
            "DENY"
        );
        assert!(
            !h.contains_key("strict-transport-security"),
            "not over plain http"
        );
        // A page whose address carries a secret sends no referrer.
        let reset = app
            .get("/reset/0123456789abcdef0123456789abcdef01234567", None)
            .await;
        assert_eq!(reset.headers()["referrer-policy"], "no-referrer");
    })
    .await;
    // Behind https: HSTS, and the session cookie is a __Host- one.
    support::for_each_backend_with(
        |s| s.public_url = "https://patchport.example/".parse().unwrap(),
        |app| async move {
            let resp = app.get("/login", None).await;
            assert_eq!(
                resp.headers()["strict-transport-security"],
                "max-age=31536000"
            );
            let resp = app
                .post_fn(
                    "/api/login",
                    None,
                    &[("username", ADMIN), ("password", PASSWORD), ("next", "/")],
                )
                .await;
            let cookies: Vec<String> = resp
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect();
            assert!(
                cookies
                    .iter()
                    .any(|c| c.starts_with("__Host-patchport_session=") && c.contains("Secure")),
                "{cookies:?}"
            );
            assert!(
                cookies
                    .iter()
                    .any(|c| c.starts_with("__Host-patchport_device=") && c.contains("Secure")),
                "{cookies:?}"
            );
        },
    )
    .await;
}

#[tokio::test]
async fn wrong_password_and_unknown_user_fail_alike_then_throttle_without_permanent_lockout() {
    for_each_backend(|app| async move {
        let wrong = app
            .post_fn(
                "/api/login",
                None,
                &[
                    ("username", OWNER),
                    ("password", "not-the-password"),
                    ("next", "/"),
                ],
            )
            .await;
        let unknown = app
            .post_fn(
                "/api/login",
                None,
                &[
                    ("username", "nobody"),
                    ("password", "not-the-password"),
                    ("next", "/"),
                ],
            )
            .await;
        let malformed = app
            .post_fn(
                "/api/login",
                None,
                &[("username", "x y"), ("password", "p"), ("next", "/")],
            )
            .await;
        let (s1, s2, s3) = (wrong.status(), unknown.status(), malformed.status());
        let (b1, b2, b3) = (
            wrong.text().await.unwrap(),
            unknown.text().await.unwrap(),
            malformed.text().await.unwrap(),
        );
        assert_eq!((s1, s2, s3), (s1, s1, s1));
        assert_eq!(s1, 422);
        assert_eq!(b1, b2, "same answer for wrong password and unknown user");
        assert_eq!(b1, b3);
        assert!(b1.contains(app::accounts::LOGIN_FAILED));

        // The same client address keeps failing: after the free attempts,
        // known and unknown users alike are throttled.
        for _ in 0..3 {
            app.post_fn(
                "/api/login",
                None,
                &[
                    ("username", OWNER),
                    ("password", "nope-nope-nope"),
                    ("next", "/"),
                ],
            )
            .await;
        }
        let throttled = app
            .post_fn(
                "/api/login",
                None,
                &[("username", OWNER), ("password", PASSWORD), ("next", "/")],
            )
            .await;
        assert_eq!(
            throttled.status(),
            429,
            "even the right password waits while throttled"
        );
        let throttled_unknown = app
            .post_fn(
                "/api/login",
                None,
                &[
                    ("username", "nobody"),
                    ("password", PASSWORD),
                    ("next", "/"),
                ],
            )
            .await;
        assert_eq!(throttled_unknown.status(), 429);

        app.clock.advance(16 * 60);
        assert!(
            app.login(OWNER, PASSWORD).await.is_some(),
            "the block ends: no permanent lockout"
        );
        // The five free attempts were checked and audited; the sixth was
        // refused before its password was looked at.
        let failures = app.audit_count("login.failed").await;
        assert_eq!(failures, 5, "failed sign-ins are audited");
    })
    .await;
}

#[tokio::test]
async fn idle_and_absolute_timeouts_are_enforced_by_the_server() {
    for_each_backend(|app| async move {
        let idle = app.login(OWNER, PASSWORD).await.unwrap();
        app.clock.advance(29 * 60);
        assert_eq!(
            app.whoami(Some(&idle)).await.as_deref(),
            Some(OWNER),
            "used within the idle timeout"
        );
        app.clock.advance(31 * 60);
        assert_eq!(app.whoami(Some(&idle)).await, None, "idle for 31 minutes");

        let busy = app.login(ADMIN, PASSWORD).await.unwrap();
        for _ in 0..(12 * 60 / 20 - 1) {
            app.clock.advance(20 * 60);
            assert_eq!(app.whoami(Some(&busy)).await.as_deref(), Some(ADMIN));
        }
        app.clock.advance(20 * 60);
        assert_eq!(
            app.whoami(Some(&busy)).await,
            None,
            "12 hours after sign-in, even when busy"
        );
    })
    .await;
}

#[tokio::test]
async fn a_password_change_ends_the_users_other_sessions_only() {
    for_each_backend(|app| async move {
        let here = app.login(OWNER, PASSWORD).await.unwrap();
        let elsewhere = app.login(OWNER, PASSWORD).await.unwrap();
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let bad = app
            .post_fn(
                "/api/change_password",
                Some(&here),
                &[
                    ("current", "wrong-password"),
                    ("password", "a-new-password-1"),
                    ("password_repeat", "a-new-password-1"),
                ],
            )
            .await;
        assert_eq!(bad.status(), 422);
        assert_eq!(
            app.whoami(Some(&elsewhere)).await.as_deref(),
            Some(OWNER),
            "a refused change ends nothing"
        );
        let ok = app
            .post_fn(
                "/api/change_password",
                Some(&here),
                &[
                    ("current", PASSWORD),
                    ("password", "a-new-password-1"),
                    ("password_repeat", "a-new-password-1"),
                ],
            )
            .await;
        assert_eq!(ok.status(), 200);
        assert_eq!(app.whoami(Some(&here)).await.as_deref(), Some(OWNER));
        assert_eq!(app.whoami(Some(&elsewhere)).await, None);
        assert_eq!(
            app.whoami(Some(&admin)).await.as_deref(),
            Some(ADMIN),
            "other users keep their sessions"
        );
        assert!(app.login(OWNER, PASSWORD).await.is_none());
        assert!(app.login(OWNER, "a-new-password-1").await.is_some());
        // The owner is told, whatever their mail preferences.
        let owner = app.find_user(OWNER).await.unwrap();
        let mut conn = app.app_state.db.read().await.unwrap();
        let told: Vec<(String,)> = sqlx::query_as(
            "select body from notification where account_id = $1 and kind = 'password_changed'",
        )
        .bind(owner)
        .fetch_all(&mut *conn)
        .await
        .unwrap();
        assert_eq!(told.len(), 1);
        assert!(told[0].0.contains("on your account page"), "{told:?}");
    })
    .await;
}

#[tokio::test]
async fn admins_manage_users_with_guards_and_an_audit_trail() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let owner_session = app.login(OWNER, PASSWORD).await.unwrap();
        let create = |name: &'static str, email: &'static str, password: &'static str| {
            let app = &app;
            let admin = admin.clone();
            async move {
                app.post_fn(
                    "/api/admin/users/create",
                    Some(&admin),
                    &[
                        ("username", name),
                        ("display_name", "X"),
                        ("email", email),
                        ("role", "owner"),
                        ("password", password),
                    ],
                )
                .await
            }
        };
        // Bad input is refused with a clear message and creates nothing.
        let cases: &[(&str, &str, &str, &str)] = &[
            (
                "a",
                "",
                "carbon-kettle-91",
                "user name must be 3 to 64 characters",
            ),
            (
                "bad name",
                "",
                "carbon-kettle-91",
                "user name may contain only",
            ),
            (
                "carol",
                "not-an-email",
                "carbon-kettle-91",
                "email address must look like",
            ),
            ("carol", "", "short", "password must be at least 10"),
            (OWNER, "", "carbon-kettle-91", "user name is taken"),
            ("dave", "", "qwertyuiop", "commonly leaked passwords"),
            ("dave", "", "letmein123", "too easy to guess"),
        ];
        for (name, email, pw, want) in cases {
            let resp = create(name, email, pw).await;
            assert!(
                resp.status() == 422 || resp.status() == 409,
                "{name}: {}",
                resp.status()
            );
            let text = resp.text().await.unwrap();
            assert!(
                text.contains(want),
                "{name}/{email}/{pw}: want {want:?} in {text}"
            );
            assert!(
                !text.to_lowercase().contains("unique") && !text.contains("sqlx"),
                "no internals: {text}"
            );
        }
        assert!(app.find_user("carol").await.is_none());
        assert_eq!(
            create("carol", "carol@corp.example", "carbon-kettle-91")
                .await
                .status(),
            200
        );

        let owner_id = app.find_user(OWNER).await.unwrap().to_string();
        let admin_id = app.find_user(ADMIN).await.unwrap().to_string();
        let myself = app
            .post_fn(
                "/api/admin/users/set_disabled",
                Some(&admin),
                &[("id", &admin_id), ("disabled", "true")],
            )
            .await;
        assert_eq!(myself.status(), 409, "admins cannot disable themselves");

        let off = app
            .post_fn(
                "/api/admin/users/set_disabled",
                Some(&admin),
                &[("id", &owner_id), ("disabled", "true")],
            )
            .await;
        assert_eq!(off.status(), 200);
        assert_eq!(
            app.whoami(Some(&owner_session)).await,
            None,
            "disabling ends sessions"
        );
        assert!(
            app.login(OWNER, PASSWORD).await.is_none(),
            "disabled users cannot sign in"
        );
        app.post_fn(
            "/api/admin/users/set_disabled",
            Some(&admin),
            &[("id", &owner_id), ("disabled", "false")],
        )
        .await;
        assert!(app.login(OWNER, PASSWORD).await.is_some(), "re-enabled");

        let promote = app
            .post_fn(
                "/api/admin/users/set_role",
                Some(&admin),
                &[("id", &owner_id), ("role", "admin")],
            )
            .await;
        assert_eq!(promote.status(), 200);
        let reset = app
            .post_fn(
                "/api/admin/users/reset_password",
                Some(&admin),
                &[("id", &owner_id), ("password", "reset-password-1")],
            )
            .await;
        assert_eq!(reset.status(), 200);
        assert!(app.login(OWNER, "reset-password-1").await.is_some());

        for action in [
            "user.created",
            "user.disabled",
            "user.enabled",
            "user.role_changed",
            "user.password_reset",
            "login.succeeded",
            "login.failed",
        ] {
            assert!(app.audit_count(action).await >= 1, "audit has {action}");
        }
        let audit = app
            .post_fn(
                "/api/admin/audit",
                Some(&admin),
                &[("action", "user."), ("page", "1")],
            )
            .await;
        let page: serde_json::Value = audit.json().await.unwrap();
        assert!(page["total"].as_i64().unwrap() >= 5);
        assert_eq!(page["items"][0]["actor"], ADMIN);
        assert_eq!(page["items"][0]["source"], "127.0.0.1");
    })
    .await;
}

#[tokio::test]
async fn first_run_setup_needs_the_code_and_closes_once_an_admin_exists() {
    support::for_each_fresh_backend(|app: TestApp| async move {
        let code = app
            .setup_code
            .clone()
            .expect("a setup code while no admin exists");
        let form = |code: &str| {
            vec![
                ("code".to_owned(), code.to_owned()),
                ("username".to_owned(), "root-admin".to_owned()),
                ("display_name".to_owned(), "Root".to_owned()),
                ("password".to_owned(), "first-admin-pass".to_owned()),
                ("password_repeat".to_owned(), "first-admin-pass".to_owned()),
            ]
        };
        let open: bool = app
            .post_fn("/api/setup_open", None, &[])
            .await
            .json()
            .await
            .unwrap();
        assert!(open);
        let wrong = app
            .post_fn_owned("/api/setup_admin", None, &form("AAAA-BBBB-CCCC"))
            .await;
        assert_eq!(wrong.status(), 422);
        assert!(app.find_user("root-admin").await.is_none());
        let ok = app
            .post_fn_owned("/api/setup_admin", None, &form(&code))
            .await;
        assert!(
            ok.status().is_success() || ok.status().is_redirection(),
            "{}",
            ok.status()
        );
        let cookie = support::session_cookie(&ok).expect("the new admin is signed in");
        assert_eq!(
            app.whoami(Some(&cookie)).await.as_deref(),
            Some("root-admin")
        );
        let open: bool = app
            .post_fn("/api/setup_open", None, &[])
            .await
            .json()
            .await
            .unwrap();
        assert!(!open, "setup closes once an admin exists");
        assert_eq!(
            app.get("/setup", None).await.status(),
            404,
            "and the page is gone"
        );
        let again = app
            .post_fn_owned("/api/setup_admin", None, &form(&code))
            .await;
        assert_eq!(again.status(), 422, "the code is single use");
    })
    .await;
}

#[tokio::test]
async fn healthz_checks_the_database() {
    for_each_backend(|app| async move {
        let resp = app.get("/healthz", None).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.text().await.unwrap(), "ok");
        app.app_state.db.close().await;
        assert_eq!(app.get("/healthz", None).await.status(), 503);
    })
    .await;
}
