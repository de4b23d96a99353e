//! The forms that work without JavaScript, over HTTP on both backends: the
//! URL-encoded twins of JSON server functions (mail preferences, new
//! window, reboot rules, policy) answer the hydrated page as their JSON
//! originals do; a plain form post (the browser's own, accepting HTML) is
//! sent back to its page: with `?done=…` where the page would not show the
//! outcome, without the confirmation step it came through, or with the
//! error in the query string. The rights checks are the originals'.

mod support;

use support::{ADMIN, OWNER, PASSWORD, TestApp, for_each_backend};

/// What a browser sends with a plain form post from `page`.
async fn plain_post(
    app: &TestApp,
    path: &str,
    cookie: &str,
    page: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .form(form)
        .header("cookie", app.session_header(cookie))
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .header("referer", app.url(page))
        .send()
        .await
        .unwrap()
}

/// Where a redirect goes.
fn location(resp: &reqwest::Response) -> String {
    assert!(
        resp.status().is_redirection(),
        "a redirect, not {}",
        resp.status()
    );
    resp.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn mail_preferences_from_a_form() {
    for_each_backend(|app| async move {
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        let prefs = |cookie: String| {
            let app = &app;
            async move {
                let resp = app
                    .post_fn("/api/mail/preferences", Some(&cookie), &[])
                    .await;
                resp.json::<app::mail::Preferences>().await.unwrap()
            }
        };
        let kinds: Vec<String> = prefs(owner.clone())
            .await
            .kinds
            .into_iter()
            .map(|k| k.kind)
            .collect();
        assert!(kinds.len() >= 2);

        // The hydrated page: the same answer as the JSON original.
        let resp = app
            .post_fn(
                "/api/mail/preferences/submit",
                Some(&owner),
                &[("on[]", &kinds[0])],
            )
            .await;
        assert_eq!(resp.status(), 200);
        let said: String = resp.json().await.unwrap();
        assert_eq!(
            said,
            format!("Saved: you get 1 of {} kinds of mail.", kinds.len())
        );
        let now = prefs(owner.clone()).await;
        assert!(now.kinds.iter().all(|k| k.on == (k.kind == kinds[0])));
        let resp = app
            .post_fn(
                "/api/mail/preferences/submit",
                Some(&owner),
                &[("on[]", "bogus")],
            )
            .await;
        assert_eq!(resp.status(), 422);

        // The browser itself: back to the page, which then says so; nothing
        // ticked switches everything off.
        let resp = plain_post(
            &app,
            "/api/mail/preferences/submit",
            &owner,
            "/account",
            &[],
        )
        .await;
        assert_eq!(location(&resp), "/account?done=mail-preferences");
        assert!(prefs(owner.clone()).await.kinds.iter().all(|k| !k.on));
        let all: Vec<(&str, &str)> = kinds.iter().map(|k| ("on[]", k.as_str())).collect();
        let resp = plain_post(
            &app,
            "/api/mail/preferences/submit",
            &owner,
            "/account?done=mail-preferences",
            &all,
        )
        .await;
        assert_eq!(location(&resp), "/account?done=mail-preferences");
        assert!(prefs(owner.clone()).await.kinds.iter().all(|k| k.on));
        // Refused: back with the error, which the page shows.
        let resp = plain_post(
            &app,
            "/api/mail/preferences/submit",
            &owner,
            "/account",
            &[("on[]", "bogus")],
        )
        .await;
        let to = location(&resp);
        assert!(to.contains("/account?") && to.contains("__err="), "{to}");
        // Signed out: refused.
        let resp = app
            .post_fn("/api/mail/preferences/submit", None, &[("on[]", &kinds[0])])
            .await;
        assert_eq!(resp.status(), 401);
    })
    .await;
}

#[tokio::test]
async fn windows_rules_and_policies_from_forms() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        app.reported(&support::report("web-1", vec![], vec![]))
            .await;
        let window = |name: &'static str, start: &'static str| {
            vec![
                ("name", name),
                ("days[]", "2"),
                ("days[]", "4"),
                ("start", start),
                ("hours", "4"),
                ("time_zone", "Europe/Berlin"),
                ("group_id", "0"),
                ("hostnames", "web-1"),
            ]
        };
        // Owners may not; the form's own words for what does not read.
        let resp = app
            .post_fn(
                "/api/admin/windows/submit",
                Some(&owner),
                &window("nightly", "22:00"),
            )
            .await;
        assert_eq!(resp.status(), 403);
        let resp = plain_post(
            &app,
            "/api/admin/windows/submit",
            &owner,
            "/windows",
            &window("nightly", "22:00"),
        )
        .await;
        assert!(location(&resp).contains("__err="));
        for (start, why) in [("25:00", "start time"), ("soon", "start time")] {
            let resp = app
                .post_fn(
                    "/api/admin/windows/submit",
                    Some(&admin),
                    &window("nightly", start),
                )
                .await;
            assert_eq!(resp.status(), 422, "{start}");
            assert!(resp.text().await.unwrap().contains(why), "{start}");
        }
        let mut no_days = window("nightly", "22:00");
        no_days.retain(|(k, _)| *k != "days[]");
        let resp = app
            .post_fn("/api/admin/windows/submit", Some(&admin), &no_days)
            .await;
        assert_eq!(resp.status(), 422);
        assert!(
            resp.text()
                .await
                .unwrap()
                .contains("choose at least one day")
        );

        let resp = plain_post(
            &app,
            "/api/admin/windows/submit",
            &admin,
            "/windows",
            &window("nightly", "22:00"),
        )
        .await;
        assert_eq!(location(&resp), "/windows");
        let resp = app
            .post_fn("/api/admin/windows/list", Some(&admin), &[])
            .await;
        let list: Vec<app::windows::WindowView> = resp.json().await.unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].summary, "Tue, Thu 22:00–02:00 Europe/Berlin (4 h)");
        assert_eq!(list[0].servers, vec!["web-1".to_owned()]);
        assert_eq!(app.audit_count("window.created").await, 1);

        // Deleted from its confirmation step: back to the page without it.
        let id = list[0].id.to_string();
        let resp = plain_post(
            &app,
            "/api/admin/windows/delete",
            &admin,
            &format!("/windows?confirm=delete-window-{id}"),
            &[("id", &id)],
        )
        .await;
        assert_eq!(location(&resp), "/windows");
        assert_eq!(app.audit_count("window.deleted").await, 1);

        // Reboot rules: as typed; what does not read is refused.
        let rules = |moves: &'static str| {
            vec![
                ("critical_days", "3"),
                ("high_days", "7"),
                ("medium_days", "14"),
                ("low_days", "30"),
                ("max_deferrals", moves),
            ]
        };
        let resp = app
            .post_fn("/api/admin/reboot_rules/submit", Some(&owner), &rules("2"))
            .await;
        assert_eq!(resp.status(), 403);
        let resp = app
            .post_fn(
                "/api/admin/reboot_rules/submit",
                Some(&admin),
                &rules("two"),
            )
            .await;
        assert_eq!(resp.status(), 422);
        let resp = app
            .post_fn("/api/admin/reboot_rules/submit", Some(&admin), &rules("2"))
            .await;
        assert_eq!(resp.status(), 200);
        let said: String = resp.json().await.unwrap();
        assert!(said.starts_with("Saved."), "{said}");
        let resp = plain_post(
            &app,
            "/api/admin/reboot_rules/submit",
            &admin,
            "/windows",
            &rules("4"),
        )
        .await;
        assert_eq!(location(&resp), "/windows?done=reboot-rules");
        let mut conn = app.app_state.db.read().await.unwrap();
        let saved = patchport_db::windows::rules(&mut conn).await.unwrap();
        drop(conn);
        assert_eq!((saved.critical_days, saved.max_deferrals), (3, 4));

        // A new policy: a box not ticked is false, the lists one per line.
        let policy = |days: &'static str| {
            vec![
                ("id", "0"),
                ("name", "Kernels"),
                ("position", "5"),
                ("min_severity", "high"),
                ("security_only", "true"),
                ("include", "linux-image-*\r\n\r\nlinux-headers-*"),
                ("exclude", ""),
                ("releases", "debian:12"),
                ("observation_days", days),
                ("auto_approve", "true"),
            ]
        };
        let resp = app
            .post_fn("/api/admin/policies/submit", Some(&owner), &policy("14"))
            .await;
        assert_eq!(resp.status(), 403);
        let resp = app
            .post_fn("/api/admin/policies/submit", Some(&admin), &policy("3"))
            .await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("observation period"));
        let resp = plain_post(
            &app,
            "/api/admin/policies/submit",
            &admin,
            "/policies",
            &policy("14"),
        )
        .await;
        assert_eq!(location(&resp), "/policies");
        let resp = app
            .post_fn("/api/admin/policies/list", Some(&admin), &[])
            .await;
        let list: Vec<app::rollouts::PolicyView> = resp.json().await.unwrap();
        let kernels = list.iter().find(|p| p.name == "Kernels").expect("saved");
        assert_eq!(kernels.position, 5);
        assert!(!kernels.enabled, "not ticked");
        let p = &kernels.policy;
        assert_eq!(p.include, vec!["linux-image-*", "linux-headers-*"]);
        assert_eq!(p.releases, vec!["debian:12"]);
        assert_eq!(p.min_severity, "high");
        assert_eq!(p.observation_days, 14);
        assert!(p.security_only && p.auto_approve);
        assert!(!p.auto_test && !p.publish_critical && !p.deploy_standard);
    })
    .await;
}

#[tokio::test]
async fn confirmed_actions_go_back_without_their_step() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let owner_id = app.find_user(OWNER).await.unwrap().to_string();
        let page = format!("/admin/users?confirm=disable-{owner_id}");
        let resp = plain_post(
            &app,
            "/api/admin/users/set_disabled",
            &admin,
            &page,
            &[("id", &owner_id), ("disabled", "true")],
        )
        .await;
        assert_eq!(location(&resp), "/admin/users");
        assert!(app.login(OWNER, PASSWORD).await.is_none(), "disabled");
        let resp = plain_post(
            &app,
            "/api/admin/users/reset_password",
            &admin,
            &format!("/admin/users?confirm=reset-{owner_id}"),
            &[("id", &owner_id), ("password", "Plum-9-tandem-Vortex")],
        )
        .await;
        assert_eq!(location(&resp), "/admin/users?done=password-reset");
        // Refused: the step stays open, with the error.
        let resp = plain_post(
            &app,
            "/api/admin/users/reset_password",
            &admin,
            &format!("/admin/users?confirm=reset-{owner_id}"),
            &[("id", &owner_id), ("password", "aaaaaaaaaa")],
        )
        .await;
        let to = location(&resp);
        assert!(
            to.contains(&format!("confirm=reset-{owner_id}")) && to.contains("__err="),
            "{to}"
        );
        // The hydrated page's calls are not redirected.
        let resp = app
            .post_fn(
                "/api/admin/users/set_disabled",
                Some(&admin),
                &[("id", &owner_id), ("disabled", "false")],
            )
            .await;
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get("location").is_none());
        // A decline without a reason: refused, the question kept open.
        let resp = plain_post(
            &app,
            "/api/admin/rollouts/decide",
            &admin,
            "/rollouts/7?reason=&confirm=decline",
            &[("id", "7"), ("decision", "decline"), ("reason", "")],
        )
        .await;
        let to = location(&resp);
        assert!(
            to.contains("confirm=decline") && to.contains("__err="),
            "{to}"
        );
    })
    .await;
}
