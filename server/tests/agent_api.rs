//! The agent API over HTTP: enrolment, check-ins, reconciliation, refusals.
//! Runs on SQLite and (when configured) PostgreSQL.

mod support;

use patchport_core::protocol::{
    AvailableUpdate, CheckInRequest, CheckInResponse, InstalledPackage, JOB_LEASE, JobOrder,
    JobSpec, OsInfo, PackageFormat, REBOOT_GRACE, Report,
};
use support::{TestApp, for_each_backend, full};

fn pkg(name: &str, version: &str) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: "amd64".into(),
        source_name: Some(name.into()),
        source_version: Some(version.into()),
    }
}

fn update(name: &str, from: &str, to: &str, security: bool) -> AvailableUpdate {
    AvailableUpdate {
        name: name.into(),
        arch: "amd64".into(),
        installed_version: Some(from.into()),
        version: to.into(),
        origin: if security {
            "Debian-Security:12/stable-security"
        } else {
            "Debian:12.8/stable"
        }
        .into(),
        security,
        advisories: vec![],
        source_name: None,
        source_version: None,
    }
}

fn report(packages: Vec<InstalledPackage>, updates: Vec<AvailableUpdate>) -> Report {
    Report {
        hostname: "web-1".into(),
        os: OsInfo {
            id: "debian".into(),
            id_like: vec![],
            version_id: "12".into(),
            version_codename: Some("bookworm".into()),
            pretty_name: "Debian GNU/Linux 12 (bookworm)".into(),
        },
        kernel: "6.1.0-28-amd64".into(),
        arch: "amd64".into(),
        boot_id: "0b8f0d4e-1111-2222-3333-444455556666".into(),
        package_format: PackageFormat::Deb,
        packages,
        updates,
        reboot_required: false,
        reboot_required_packages: vec![],
        agent_version: "0.1.0".into(),
    }
}

impl TestApp {
    /// (package, version, state) of a server's patches.
    async fn server_patches(&self, server_id: i64) -> Vec<(String, String, String)> {
        let mut conn = self.app_state.db.read().await.unwrap();
        let mut rows: Vec<_> = patchport_db::servers::patch_rows(&mut conn, server_id)
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.package, p.version, p.state))
            .collect();
        rows.sort();
        rows
    }
}

/// Jobs: queue, lease, results.
impl TestApp {
    /// An enrolled server that reported `openssl` and `curl` updates; returns
    /// (server id, credential, the report, admin cookie).
    async fn reporting_server(&self) -> (i64, String, Report, String) {
        let (server_id, credential) = self.enrolled().await;
        let r = report(
            vec![pkg("openssl", "3.0.11-1"), pkg("curl", "7.88.1-10")],
            vec![
                update("openssl", "3.0.11-1", "3.0.15-1", true),
                update("curl", "7.88.1-10", "7.88.1-10+deb12u8", false),
            ],
        );
        assert_eq!(self.check_in(&credential, &full(&r)).await.status(), 200);
        let admin = self.login(support::ADMIN, support::PASSWORD).await.unwrap();
        (server_id, credential, r, admin)
    }

    async fn patch_id(&self, server_id: i64, package: &str) -> i64 {
        let mut conn = self.app_state.db.read().await.unwrap();
        patchport_db::servers::patch_rows(&mut conn, server_id)
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.package == package)
            .unwrap()
            .patch_id
    }

    async fn queue(&self, cookie: &str, body: serde_json::Value) -> reqwest::Response {
        self.post_json("/api/admin/jobs/queue", Some(cookie), body)
            .await
    }

    /// A digest-only check-in; returns the jobs handed out.
    async fn poll(&self, credential: &str, r: &Report) -> Vec<JobOrder> {
        let resp = self
            .check_in(
                credential,
                &CheckInRequest {
                    digest: r.digest(),
                    report: None,
                },
            )
            .await;
        assert_eq!(resp.status(), 200);
        let answer: CheckInResponse = resp.json().await.unwrap();
        assert!(!answer.send_report);
        answer.jobs
    }

    async fn job(&self, job_id: i64) -> patchport_db::jobs::JobRow {
        let mut conn = self.app_state.db.read().await.unwrap();
        patchport_db::jobs::get(&mut conn, job_id)
            .await
            .unwrap()
            .unwrap()
    }
}

#[tokio::test]
async fn enrolment_tokens_are_single_use_expiring_and_refusals_are_audited() {
    for_each_backend(|app| async move {
        let token = app.token(1, 3600).await;
        assert_eq!(app.enroll(&token).await.status(), 200);
        assert_eq!(app.enroll(&token).await.status(), 401, "used up");
        assert_eq!(app.enroll("ppe_nonsense").await.status(), 401, "unknown");
        let short = app.token(5, 60).await;
        app.clock.advance(61);
        assert_eq!(app.enroll(&short).await.status(), 401, "expired");
        let revoked = app.token(5, 3600).await;
        let mut tx = app.app_state.db.begin().await.unwrap();
        let tokens = patchport_db::agents::list_tokens(&mut tx).await.unwrap();
        patchport_db::agents::revoke_token(&mut tx, tokens[0].id, app.clock_now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(app.enroll(&revoked).await.status(), 401, "revoked");
        assert_eq!(app.audit_count("agent.enrolled").await, 1);
        assert_eq!(app.audit_count("agent.enroll_refused").await, 4);
        let bad_host = app
            .client
            .post(app.url("/agent/v1/enroll"))
            .json(
                &serde_json::json!({ "token": app.token(1, 3600).await, "hostname": "two words" }),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(bad_host.status(), 422);
    })
    .await;
}

#[tokio::test]
async fn a_report_is_reconciled_idempotently_and_unchanged_check_ins_are_cheap() {
    for_each_backend(|app| async move {
        let (server_id, credential) = app.enrolled().await;
        let first = report(
            vec![
                pkg("openssl", "3.0.11-1~deb12u2"),
                pkg("bash", "5.2.15-2+b2"),
                pkg("curl", "7.88.1-10+deb12u7"),
            ],
            vec![
                update("openssl", "3.0.11-1~deb12u2", "3.0.15-1~deb12u1", true),
                update("curl", "7.88.1-10+deb12u7", "7.88.1-10+deb12u8", false),
            ],
        );
        // Digest only, unknown to the portal: it asks for the report.
        let ask = app
            .check_in(
                &credential,
                &CheckInRequest {
                    digest: first.digest(),
                    report: None,
                },
            )
            .await;
        assert_eq!(ask.status(), 200);
        assert_eq!(
            ask.json::<serde_json::Value>().await.unwrap()["send_report"],
            true
        );

        let resp = app.check_in(&credential, &full(&first)).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let missing = app.server_patches(server_id).await;
        assert_eq!(
            missing,
            [
                (
                    "curl".to_owned(),
                    "7.88.1-10+deb12u8".to_owned(),
                    "missing".to_owned()
                ),
                (
                    "openssl".to_owned(),
                    "3.0.15-1~deb12u1".to_owned(),
                    "missing".to_owned()
                )
            ]
        );
        let mut conn = app.app_state.db.read().await.unwrap();
        assert_eq!(
            patchport_db::servers::search_packages(&mut conn, server_id, "", 1, 100)
                .await
                .unwrap()
                .items
                .len(),
            3
        );
        let listed = patchport_db::servers::list(&mut conn, &Default::default(), 1, 50)
            .await
            .unwrap();
        drop(conn);
        assert_eq!(
            (listed.items[0].missing, listed.items[0].missing_security),
            (2, 1)
        );
        assert_eq!(listed.items[0].os_name, "Debian GNU/Linux 12 (bookworm)");

        // The same report again changes nothing.
        assert_eq!(app.check_in(&credential, &full(&first)).await.status(), 200);
        assert_eq!(app.server_patches(server_id).await, missing);

        // Digest only, known: nothing to send.
        let same = app
            .check_in(
                &credential,
                &CheckInRequest {
                    digest: first.digest(),
                    report: None,
                },
            )
            .await;
        assert_eq!(
            same.json::<serde_json::Value>().await.unwrap()["send_report"],
            false
        );

        // openssl got installed; curl is now offered at a newer version.
        let second = report(
            vec![
                pkg("openssl", "3.0.15-1~deb12u1"),
                pkg("bash", "5.2.15-2+b2"),
                pkg("curl", "7.88.1-10+deb12u7"),
            ],
            vec![update(
                "curl",
                "7.88.1-10+deb12u7",
                "7.88.1-10+deb12u9",
                true,
            )],
        );
        assert_eq!(
            app.check_in(&credential, &full(&second)).await.status(),
            200
        );
        assert_eq!(
            app.server_patches(server_id).await,
            [
                (
                    "curl".to_owned(),
                    "7.88.1-10+deb12u8".to_owned(),
                    "superseded".to_owned()
                ),
                (
                    "curl".to_owned(),
                    "7.88.1-10+deb12u9".to_owned(),
                    "missing".to_owned()
                ),
                (
                    "openssl".to_owned(),
                    "3.0.15-1~deb12u1".to_owned(),
                    "installed".to_owned()
                )
            ]
        );

        // The inventory follows each report (only what differs is
        // written): a version changed in place, a source that changed
        // alone, a package gone, a package new.
        let packages = |app: &TestApp| {
            let db = app.app_state.db.clone();
            async move {
                let mut conn = db.read().await.unwrap();
                patchport_db::servers::search_packages(&mut conn, server_id, "", 1, 100)
                    .await
                    .unwrap()
                    .items
            }
        };
        let row = |name: &str, version: &str, source: Option<&str>| {
            (
                name.to_owned(),
                "amd64".to_owned(),
                version.to_owned(),
                source.map(str::to_owned),
            )
        };
        assert_eq!(
            packages(&app).await,
            [
                row("bash", "5.2.15-2+b2", Some("bash")),
                row("curl", "7.88.1-10+deb12u7", Some("curl")),
                row("openssl", "3.0.15-1~deb12u1", Some("openssl")),
            ]
        );
        let mut renamed = pkg("curl", "7.88.1-10+deb12u7");
        renamed.source_name = Some("curl-src".into());
        let mut unsourced = pkg("zlib1g", "1:1.2.13.dfsg-1");
        unsourced.source_name = None;
        unsourced.source_version = None;
        let third = report(
            vec![pkg("openssl", "3.0.15-1~deb12u2"), renamed, unsourced],
            vec![],
        );
        assert_eq!(app.check_in(&credential, &full(&third)).await.status(), 200);
        assert_eq!(
            packages(&app).await,
            [
                row("curl", "7.88.1-10+deb12u7", Some("curl-src")),
                row("openssl", "3.0.15-1~deb12u2", Some("openssl")),
                row("zlib1g", "1:1.2.13.dfsg-1", None),
            ]
        );
        // Back to a report without any package: the inventory empties.
        assert_eq!(
            app.check_in(&credential, &full(&report(vec![], vec![])))
                .await
                .status(),
            200
        );
        assert!(packages(&app).await.is_empty());
    })
    .await;
}

#[tokio::test]
async fn bad_reports_and_bad_credentials_are_refused_and_change_nothing() {
    for_each_backend(|app| async move {
        let (server_id, credential) = app.enrolled().await;
        let good = report(
            vec![pkg("bash", "5.2.15-2+b2")],
            vec![update("bash", "5.2.15-2+b2", "5.2.15-2+b3", false)],
        );
        assert_eq!(app.check_in(&credential, &full(&good)).await.status(), 200);
        let before = app.server_patches(server_id).await;

        let mut empty_version = good.clone();
        empty_version.updates[0].version = String::new();
        let mut tampered = full(&good);
        if let Some(r) = tampered.report.as_mut() {
            r.updates.clear();
        }
        let cases: Vec<(&str, reqwest::Response, u16, &str)> = vec![
            (
                "invalid field",
                app.check_in(&credential, &full(&empty_version)).await,
                422,
                "updates[0].version",
            ),
            (
                "digest mismatch",
                app.check_in(&credential, &tampered).await,
                422,
                "digest",
            ),
            (
                "malformed JSON",
                app.client
                    .post(app.url("/agent/v1/check-in"))
                    .bearer_auth(&credential)
                    .header("content-type", "application/json")
                    .body("{\"digest\": 1")
                    .send()
                    .await
                    .unwrap(),
                400,
                "",
            ),
            (
                "oversized body",
                app.client
                    .post(app.url("/agent/v1/check-in"))
                    .bearer_auth(&credential)
                    .header("content-type", "application/json")
                    .body(vec![b' '; 9 * 1024 * 1024])
                    .send()
                    .await
                    .unwrap(),
                413,
                "",
            ),
            (
                "oversized enrolment, unauthenticated",
                app.client
                    .post(app.url("/agent/v1/enroll"))
                    .header("content-type", "application/json")
                    .body(vec![b' '; 64 * 1024])
                    .send()
                    .await
                    .unwrap(),
                413,
                "",
            ),
            (
                "oversized job result",
                app.client
                    .post(app.url("/agent/v1/jobs/1/result"))
                    .bearer_auth(&credential)
                    .header("content-type", "application/json")
                    .body(vec![b' '; 1024 * 1024])
                    .send()
                    .await
                    .unwrap(),
                413,
                "",
            ),
            (
                "wrong secret",
                app.check_in(&format!("{server_id}.{}", "0".repeat(64)), &full(&good))
                    .await,
                401,
                "",
            ),
            (
                "no credential",
                app.client
                    .post(app.url("/agent/v1/check-in"))
                    .json(&full(&good))
                    .send()
                    .await
                    .unwrap(),
                401,
                "",
            ),
        ];
        for (what, resp, status, mentions) in cases {
            assert_eq!(resp.status().as_u16(), status, "{what}");
            let text = resp.text().await.unwrap();
            assert!(text.contains(mentions), "{what}: {text}");
        }
        assert_eq!(
            app.server_patches(server_id).await,
            before,
            "refused check-ins changed nothing"
        );

        let mut tx = app.app_state.db.begin().await.unwrap();
        assert!(
            patchport_db::agents::revoke_credential(&mut tx, server_id, app.clock_now())
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        assert_eq!(
            app.check_in(&credential, &full(&good)).await.status(),
            401,
            "revoked credential"
        );
        assert!(app.audit_count("agent.auth_failed").await >= 3);
    })
    .await;
}

/// Every `$ref` in `v`, wherever it is.
fn refs(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", serde_json::Value::String(r)) => out.push(r.clone()),
                    _ => refs(x, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_openapi_description_matches_what_the_portal_serves_and_accepts() {
    for_each_backend(|app| async move {
        let resp = app.get("/agent/v1/openapi.json", None).await;
        assert_eq!(resp.status(), 200);
        let doc: serde_json::Value = resp.json().await.unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{doc}");

        // Exactly the agent's routes, each answered (an empty POST is refused
        // for what it is, never "no such route").
        let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
        assert_eq!(
            paths,
            [
                "/agent/v1/check-in",
                "/agent/v1/enroll",
                "/agent/v1/jobs/{id}/result"
            ]
        );
        for path in &paths {
            let url = app.url(&path.replace("{id}", "1"));
            let status = reqwest::Client::new()
                .post(url)
                .send()
                .await
                .unwrap()
                .status();
            assert!(![404, 405].contains(&status.as_u16()), "{path}: {status}");
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        for r in &all {
            let pointer = r.strip_prefix('#').expect("a local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }

        // Real traffic, both ways, is what the document says.
        let schema_of = |name: &str| {
            let mut schema = doc.clone();
            schema["$ref"] = format!("#/components/schemas/{name}").into();
            jsonschema::validator_for(&schema).unwrap()
        };
        let valid = |name: &str, v: &serde_json::Value| {
            let errors: Vec<String> = schema_of(name)
                .iter_errors(v)
                .map(|e| e.to_string())
                .collect();
            assert!(errors.is_empty(), "{name}: {errors:?} in {v}");
        };
        let (canary, agent) = app.server("canary-1", &[("gzip", "1.0-2")], false).await;
        valid(
            "CheckInRequest",
            &serde_json::to_value(full(&agent.report)).unwrap(),
        );
        app.test_group(&[canary]).await;
        assert_eq!(app.tick().await.testing, 1);
        let resp = app.check_in(&agent.credential, &full(&agent.report)).await;
        assert_eq!(resp.status(), 200);
        let answer: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(answer["jobs"][0]["kind"], "install", "{answer}");
        valid("CheckInResponse", &answer);
        let result = serde_json::json!({"attempt": answer["jobs"][0]["attempt"],
            "outcome": "succeeded", "exit_code": 0, "log": "Setting up gzip"});
        valid("JobResult", &result);
        let job = answer["jobs"][0]["id"].as_i64().unwrap();
        let resp = app.send_result(&agent.credential, job, result).await;
        assert_eq!(resp.status(), 200);
        valid("ResultRecorded", &resp.json().await.unwrap());
        let token = app.token(1, 3600).await;
        valid(
            "EnrollRequest",
            &serde_json::json!({"token": token, "hostname": "web-9"}),
        );
        let resp = app.enroll(&token).await;
        assert_eq!(resp.status(), 200);
        valid("EnrollResponse", &resp.json().await.unwrap());

        // And it refuses what the portal refuses.
        let mut report = serde_json::to_value(&agent.report).unwrap();
        report.as_object_mut().unwrap().remove("hostname");
        assert!(!schema_of("Report").is_valid(&report));
        let mut order = answer["jobs"][0].clone();
        order["kind"] = "format-disk".into();
        assert!(!schema_of("JobOrder").is_valid(&order));
    })
    .await;
}

#[tokio::test]
async fn admins_create_tokens_and_assign_servers_owners_see_only_their_own() {
    for_each_backend(|app| async move {
        let admin = app.login(support::ADMIN, support::PASSWORD).await.unwrap();
        let owner = app.login(support::OWNER, support::PASSWORD).await.unwrap();

        // A token made in the UI enrols an agent.
        let bad = app
            .post_fn(
                "/api/admin/enrollment/create",
                Some(&admin),
                &[("label", "x"), ("valid_hours", "0"), ("max_uses", "1")],
            )
            .await;
        assert_eq!(bad.status(), 422, "validity out of range");
        let made = app
            .post_fn(
                "/api/admin/enrollment/create",
                Some(&admin),
                &[("label", "web"), ("valid_hours", "24"), ("max_uses", "2")],
            )
            .await;
        assert_eq!(made.status(), 200);
        let token: String = made.json().await.unwrap();
        assert!(token.starts_with("ppe_") && token.len() == 68, "{token}");
        let refused = app
            .post_fn(
                "/api/admin/enrollment/create",
                Some(&owner),
                &[("label", "x"), ("valid_hours", "1"), ("max_uses", "1")],
            )
            .await;
        assert_eq!(refused.status(), 403, "owners cannot create tokens");
        let first: serde_json::Value = app.enroll(&token).await.json().await.unwrap();
        let second: serde_json::Value = app.enroll(&token).await.json().await.unwrap();
        let (a, b) = (
            first["server_id"].as_i64().unwrap(),
            second["server_id"].as_i64().unwrap(),
        );

        let listed = |cookie: String| {
            let app = &app;
            async move {
                let resp = app
                    .post_json(
                        "/api/servers/list",
                        Some(&cookie),
                        serde_json::json!({"filter": {}, "page": 1}),
                    )
                    .await;
                assert_eq!(resp.status(), 200);
                let page: serde_json::Value = resp.json().await.unwrap();
                page["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["id"].as_i64().unwrap())
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(listed(admin.clone()).await.len(), 2);
        assert!(
            listed(owner.clone()).await.is_empty(),
            "owners see no servers until assigned"
        );

        let assign = |cookie: String, id: i64, who: &'static str, crit: &'static str| {
            let app = &app;
            async move {
                let id = id.to_string();
                app.post_fn(
                    "/api/admin/servers/assign",
                    Some(&cookie),
                    &[("server_id", &id), ("owner", who), ("criticality", crit)],
                )
                .await
            }
        };
        assert_eq!(
            assign(admin.clone(), a, support::OWNER, "critical")
                .await
                .status(),
            200
        );
        assert_eq!(
            assign(admin.clone(), b, "nobody-here", "standard")
                .await
                .status(),
            422,
            "unknown owner"
        );
        assert_eq!(
            assign(admin.clone(), b, support::OWNER, "urgent")
                .await
                .status(),
            422,
            "bad criticality"
        );
        assert_eq!(
            assign(owner.clone(), b, support::OWNER, "standard")
                .await
                .status(),
            403,
            "owners cannot assign"
        );
        assert_eq!(
            listed(owner.clone()).await,
            [a],
            "the owner sees exactly their server"
        );
        assert!(app.audit_count("server.assigned").await == 1);

        let revoke = app
            .post_fn(
                "/api/admin/servers/revoke_agent",
                Some(&admin),
                &[("server_id", &a.to_string())],
            )
            .await;
        assert_eq!(revoke.status(), 200);
        let cred = first["credential"].as_str().unwrap();
        let r = report(vec![pkg("bash", "5.2.15-2+b2")], vec![]);
        assert_eq!(
            app.check_in(cred, &full(&r)).await.status(),
            401,
            "revoked from the UI"
        );
    })
    .await;
}

#[tokio::test]
async fn server_details_and_packages_are_visible_to_admins_and_the_owner_only() {
    for_each_backend(|app| async move {
        let admin = app.login(support::ADMIN, support::PASSWORD).await.unwrap();
        let owner = app.login(support::OWNER, support::PASSWORD).await.unwrap();
        let (server_id, credential) = app.enrolled().await;
        let r = report(
            vec![
                pkg("openssl", "3.0.11-1~deb12u2"),
                pkg("libssl3", "3.0.11-1~deb12u2"),
                pkg("bash", "5.2.15-2+b2"),
            ],
            vec![update(
                "openssl",
                "3.0.11-1~deb12u2",
                "3.0.15-1~deb12u1",
                true,
            )],
        );
        assert_eq!(app.check_in(&credential, &full(&r)).await.status(), 200);
        let id = server_id.to_string();

        let detail = app
            .post_fn("/api/servers/detail", Some(&admin), &[("id", &id)])
            .await;
        assert_eq!(detail.status(), 200);
        let d: serde_json::Value = detail.json().await.unwrap();
        assert_eq!(d["kernel"], "6.1.0-28-amd64");
        assert_eq!(d["row"]["missing_security"], 1);
        assert_eq!(d["patches"][0]["package"], "openssl");

        let search = app
            .post_fn(
                "/api/servers/packages",
                Some(&admin),
                &[("id", &id), ("search", "SSL"), ("page", "1")],
            )
            .await;
        let p: serde_json::Value = search.json().await.unwrap();
        assert_eq!(p["total"], 2, "search is case-insensitive on the name");
        assert_eq!(p["items"][0][0], "libssl3");

        // Not the owner yet: indistinguishable from a server that does not exist.
        for path in ["/api/servers/detail", "/api/servers/packages"] {
            let form = [("id", id.as_str()), ("search", ""), ("page", "1")];
            assert_eq!(
                app.post_fn(path, Some(&owner), &form).await.status(),
                404,
                "{path}"
            );
            let missing = [("id", "999999"), ("search", ""), ("page", "1")];
            assert_eq!(
                app.post_fn(path, Some(&owner), &missing).await.status(),
                404,
                "{path}"
            );
        }
        let assign = [
            ("server_id", id.as_str()),
            ("owner", support::OWNER),
            ("criticality", "standard"),
        ];
        assert_eq!(
            app.post_fn("/api/admin/servers/assign", Some(&admin), &assign)
                .await
                .status(),
            200
        );
        assert_eq!(
            app.post_fn("/api/servers/detail", Some(&owner), &[("id", &id)])
                .await
                .status(),
            200
        );
        let page = app
            .get(&format!("/servers/{server_id}"), Some(&owner))
            .await;
        assert_eq!(page.status(), 200);
        assert!(
            page.text().await.unwrap().contains("web-1"),
            "the page renders the server"
        );
    })
    .await;
}

#[tokio::test]
async fn the_same_update_from_two_origins_is_one_patch_and_security_wins() {
    for_each_backend(|app| async move {
        let (server_id, credential) = app.enrolled().await;
        let mut from_stable = update("openssl", "3.0.11-1~deb12u2", "3.0.15-1~deb12u1", false);
        from_stable.origin = "Debian:12.8/stable".into();
        let from_security = update("openssl", "3.0.11-1~deb12u2", "3.0.15-1~deb12u1", true);
        let r = report(
            vec![pkg("openssl", "3.0.11-1~deb12u2")],
            vec![from_stable, from_security],
        );
        let resp = app.check_in(&credential, &full(&r)).await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let mut conn = app.app_state.db.read().await.unwrap();
        let patches: Vec<_> = patchport_db::servers::patch_rows(&mut conn, server_id)
            .await
            .unwrap()
            .into_iter()
            .map(|p| (p.package, p.version, p.security, p.state))
            .collect();
        assert_eq!(
            patches,
            [(
                "openssl".into(),
                "3.0.15-1~deb12u1".into(),
                true,
                "missing".into()
            )]
        );
    })
    .await;
}

/// Many agents reporting the same patches at once must neither deadlock
/// (PostgreSQL) nor hit "database is locked" (SQLite).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_check_ins_sharing_patches_all_succeed() {
    for_each_backend(|app| async move {
        let app = std::sync::Arc::new(app);
        let mut agents = Vec::new();
        for _ in 0..8 {
            agents.push(app.enrolled().await);
        }
        let names: Vec<String> = (0..40).map(|i| format!("lib{i:02}")).collect();
        let mut sends = tokio::task::JoinSet::new();
        for round in 0..3 {
            for (n, (_, credential)) in agents.iter().enumerate() {
                let (app, credential) = (app.clone(), credential.clone());
                // Each agent lists the shared updates in its own order.
                let mut order = names.clone();
                order.rotate_left((n * 7 + round) % names.len());
                sends.spawn(async move {
                    let packages = order.iter().map(|p| pkg(p, "1.0-1")).collect();
                    let updates = order
                        .iter()
                        .map(|p| update(p, "1.0-1", "1.0-2", n % 2 == 0))
                        .collect();
                    let mut r = report(packages, updates);
                    r.boot_id = format!("boot-{round}");
                    app.check_in(&credential, &full(&r)).await.status().as_u16()
                });
            }
        }
        while let Some(status) = sends.join_next().await {
            assert_eq!(status.unwrap(), 200);
        }
        let mut conn = app.app_state.db.read().await.unwrap();
        let listed = patchport_db::servers::list(&mut conn, &Default::default(), 1, 50)
            .await
            .unwrap();
        assert!(
            listed.items.iter().all(|s| s.missing == 40),
            "every server misses the 40 shared patches"
        );
    })
    .await;
}

#[tokio::test]
async fn an_install_job_is_leased_once_reported_idempotently_and_reconciled() {
    for_each_backend(|app| async move {
        let (server_id, credential, r, admin) = app.reporting_server().await;
        let openssl = app.patch_id(server_id, "openssl").await;
        let resp = app
            .queue(
                &admin,
                serde_json::json!({"server_id": server_id, "kind": "install", "patch_ids": [openssl],
                    "start_at": "", "window_hours": 24}),
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let job_id: i64 = resp.json().await.unwrap();
        assert_eq!(app.audit_count("job.queued").await, 1);
        let states = app.server_patches(server_id).await;
        assert!(states.contains(&("openssl".into(), "3.0.15-1".into(), "queued".into())), "{states:?}");

        let jobs = app.poll(&credential, &r).await;
        assert_eq!(jobs.len(), 1);
        assert_eq!((jobs[0].id, jobs[0].attempt), (job_id, 1));
        let JobSpec::Install { packages } = &jobs[0].spec else { panic!("{:?}", jobs[0]) };
        assert_eq!(
            packages.iter().map(|p| (p.name.as_str(), p.version.as_str(), p.arch.as_str())).collect::<Vec<_>>(),
            [("openssl", "3.0.15-1", "amd64")]
        );
        assert!(
            app.poll(&credential, &r).await.is_empty(),
            "a leased job is not handed out again while its lease runs"
        );
        let states = app.server_patches(server_id).await;
        assert!(states.contains(&("openssl".into(), "3.0.15-1".into(), "installing".into())), "{states:?}");

        let result = serde_json::json!({"attempt": 1, "outcome": "succeeded", "exit_code": 0,
            "log": "Setting up openssl (3.0.15-1) ...\n"});
        let first = app.send_result(&credential, job_id, result.clone()).await;
        assert_eq!(first.status(), 200);
        assert_eq!(first.json::<serde_json::Value>().await.unwrap()["recorded"], "applied");
        let again = app.send_result(&credential, job_id, result).await;
        assert_eq!(again.status(), 200, "a repeated result is harmless");
        assert_eq!(again.json::<serde_json::Value>().await.unwrap()["recorded"], "repeated");
        assert_eq!(app.audit_count("job.result").await, 1, "recorded once");
        // In words, with the host name: no debug text, no server number.
        let mut conn = app.app_state.db.read().await.unwrap();
        let event = patchport_db::audit::list(&mut conn, "job.result", 1, 1).await.unwrap().items.remove(0);
        let kinds = patchport_db::audit::kinds(&mut conn).await.unwrap();
        drop(conn);
        assert_eq!((event.target.as_str(), event.detail.as_str()),
            (r.hostname.as_str(), format!("job {job_id} attempt 1: succeeded, exit code 0").as_str()));
        for kind in ["job.", "login."] {
            assert!(kinds.contains(&kind.to_owned()), "{kind} in {kinds:?}: every recorded kind is filterable");
        }
        let job = app.job(job_id).await;
        assert_eq!((job.state.as_str(), job.exit_code), ("succeeded", Some(0)));
        assert!(job.log.contains("Setting up openssl"));

        // The agent's re-scan no longer lists the update: installed.
        let mut after = r.clone();
        after.packages[1].version = "3.0.15-1".into();
        after.updates.retain(|u| u.name != "openssl");
        assert_eq!(app.check_in(&credential, &full(&after)).await.status(), 200);
        let states = app.server_patches(server_id).await;
        assert!(states.contains(&("openssl".into(), "3.0.15-1".into(), "installed".into())), "{states:?}");
        assert!(states.contains(&("curl".into(), "7.88.1-10+deb12u8".into(), "missing".into())), "{states:?}");

        // Listed for the admin with its log.
        let listed = app
            .post_fn("/api/servers/jobs", Some(&admin), &[("server_id", &server_id.to_string()), ("page", "1")])
            .await;
        assert_eq!(listed.status(), 200);
        let page: serde_json::Value = listed.json().await.unwrap();
        assert_eq!(page["total"], 1);
        assert_eq!(page["items"][0]["state"], "succeeded");
        assert_eq!(page["items"][0]["packages"][0], "openssl=3.0.15-1 (amd64)");
    })
    .await;
}

#[tokio::test]
async fn an_expired_job_never_runs_and_hands_its_patches_back() {
    for_each_backend(|app| async move {
        let (server_id, credential, r, admin) = app.reporting_server().await;
        let curl = app.patch_id(server_id, "curl").await;
        let resp = app
            .queue(
                &admin,
                serde_json::json!({"server_id": server_id, "kind": "install", "patch_ids": [curl],
                    "start_at": "", "window_hours": 1}),
            )
            .await;
        let job_id: i64 = resp.json().await.unwrap();
        app.clock.advance(3600);
        assert!(
            app.poll(&credential, &r).await.is_empty(),
            "expired, not run"
        );
        let job = app.job(job_id).await;
        assert_eq!(job.state, "expired");
        assert!(job.reason.contains("deadline"), "{}", job.reason);
        let states = app.server_patches(server_id).await;
        assert!(
            states.contains(&("curl".into(), "7.88.1-10+deb12u8".into(), "missing".into())),
            "{states:?}"
        );
        let late = app
            .send_result(
                &credential,
                job_id,
                serde_json::json!({"attempt": 0, "outcome": "succeeded"}),
            )
            .await;
        assert_eq!(
            late.status(),
            409,
            "nothing to report for a job that never ran"
        );
    })
    .await;
}

#[tokio::test]
async fn a_killed_agents_lease_runs_out_and_the_job_is_offered_again_never_twice_at_once() {
    for_each_backend(|app| async move {
        let (server_id, credential, r, admin) = app.reporting_server().await;
        let openssl = app.patch_id(server_id, "openssl").await;
        let resp = app
            .queue(
                &admin,
                serde_json::json!({"server_id": server_id, "kind": "install", "patch_ids": [openssl],
                    "start_at": "", "window_hours": 168}),
            )
            .await;
        let job_id: i64 = resp.json().await.unwrap();
        // Attempt 1 is claimed, then the agent dies without a word.
        assert_eq!(app.poll(&credential, &r).await[0].attempt, 1);
        app.clock.advance(JOB_LEASE - 1);
        assert!(app.poll(&credential, &r).await.is_empty(), "still leased");
        app.clock.advance(1);
        let again = app.poll(&credential, &r).await;
        assert_eq!((again[0].id, again[0].attempt), (job_id, 2), "offered again");
        assert!(app.job(job_id).await.reason.contains("lease expired"));
        // The first attempt's result, arriving late, is refused.
        let late = app
            .send_result(&credential, job_id, serde_json::json!({"attempt": 1, "outcome": "succeeded"}))
            .await;
        assert_eq!(late.status(), 409);
        assert_eq!(app.job(job_id).await.state, "running");
        // Attempts 2 and 3 die too: the job fails for good.
        app.clock.advance(JOB_LEASE);
        assert_eq!(app.poll(&credential, &r).await[0].attempt, 3);
        app.clock.advance(JOB_LEASE);
        assert!(app.poll(&credential, &r).await.is_empty());
        let job = app.job(job_id).await;
        assert_eq!(job.state, "failed");
        assert!(job.reason.contains("3 attempts"), "{}", job.reason);
        let states = app.server_patches(server_id).await;
        assert!(states.contains(&("openssl".into(), "3.0.15-1".into(), "missing".into())), "{states:?}");
    })
    .await;
}

#[tokio::test]
async fn a_reboot_whose_lease_ran_out_is_lost_never_offered_again_and_a_new_boot_id_confirms_it() {
    for_each_backend(|app| async move {
        let (server_id, credential, r, admin) = app.reporting_server().await;
        let resp = app
            .queue(
                &admin,
                serde_json::json!({"server_id": server_id, "kind": "reboot", "patch_ids": [],
                    "start_at": "", "window_hours": 168}),
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let job_id: i64 = resp.json().await.unwrap();
        // The agent claims the reboot and goes silent before "rebooting"
        // (the reboot took it down first, or it died).
        assert_eq!(app.poll(&credential, &r).await[0].id, job_id);
        app.clock.advance(JOB_LEASE);
        assert!(
            app.poll(&credential, &r).await.is_empty(),
            "a reboot is never offered a second time"
        );
        let job = app.job(job_id).await;
        assert_eq!(job.state, "failed");
        assert!(job.reason.starts_with("lost:"), "{}", job.reason);
        // The server turns out to have rebooted: its new boot id confirms it.
        let mut rebooted = r.clone();
        rebooted.boot_id = "a-new-boot".into();
        assert_eq!(
            app.check_in(&credential, &full(&rebooted)).await.status(),
            200
        );
        let job = app.job(job_id).await;
        assert_eq!(job.state, "succeeded");
        assert!(job.reason.contains("new boot id"), "{}", job.reason);
    })
    .await;
}

#[tokio::test]
async fn a_reboot_waits_for_its_time_and_counts_only_with_a_new_boot_id() {
    for_each_backend(|app| async move {
        use patchport_core::Clock;
        let (server_id, credential, r, admin) = app.reporting_server().await;
        // Two hours ahead, on the minute.
        let at = (app.clock.now() / 60 + 120) * 60;
        let start = patchport_core::clock::format_utc(at);
        let start_at = format!("{}T{}", &start[..10], &start[11..16]);
        let resp = app
            .queue(
                &admin,
                serde_json::json!({"server_id": server_id, "kind": "reboot", "patch_ids": [],
                    "start_at": start_at, "window_hours": 2}),
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let job_id: i64 = resp.json().await.unwrap();
        assert_eq!(app.job(job_id).await.not_before, at);
        assert!(
            app.poll(&credential, &r).await.is_empty(),
            "not before its time"
        );
        app.clock.advance(at - app.clock.now());
        let jobs = app.poll(&credential, &r).await;
        assert_eq!(jobs[0].spec, JobSpec::Reboot);
        let going = app
            .send_result(
                &credential,
                job_id,
                serde_json::json!({"attempt": 1, "outcome": "rebooting"}),
            )
            .await;
        assert_eq!(going.status(), 200);
        assert_eq!(app.job(job_id).await.state, "rebooting");
        // The same boot id: not rebooted yet.
        assert_eq!(app.check_in(&credential, &full(&r)).await.status(), 200);
        assert_eq!(app.job(job_id).await.state, "rebooting");
        let mut rebooted = r.clone();
        rebooted.boot_id = "a-new-boot".into();
        assert_eq!(
            app.check_in(&credential, &full(&rebooted)).await.status(),
            200
        );
        let job = app.job(job_id).await;
        assert_eq!(job.state, "succeeded");
        assert!(job.reason.contains("new boot id"));

        // A reboot that never comes back within the grace period fails.
        // (Two hours passed: the admin signs in again.)
        let admin = app.login(support::ADMIN, support::PASSWORD).await.unwrap();
        let resp = app
            .queue(
                &admin,
                serde_json::json!({"server_id": server_id, "kind": "reboot", "patch_ids": [],
                    "start_at": "", "window_hours": 2}),
            )
            .await;
        assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
        let second: i64 = resp.json().await.unwrap();
        assert_eq!(app.poll(&credential, &rebooted).await[0].id, second);
        app.send_result(
            &credential,
            second,
            serde_json::json!({"attempt": 1, "outcome": "rebooting"}),
        )
        .await;
        app.clock.advance(REBOOT_GRACE);
        assert!(app.poll(&credential, &rebooted).await.is_empty());
        let job = app.job(second).await;
        assert_eq!(job.state, "failed");
        assert!(job.reason.contains("boot id"), "{}", job.reason);

        // A job due before the next regular check-in brings the agent back
        // in time for it.
        let admin = app.login(support::ADMIN, support::PASSWORD).await.unwrap();
        let at = (app.clock.now() / 60 + 3) * 60;
        let start = patchport_core::clock::format_utc(at);
        let resp = app
            .queue(
                &admin,
                serde_json::json!({"server_id": server_id, "kind": "refresh", "patch_ids": [],
                    "start_at": format!("{}T{}", &start[..10], &start[11..16]), "window_hours": 1}),
            )
            .await;
        assert_eq!(resp.status(), 200);
        let answer: CheckInResponse = app
            .check_in(
                &credential,
                &CheckInRequest {
                    digest: rebooted.digest(),
                    report: None,
                },
            )
            .await
            .json()
            .await
            .unwrap();
        assert!(answer.jobs.is_empty());
        assert_eq!(answer.next_check_in, (at - app.clock.now()) as u64);
        assert!(answer.next_check_in < 300);
    })
    .await;
}

#[tokio::test]
async fn bad_jobs_and_bad_results_are_refused_and_owners_cannot_queue() {
    for_each_backend(|app| async move {
        let (server_id, credential, r, admin) = app.reporting_server().await;
        let (_, other_credential) = app.enrolled().await;
        let openssl = app.patch_id(server_id, "openssl").await;
        let job = |kind: &str, ids: Vec<i64>, start: &str, hours: i64| {
            serde_json::json!({"server_id": server_id, "kind": kind, "patch_ids": ids,
                "start_at": start, "window_hours": hours})
        };
        for (body, why) in [
            (job("install", vec![], "", 24), "no patches"),
            (
                job("install", vec![999_999], "", 24),
                "a patch the server does not miss",
            ),
            (job("install", vec![openssl], "", 0), "no start window"),
            (
                job("install", vec![openssl], "2001-01-01T00:00", 24),
                "a start in the past",
            ),
            (
                job("install", vec![openssl], "tomorrow", 24),
                "an unreadable time",
            ),
            (job("rm -rf /", vec![], "", 24), "an unknown kind"),
        ] {
            let resp = app.queue(&admin, body).await;
            assert_eq!(resp.status(), 422, "{why}: {}", resp.text().await.unwrap());
        }
        let missing_server = app
            .queue(
                &admin,
                serde_json::json!({"server_id": 999_999, "kind": "refresh", "patch_ids": [],
                "start_at": "", "window_hours": 1}),
            )
            .await;
        assert_eq!(missing_server.status(), 404);
        let owner = app.login(support::OWNER, support::PASSWORD).await.unwrap();
        assert_eq!(
            app.queue(&owner, job("refresh", vec![], "", 1))
                .await
                .status(),
            403
        );
        assert_eq!(
            app.queue("nobody", job("refresh", vec![], "", 1))
                .await
                .status(),
            401
        );
        let listed = app
            .post_fn(
                "/api/servers/jobs",
                Some(&owner),
                &[("server_id", &server_id.to_string()), ("page", "1")],
            )
            .await;
        assert_eq!(listed.status(), 404, "not the owner's server");
        assert!(
            app.server_patches(server_id)
                .await
                .iter()
                .all(|p| p.2 == "missing"),
            "nothing queued"
        );

        let resp = app.queue(&admin, job("refresh", vec![], "", 1)).await;
        let job_id: i64 = resp.json().await.unwrap();
        assert_eq!(app.poll(&credential, &r).await[0].spec, JobSpec::Refresh);
        for (cred, body, status) in [
            (
                &other_credential,
                serde_json::json!({"attempt": 1, "outcome": "succeeded"}),
                404,
            ),
            (
                &credential,
                serde_json::json!({"attempt": 1, "outcome": "rebooting"}),
                422,
            ),
            (
                &credential,
                serde_json::json!({"attempt": 1, "outcome": "exploded"}),
                400,
            ),
            (
                &credential,
                serde_json::json!({"attempt": 1, "outcome": "failed", "log": "x".repeat(200_000)}),
                422,
            ),
            (
                &"1.wrong".to_owned(),
                serde_json::json!({"attempt": 1, "outcome": "succeeded"}),
                401,
            ),
        ] {
            let resp = app.send_result(cred, job_id, body).await;
            assert_eq!(resp.status(), status);
        }
        assert_eq!(
            app.job(job_id).await.state,
            "running",
            "no refused result changed it"
        );
        let cancel = app
            .post_fn(
                "/api/admin/jobs/cancel",
                Some(&admin),
                &[("job_id", &job_id.to_string())],
            )
            .await;
        assert_eq!(cancel.status(), 409, "a running job cannot be cancelled");
    })
    .await;
}

#[tokio::test]
async fn a_rotated_credential_replaces_the_old_one_at_its_first_use() {
    for_each_backend(|app| async move {
        let (server_id, old, r, admin) = app.reporting_server().await;
        let resp = app
            .post_fn(
                "/api/admin/servers/rotate_credential",
                Some(&admin),
                &[("server_id", &server_id.to_string())],
            )
            .await;
        assert_eq!(resp.status(), 200);
        let digest_only = CheckInRequest {
            digest: r.digest(),
            report: None,
        };
        let first: CheckInResponse = app.check_in(&old, &digest_only).await.json().await.unwrap();
        let new = first
            .new_credential
            .expect("a new credential at the next check-in");
        assert!(new.starts_with(&format!("{server_id}.")) && new != old);
        let used: CheckInResponse = app.check_in(&new, &digest_only).await.json().await.unwrap();
        assert!(used.new_credential.is_none(), "rotation done");
        assert_eq!(app.audit_count("agent.credential_rotated").await, 1);
        assert_eq!(
            app.check_in(&old, &digest_only).await.status(),
            401,
            "the old one is retired"
        );
        assert_eq!(app.check_in(&new, &digest_only).await.status(), 200);
        assert_eq!(app.audit_count("agent.credential_conflict").await, 0);

        // Revoked: nothing to rotate.
        let mut tx = app.app_state.db.begin().await.unwrap();
        patchport_db::agents::revoke_credential(&mut tx, server_id, app.clock_now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let resp = app
            .post_fn(
                "/api/admin/servers/rotate_credential",
                Some(&admin),
                &[("server_id", &server_id.to_string())],
            )
            .await;
        assert_eq!(resp.status(), 409);
    })
    .await;
}

#[tokio::test]
async fn a_server_gets_one_job_at_a_time_under_concurrent_check_ins() {
    use patchport_core::protocol::JobSpec;
    for_each_backend(|app| async move {
        let (server_id, credential, r, _) = app.reporting_server().await;
        // Two jobs due now.
        let mut tx = app.app_state.db.begin().await.unwrap();
        for spec in [JobSpec::Refresh, JobSpec::Refresh] {
            patchport_db::jobs::create(
                &mut tx,
                &patchport_db::jobs::NewJob {
                    server_id,
                    spec: &spec,
                    not_before: app.clock_now(),
                    not_after: app.clock_now() + 3600,
                    created_by: None,
                },
                app.clock_now(),
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
        let digest_only = CheckInRequest {
            digest: r.digest(),
            report: None,
        };
        let answers = futures_util::future::join_all(
            (0..50).map(|_| app.check_in(&credential, &digest_only)),
        )
        .await;
        let mut handed = 0;
        for resp in answers {
            assert_eq!(resp.status(), 200);
            let body: CheckInResponse = resp.json().await.unwrap();
            handed += body.jobs.len();
        }
        assert_eq!(handed, 1, "one job handed out");
        let mut conn = app.app_state.db.read().await.unwrap();
        let (running,): (i64,) =
            sqlx::query_as("select count(*) from job where server_id = $1 and state = 'running'")
                .bind(server_id)
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!(running, 1);
    })
    .await;
}

#[tokio::test]
async fn a_stolen_old_credential_never_ends_up_with_the_new_one() {
    for_each_backend(|app| async move {
        // Whoever presents the old credential second, the thief or the
        // agent, nobody is left holding a valid credential, and the admins
        // are told.
        for thief_first in [true, false] {
            let (server_id, old, r, admin) = app.reporting_server().await;
            let resp = app
                .post_fn(
                    "/api/admin/servers/rotate_credential",
                    Some(&admin),
                    &[("server_id", &server_id.to_string())],
                )
                .await;
            assert_eq!(resp.status(), 200);
            let digest_only = CheckInRequest {
                digest: r.digest(),
                report: None,
            };
            let conflicts = app.audit_count("agent.credential_conflict").await;
            // The first to present the old credential gets the new one…
            let first: CheckInResponse =
                app.check_in(&old, &digest_only).await.json().await.unwrap();
            let handed = first.new_credential.expect("handed out once");
            // …and the second presentation of the old one revokes both.
            let second = app.check_in(&old, &digest_only).await;
            assert_eq!(second.status(), 401, "thief first: {thief_first}");
            let second: serde_json::Value = second.json().await.unwrap();
            assert!(second.get("new_credential").is_none(), "no second credential");
            assert_eq!(app.check_in(&handed, &digest_only).await.status(), 401);
            assert_eq!(app.check_in(&old, &digest_only).await.status(), 401);
            assert_eq!(app.audit_count("agent.credential_conflict").await, conflicts + 1);
            // The admins are told, by notification and mail.
            let mut conn = app.app_state.db.read().await.unwrap();
            let (told,): (i64,) = sqlx::query_as(
                "select count(*) from notification where kind = 'credential_conflict' and link = $1",
            )
            .bind(format!("/servers/{server_id}"))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
            assert!(told >= 1);
        }
    })
    .await;
}

#[tokio::test]
async fn concurrent_check_ins_during_a_rotation_hand_out_one_credential_at_most() {
    for_each_backend(|app| async move {
        let (server_id, old, r, admin) = app.reporting_server().await;
        app.post_fn(
            "/api/admin/servers/rotate_credential",
            Some(&admin),
            &[("server_id", &server_id.to_string())],
        )
        .await;
        let digest_only = CheckInRequest {
            digest: r.digest(),
            report: None,
        };
        let answers =
            futures_util::future::join_all((0..20).map(|_| app.check_in(&old, &digest_only))).await;
        let mut handed = 0;
        for resp in answers {
            if resp.status() == 200 {
                let body: CheckInResponse = resp.json().await.unwrap();
                handed += usize::from(body.new_credential.is_some());
            }
        }
        assert!(handed <= 1, "{handed} credentials handed out");
    })
    .await;
}

#[tokio::test]
async fn groups_a_test_group_and_list_filters_and_sorting() {
    for_each_backend(|app| async move {
        let (busy, busy_cred, r, admin) = app.reporting_server().await;
        let (quiet, _) = app.enrolled().await;
        let create = |name: &'static str| {
            let (app, admin) = (&app, admin.clone());
            async move {
                let resp = app
                    .post_fn("/api/admin/groups/create", Some(&admin), &[("name", name)])
                    .await;
                (
                    resp.status().as_u16(),
                    resp.json::<serde_json::Value>().await.unwrap(),
                )
            }
        };
        let (status, web) = create("web").await;
        assert_eq!(status, 200);
        let (_, canary) = create("canary").await;
        assert_eq!(create("web").await.0, 409, "names are unique");
        assert_eq!(create("  ").await.0, 422);
        let (web, canary) = (web.as_i64().unwrap(), canary.as_i64().unwrap());
        for id in [web, canary] {
            let resp = app
                .post_fn(
                    "/api/admin/groups/set_test",
                    Some(&admin),
                    &[("id", &id.to_string())],
                )
                .await;
            assert_eq!(resp.status(), 200);
        }
        let groups: serde_json::Value = app
            .post_fn("/api/admin/groups/list", Some(&admin), &[])
            .await
            .json()
            .await
            .unwrap();
        let tests: Vec<&str> = groups
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["is_test_group"] == true)
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(tests, ["canary"], "one test group at a time");

        let set = |server: i64, ids: Vec<i64>| {
            let (app, admin) = (&app, admin.clone());
            async move {
                app.post_json(
                    "/api/admin/servers/set_groups",
                    Some(&admin),
                    serde_json::json!({"server_id": server, "group_ids": ids}),
                )
                .await
                .status()
                .as_u16()
            }
        };
        assert_eq!(set(busy, vec![web, canary]).await, 200);
        assert_eq!(set(quiet, vec![web]).await, 200);
        assert_eq!(
            set(quiet, vec![web, 999_999]).await,
            422,
            "an unknown group"
        );
        assert_eq!(set(999_999, vec![web]).await, 404);

        let list = |filter: serde_json::Value| {
            let (app, admin) = (&app, admin.clone());
            async move {
                let resp = app
                    .post_json(
                        "/api/servers/list",
                        Some(&admin),
                        serde_json::json!({"filter": filter, "page": 1}),
                    )
                    .await;
                let status = resp.status().as_u16();
                let body: serde_json::Value = resp.json().await.unwrap();
                if status != 200 {
                    return (status, vec![]);
                }
                let ids = body["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["id"].as_i64().unwrap())
                    .collect();
                (status, ids)
            }
        };
        assert_eq!(list(serde_json::json!({})).await, (200, vec![busy, quiet]));
        assert_eq!(
            list(serde_json::json!({"group_id": canary})).await.1,
            [busy]
        );
        assert_eq!(
            list(serde_json::json!({"group_id": web})).await.1.len(),
            2,
            "quiet kept web"
        );
        assert_eq!(
            list(serde_json::json!({"missing_only": true})).await.1,
            [busy]
        );
        assert_eq!(
            list(serde_json::json!({"status": "never"})).await.1,
            [quiet]
        );
        assert_eq!(
            list(serde_json::json!({"status": "online"})).await.1,
            [busy]
        );
        assert_eq!(
            list(serde_json::json!({"criticality": "critical"})).await.1,
            Vec::<i64>::new()
        );
        assert_eq!(
            list(serde_json::json!({"sort": "missing", "descending": true}))
                .await
                .1,
            [busy, quiet]
        );
        assert_eq!(
            list(serde_json::json!({"sort": "missing", "descending": false}))
                .await
                .1,
            [quiet, busy]
        );
        assert_eq!(list(serde_json::json!({"sort": "password"})).await.0, 422);
        assert_eq!(list(serde_json::json!({"status": "asleep"})).await.0, 422);
        // An hour without check-ins: stale; a day: offline.
        app.clock.advance(3600);
        let admin2 = app.login(support::ADMIN, support::PASSWORD).await.unwrap();
        let resp = app
            .post_json(
                "/api/servers/list",
                Some(&admin2),
                serde_json::json!({"filter": {"status": "stale"}, "page": 1}),
            )
            .await;
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["items"][0]["id"], busy);
        assert_eq!(body["items"][0]["groups"].as_array().unwrap().len(), 2);
        let _ = (busy_cred, r);

        let resp = app
            .post_fn(
                "/api/admin/groups/delete",
                Some(&admin2),
                &[("id", &web.to_string())],
            )
            .await;
        assert_eq!(resp.status(), 200);
        let resp = app
            .post_fn(
                "/api/admin/groups/delete",
                Some(&admin2),
                &[("id", &web.to_string())],
            )
            .await;
        assert_eq!(resp.status(), 404);
        let mut conn = app.app_state.db.read().await.unwrap();
        let left = patchport_db::groups::of_servers(&mut conn, &[busy, quiet])
            .await
            .unwrap();
        assert_eq!(left.get(&busy).map(Vec::len), Some(1), "only canary left");
        assert!(!left.contains_key(&quiet));
    })
    .await;
}
