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
