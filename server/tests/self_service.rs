//! The owner's side on both backends: "My servers" shows what was
//! published, the next window and the booked reboot; owners install what
//! was published for their servers (now, in the next window, at a time)
//! and nothing else; a booked reboot downloads as a calendar entry.

mod support;

use support::{ADMIN, OWNER, PASSWORD, for_each_backend};

#[tokio::test]
async fn owners_install_published_patches_and_take_their_booking_home() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        let (web, mut agent) = app
            .server("web-1", &[("openssl", "3.0.2-1"), ("curl", "8.5-1")], false)
            .await;
        patchport::cli::add_user(
            &app.app_state.db,
            &app.clock,
            "other-owner",
            "",
            None,
            patchport_core::Role::Owner,
            PASSWORD,
        )
        .await
        .unwrap();
        let other = app.login("other-owner", PASSWORD).await.unwrap();
        let patch = |name: &'static str| {
            let app = &app;
            async move {
                let mut conn = app.app_state.db.read().await.unwrap();
                patchport_db::servers::patch_rows(&mut conn, web)
                    .await
                    .unwrap()
                    .into_iter()
                    .find(|p| p.package == name)
                    .unwrap()
                    .patch_id
            }
        };
        let (openssl, curl) = (patch("openssl").await, patch("curl").await);
        let resp = app
            .deploy(Some(&admin),
                serde_json::json!({"mode": "publish", "patch_ids": [openssl], "server_ids": [web], "group_ids": [],
                    "owner_ids": [], "install_at": "", "reboot": "none", "reboot_at": "", "request_key": "publish-1"}))
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());

        let list = |cookie: String| {
            let app = &app;
            async move {
                let resp = app
                    .post_json("/api/servers/list", Some(&cookie),
                        serde_json::json!({"filter": {"search": "", "status": "", "criticality": "", "group_id": null,
                            "reboot": "", "missing_only": false, "sort": "", "descending": false}, "page": 1}))
                    .await;
                assert_eq!(resp.status(), 200);
                resp.json::<app::servers::ServerPage>().await.unwrap()
            }
        };
        let mine = list(owner.clone()).await;
        assert_eq!(mine.items.len(), 1);
        assert_eq!((mine.items[0].published, mine.items[0].missing), (1, 2));
        assert_eq!((mine.items[0].next_window, mine.items[0].booked_reboot), (None, None));
        assert!(list(other.clone()).await.items.is_empty(), "owners see only their servers");

        let install = |cookie: String, patches: Vec<i64>, when: &'static str, at: String| {
            let app = &app;
            async move {
                app.post_json("/api/servers/install", Some(&cookie),
                    serde_json::json!({"server_id": web, "patch_ids": patches, "when": when, "at": at}))
                    .await
            }
        };
        // Refused, changing nothing: a patch not published, another
        // owner's server, no window to install in, a time in the past.
        let resp = install(owner.clone(), vec![curl], "now", String::new()).await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("not published for you"));
        assert_eq!(install(other.clone(), vec![openssl], "now", String::new()).await.status(), 404);
        let resp = install(owner.clone(), vec![openssl], "window", String::new()).await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("no maintenance window"));
        let past = patchport_core::clock::format_utc(app.clock_now() - 7200)[..16].replace(' ', "T");
        assert_eq!(install(owner.clone(), vec![openssl], "at", past).await.status(), 422);
        assert_eq!(install(owner.clone(), vec![openssl], "tomorrow", String::new()).await.status(), 422);
        assert_eq!(app.patch_state(web, "openssl").await, "published");

        // Installed now: the job runs on the agent and the patch is installed.
        let resp = install(owner.clone(), vec![openssl], "now", String::new()).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let queued: app::jobs::InstallQueued = resp.json().await.unwrap();
        assert_eq!(queued.until - queued.starts_at, app::jobs::INSTALL_START_HOURS * 3600);
        assert_eq!(install(owner.clone(), vec![openssl], "now", String::new()).await.status(), 422, "already underway");
        assert_eq!(app.agent_runs(&mut agent, true).await, Some("install"));
        assert_eq!(app.patch_state(web, "openssl").await, "installed");
        let mut conn = app.app_state.db.read().await.unwrap();
        let (told,): (i64,) = sqlx::query_as(
            "select count(*) from mail where kind = 'install_done' and subject = 'Install on web-1 finished'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        drop(conn);
        assert_eq!(told, 0, "the owner has no mail address, so no mail");
        let mut conn = app.app_state.db.read().await.unwrap();
        let (noted,): (i64,) = sqlx::query_as(
            "select count(*) from notification where kind = 'install_done' and subject = 'Install on web-1 finished'",
        )
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        drop(conn);
        assert_eq!(noted, 1, "the owner is told the install finished");
        assert_eq!(app.patch_state(web, "curl").await, "missing");
        // Admins may install what was not published.
        assert_eq!(install(admin.clone(), vec![curl], "now", String::new()).await.status(), 200);

        // A window, a booking, and the booking as a calendar entry.
        let now = app.clock_now();
        let opens = (now / 3600 + 3) * 3600;
        app.daily_window(&admin, "daily", opens, &["web-1"]).await;
        let ics = format!("/servers/{web}/reboot.ics");
        assert_eq!(app.get(&ics, Some(&owner)).await.status(), 404, "nothing booked yet");
        let at = opens + 600;
        let local = patchport_core::clock::format_utc(at)[..16].replace(' ', "T");
        let resp = app
            .post_fn("/api/servers/book_reboot", Some(&owner), &[("server_id", &web.to_string()), ("at", &local)])
            .await;
        assert_eq!(resp.status(), 200);
        let resp = app.get(&ics, Some(&owner)).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/calendar"));
        let body = resp.text().await.unwrap();
        let stamp = chrono::DateTime::from_timestamp(at, 0).unwrap().format("%Y%m%dT%H%M%SZ").to_string();
        for line in ["BEGIN:VCALENDAR", "BEGIN:VEVENT", "SUMMARY:Reboot of web-1", &format!("DTSTART:{stamp}")] {
            assert!(body.contains(line), "{line} in {body}");
        }
        assert!(body.contains("http://127.0.0.1/servers/"), "links come from the public URL: {body}");
        assert_eq!(app.get(&ics, Some(&other)).await.status(), 404, "another owner's server");
        assert_ne!(app.get(&ics, None).await.status(), 200);

        let mine = list(owner.clone()).await;
        assert_eq!(mine.items[0].booked_reboot, Some(at));
        assert_eq!(mine.items[0].next_window, Some((opens, opens + 7200)));
        assert!(!mine.items[0].window_open);
        assert_eq!(mine.items[0].published, 0);
    })
    .await;
}

#[tokio::test]
async fn reboot_deadlines_limit_deferrals_and_alert_admins_once() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        // Rules: bad values are refused by field; then 2 days, one move.
        let rules = |r: serde_json::Value| {
            let (app, admin) = (&app, admin.clone());
            async move {
                app.post_json("/api/admin/reboot_rules/save", Some(&admin), serde_json::json!({"rules": r}))
                    .await
            }
        };
        let resp = rules(serde_json::json!({"critical_days": 1, "high_days": 2, "medium_days": 3, "low_days": 91, "max_deferrals": 1})).await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("low_days"));
        let resp = rules(serde_json::json!({"critical_days": 1, "high_days": 2, "medium_days": 3, "low_days": 2, "max_deferrals": 1})).await;
        assert_eq!(resp.status(), 200);
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        assert_eq!(
            app.post_json("/api/admin/reboot_rules/save", Some(&owner),
                serde_json::json!({"rules": {"critical_days": 1, "high_days": 1, "medium_days": 1, "low_days": 1, "max_deferrals": 9}}))
                .await.status(),
            403
        );

        // Two servers patched without a reboot, each with an hourly-ish
        // daily window (all day, every day).
        let (lazy, mut lazy_agent) = app.server("lazy-1", &[("zlib", "1.3-2")], false).await;
        let (keen, mut keen_agent) = app.server("keen-1", &[("zlib", "1.3-2")], false).await;
        let window = serde_json::json!({"days": [1, 2, 3, 4, 5, 6, 7], "start_minute": 0, "duration_minutes": 1439, "time_zone": "UTC"});
        let resp = app
            .post_json("/api/admin/windows/create", Some(&admin),
                serde_json::json!({"name": "all day", "window": window, "hostnames": ["lazy-1", "keen-1"], "group_ids": []}))
            .await;
        assert_eq!(resp.status(), 200);
        let zlib = {
            let mut conn = app.app_state.db.read().await.unwrap();
            patchport_db::servers::patch_rows(&mut conn, lazy).await.unwrap()[0].patch_id
        };
        let resp = app
            .deploy(Some(&admin),
                serde_json::json!({"mode": "deploy", "patch_ids": [zlib], "server_ids": [lazy, keen], "group_ids": [],
                    "owner_ids": [], "install_at": "", "reboot": "none", "reboot_at": "", "request_key": "deadline-1"}))
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        assert_eq!(app.agent_runs(&mut lazy_agent, true).await, Some("install"));
        assert_eq!(app.agent_runs(&mut keen_agent, true).await, Some("install"));
        let patched_at = app.clock_now();
        app.tick().await;
        let plan = |server: i64, cookie: String| {
            let app = &app;
            async move {
                let resp = app.post_fn("/api/servers/reboot_plan", Some(&cookie), &[("server_id", &server.to_string())]).await;
                resp.json::<app::booking::RebootPlanView>().await.unwrap()
            }
        };
        let deadline = plan(lazy, owner.clone()).await.deadline.expect("a deadline");
        assert_eq!(deadline, patched_at + 2 * 86_400, "an unrated patch gets the 'other' days");

        let local = |t: i64| patchport_core::clock::format_utc(t)[..16].replace(' ', "T");
        let book = |server: i64, at: i64| {
            let (app, owner) = (&app, owner.clone());
            async move {
                app.post_fn("/api/servers/book_reboot", Some(&owner), &[("server_id", &server.to_string()), ("at", &local(at))])
                    .await
            }
        };
        // After the deadline: refused. Booked, moved once, then no more.
        let resp = book(lazy, deadline + 3600).await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("must reboot by"));
        let first = (patched_at / 3600 + 2) * 3600;
        assert_eq!(book(lazy, first).await.status(), 200);
        assert_eq!(plan(lazy, owner.clone()).await.deferrals_left, Some(1));
        assert_eq!(book(lazy, first + 3600).await.status(), 200);
        assert_eq!(plan(lazy, owner.clone()).await.deferrals_left, Some(0));
        let resp = book(lazy, first + 7200).await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("already moved 1 time"));
        // Cancelling and booking again is a move too.
        assert_eq!(app.post_fn("/api/servers/cancel_reboot", Some(&owner), &[("server_id", &lazy.to_string())]).await.status(), 200);
        assert_eq!(book(lazy, first + 7200).await.status(), 422);

        // keen-1 reboots in time; lazy-1's agent is off, so its reboot is missed.
        assert_eq!(book(keen, first).await.status(), 200);
        app.clock.advance(first + 60 - app.clock_now());
        assert_eq!(app.agent_runs(&mut keen_agent, true).await, Some("reboot"));
        app.tick().await;
        app.clock.advance(deadline + 60 - app.clock_now());
        app.tick().await;
        app.tick().await;
        let mut conn = app.app_state.db.read().await.unwrap();
        let alerts: Vec<(String,)> = sqlx::query_as("select subject from notification where kind = 'deadline_missed'")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
        assert_eq!(alerts, vec![("lazy-1 missed its reboot deadline".to_owned(),)], "one alert, only for lazy-1");
        assert!(patchport_db::windows::obligation(&mut conn, keen).await.unwrap().is_none(), "keen-1's reboot closed it");
        drop(conn);
    })
    .await;
}

#[tokio::test]
async fn owners_try_a_failed_install_again_but_only_of_what_was_published_to_them() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        let (web, mut agent) = app
            .server("web-1", &[("openssl", "3.0.2-1"), ("curl", "8.5-1")], false)
            .await;
        let mut conn = app.app_state.db.read().await.unwrap();
        let rows = patchport_db::servers::patch_rows(&mut conn, web).await.unwrap();
        drop(conn);
        let id_of = |name: &str| rows.iter().find(|p| p.package == name).unwrap().patch_id;
        let (openssl, curl) = (id_of("openssl"), id_of("curl"));
        let resp = app
            .deploy(Some(&admin),
                serde_json::json!({"mode": "publish", "patch_ids": [openssl], "server_ids": [web], "group_ids": [],
                    "owner_ids": [], "install_at": "", "reboot": "none", "reboot_at": "", "request_key": "publish-retry"}))
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let install = |cookie: String, patches: Vec<i64>| {
            let app = &app;
            async move {
                let resp = app
                    .post_json("/api/servers/install", Some(&cookie),
                        serde_json::json!({"server_id": web, "patch_ids": patches, "when": "now", "at": ""}))
                    .await;
                (resp.status().as_u16(), resp.text().await.unwrap())
            }
        };
        // The owner's install of the published patch fails, and so does an
        // admin's install of one that was never published.
        assert_eq!(install(owner.clone(), vec![openssl]).await.0, 200);
        assert_eq!(app.agent_runs(&mut agent, false).await, Some("install"));
        assert_eq!(install(admin.clone(), vec![curl]).await.0, 200);
        assert_eq!(app.agent_runs(&mut agent, false).await, Some("install"));
        assert_eq!(app.patch_state(web, "openssl").await, "failed");
        assert_eq!(app.patch_state(web, "curl").await, "failed");

        // The owner's page offers the failed published patch again, and
        // only it.
        let resp = app.post_fn("/api/servers/detail", Some(&owner), &[("id", &web.to_string())]).await;
        assert_eq!(resp.status(), 200);
        let page: app::servers::ServerInfo = resp.json().await.unwrap();
        let offered: Vec<&str> = page.patches.iter().filter(|p| p.owner_may_install).map(|p| p.patch.package.as_str()).collect();
        assert_eq!(offered, vec!["openssl"]);

        // The failed patch that was never published stays the admins' to
        // install; the published one is installed again.
        let (status, text) = install(owner.clone(), vec![curl]).await;
        assert_eq!(status, 422, "{text}");
        assert!(text.contains("curl 8.5-1 is failed on this server: it is not published for you"), "{text}");
        assert_eq!(app.patch_state(web, "curl").await, "failed", "nothing changed");
        let (status, text) = install(owner.clone(), vec![openssl]).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(app.agent_runs(&mut agent, true).await, Some("install"));
        assert_eq!(app.patch_state(web, "openssl").await, "installed");

        // Published by an admin, the failed patch is the owner's to try;
        // its install fails again, then its rollout is declined: no longer.
        let resp = app
            .deploy(Some(&admin),
                serde_json::json!({"mode": "publish", "patch_ids": [curl], "server_ids": [web], "group_ids": [],
                    "owner_ids": [], "install_at": "", "reboot": "none", "reboot_at": "", "request_key": "publish-curl"}))
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        assert_eq!(install(owner.clone(), vec![curl]).await.0, 200);
        assert_eq!(app.agent_runs(&mut agent, false).await, Some("install"));
        let installable = || {
            let app = &app;
            async move {
                let mut conn = app.app_state.db.read().await.unwrap();
                patchport_db::servers::owner_installable(&mut conn, web).await.unwrap()
            }
        };
        assert_eq!(installable().await, vec![curl]);
        app.tick().await;
        let mut conn = app.app_state.db.read().await.unwrap();
        let rollout = patchport_db::rollouts::of_patch(&mut conn, curl).await.unwrap().expect("the default policy took it");
        drop(conn);
        let resp = app
            .post_fn("/api/admin/rollouts/decide", Some(&admin),
                &[("id", &rollout.to_string()), ("decision", "decline"), ("reason", "breaks our proxy")])
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        assert_eq!(app.patch_state(web, "curl").await, "failed");
        assert!(installable().await.is_empty(), "a declined patch is not the owner's to install");
        let (status, _) = install(owner.clone(), vec![curl]).await;
        assert_eq!(status, 422);
    })
    .await;
}

#[tokio::test]
async fn owners_roll_back_installs_on_their_servers_only_when_admins_allow_it() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        patchport::cli::add_user(&app.app_state.db, &app.clock, "other-owner", "", None, patchport_core::Role::Owner, PASSWORD)
            .await
            .unwrap();
        let other = app.login("other-owner", PASSWORD).await.unwrap();
        let (web, mut agent) = app.server("web-1", &[("openssl", "3.0.2-1")], false).await;
        let openssl: (i64,) = {
            let mut conn = app.app_state.db.read().await.unwrap();
            sqlx::query_as("select id from patch where package = 'openssl'").fetch_one(&mut *conn).await.unwrap()
        };
        let queued: serde_json::Value = app
            .post_json("/api/servers/install", Some(&admin),
                serde_json::json!({"server_id": web, "patch_ids": [openssl.0], "when": "now", "at": ""}))
            .await
            .json()
            .await
            .unwrap();
        let install = queued["job_id"].as_i64().unwrap().to_string();
        assert_eq!(app.agent_runs(&mut agent, true).await, Some("install"));
        let jobs = |cookie: String| {
            let app = &app;
            async move {
                let page: app::jobs::JobPage = app
                    .post_fn("/api/servers/jobs", Some(&cookie), &[("server_id", &web.to_string()), ("page", "1")])
                    .await
                    .json()
                    .await
                    .unwrap();
                page.items.into_iter().map(|j| (j.kind, j.state, j.packages, j.can_roll_back)).collect::<Vec<_>>()
            }
        };
        let installed = ("install".to_owned(), "succeeded".to_owned(), vec!["openssl=3.0.2-1 (amd64)".to_owned()]);
        let with = |t: &(String, String, Vec<String>), can: bool| (t.0.clone(), t.1.clone(), t.2.clone(), can);
        let roll_back = |cookie: String| {
            let app = &app;
            let install = install.clone();
            async move {
                let resp = app.post_fn("/api/servers/jobs/rollback", Some(&cookie), &[("job_id", &install)]).await;
                (resp.status().as_u16(), resp.text().await.unwrap())
            }
        };
        let allow = |allowed: bool, cookie: String| {
            let app = &app;
            async move {
                let form: &[(&str, &str)] = if allowed { &[("allowed", "true")] } else { &[] };
                app.post_fn("/api/admin/settings/owners_roll_back", Some(&cookie), form).await.status().as_u16()
            }
        };

        // Off by default: admins may, owners may not (and are not offered it).
        assert_eq!(jobs(admin.clone()).await, vec![with(&installed, true)]);
        assert_eq!(jobs(owner.clone()).await, vec![with(&installed, false)]);
        assert_eq!(roll_back(owner.clone()).await.0, 403);
        // Only admins change the setting.
        assert_eq!(allow(true, owner.clone()).await, 403);
        assert_eq!(allow(true, admin.clone()).await, 200);
        assert_eq!(jobs(owner.clone()).await, vec![with(&installed, true)]);
        // Another owner's server stays hidden.
        assert_eq!(roll_back(other.clone()).await.0, 404);
        assert_eq!(roll_back(owner.clone()).await, (200, "\"Rollback queued on web-1.\"".to_owned()));
        let (status, text) = roll_back(owner.clone()).await;
        assert_eq!(status, 409);
        assert!(text.contains("web-1: a rollback is already under way"), "{text}");
        assert_eq!(app.agent_runs(&mut agent, true).await, Some("rollback"));
        assert_eq!(app.patch_state(web, "openssl").await, "missing", "offered again after the rollback");
        let rolled_back = ("rollback".to_owned(), "succeeded".to_owned(), vec!["openssl=1.0-1 (amd64)".to_owned()]);
        assert_eq!(jobs(owner.clone()).await, vec![with(&rolled_back, false), with(&installed, false)]);
        // Switched off again: owners are refused.
        assert_eq!(allow(false, admin.clone()).await, 200);
        let (status, _) = roll_back(owner.clone()).await;
        assert_eq!(status, 403);
    })
    .await;
}
