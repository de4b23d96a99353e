//! The rollout workflow on both backends: the policy path from detection to
//! approval with simulated agents and moved time, a failing test install, a
//! decline, manual deployments (double submit, nothing to do), and who may
//! decide; decisions in bulk (each rollout alone, refusals with why,
//! nothing half-written, what an approval published and deployed where,
//! with and without JavaScript) and the rollouts list's search, filters
//! and order.

mod support;

use patchport_core::Clock;
use patchport_db::rollouts;
use support::{ADMIN, OWNER, PASSWORD, TestApp, for_each_backend};

const DAY: i64 = 86_400;

impl TestApp {
    async fn rollout_of(&self, package: &str) -> rollouts::RolloutDetail {
        let patch_id = self.rollout_patch_id(package).await;
        let mut conn = self.app_state.db.read().await.unwrap();
        let id = rollouts::of_patch(&mut conn, patch_id)
            .await
            .unwrap()
            .expect("a rollout");
        rollouts::get(&mut conn, id).await.unwrap().unwrap()
    }

    async fn rollout_patch_id(&self, package: &str) -> i64 {
        let mut conn = self.app_state.db.read().await.unwrap();
        let (id,): (i64,) = sqlx::query_as("select id from patch where package = $1")
            .bind(package)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        id
    }

    /// (recipient, kind, subject) of every notification, oldest first.
    async fn told(&self) -> Vec<(String, String, String)> {
        let mut conn = self.app_state.db.read().await.unwrap();
        let mut all: Vec<_> = rollouts::notifications(&mut conn, None, 1, 500)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|n| (n.username, n.kind, n.subject))
            .collect();
        all.reverse();
        all
    }

    /// A daily maintenance window (UTC, 4 hours) for one server.
    async fn window_for(&self, server: i64, start_minute: u16) {
        let window = patchport_core::window::Window {
            days: (1..=7).collect(),
            start_minute,
            duration_minutes: 240,
            time_zone: "UTC".into(),
        };
        let mut tx = self.app_state.db.begin().await.unwrap();
        let id = patchport_db::windows::create(&mut tx, &format!("w-{server}"), &window, 0)
            .await
            .unwrap();
        patchport_db::windows::assign(&mut tx, id, &[], &[server])
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    async fn open_jobs(&self, server: i64) -> i64 {
        let mut conn = self.app_state.db.read().await.unwrap();
        let (n,): (i64,) = sqlx::query_as(
            "select count(*) from job where server_id = $1 and state in ('queued', 'running')",
        )
        .bind(server)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        n
    }
}

#[tokio::test]
async fn the_policy_tests_observes_approves_publishes_and_deploys() {
    for_each_backend(|app| async move {
        let (canary, mut canary_report) =
            app.server("canary-1", &[("openssl", "1.0-2")], false).await;
        let (db1, _) = app.server("db-1", &[("openssl", "1.0-2")], true).await;
        let (web1, mut web1_report) = app.server("web-1", &[("openssl", "1.0-2")], false).await;
        let (web2, _) = app.server("web-2", &[("openssl", "1.0-2")], false).await;
        app.test_group(&[canary]).await;
        // web-1 has a daily window opening three hours after this time of
        // day; web-2 has none.
        let opens = ((app.clock.now() + 3 * 3600) % DAY / 60) as u16;
        app.window_for(web1, opens).await;

        // Detected and covered by the default policy: installed on the test
        // group only.
        let t = app.tick().await;
        assert_eq!((t.created, t.testing), (1, 1));
        assert_eq!(
            app.rollout_of("openssl").await.rollout.state.as_str(),
            "testing"
        );
        assert_eq!(app.open_jobs(canary).await, 1);
        assert_eq!(app.open_jobs(web1).await, 0, "only the test group installs");
        // The check waits for the test server's result.
        assert_eq!(app.tick().await.observing, 0);
        assert_eq!(
            app.agent_runs(&mut canary_report, true).await,
            Some("install")
        );
        assert_eq!(app.tick().await.observing, 1);
        let r = app.rollout_of("openssl").await;
        assert_eq!(r.rollout.state.as_str(), "observing");
        assert_eq!(r.tests[0].state, "succeeded");
        assert_eq!(r.rollout.observe_until, Some(app.clock.now() + 7 * DAY));

        // Six days in, nothing happens; after seven the policy approves.
        app.clock.advance(6 * DAY);
        assert_eq!(app.tick().await.approved, 0);
        app.clock.advance(DAY);
        assert_eq!(app.tick().await.approved, 1);
        let r = app.rollout_of("openssl").await;
        assert_eq!(r.rollout.state.as_str(), "approved");
        let last = r.events.last().unwrap();
        assert_eq!(
            (last.actor.as_str(), last.reason.as_str()),
            ("policy", "observation ended without a decline")
        );
        assert_eq!(app.audit_count("rollout.approved").await, 1);

        // Published for the critical server's owner; installed on the
        // standard server in its next window, without a reboot; published
        // for the standard server that has no window.
        assert_eq!(app.patch_state(db1, "openssl").await, "published");
        assert_eq!(
            app.open_jobs(db1).await,
            0,
            "a critical server is not deployed to"
        );
        assert_eq!(app.patch_state(web2, "openssl").await, "published");
        assert_eq!(app.open_jobs(web2).await, 0, "no window, no deployment");
        assert_eq!(app.patch_state(web1, "openssl").await, "queued");
        assert_eq!(
            app.agent_runs(&mut web1_report, true).await,
            None,
            "not before its window"
        );
        app.clock.advance(3 * 3600 - 60);
        assert_eq!(app.agent_runs(&mut web1_report, true).await, None);
        app.clock.advance(60);
        assert_eq!(
            app.agent_runs(&mut web1_report, true).await,
            Some("install"),
            "as the window opens"
        );
        let t = app.tick().await;
        assert_eq!(
            (t.reboots, t.notified),
            (0, 1),
            "no forced reboot; the owner is told"
        );
        assert_eq!(
            app.agent_runs(&mut web1_report, true).await,
            None,
            "no reboot job"
        );
        let told = app.told().await;
        assert!(told.contains(&(
            OWNER.into(),
            "published".into(),
            "2 patch(es) published for your servers".into()
        )));
        assert!(told.contains(&(
            OWNER.into(),
            "reboot_needed".into(),
            "web-1 was patched: please schedule its reboot".into()
        )));
        // Told once, not on every step.
        app.tick().await;
        assert_eq!(app.told().await.len(), told.len());
        assert_eq!(
            app.tick().await,
            rollouts::Ticked::default(),
            "nothing left to do"
        );
    })
    .await;
}

#[tokio::test]
async fn a_failed_test_install_stops_the_rollout_and_alerts_admins() {
    for_each_backend(|app| async move {
        let (canary, mut r) = app.server("canary-1", &[("curl", "1.0-2")], false).await;
        let (web1, _) = app.server("web-1", &[("curl", "1.0-2")], false).await;
        app.test_group(&[canary]).await;
        let t = app.tick().await;
        assert_eq!((t.created, t.testing), (1, 1), "{t:?}");
        assert_eq!(app.agent_runs(&mut r, false).await, Some("install"));
        let t = app.tick().await;
        assert_eq!((t.test_failed, t.notified), (1, 1));
        let d = app.rollout_of("curl").await;
        assert_eq!(d.rollout.state.as_str(), "test_failed");
        assert!(d.events.last().unwrap().reason.contains("canary-1: failed"));
        assert!(
            d.tests[0].log.contains("dpkg returned an error"),
            "the log is kept"
        );
        assert_eq!(
            app.told().await,
            vec![
                (
                    OWNER.into(),
                    "install_done".into(),
                    "Install on canary-1 failed".into()
                ),
                (
                    ADMIN.into(),
                    "test_failed".into(),
                    "Test install of curl 1.0-2 failed".into()
                )
            ]
        );
        // Stopped: time passing approves nothing and deploys nowhere.
        app.clock.advance(30 * DAY);
        assert_eq!(app.tick().await, rollouts::Ticked::default());
        assert_eq!(app.patch_state(web1, "curl").await, "missing");
        assert_eq!(app.open_jobs(web1).await, 0);
    })
    .await;
}

#[tokio::test]
async fn a_decline_during_observation_prevents_publication() {
    for_each_backend(|app| async move {
        let (canary, mut r) = app.server("canary-1", &[("bash", "1.0-2")], false).await;
        let (db1, _) = app.server("db-1", &[("bash", "1.0-2")], true).await;
        app.test_group(&[canary]).await;
        app.tick().await;
        app.agent_runs(&mut r, true).await;
        app.tick().await;
        let id = app.rollout_of("bash").await.rollout.id.to_string();
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        // A decline needs a reason.
        let resp = app
            .post_fn("/api/admin/rollouts/decide", Some(&admin), &[("id", &id), ("decision", "decline"), ("reason", " ")])
            .await;
        assert_eq!(resp.status(), 422);
        let resp = app
            .post_fn(
                "/api/admin/rollouts/decide",
                Some(&admin),
                &[("id", &id), ("decision", "decline"), ("reason", "breaks our LDAP login")],
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        app.clock.advance(8 * DAY);
        app.tick().await;
        // (The session ended meanwhile.)
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let d = app.rollout_of("bash").await;
        assert_eq!(d.rollout.state.as_str(), "declined");
        let last = d.events.last().unwrap();
        assert_eq!((last.actor.as_str(), last.reason.as_str()), (ADMIN, "breaks our LDAP login"));
        assert_eq!(app.patch_state(db1, "bash").await, "missing", "never published");
        // Approving it afterwards is refused, and so is a manual deployment.
        let resp = app
            .post_fn("/api/admin/rollouts/decide", Some(&admin), &[("id", &id), ("decision", "approve"), ("reason", "")])
            .await;
        assert_eq!(resp.status(), 409);
        let patch = d.rollout.patch_id;
        let resp = app
            .deploy(Some(&admin),
                serde_json::json!({"mode": "publish", "patch_ids": [patch], "server_ids": [db1], "group_ids": [],
                    "owner_ids": [], "install_at": "", "reboot": "none", "reboot_at": "", "request_key": "key-declined-1"}),
            )
            .await;
        assert_eq!(resp.status(), 409);
        assert!(resp.text().await.unwrap().contains("declined"));
        assert_eq!(app.patch_state(db1, "bash").await, "missing");
    })
    .await;
}

#[tokio::test]
async fn a_decline_takes_the_patch_out_of_installs_already_queued() {
    for_each_backend(|app| async move {
        let (canary, mut r) = app.server("canary-1", &[("bash", "1.0-2")], false).await;
        let (web1, mut web) = app
            .server("web-1", &[("bash", "1.0-2"), ("zlib", "1.0-2")], false)
            .await;
        let (web2, mut other) = app.server("web-2", &[("bash", "1.0-2")], false).await;
        app.test_group(&[canary]).await;
        app.tick().await;
        app.agent_runs(&mut r, true).await;
        app.tick().await;
        let d = app.rollout_of("bash").await;
        let (bash, zlib) = (d.rollout.patch_id, app.rollout_patch_id("zlib").await);
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        // Deployed for an hour from now: web-1 gets bash and zlib in one
        // job, web-2 bash alone.
        let at = patchport_core::clock::format_utc(app.clock_now() + 3600)[..16].replace(' ', "T");
        let resp = app
            .deploy(Some(&admin),
                serde_json::json!({"mode": "deploy", "patch_ids": [bash, zlib], "server_ids": [web1, web2], "group_ids": [],
                    "owner_ids": [], "install_at": at, "reboot": "none", "reboot_at": "", "request_key": "key-decline-queued"}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let deployed: app::rollouts::DeploymentCreated = resp.json().await.unwrap();
        assert_eq!(app.patch_state(web1, "bash").await, "queued");
        let resp = app
            .post_fn(
                "/api/admin/rollouts/decide",
                Some(&admin),
                &[("id", &d.rollout.id.to_string()), ("decision", "decline"), ("reason", "breaks bash scripts")],
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        assert_eq!(app.patch_state(web1, "bash").await, "missing");
        assert_eq!(app.patch_state(web2, "bash").await, "missing");
        assert_eq!(app.patch_state(web1, "zlib").await, "queued", "the rest of the job stays");
        assert_eq!((app.open_jobs(web1).await, app.open_jobs(web2).await), (1, 0));
        // The deployment says why web-2's install will not happen.
        let mut conn = app.app_state.db.read().await.unwrap();
        let shown = rollouts::deployment(&mut conn, deployed.id).await.unwrap().unwrap();
        drop(conn);
        let web2_target = shown.targets.iter().find(|t| t.server_id == web2).unwrap();
        assert_eq!(web2_target.state, "cancelled");
        assert_eq!(web2_target.reason, patchport_core::workflow::JobReason::PatchDeclined.text());
        // At the time, web-1's agent installs zlib only; web-2 gets nothing.
        app.clock.advance(3600 + 60);
        assert_eq!(app.agent_runs(&mut other, true).await, None);
        assert_eq!(app.agent_runs(&mut web, true).await, Some("install"));
        assert_eq!(app.patch_state(web1, "zlib").await, "installed");
        assert_eq!(app.patch_state(web1, "bash").await, "missing", "the declined patch was never installed");
    })
    .await;
}

#[tokio::test]
async fn manual_deployments_are_idempotent_and_say_what_they_skip() {
    for_each_backend(|app| async move {
        let (web1, mut web1_report) = app.server("web-1", &[("zlib", "1.0-2"), ("xz", "1.0-2")], false).await;
        let (web2, _) = app.server("web-2", &[("zlib", "1.0-2")], false).await;
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let patches: Vec<i64> = {
            let mut conn = app.app_state.db.read().await.unwrap();
            sqlx::query_as::<_, (i64,)>("select id from patch order by package")
                .fetch_all(&mut *conn)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.0)
                .collect()
        };
        let body = serde_json::json!({"mode": "deploy", "patch_ids": patches, "server_ids": [web1, web2], "group_ids": [],
            "owner_ids": [], "install_at": "", "reboot": "after", "reboot_at": "", "request_key": "key-double-1"});
        // Sent twice at once, as a double click does.
        let (a, b) = tokio::join!(
            app.deploy(Some(&admin), body.clone()),
            app.deploy(Some(&admin), body.clone()),
        );
        let a: app::rollouts::DeploymentCreated = a.json().await.unwrap();
        let b: app::rollouts::DeploymentCreated = b.json().await.unwrap();
        assert_eq!(a.id, b.id);
        assert_eq!(a.created as u8 + b.created as u8, 1, "one of them created it");
        assert_eq!((app.open_jobs(web1).await, app.open_jobs(web2).await), (1, 1), "one job per server");
        let first = if a.created { &a } else { &b };
        assert_eq!(first.skipped, vec!["web-2: xz 1.0-2 is not offered to this server".to_owned()]);
        // The form sent again, and the deployment's page, say the same:
        // what was left out is kept with the deployment.
        assert_eq!(a.skipped, b.skipped);
        let page: serde_json::Value = app
            .post_fn("/api/admin/deployments/get", Some(&admin), &[("id", &first.id.to_string())])
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["skipped"], serde_json::json!(["web-2: xz 1.0-2 is not offered to this server"]));
        // A new form for the same patches: nothing left to do, and it says so.
        let again = app
            .deploy(Some(&admin),
                serde_json::json!({"mode": "deploy", "patch_ids": patches, "server_ids": [web1], "group_ids": [],
                    "owner_ids": [], "install_at": "", "reboot": "none", "reboot_at": "", "request_key": "key-double-2"}),
            )
            .await;
        assert_eq!(again.status(), 409);
        let text = again.text().await.unwrap();
        assert!(text.contains("nothing to do"), "{text}");
        assert!(text.contains("web-1: xz 1.0-2 is already being installed"), "{text}");
        assert!(text.contains("web-1: zlib 1.0-2 is already being installed"), "{text}");
        assert_eq!(app.open_jobs(web1).await, 1);

        // The install, then the reboot right after it.
        assert_eq!(app.agent_runs(&mut web1_report, true).await, Some("install"));
        assert_eq!(app.tick().await.reboots, 1);
        let mut conn = app.app_state.db.read().await.unwrap();
        let d = rollouts::deployment(&mut conn, first.id).await.unwrap().unwrap();
        drop(conn);
        let states: Vec<_> = d.targets.iter().map(|t| (t.hostname.as_str(), t.state.as_str())).collect();
        assert_eq!(states, vec![("web-1", "reboot pending"), ("web-2", "queued")]);
        assert_eq!(app.agent_runs(&mut web1_report, true).await, Some("reboot"));
        // Installed patches can no longer be deployed: nothing harmful.
        let late = app
            .deploy(Some(&admin),
                serde_json::json!({"mode": "publish", "patch_ids": patches, "server_ids": [web1], "group_ids": [],
                    "owner_ids": [], "install_at": "", "reboot": "none", "reboot_at": "", "request_key": "key-double-3"}),
            )
            .await;
        assert_eq!(late.status(), 409);
        let text = late.text().await.unwrap();
        assert!(text.contains("web-1: zlib 1.0-2 is already installed"), "{text}");
        let mut conn = app.app_state.db.read().await.unwrap();
        let (deployments,): (i64,) = sqlx::query_as("select count(*) from deployment")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(deployments, 1, "refused forms leave no deployment behind");
        drop(conn);

        // Bad input changes nothing.
        for (bad, field) in [
            (serde_json::json!({"mode": "wipe"}), "mode"),
            (serde_json::json!({"patch_ids": []}), "patch_ids"),
            (serde_json::json!({"server_ids": []}), "targets"),
            (serde_json::json!({"reboot": "at", "reboot_at": ""}), "reboot_at"),
            (serde_json::json!({"install_at": "2000-01-01T00:00"}), "install_at"),
        ] {
            let mut body = serde_json::json!({"mode": "deploy", "patch_ids": patches, "server_ids": [web2], "group_ids": [],
                "owner_ids": [], "install_at": "", "reboot": "none", "reboot_at": "", "request_key": "key-bad-input"});
            for (k, v) in bad.as_object().unwrap() {
                body[k] = v.clone();
            }
            let resp = app.deploy(Some(&admin), body).await;
            assert_eq!(resp.status(), 422, "{field}");
            assert!(resp.text().await.unwrap().contains(field), "{field}");
        }
        assert_eq!(app.open_jobs(web2).await, 1);
    })
    .await;
}

#[tokio::test]
async fn owners_cannot_decide_deploy_or_see_rollouts() {
    for_each_backend(|app| async move {
        let (canary, _) = app.server("canary-1", &[("sudo", "1.0-2")], false).await;
        app.test_group(&[canary]).await;
        app.tick().await;
        let id = app.rollout_of("sudo").await.rollout.id.to_string();
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        for decision in ["approve", "decline", "retest"] {
            let resp = app
                .post_fn("/api/admin/rollouts/decide", Some(&owner), &[("id", &id), ("decision", decision), ("reason", "x")])
                .await;
            assert_eq!(resp.status(), 403, "{decision}");
        }
        let resp = app
            .deploy(Some(&owner),
                serde_json::json!({"mode": "deploy", "patch_ids": [1], "server_ids": [canary], "group_ids": [],
                    "owner_ids": [], "install_at": "", "reboot": "none", "reboot_at": "", "request_key": "key-owner-1"}),
            )
            .await;
        assert_eq!(resp.status(), 403);
        for path in ["/api/admin/rollouts/list", "/api/admin/policies/list", "/api/admin/notifications/list"] {
            let resp = app.post_fn(path, Some(&owner), &[("state", ""), ("page", "1")]).await;
            assert_eq!(resp.status(), 403, "{path}");
        }
        assert_eq!(app.rollout_of("sudo").await.rollout.state.as_str(), "testing");
    })
    .await;
}

#[tokio::test]
async fn policies_are_validated_and_decide_what_is_covered() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let mut policy = serde_json::to_value(patchport_core::rollout::Policy::default()).unwrap();
        policy["observation_days"] = 3.into();
        let resp = app
            .post_json("/api/admin/policies/save", Some(&admin),
                serde_json::json!({"id": 1, "name": "Default", "position": 0, "enabled": true, "policy": policy}))
            .await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("outside 7 to 30"));
        // Only kernel patches, with manual approval.
        policy["observation_days"] = 14.into();
        policy["include"] = serde_json::json!(["linux-image-*"]);
        policy["auto_approve"] = false.into();
        let resp = app
            .post_json("/api/admin/policies/save", Some(&admin),
                serde_json::json!({"id": 1, "name": "Kernels", "position": 0, "enabled": true, "policy": policy}))
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let (canary, mut r) = app
            .server("canary-1", &[("linux-image-amd64", "1.0-2"), ("vim", "1.0-2")], false)
            .await;
        app.test_group(&[canary]).await;
        assert_eq!(app.tick().await.created, 1, "vim is not covered");
        app.agent_runs(&mut r, true).await;
        app.tick().await;
        let d = app.rollout_of("linux-image-amd64").await;
        assert_eq!(d.rollout.policy, "Kernels");
        assert_eq!(d.rollout.observe_until, Some(app.clock.now() + 14 * DAY));
        // Manual approval: the end of observation is announced once.
        app.clock.advance(14 * DAY);
        let t = app.tick().await;
        assert_eq!((t.approved, t.notified), (0, 1));
        assert_eq!(app.tick().await.notified, 0);
        assert_eq!(app.rollout_of("linux-image-amd64").await.rollout.state.as_str(), "observing");
    })
    .await;
}

#[tokio::test]
async fn schedulers_of_several_instances_act_once() {
    for_each_backend(|app| async move {
        let (c1, _) = app.server("canary-1", &[("gzip", "1.0-2")], false).await;
        let (c2, _) = app.server("canary-2", &[("gzip", "1.0-2")], false).await;
        app.test_group(&[c1, c2]).await;
        // Four instances step the scheduler at the same moment.
        let (a, b, c, d) = tokio::join!(app.tick(), app.tick(), app.tick(), app.tick());
        let all = [a, b, c, d];
        assert_eq!(all.iter().map(|t| t.created).sum::<u32>(), 1, "{all:?}");
        assert_eq!(all.iter().map(|t| t.testing).sum::<u32>(), 1, "{all:?}");
        assert_eq!(
            (app.open_jobs(c1).await, app.open_jobs(c2).await),
            (1, 1),
            "one test job per server"
        );
        let history = app.rollout_of("gzip").await.events;
        assert_eq!(history.len(), 2, "new, then testing: {history:?}");
    })
    .await;
}

#[tokio::test]
async fn a_failing_scheduler_step_rolls_back_alone_and_runs_again() {
    for_each_backend(|app| async move {
        let (canary, _) = app.server("canary-1", &[("gzip", "1.0-2")], false).await;
        app.test_group(&[canary]).await;
        // The booking follow-up cannot read its table: that step fails, the
        // steps before and after it still do their work.
        let rename = |from: &str, to: &str| format!("alter table {from} rename to {to}");
        let db = app.app_state.db.clone();
        let mut conn = db.write().await.unwrap();
        sqlx::query(&rename("reboot_booking", "reboot_booking_away"))
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        let t = rollouts::tick(&db, app.clock.now()).await;
        assert_eq!(t.failed, vec![rollouts::Step::FollowBookings], "{t:?}");
        assert_eq!((t.created, t.testing), (1, 1), "{t:?}");
        assert_eq!(app.open_jobs(canary).await, 1);
        // Once the table is back, the next tick runs every step.
        let mut conn = db.write().await.unwrap();
        sqlx::query(&rename("reboot_booking_away", "reboot_booking"))
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        let t = rollouts::tick(&db, app.clock.now()).await;
        assert!(t.failed.is_empty(), "{t:?}");
        assert_eq!(app.open_jobs(canary).await, 1, "nothing was queued twice");
    })
    .await;
}

#[tokio::test]
async fn targets_are_named_by_host_name_and_owner() {
    for_each_backend(|app| async move {
        let (web1, _) = app.server("web-1", &[("zlib", "1.0-2")], false).await;
        let (web2, _) = app.server("web-2", &[("zlib", "1.0-2")], false).await;
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let patch = app.rollout_patch_id("zlib").await;
        let sent = std::sync::atomic::AtomicU32::new(0);
        let form = |extra: serde_json::Value| {
            let key = format!("key-named-{}", sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
            let mut body = serde_json::json!({"mode": "publish", "patch_ids": [patch], "server_ids": [], "group_ids": [],
                "owner_ids": [], "install_at": "", "reboot": "none", "reboot_at": "", "request_key": key});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        let resp = app.deploy(Some(&admin), form(serde_json::json!({"hostnames": ["web-1", "nope-9"]}))).await;
        assert_eq!(resp.status(), 422);
        assert!(resp.text().await.unwrap().contains("no server named \\\"nope-9\\\""));
        let resp = app.deploy(Some(&admin), form(serde_json::json!({"owners": ["nobody"]}))).await;
        assert_eq!(resp.status(), 422);
        assert_eq!(app.patch_state(web1, "zlib").await, "missing", "refused forms change nothing");
        // Published for the owner's servers, then deployed to one by name.
        let resp = app.deploy(Some(&admin), form(serde_json::json!({"owners": [OWNER]}))).await;
        let done: app::rollouts::DeploymentCreated = resp.json().await.unwrap();
        assert_eq!(done.targets, 2);
        assert_eq!(app.patch_state(web2, "zlib").await, "published");
        let resp = app
            .deploy(Some(&admin), form(serde_json::json!({"mode": "deploy", "hostnames": [" web-1 "]})))
            .await;
        let done: app::rollouts::DeploymentCreated = resp.json().await.unwrap();
        assert_eq!((done.targets, done.jobs), (1, 1));
        assert_eq!((app.open_jobs(web1).await, app.open_jobs(web2).await), (1, 0));
        // A second server enrols under the same host name: the name no
        // longer says which server is meant, so it is refused, naming both;
        // `#id` names one.
        let (twin, _) = app.server("web-2", &[("zlib", "1.0-2")], false).await;
        assert_ne!(twin, web2);
        let resp = app
            .deploy(Some(&admin), form(serde_json::json!({"mode": "deploy", "hostnames": ["web-2"]})))
            .await;
        assert_eq!(resp.status(), 422);
        let text = resp.text().await.unwrap();
        assert!(text.contains("names 2 servers") && text.contains(&format!("#{twin}")), "{text}");
        assert_eq!((app.open_jobs(web2).await, app.open_jobs(twin).await), (0, 0), "refused: nothing queued");
        let resp = app
            .deploy(Some(&admin), form(serde_json::json!({"mode": "deploy", "hostnames": [format!("#{twin}")]})))
            .await;
        let done: app::rollouts::DeploymentCreated = resp.json().await.unwrap();
        assert_eq!((done.targets, done.jobs), (1, 1));
        assert_eq!((app.open_jobs(web2).await, app.open_jobs(twin).await), (0, 1));
    })
    .await;
}

impl TestApp {
    /// Sends a bulk decision as the hydrated page does.
    async fn decide_many(
        &self,
        cookie: &str,
        decision: &str,
        ids: &[i64],
        reason: &str,
    ) -> reqwest::Response {
        let mut form: Vec<(String, String)> = ids
            .iter()
            .map(|id| ("ids[]".to_owned(), id.to_string()))
            .collect();
        form.push(("decision".into(), decision.into()));
        form.push(("reason".into(), reason.into()));
        self.post_fn_owned("/api/admin/rollouts/decide_many", Some(cookie), &form)
            .await
    }

    /// A bulk decision that went through (200), with what it did.
    async fn decided_many(
        &self,
        cookie: &str,
        decision: &str,
        ids: &[i64],
        reason: &str,
    ) -> app::rollouts::BulkDecided {
        let resp = self.decide_many(cookie, decision, ids, reason).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        resp.json().await.unwrap()
    }

    /// The rollouts list as an admin's page asks for it.
    async fn listed(&self, cookie: &str, filter: serde_json::Value) -> (Vec<String>, i64) {
        let resp = self
            .post_json(
                "/api/admin/rollouts/search",
                Some(cookie),
                serde_json::json!({ "filter": filter, "page": 1 }),
            )
            .await;
        assert_eq!(resp.status(), 200, "{filter}");
        let page: app::rollouts::RolloutPage = resp.json().await.unwrap();
        (
            page.items.into_iter().map(|r| r.package).collect(),
            page.total,
        )
    }

    /// Runs SQL on the database (arranging what imports would store).
    async fn exec(&self, sql: &str) {
        let mut conn = self.app_state.db.write().await.unwrap();
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }
}

/// What happened to each rollout of a bulk decision, by id.
fn outcomes(done: &app::rollouts::BulkDecided) -> Vec<(i64, &'static str)> {
    done.rollouts
        .iter()
        .map(|d| (d.rollout_id, d.outcome.kind()))
        .collect()
}

#[tokio::test]
async fn bulk_decisions_take_each_rollout_alone_and_say_what_they_did() {
    use patchport_core::view::rollouts::Outcome;
    for_each_backend(|app| async move {
        let packages = [
            ("openssl", "1.0-2"),
            ("curl", "1.0-2"),
            ("bash", "1.0-2"),
            ("zlib", "1.0-2"),
            ("xz", "1.0-2"),
        ];
        let (canary, mut canary_report) = app.server("canary-1", &packages, false).await;
        let (db1, _) = app.server("db-1", &packages, true).await;
        let (web1, _) = app.server("web-1", &packages, false).await;
        let (web2, _) = app.server("web-2", &packages, false).await;
        app.test_group(&[canary]).await;
        // web-1's window opens in three hours; web-2 has none.
        let opening = app.clock.now() + 3 * 3600;
        app.window_for(web1, (opening % DAY / 60) as u16).await;
        app.tick().await;
        assert_eq!(
            app.agent_runs(&mut canary_report, true).await,
            Some("install")
        );
        assert_eq!(app.tick().await.observing, 5);
        let mut ids = Vec::new();
        for (package, _) in packages {
            ids.push(app.rollout_of(package).await.rollout.id);
        }
        let [openssl, curl, bash, zlib, xz] = ids[..] else {
            unreachable!()
        };
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let resp = app
            .post_fn(
                "/api/admin/rollouts/decide",
                Some(&admin),
                &[
                    ("id", &bash.to_string()),
                    ("decision", "decline"),
                    ("reason", "breaks our scripts"),
                ],
            )
            .await;
        assert_eq!(resp.status(), 200);
        let bash_history = app.rollout_of("bash").await.events.len();

        // Approved together: two go through; the declined one and one that
        // does not exist are refused, saying why. Each once, by id.
        let done = app
            .decided_many(&admin, "approve", &[curl, bash, 999_999, openssl, curl], "")
            .await;
        assert_eq!(done.decision, patchport_core::rollout::Decision::Approve);
        let mut want = vec![
            (openssl, "approved"),
            (curl, "approved"),
            (bash, "refused"),
            (999_999, "refused"),
        ];
        want.sort();
        assert_eq!(outcomes(&done), want);
        let of = |id: i64| {
            done.rollouts
                .iter()
                .find(|d| d.rollout_id == id)
                .unwrap()
                .clone()
        };
        assert_eq!(
            of(bash).outcome,
            Outcome::Refused("a rollout that is declined cannot be approved".into())
        );
        assert_eq!(
            of(999_999).outcome,
            Outcome::Refused("there is no such rollout".into())
        );
        assert_eq!(
            (of(openssl).package, of(openssl).version),
            ("openssl".to_owned(), "1.0-2".to_owned())
        );

        // What the approval did, as the policy says: published for the
        // critical server and for the standard one without a window,
        // deployed to web-1 from its window's opening.
        let Outcome::Approved(did) = of(openssl).outcome else {
            panic!("approved")
        };
        let published = did.published.clone().expect("a publication");
        let deployed = did.deployed.clone().expect("a deployment");
        let hosts = |d: &patchport_core::view::rollouts::ApprovalDeployment| {
            d.servers
                .iter()
                .map(|s| s.hostname.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(hosts(&published), "db-1 web-2");
        assert_eq!(hosts(&deployed), "web-1");
        assert_eq!(published.servers[0].from, None, "owners install it");
        assert_eq!(deployed.servers[0].from, Some(opening - opening % 60));
        assert!(did.left.is_empty(), "{:?}", did.left);
        assert_ne!(published.deployment_id, deployed.deployment_id);
        assert_eq!(app.patch_state(db1, "openssl").await, "published");
        assert_eq!(app.patch_state(web2, "openssl").await, "published");
        assert_eq!(app.patch_state(web1, "openssl").await, "queued");
        // The rollout's page reads the same later on.
        let rollout_page = app
            .post_fn(
                "/api/admin/rollouts/get",
                Some(&admin),
                &[("id", &openssl.to_string())],
            )
            .await;
        let shown: app::rollouts::RolloutDetailView = rollout_page.json().await.unwrap();
        assert_eq!(shown.approval, Some(did));

        // A single approval says what it did the same way.
        let resp = app
            .post_fn(
                "/api/admin/rollouts/decide",
                Some(&admin),
                &[("id", &xz.to_string()), ("decision", "approve")],
            )
            .await;
        assert_eq!(resp.status(), 200);
        let Outcome::Approved(single) = resp.json().await.unwrap() else {
            panic!("approved")
        };
        assert_eq!(hosts(single.published.as_ref().unwrap()), "db-1 web-2");
        assert_eq!(hosts(single.deployed.as_ref().unwrap()), "web-1");

        // Nothing of the refused one was written; each approval is in the
        // history and the audit trail as a single one is.
        let b = app.rollout_of("bash").await;
        assert_eq!(b.rollout.state.as_str(), "declined");
        assert_eq!(b.events.len(), bash_history, "no event for the refusal");
        assert!(b.deployments.is_empty());
        assert_eq!(app.patch_state(db1, "bash").await, "missing");
        assert_eq!(app.audit_count("rollout.approved").await, 3);
        let c = app.rollout_of("curl").await;
        let last = c.events.last().unwrap();
        assert_eq!(
            (last.actor.as_str(), last.reason.as_str()),
            (ADMIN, "approved early by an admin")
        );

        // Declining needs a reason; a bad request changes nothing.
        let bad: [(&str, Vec<i64>, &str, &str); 4] = [
            (
                "decline",
                vec![zlib, openssl],
                " ",
                "say why these patches are declined",
            ),
            ("approve", vec![], "", "tick 1 to 200 rollouts"),
            ("approve", (1..=201).collect(), "", "tick 1 to 200 rollouts"),
            (
                "wipe",
                vec![zlib],
                "",
                "decision must be approve, decline or retest",
            ),
        ];
        for (decision, ids, reason, why) in bad {
            let resp = app.decide_many(&admin, decision, &ids, reason).await;
            assert_eq!(resp.status(), 422, "{why}");
            assert!(resp.text().await.unwrap().contains(why), "{why}");
        }
        assert_eq!(
            app.rollout_of("zlib").await.rollout.state.as_str(),
            "observing"
        );

        // Retesting an observed rollout is refused; declining goes through
        // where the state allows it, and leaves the approved one as it is.
        let done = app.decided_many(&admin, "retest", &[zlib], "").await;
        assert_eq!(
            done.rollouts[0].outcome,
            Outcome::Refused("a rollout that is observing cannot start testing".into())
        );
        let done = app
            .decided_many(&admin, "decline", &[zlib, openssl], "breaks LDAP")
            .await;
        let mut want = vec![(zlib, "declined"), (openssl, "refused")];
        want.sort();
        assert_eq!(outcomes(&done), want);
        assert_eq!(
            app.rollout_of("zlib").await.events.last().unwrap().reason,
            "breaks LDAP"
        );
        assert_eq!(
            app.patch_state(db1, "openssl").await,
            "published",
            "nothing withdrawn"
        );
        assert_eq!(app.audit_count("rollout.declined").await, 2);

        // Only admins decide.
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        let resp = app.decide_many(&owner, "approve", &[zlib], "").await;
        assert_eq!(resp.status(), 403);
        let resp = app
            .post_json(
                "/api/admin/rollouts/search",
                Some(&owner),
                serde_json::json!({"filter": {}, "page": 1}),
            )
            .await;
        assert_eq!(resp.status(), 403);
        let resp = app
            .post_fn(
                "/api/admin/rollouts/decided",
                Some(&owner),
                &[("decision", "approve"), ("ok", "1")],
            )
            .await;
        assert_eq!(resp.status(), 403);
    })
    .await;
}

#[tokio::test]
async fn a_bulk_decision_without_javascript_comes_back_to_the_list_with_its_outcome() {
    use patchport_core::view::rollouts::Outcome;
    for_each_backend(|app| async move {
        let (canary, _) = app
            .server("canary-1", &[("sudo", "1.0-2"), ("gzip", "1.0-2")], false)
            .await;
        let (db1, _) = app
            .server("db-1", &[("sudo", "1.0-2"), ("gzip", "1.0-2")], true)
            .await;
        app.test_group(&[canary]).await;
        app.tick().await;
        let (sudo, gzip) = (
            app.rollout_of("sudo").await.rollout.id,
            app.rollout_of("gzip").await.rollout.id,
        );
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        app.decided_many(&admin, "decline", &[sudo], "not on our servers")
            .await;
        // The browser posts the question's form; back to the list it came
        // from (known keys only), with the outcome named.
        let form = [
            ("ids[]", sudo.to_string()),
            ("ids[]", gzip.to_string()),
            ("decision", "approve".to_owned()),
            ("reason", String::new()),
            ("back", "state=testing&evil=%3Cx%3E&page=1".to_owned()),
        ];
        let resp = app
            .client
            .post(app.url("/api/admin/rollouts/decide_many"))
            .form(&form)
            .header("cookie", app.session_header(&admin))
            .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
            .header(
                "referer",
                app.url("/rollouts?state=testing&confirm=approve"),
            )
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_redirection(), "{}", resp.status());
        let to = resp.headers()["location"].to_str().unwrap().to_owned();
        assert_eq!(
            to,
            format!("/rollouts?state=testing&decided=approve&ok={gzip}&no={sudo}")
        );
        assert_eq!(app.patch_state(db1, "gzip").await, "published");
        // The page reads the outcome back from what is stored.
        let resp = app
            .post_fn(
                "/api/admin/rollouts/decided",
                Some(&admin),
                &[
                    ("decision", "approve"),
                    ("ok", &gzip.to_string()),
                    ("no", &format!("{sudo},424242")),
                ],
            )
            .await;
        assert_eq!(resp.status(), 200);
        let told: Vec<patchport_core::view::rollouts::Decided> = resp.json().await.unwrap();
        let kinds: Vec<_> = told
            .iter()
            .map(|d| (d.rollout_id, d.outcome.kind()))
            .collect();
        let mut want = vec![(sudo, "refused"), (gzip, "approved"), (424_242, "refused")];
        want.sort();
        assert_eq!(kinds, want);
        let gz = told.iter().find(|d| d.rollout_id == gzip).unwrap();
        let Outcome::Approved(did) = &gz.outcome else {
            panic!("approved")
        };
        assert_eq!(did.published.as_ref().unwrap().servers[0].hostname, "db-1");
        let su = told.iter().find(|d| d.rollout_id == sudo).unwrap();
        assert_eq!(
            su.outcome,
            Outcome::Refused("a rollout that is declined cannot be approved".into())
        );
        // Not a list of numbers: refused.
        let resp = app
            .post_fn(
                "/api/admin/rollouts/decided",
                Some(&admin),
                &[("decision", "approve"), ("ok", "1;drop")],
            )
            .await;
        assert_eq!(resp.status(), 422);
    })
    .await;
}

#[tokio::test]
async fn the_list_searches_packages_and_advisories_filters_and_sorts() {
    for_each_backend(|app| async move {
        let packages = [("alpha", "1.0-2"), ("bravo", "1.0-2"), ("charlie", "1.0-2"), ("delta", "1.0-2")];
        let (canary, _) = app.server("canary-1", &packages, false).await;
        app.test_group(&[canary]).await;
        app.tick().await;
        // What imports would store: charlie critical and known exploited,
        // bravo and delta high, alpha unrated; bravo fixes DSA-5555-1
        // (CVE-2024-12345).
        app.exec("update patch_from set severity_rank = 5, known_exploited = (1 = 1) where patch_id in (select id from patch where package = 'charlie')").await;
        app.exec("update patch_from set severity_rank = 4 where patch_id in (select id from patch where package in ('bravo', 'delta'))").await;
        app.exec("insert into advisory (advisory_id, modified, content_hash, imported_at) values ('DSA-5555-1', 0, 'h', 0)").await;
        app.exec("insert into advisory_cve (advisory_id, cve) select id, 'CVE-2024-12345' from advisory where advisory_id = 'DSA-5555-1'").await;
        app.exec("insert into patch_from_advisory (from_id, advisory_id) select f.id, a.id from patch_from f join patch p on p.id = f.patch_id, advisory a where p.package = 'bravo' and a.advisory_id = 'DSA-5555-1'").await;
        // Taken one after the other (alpha waits longest); delta changed last.
        for (i, (package, _)) in packages.iter().enumerate() {
            app.exec(&format!(
                "update rollout set created_at = {} where patch_id = (select id from patch where package = '{package}')",
                1000 + i
            ))
            .await;
        }
        app.exec("update rollout set updated_at = updated_at + 10 where patch_id = (select id from patch where package = 'delta')").await;
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let cases = [
            (serde_json::json!({}), "delta", 4),
            (serde_json::json!({"search": "RAV"}), "bravo", 1),
            (serde_json::json!({"search": "dsa-5555"}), "bravo", 1),
            (serde_json::json!({"search": "cve-2024-12345"}), "bravo", 1),
            (serde_json::json!({"search": "100%"}), "", 0),
            (serde_json::json!({"severity": "high"}), "", 3),
            (serde_json::json!({"severity": "critical"}), "charlie", 1),
            (serde_json::json!({"known_exploited": true}), "charlie", 1),
            (serde_json::json!({"state": "testing", "severity": "high"}), "", 3),
            (serde_json::json!({"state": "approved"}), "", 0),
        ];
        for (filter, first, total) in cases {
            let (names, n) = app.listed(&admin, filter.clone()).await;
            assert_eq!(n, total, "{filter}: {names:?}");
            if !first.is_empty() {
                assert_eq!(names.first().map(String::as_str), Some(first), "{filter}: {names:?}");
            }
        }
        // Worst first, known exploitation before the rest of its rank, then
        // the one waiting longest.
        let (names, _) = app.listed(&admin, serde_json::json!({"sort": "severity"})).await;
        assert_eq!(names, ["charlie", "bravo", "delta", "alpha"]);
        // Last change first (the default), newest first.
        let (names, _) = app.listed(&admin, serde_json::json!({})).await;
        assert_eq!(names.first().map(String::as_str), Some("delta"));
        for (bad, field) in [
            (serde_json::json!({"state": "done"}), "unknown rollout state"),
            (serde_json::json!({"severity": "severe"}), "severity must be"),
            (serde_json::json!({"sort": "package"}), "cannot sort by"),
        ] {
            let resp = app
                .post_json("/api/admin/rollouts/search", Some(&admin), serde_json::json!({"filter": bad, "page": 1}))
                .await;
            assert_eq!(resp.status(), 422, "{field}");
            assert!(resp.text().await.unwrap().contains(field), "{field}");
        }
        // The old list (state only) still answers.
        let resp = app.post_fn("/api/admin/rollouts/list", Some(&admin), &[("state", "testing"), ("page", "1")]).await;
        let page: app::rollouts::RolloutPage = resp.json().await.unwrap();
        assert_eq!(page.total, 4);
    })
    .await;
}

#[tokio::test]
async fn the_default_policy_says_it_is_as_set_up_not_changed_in_1970() {
    for_each_backend(|app| async move {
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let resp = app.get("/policies", Some(&admin)).await;
        assert_eq!(resp.status(), 200);
        let html = resp.text().await.unwrap();
        assert!(
            html.contains("as set up, not changed since"),
            "the default policy was written by setup"
        );
        assert!(!html.contains("1970"), "no time-zero date");
    })
    .await;
}

/// `POST /api/admin/deployments/rollback` for deployment `id` on `server`
/// (0: all its servers).
async fn roll_back(app: &TestApp, cookie: &str, id: i64, server: i64) -> reqwest::Response {
    app.post_fn(
        "/api/admin/deployments/rollback",
        Some(cookie),
        &[
            ("deployment_id", &id.to_string()),
            ("server_id", &server.to_string()),
        ],
    )
    .await
}

#[tokio::test]
async fn a_deployment_rolls_back_per_server_or_whole_and_its_patches_are_missing_again() {
    for_each_backend(|app| async move {
        let (web1, mut agent1) = app.server("web-1", &[("zlib", "1.0-2")], false).await;
        let (web2, mut agent2) = app.server("web-2", &[("zlib", "1.0-2")], false).await;
        let (web3, mut agent3) = app.server("web-3", &[("zlib", "1.0-2")], false).await;
        let admin = app.login(ADMIN, PASSWORD).await.unwrap();
        let zlib = app.rollout_patch_id("zlib").await;
        let created: app::rollouts::DeploymentCreated = app
            .deploy(Some(&admin),
                serde_json::json!({"mode": "deploy", "patch_ids": [zlib], "server_ids": [web1, web2, web3], "group_ids": [],
                    "owner_ids": [], "install_at": "", "reboot": "none", "reboot_at": "", "request_key": "key-rollback"}))
            .await
            .json()
            .await
            .unwrap();
        let id = created.id;
        // The deployment came from the patch's rollout, as an approval's does.
        app.tick().await;
        let rollout = app.rollout_of("zlib").await.rollout.id;
        let mut conn = app.app_state.db.write().await.unwrap();
        sqlx::query("update deployment set rollout_id = $1 where id = $2")
            .bind(rollout)
            .bind(id)
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);

        // Nothing has run yet: nothing to roll back, and nothing queued.
        let early = roll_back(&app, &admin, id, 0).await;
        assert_eq!(early.status(), 409);
        let text = early.text().await.unwrap();
        assert!(text.contains("web-1: the install has not started, so there is nothing to roll back"), "{text}");
        assert_eq!(app.open_jobs(web1).await, 1, "only the install");

        assert_eq!(app.agent_runs(&mut agent1, true).await, Some("install"));
        assert_eq!(app.agent_runs(&mut agent2, true).await, Some("install"));
        assert_eq!(app.agent_runs(&mut agent3, false).await, Some("install"));
        // The install kept the version the server had when it started.
        let mut conn = app.app_state.db.read().await.unwrap();
        let (previous,): (Option<String>,) = sqlx::query_as(
            "select previous from job where server_id = $1 and kind = 'install'",
        )
        .bind(web1)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        let zlib_row = |rows: Vec<patchport_core::view::ServerPatch>| {
            rows.into_iter().find(|p| p.package == "zlib").map(|p| (p.state, p.installed_version))
        };
        assert_eq!(
            zlib_row(patchport_db::servers::patch_rows(&mut conn, web1).await.unwrap()),
            Some(("installed".to_owned(), Some("1.0-1".to_owned()))),
            "installed (the row keeps the version it was missing from)"
        );
        drop(conn);
        let previous: serde_json::Value = serde_json::from_str(&previous.expect("recorded")).unwrap();
        assert_eq!(previous, serde_json::json!([{"name": "zlib", "version": "1.0-1", "arch": "amd64"}]));

        // Owners may not roll back; nothing is queued.
        let owner = app.login(OWNER, PASSWORD).await.unwrap();
        assert_eq!(roll_back(&app, &owner, id, web1).await.status(), 403);
        assert_eq!(app.open_jobs(web1).await, 0);

        // One server: a rollback job to the version before.
        let one = roll_back(&app, &admin, id, web1).await;
        assert_eq!(one.status(), 200);
        let done: app::rollouts::RollbackDone = one.json().await.unwrap();
        assert_eq!((done.queued, done.refused), (vec!["web-1".to_owned()], vec![]));
        let again = roll_back(&app, &admin, id, web1).await;
        assert_eq!(again.status(), 409);
        assert!(again.text().await.unwrap().contains("web-1: a rollback is already under way"));
        assert_eq!(app.agent_runs(&mut agent1, true).await, Some("rollback"));
        let mut conn = app.app_state.db.read().await.unwrap();
        assert_eq!(
            zlib_row(patchport_db::servers::patch_rows(&mut conn, web1).await.unwrap()),
            Some(("missing".to_owned(), Some("1.0-1".to_owned()))),
            "after the rollback the patch is missing again"
        );
        drop(conn);

        // The whole deployment: web-1 is done, web-3's install failed, and
        // web-2's rollback is queued; each left-alone server says why.
        let all = roll_back(&app, &admin, id, 0).await;
        assert_eq!(all.status(), 200);
        let done: app::rollouts::RollbackDone = all.json().await.unwrap();
        assert_eq!(done.queued, vec!["web-2".to_owned()]);
        assert_eq!(
            done.refused,
            vec![
                "web-1: already rolled back".to_owned(),
                "web-3: the install failed, so there is nothing to roll back".to_owned()
            ]
        );
        // A rollback the agent could not do may be asked for again.
        assert_eq!(app.agent_runs(&mut agent2, false).await, Some("rollback"));
        let page: app::rollouts::DeploymentView = app
            .post_fn("/api/admin/deployments/get", Some(&admin), &[("id", &id.to_string())])
            .await
            .json()
            .await
            .unwrap();
        let shown: Vec<_> = page
            .targets
            .iter()
            .map(|t| (t.hostname.as_str(), t.rollback.as_ref().map(|r| r.state.as_str()), t.can_roll_back))
            .collect();
        assert_eq!(
            shown,
            vec![("web-1", Some("succeeded"), false), ("web-2", Some("failed"), true), ("web-3", None, false)]
        );
        let retry: app::rollouts::RollbackDone = roll_back(&app, &admin, id, web2).await.json().await.unwrap();
        assert_eq!(retry.queued, vec!["web-2".to_owned()]);
        // Unknown deployments and servers not in it are not found.
        assert_eq!(roll_back(&app, &admin, id + 100, 0).await.status(), 404);
        assert_eq!(roll_back(&app, &admin, id, web3 + 100).await.status(), 404);

        // The rollout's history keeps each rollback, its state unchanged.
        let events = app.rollout_of("zlib").await.events;
        let notes: Vec<_> = events
            .iter()
            .filter(|e| e.reason.contains("rolled back"))
            .map(|e| (e.from.clone(), e.to.clone(), e.actor.clone(), e.reason.clone()))
            .collect();
        let state = app.rollout_of("zlib").await.rollout.state.as_str().to_owned();
        let note = |hosts: &str| (Some(state.clone()), state.clone(), ADMIN.to_owned(), format!("deployment #{id} rolled back on {hosts}"));
        assert_eq!(notes, vec![note("web-1"), note("web-2"), note("web-2")]);
    })
    .await;
}
