//! Maintenance windows over HTTP on both backends: validation, assignment,
//! upcoming occurrences, and who may manage them.

mod support;

use support::{ADMIN, OWNER, PASSWORD, for_each_backend};

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
        let theirs = app.reported(&support::report("web-2", vec![], vec![])).await;
        let owner_id = app.find_user(OWNER).await;
        let mut conn = app.app_state.db.write().await.unwrap();
        patchport_db::servers::set_assignment(&mut conn, mine, owner_id, "standard").await.unwrap();
        drop(conn);
        // My servers does not ask to book what cannot be booked.
        let reboot_cell = || async {
            let html = app.get("/servers", Some(&owner)).await.text().await.unwrap();
            let cell = html.split("<td class=\"reboot\">").nth(1).unwrap_or_default();
            cell[..cell.find("</td>").unwrap_or(0)].to_owned()
        };
        assert_eq!(reboot_cell().await, "required: no window to book it in, ask an admin");
        let book = |server: i64, at: String, cookie: String| {
            let app = &app;
            async move {
                let server = server.to_string();
                app.post_fn("/api/servers/book_reboot", Some(&cookie), &[("server_id", &server), ("at", &at)])
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
        let window = serde_json::json!({"days": [1, 2, 3, 4, 5, 6, 7], "start_minute": (opens % 86_400) / 60,
            "duration_minutes": 120, "time_zone": "UTC"});
        let resp = app
            .post_json("/api/admin/windows/create", Some(&admin),
                serde_json::json!({"name": "nightly", "window": window, "group_ids": [], "hostnames": ["web-1", "web-2"]}))
            .await;
        assert_eq!(resp.status(), 200);
        assert_eq!(reboot_cell().await, "required: book it");

        // Outside the window, in the past, or another owner's server: refused.
        let resp = book(mine, local(opens - 600), owner.clone()).await;
        assert_eq!(resp.status(), 422);
        let text = resp.text().await.unwrap();
        assert!(text.contains("outside this server's maintenance windows"), "{text}");
        let resp = book(mine, local(now - 3600), owner.clone()).await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("past"));
        assert_eq!(book(theirs, local(opens + 600), owner.clone()).await.status(), 404);
        let mut conn = app.app_state.db.read().await.unwrap();
        assert!(patchport_db::windows::booked_reboots(&mut conn, mine).await.unwrap().is_empty(), "nothing booked");
        drop(conn);

        // Inside: booked; moved to another time in the window: one booking.
        let resp = book(mine, local(opens + 600), owner.clone()).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let resp = book(mine, local(opens + 3600), owner.clone()).await;
        assert_eq!(resp.status(), 200);
        let mut conn = app.app_state.db.read().await.unwrap();
        let booked = patchport_db::windows::booked_reboots(&mut conn, mine).await.unwrap();
        drop(conn);
        assert_eq!(booked.len(), 1, "moved, not doubled");
        assert_eq!((booked[0].at, booked[0].until), (opens + 3600, opens + 7200));
        let resp = app.post_fn("/api/servers/reboot_plan", Some(&owner), &[("server_id", &mine.to_string())]).await;
        let plan: app::booking::RebootPlanView = resp.json().await.unwrap();
        assert_eq!(plan.booked, Some((opens + 3600, opens + 7200)));
        assert_eq!(plan.upcoming[0].start, opens);
        assert_eq!(app.audit_count("reboot.booked").await, 2);
        let mut conn = app.app_state.db.read().await.unwrap();
        let told = patchport_db::rollouts::notifications(&mut conn, owner_id, 1, 10)
            .await
            .unwrap();
        drop(conn);
        assert_eq!(told.total, 2, "the owner is told of each booking");
        assert!(told.items[0].subject.starts_with("Reboot of web-1 booked for "));

        // Cancelled by its owner; a second cancel says nothing is booked.
        let id = mine.to_string();
        assert_eq!(app.post_fn("/api/servers/cancel_reboot", Some(&owner), &[("server_id", &id)]).await.status(), 200);
        assert_eq!(app.post_fn("/api/servers/cancel_reboot", Some(&owner), &[("server_id", &id)]).await.status(), 409);
        let other = theirs.to_string();
        assert_eq!(app.post_fn("/api/servers/cancel_reboot", Some(&owner), &[("server_id", &other)]).await.status(), 404);
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
        // The hour the clocks skip does not exist.
        let resp = book("2027-03-28T02:30").await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("does not exist in Europe/Berlin"));
        // After the change 04:30 is CEST, two hours ahead of UTC.
        let resp = book("2027-03-29T04:30").await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let at: i64 = resp.json().await.unwrap();
        assert_eq!(utc(at), "2027-03-29 02:30:00 UTC");
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
