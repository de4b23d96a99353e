//! Maintenance windows over HTTP on both backends: validation, assignment,
//! editing (and what it does to booked reboots), upcoming occurrences, and
//! who may manage them.

mod support;

use support::{ADMIN, OWNER, PASSWORD, TestApp, for_each_backend};

/// The default quiet period of booking mails (the tests' settings keep it).
const QUIET: i64 = patchport::config::BOOKING_QUIET_SECONDS as i64;

#[tokio::test]
async fn admins_define_windows_that_apply_to_groups_and_servers() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        let server = app
            .reported(&support::report("web-1", vec![], vec![]))
            .await;
        let window = |zone: &str, days: Vec<u8>| {
            serde_json::json!({"days": days, "start_minute": 22 * 60, "duration_minutes": 240, "time_zone": zone})
        };
        let create = |body: serde_json::Value, cookie: String| {
            let app = &app;
            async move { app.post_json("/api/admin/windows/create", Some(&cookie), body).await }
        };
        // Refused with the reason, and nothing is stored.
        for (body, reason) in [
            (serde_json::json!({"name": "nightly", "window": window("Mars/Olympus", vec![1]), "group_ids": [], "hostnames": []}), "Mars/Olympus"),
            (serde_json::json!({"name": "nightly", "window": window("UTC", vec![]), "group_ids": [], "hostnames": []}), "days"),
            (serde_json::json!({"name": "", "window": window("UTC", vec![1]), "group_ids": [], "hostnames": []}), "name"),
            (serde_json::json!({"name": "nightly", "window": window("UTC", vec![1]), "group_ids": [], "hostnames": ["nope-1"]}), "nope-1"),
        ] {
            let resp = create(body, admin.clone()).await;
            assert_eq!(resp.status(), 422, "{reason}");
            assert!(resp.text().await.unwrap().contains(reason), "{reason}");
        }
        let body = serde_json::json!({"name": "nightly", "window": window("Europe/Berlin", vec![2, 4]), "group_ids": [], "hostnames": ["web-1"]});
        assert_eq!(create(body.clone(), owner.clone()).await.status(), 403);
        assert_eq!(create(body.clone(), admin.clone()).await.status(), 200);
        assert_eq!(create(body, admin.clone()).await.status(), 409, "names are unique");

        let resp = app.post_fn("/api/admin/windows/list", Some(&admin), &[]).await;
        let list: Vec<app::windows::WindowView> = resp.json().await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].summary, "Tue, Thu 22:00–02:00 Europe/Berlin (4 h)");
        assert_eq!(list[0].servers, vec!["web-1".to_owned()]);
        assert_eq!(list[0].upcoming.len(), 5);
        assert!(list[0].upcoming.iter().all(|o| o.end - o.start == 4 * 3600));
        // The server's next window is the first listed.
        let mut conn = app.app_state.db.read().await.unwrap();
        let next = patchport_db::windows::next_for_server(&mut conn, server, app.clock_now())
            .await
            .unwrap();
        drop(conn);
        assert_eq!(next, Some(list[0].upcoming[0]));
        assert_eq!(app.post_fn("/api/admin/windows/list", Some(&owner), &[]).await.status(), 403);

        // Re-assigned to nothing: the server has no window any more.
        let resp = app
            .post_json("/api/admin/windows/assign", Some(&admin),
                serde_json::json!({"id": list[0].id, "group_ids": [], "hostnames": []}))
            .await;
        assert_eq!(resp.status(), 200);
        let mut conn = app.app_state.db.read().await.unwrap();
        assert_eq!(
            patchport_db::windows::next_for_server(&mut conn, server, app.clock_now()).await.unwrap(),
            None
        );
        drop(conn);
        let id = list[0].id.to_string();
        assert_eq!(app.post_fn("/api/admin/windows/delete", Some(&owner), &[("id", &id)]).await.status(), 403);
        assert_eq!(app.post_fn("/api/admin/windows/delete", Some(&admin), &[("id", &id)]).await.status(), 200);
        assert_eq!(app.audit_count("window.deleted").await, 1);
    })
    .await;
}

#[tokio::test]
async fn owners_book_reboots_only_inside_their_servers_windows() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        let mut needs_reboot = support::report("web-1", vec![], vec![]);
        needs_reboot.reboot_required = true;
        let mine = app.reported(&needs_reboot).await;
        let theirs = app
            .reported(&support::report("web-2", vec![], vec![]))
            .await;
        let owner_id = app.find_user(OWNER).await;
        let mut conn = app.app_state.db.write().await.unwrap();
        patchport_db::servers::set_assignment(&mut conn, mine, owner_id, "standard")
            .await
            .unwrap();
        drop(conn);
        // My servers does not ask to book what cannot be booked.
        let reboot_cell = || async {
            let html = app
                .get("/servers", Some(&owner))
                .await
                .text()
                .await
                .unwrap();
            let cell = html
                .split("<td class=\"reboot\">")
                .nth(1)
                .unwrap_or_default();
            cell[..cell.find("</td>").unwrap_or(0)].to_owned()
        };
        assert_eq!(
            reboot_cell().await,
            "required: no window to book it in, ask an admin"
        );
        let book = |server: i64, at: String, cookie: String| {
            let app = &app;
            async move {
                let server = server.to_string();
                app.post_fn(
                    "/api/servers/book_reboot",
                    Some(&cookie),
                    &[("server_id", &server), ("at", &at)],
                )
                .await
            }
        };
        // What a datetime-local field sends (read as UTC).
        let local = |t: i64| patchport_core::clock::format_utc(t)[..16].replace(' ', "T");
        let now = app.clock_now();
        // Without a window nothing can be booked.
        let resp = book(mine, local(now + 3600), owner.clone()).await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("no maintenance window"));

        // A daily UTC window from the next full hour + 2 h, for 2 hours.
        let opens = (now / 3600 + 2) * 3600;
        app.daily_window(&admin, "nightly", opens, &["web-1", "web-2"])
            .await;
        assert_eq!(reboot_cell().await, "required: book it");

        // Outside the window, in the past, or another owner's server: refused.
        let resp = book(mine, local(opens - 600), owner.clone()).await;
        assert_eq!(resp.status(), 422);
        let text = resp.text().await.unwrap();
        assert!(
            text.contains("outside this server's maintenance windows"),
            "{text}"
        );
        let resp = book(mine, local(now - 3600), owner.clone()).await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("past"));
        assert_eq!(
            book(theirs, local(opens + 600), owner.clone())
                .await
                .status(),
            404
        );
        let mut conn = app.app_state.db.read().await.unwrap();
        assert!(
            patchport_db::windows::booked_reboots(&mut conn, mine)
                .await
                .unwrap()
                .is_empty(),
            "nothing booked"
        );
        drop(conn);

        // Inside: booked; moved to another time in the window: one booking.
        let resp = book(mine, local(opens + 600), owner.clone()).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let resp = book(mine, local(opens + 3600), owner.clone()).await;
        assert_eq!(resp.status(), 200);
        let mut conn = app.app_state.db.read().await.unwrap();
        let booked = patchport_db::windows::booked_reboots(&mut conn, mine)
            .await
            .unwrap();
        drop(conn);
        assert_eq!(booked.len(), 1, "moved, not doubled");
        assert_eq!(
            (booked[0].at, booked[0].until),
            (opens + 3600, opens + 7200)
        );
        let resp = app
            .post_fn(
                "/api/servers/reboot_plan",
                Some(&owner),
                &[("server_id", &mine.to_string())],
            )
            .await;
        let plan: app::booking::RebootPlanView = resp.json().await.unwrap();
        assert_eq!(plan.booked, Some((opens + 3600, opens + 7200)));
        assert_eq!(plan.upcoming[0].start, opens);
        assert_eq!(app.audit_count("reboot.booked").await, 2);
        // Told once the booking rests, of where it ended.
        app.clock.advance(QUIET + 1);
        app.deliver_mail().await;
        let mut conn = app.app_state.db.read().await.unwrap();
        let told = patchport_db::rollouts::notifications(&mut conn, owner_id, 1, 10)
            .await
            .unwrap();
        drop(conn);
        assert_eq!(told.total, 1, "the owner is told once of two changes");
        let final_at = patchport_core::clock::format_utc(opens + 3600);
        assert_eq!(
            told.items[0].subject,
            format!("Reboot of web-1 booked for {} UTC", &final_at[..16])
        );

        // Cancelled by its owner; a second cancel says nothing is booked.
        let id = mine.to_string();
        assert_eq!(
            app.post_fn(
                "/api/servers/cancel_reboot",
                Some(&owner),
                &[("server_id", &id)]
            )
            .await
            .status(),
            200
        );
        assert_eq!(
            app.post_fn(
                "/api/servers/cancel_reboot",
                Some(&owner),
                &[("server_id", &id)]
            )
            .await
            .status(),
            409
        );
        let other = theirs.to_string();
        assert_eq!(
            app.post_fn(
                "/api/servers/cancel_reboot",
                Some(&owner),
                &[("server_id", &other)]
            )
            .await
            .status(),
            404
        );
    })
    .await;
}

/// 2027-03-26 12:00 UTC, a Friday: Berlin changes from CET (UTC+1) to
/// CEST (UTC+2) on Sunday 2027-03-28 at 02:00 local time.
const BEFORE_SPRING_CHANGE: i64 = 1_806_192_000 - 2 * 86_400 + 12 * 3_600;

#[tokio::test]
async fn a_berlin_owner_books_in_local_time_across_the_daylight_saving_change() {
    for_each_backend(|app| async move {
        app.clock.advance(BEFORE_SPRING_CHANGE - app.clock_now());
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        let mine = app.reported(&support::report("web-1", vec![], vec![])).await;
        let owner_id = app.find_user(OWNER).await;
        let mut conn = app.app_state.db.write().await.unwrap();
        patchport_db::servers::set_assignment(&mut conn, mine, owner_id, "standard").await.unwrap();
        drop(conn);
        // An unknown zone is refused and changes nothing.
        let resp = app.post_fn("/api/account/time_zone", Some(&owner), &[("zone", "Mars/Base")]).await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("Mars/Base"));
        let resp = app.post_fn("/api/account/time_zone", Some(&owner), &[("zone", "Europe/Berlin")]).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        assert_eq!(app.audit_count("account.time_zone").await, 1);
        // Nightly 21:00–05:00 Berlin time.
        let window = serde_json::json!({"days": [1, 2, 3, 4, 5, 6, 7], "start_minute": 21 * 60,
            "duration_minutes": 8 * 60, "time_zone": "Europe/Berlin"});
        let resp = app
            .post_json("/api/admin/windows/create", Some(&admin),
                serde_json::json!({"name": "nightly", "window": window, "group_ids": [], "hostnames": ["web-1"]}))
            .await;
        assert_eq!(resp.status(), 200);
        let book = |at: &'static str| {
            let (app, owner) = (&app, owner.clone());
            async move {
                app.post_fn("/api/servers/book_reboot", Some(&owner), &[("server_id", &mine.to_string()), ("at", at)])
                    .await
            }
        };
        let utc = |t: i64| patchport_core::clock::format_utc(t);
        // 04:30 on Saturday as the owner reads it (CET): inside Friday's
        // window, which read as UTC (03:30) it would not be told apart from.
        let resp = book("2027-03-27T04:30").await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let at: i64 = resp.json().await.unwrap();
        assert_eq!(utc(at), "2027-03-27 03:30:00 UTC");
        app.clock.advance(QUIET + 1);
        app.deliver_mail().await;
        // The hour the clocks skip does not exist.
        let resp = book("2027-03-28T02:30").await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("does not exist in Europe/Berlin"));
        // After the change 04:30 is CEST, two hours ahead of UTC.
        let resp = book("2027-03-29T04:30").await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let at: i64 = resp.json().await.unwrap();
        assert_eq!(utc(at), "2027-03-29 02:30:00 UTC");
        app.clock.advance(QUIET + 1);
        app.deliver_mail().await;
        // Outside the window: the refusal names the next one in Berlin time.
        let resp = book("2027-03-29T05:30").await;
        assert_eq!(resp.status(), 422);
        let text = resp.text().await.unwrap();
        assert!(text.contains("the next one is 2027-03-29 21:00 CEST to 2027-03-30 05:00 CEST"), "{text}");
        // What the owner is told is in their zone too.
        let mut conn = app.app_state.db.read().await.unwrap();
        let told = patchport_db::rollouts::notifications(&mut conn, owner_id, 1, 10).await.unwrap();
        drop(conn);
        assert_eq!(told.items[0].subject, "Reboot of web-1 booked for 2027-03-29 04:30 CEST");
        assert_eq!(told.items[1].subject, "Reboot of web-1 booked for 2027-03-27 04:30 CET");
        // The admin, in the portal's default zone (UTC), is refused a time
        // that is inside the window only in Berlin.
        let resp = app.post_fn("/api/servers/book_reboot", Some(&admin), &[("server_id", &mine.to_string()), ("at", "2027-03-29T04:30")]).await;
        assert_eq!(resp.status(), 422, "04:30 UTC is 06:30 CEST");
        // With Europe/Berlin as the portal's default, it is accepted.
        let resp = app.post_fn("/api/admin/default_time_zone", Some(&admin), &[("zone", "Europe/Berlin")]).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        assert_eq!(app.post_fn("/api/admin/default_time_zone", Some(&owner), &[("zone", "UTC")]).await.status(), 403);
        let resp = app.post_fn("/api/servers/book_reboot", Some(&admin), &[("server_id", &mine.to_string()), ("at", "2027-03-29T04:15")]).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    })
    .await;
}

#[tokio::test]
async fn the_calendar_shows_two_weeks_of_windows_from_monday() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        for (name, days, start) in [("daily", vec![1, 2, 3, 4, 5, 6, 7], 60), ("tue-thu", vec![2, 4], 22 * 60)] {
            let window = serde_json::json!({"days": days, "start_minute": start, "duration_minutes": 120, "time_zone": "UTC"});
            let resp = app
                .post_json("/api/admin/windows/create", Some(&admin),
                    serde_json::json!({"name": name, "window": window, "group_ids": [], "hostnames": []}))
                .await;
            assert_eq!(resp.status(), 200);
        }
        let resp = app.post_fn("/api/admin/windows/calendar", Some(&admin), &[]).await;
        assert_eq!(resp.status(), 200);
        let c: app::windows::CalendarView = resp.json().await.unwrap();
        assert_eq!(c.days.len(), 14);
        assert_eq!(c.zone, "UTC", "the admin's zone is the portal's default");
        // Starts on a Monday at midnight UTC, this week.
        let start = c.days[0].0;
        assert_eq!(start % 86_400, 0);
        // 1970-01-05 was a Monday.
        assert_eq!((start / 86_400 - 4) % 7, 0, "a Monday");
        assert!(c.days[..7].iter().any(|d| d.1 == c.today), "today is in the first week");
        for (i, (midnight, date, day)) in c.days.iter().enumerate() {
            assert_eq!(*midnight, start + i as i64 * 86_400);
            assert_eq!(*date, patchport_core::clock::format_utc(*midnight)[..10]);
            let names: Vec<&str> = day.iter().map(|(n, _, _)| n.as_str()).collect();
            let expected: &[&str] = if i % 7 == 1 || i % 7 == 3 { &["daily", "tue-thu"] } else { &["daily"] };
            assert_eq!(names, expected, "day {i}");
            assert_eq!((day[0].1, day[0].2), (midnight + 3600, midnight + 3 * 3600));
        }
        assert_eq!(app.post_fn("/api/admin/windows/calendar", Some(&owner), &[]).await.status(), 403);
    })
    .await;
}

#[tokio::test]
async fn clashes_and_vanished_references_are_told_in_words_never_in_database_text() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let window = serde_json::json!({"days": [1], "start_minute": 60, "duration_minutes": 60, "time_zone": "UTC"});
        let create = |name: &str, group_ids: Vec<i64>| {
            let body = serde_json::json!({"name": name, "window": window, "group_ids": group_ids, "hostnames": []});
            let (app, admin) = (&app, admin.clone());
            async move {
                let resp = app.post_json("/api/admin/windows/create", Some(&admin), body).await;
                (resp.status().as_u16(), resp.text().await.unwrap())
            }
        };
        let group = |name: &str| {
            let (app, admin, name) = (&app, admin.clone(), name.to_owned());
            async move {
                let resp = app.post_fn("/api/admin/groups/create", Some(&admin), &[("name", &name)]).await;
                (resp.status().as_u16(), resp.text().await.unwrap())
            }
        };
        let no_internals = |text: &str| {
            let lower = text.to_lowercase();
            for leak in ["unique", "constraint", "duplicate key", "foreign key", "sqlx", "violates"] {
                assert!(!lower.contains(leak), "{leak:?} in {text}");
            }
        };
        assert_eq!(create("nightly", vec![]).await.0, 200);
        let (status, text) = create("nightly", vec![]).await;
        assert_eq!(status, 409);
        assert!(text.contains("A maintenance window with this name exists."), "{text}");
        no_internals(&text);
        assert_eq!(group("web").await.0, 200);
        let (status, text) = group("web").await;
        assert_eq!(status, 409);
        assert!(text.contains("A group with this name exists."), "{text}");
        no_internals(&text);
        // A group that does not exist (deleted in another tab): a clear
        // refusal, not a server error, and nothing is stored.
        let (status, text) = create("weekly", vec![987_654]).await;
        assert_eq!(status, 409, "{text}");
        assert!(text.contains("removed meanwhile"), "{text}");
        no_internals(&text);
        let resp = app.post_fn("/api/admin/windows/list", Some(&admin), &[]).await;
        let list: Vec<app::windows::WindowView> = resp.json().await.unwrap();
        assert_eq!(list.iter().map(|w| w.name.as_str()).collect::<Vec<_>>(), ["nightly"]);
    })
    .await;
}

impl TestApp {
    /// The windows as the page lists them.
    async fn windows(&self, admin: &str) -> Vec<app::windows::WindowView> {
        let resp = self
            .post_fn("/api/admin/windows/list", Some(admin), &[])
            .await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// The server's waiting reboot bookings: (time, window end).
    async fn bookings(&self, server: i64) -> Vec<(i64, i64)> {
        let mut conn = self.app_state.db.read().await.unwrap();
        patchport_db::windows::booked_reboots(&mut conn, server)
            .await
            .unwrap()
            .into_iter()
            .map(|b| (b.at, b.until))
            .collect()
    }

    /// The subjects and bodies of the owner's notifications of `kind`.
    async fn told_owner(&self, kind: &str) -> Vec<(String, String)> {
        let mut conn = self.app_state.db.read().await.unwrap();
        sqlx::query_as("select subject, body from notification where kind = $1 order by id")
            .bind(kind)
            .fetch_all(&mut *conn)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn admins_edit_windows_and_bookings_left_outside_are_refused_or_cancelled_and_told() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        let mine = app.reported(&support::report("web-1", vec![], vec![])).await;
        let owner_id = app.find_user(OWNER).await;
        let mut conn = app.app_state.db.write().await.unwrap();
        patchport_db::servers::set_assignment(&mut conn, mine, owner_id, "standard").await.unwrap();
        drop(conn);
        let group = app.post_fn("/api/admin/groups/create", Some(&admin), &[("name", "web")]).await;
        assert_eq!(group.status(), 200);
        let group: i64 = group.json().await.unwrap();
        // Daily from the next full hour + 2 h, for 2 hours, for web-1.
        let now = app.clock_now();
        let opens = (now / 3600 + 2) * 3600;
        let minute = (opens % 86_400) / 60;
        let window = |start: i64, minutes: i64, zone: &str, days: Vec<u8>| {
            serde_json::json!({"days": days, "start_minute": start, "duration_minutes": minutes, "time_zone": zone})
        };
        let every_day = || vec![1, 2, 3, 4, 5, 6, 7];
        for (name, hosts) in [("nightly", vec!["web-1"]), ("other", vec![])] {
            let resp = app
                .post_json("/api/admin/windows/create", Some(&admin),
                    serde_json::json!({"name": name, "window": window(minute, 120, "UTC", every_day()), "group_ids": [], "hostnames": hosts}))
                .await;
            assert_eq!(resp.status(), 200);
        }
        let id = app.windows(&admin).await.into_iter().find(|w| w.name == "nightly").unwrap().id;
        let local = |t: i64| patchport_core::clock::format_utc(t)[..16].replace(' ', "T");
        let resp = app
            .post_fn("/api/servers/book_reboot", Some(&owner), &[("server_id", &mine.to_string()), ("at", &local(opens + 600))])
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        app.clock.advance(QUIET + 1);
        app.deliver_mail().await;
        assert_eq!(app.told_owner("reboot_booked").await.len(), 1);
        let update = |body: serde_json::Value, cookie: String| {
            let app = &app;
            async move {
                let resp = app.post_json("/api/admin/windows/update", Some(&cookie), body).await;
                (resp.status().as_u16(), resp.text().await.unwrap())
            }
        };
        let edit = |name: &str, w: serde_json::Value, hosts: Vec<&str>, cancel: bool| {
            serde_json::json!({"id": id, "name": name, "window": w, "group_ids": [], "hostnames": hosts, "cancel_bookings": cancel})
        };
        let before = app.windows(&admin).await;

        // Bad input: refused with the reason, nothing changed.
        for (body, status, reason) in [
            (edit("nightly", window(minute, 120, "Mars/Olympus", every_day()), vec!["web-1"], false), 422, "Mars/Olympus"),
            (edit("nightly", window(minute, 120, "UTC", vec![]), vec!["web-1"], false), 422, "days"),
            (edit("nightly", window(minute, 0, "UTC", every_day()), vec!["web-1"], false), 422, "duration"),
            (edit(" ", window(minute, 120, "UTC", every_day()), vec!["web-1"], false), 422, "name"),
            (edit("nightly", window(minute, 120, "UTC", every_day()), vec!["nope-1"], false), 422, "nope-1"),
            (edit("other", window(minute, 120, "UTC", every_day()), vec!["web-1"], false), 409, "A maintenance window with this name exists."),
            (serde_json::json!({"id": 987_654, "name": "x", "window": window(minute, 120, "UTC", every_day()), "group_ids": [], "hostnames": []}), 404, ""),
            (serde_json::json!({"id": id, "name": "nightly", "window": window(minute, 120, "UTC", every_day()), "group_ids": [987_654], "hostnames": []}), 409, "removed meanwhile"),
        ] {
            let (got, text) = update(body, admin.clone()).await;
            assert_eq!(got, status, "{reason}: {text}");
            assert!(text.contains(reason), "{reason}: {text}");
        }
        let (got, _) = update(edit("mine now", window(minute, 120, "UTC", every_day()), vec![], true), owner.clone()).await;
        assert_eq!(got, 403, "owners may not edit windows");
        assert_eq!(app.windows(&admin).await, before, "nothing changed");
        assert_eq!(app.audit_count("window.updated").await, 0);

        // Shortened to an hour: the booking still fits and its job now
        // expires when the shorter window closes.
        let (got, text) = update(edit("nightly", window(minute, 60, "UTC", every_day()), vec!["web-1"], false), admin.clone()).await;
        assert_eq!(got, 200, "{text}");
        assert_eq!(app.bookings(mine).await, vec![(opens + 600, opens + 3600)]);
        let listed = app.windows(&admin).await.into_iter().find(|w| w.id == id).unwrap();
        assert_eq!(listed.window.duration_minutes, 60);
        assert_eq!(listed.only_here, vec![("web-1".to_owned(), opens + 600)], "deleting it would strand the booking");

        // Moved three hours later: the booking would fall outside. Refused,
        // naming it in the admin's zone, and nothing changes.
        // Wraps past midnight when the test runs late in the UTC day.
        let later = window((minute + 180) % 1440, 60, "UTC", every_day());
        let (got, text) = update(edit("nightly", later.clone(), vec!["web-1"], false), admin.clone()).await;
        assert_eq!(got, 422, "{text}");
        let at_text = format!("web-1 at {} UTC", &patchport_core::clock::format_utc(opens + 600)[..16]);
        assert!(text.contains(&at_text) && text.contains("Not saved"), "{text}");
        assert_eq!(app.windows(&admin).await.into_iter().find(|w| w.id == id).unwrap().window.start_minute as i64, minute);
        assert_eq!(app.bookings(mine).await.len(), 1);
        // Taking the server off the window strands it the same way.
        let (got, _) = update(edit("nightly", window(minute, 60, "UTC", every_day()), vec![], false), admin.clone()).await;
        assert_eq!(got, 422);

        // Asked to cancel them: saved, the booking cancelled, its owner
        // told why once the quiet period passed.
        let (got, text) = update(edit("nightly late", later, vec!["web-1"], true), admin.clone()).await;
        assert_eq!(got, 200, "{text}");
        assert!(text.contains(&at_text), "the answer names what was cancelled: {text}");
        assert!(app.bookings(mine).await.is_empty());
        assert_eq!(app.audit_count("window.updated").await, 2);
        app.clock.advance(QUIET + 1);
        app.deliver_mail().await;
        let cancelled = app.told_owner("reboot_cancelled").await;
        assert_eq!(cancelled.len(), 1);
        assert!(cancelled[0].0.starts_with("Reboot of web-1 on "), "{cancelled:?}");
        assert!(cancelled[0].1.contains("because an admin changed its maintenance windows"), "{cancelled:?}");

        // The form twin, as the page posts it: renamed, back to its old
        // time, now for group web instead of web-1 itself.
        let form = [
            ("id", id.to_string()), ("name", "nightly".into()), ("days[]", "1".into()), ("days[]", "3".into()),
            ("start", "22:30".into()), ("hours", "1.5".into()), ("time_zone", "Europe/Berlin".into()),
            ("group_ids[]", group.to_string()), ("hostnames", "".into()),
        ];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = app.post_fn("/api/admin/windows/edit", Some(&admin), &form).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let listed = app.windows(&admin).await.into_iter().find(|w| w.id == id).unwrap();
        assert_eq!(listed.summary, "Mon, Wed 22:30–00:00 Europe/Berlin (1 h 30 min)");
        assert_eq!((listed.groups, listed.group_ids, listed.servers), (vec!["web".to_owned()], vec![group], vec![]));
        let mut form = form.clone();
        form[1] = ("name", "");
        let resp = app.post_fn("/api/admin/windows/edit", Some(&admin), &form).await;
        assert_eq!(resp.status(), 422);
        assert_eq!(app.audit_count("window.updated").await, 3);
    })
    .await;
}

#[tokio::test]
async fn deleting_a_window_that_holds_a_booking_names_it_and_a_moved_booking_gives_back_its_move() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        let mine = app
            .reported(&support::report("web-1", vec![], vec![]))
            .await;
        let owner_id = app.find_user(OWNER).await;
        let mut conn = app.app_state.db.write().await.unwrap();
        patchport_db::servers::set_assignment(&mut conn, mine, owner_id, "standard")
            .await
            .unwrap();
        // Patched without a reboot: bookings count against the moves allowed.
        patchport_db::windows::oblige_reboot(&mut conn, mine, 0, app.clock_now())
            .await
            .unwrap();
        drop(conn);
        let opens = (app.clock_now() / 3600 + 2) * 3600;
        let id = app.daily_window(&admin, "nightly", opens, &["web-1"]).await;
        let local = patchport_core::clock::format_utc(opens + 600)[..16].replace(' ', "T");
        let resp = app
            .post_fn(
                "/api/servers/book_reboot",
                Some(&owner),
                &[("server_id", &mine.to_string()), ("at", &local)],
            )
            .await;
        assert_eq!(resp.status(), 200);
        let bookings = || async {
            let mut conn = app.app_state.db.read().await.unwrap();
            patchport_db::windows::obligation(&mut conn, mine)
                .await
                .unwrap()
                .unwrap()
                .bookings
        };
        assert_eq!(bookings().await, 1);
        let id = id.to_string();
        let resp = app
            .post_fn("/api/admin/windows/delete", Some(&admin), &[("id", &id)])
            .await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("web-1 at "));
        assert_eq!(app.windows(&admin).await.len(), 1, "still there");
        // The page's question names the booking it cancels.
        let html = app
            .get(
                &format!("/windows?confirm=delete-window-{id}"),
                Some(&admin),
            )
            .await
            .text()
            .await
            .unwrap();
        assert!(
            html.contains("These booked reboots fall in no other window and are cancelled"),
            "{html}"
        );
        let resp = app
            .post_fn(
                "/api/admin/windows/delete",
                Some(&admin),
                &[("id", &id), ("cancel_bookings", "true")],
            )
            .await;
        assert_eq!(resp.status(), 200);
        assert!(app.windows(&admin).await.is_empty());
        assert!(app.bookings(mine).await.is_empty());
        assert_eq!(
            bookings().await,
            0,
            "a booking the admins cancelled is no move of the owner's"
        );
    })
    .await;
}
