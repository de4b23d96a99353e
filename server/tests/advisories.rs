//! Advisory and KEV imports in the real formats, on SQLite and PostgreSQL:
//! the right advisories, CVEs, severities and known-exploited flags end up
//! on the right patches; re-importing changes nothing; a malformed file is
//! rejected whole, naming the file and the entry.

mod support;

use patchport::advisories::{ImportError, import_kev, import_osv, import_url};
use std::path::{Path, PathBuf};
use support::{TestApp, for_each_backend, pkg, report, update};

fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

impl TestApp {
    /// The advisories of the server's patch for `package`:
    /// (advisory id, severity, CVSS score, CVEs, known exploited).
    async fn advisories_of(
        &self,
        server_id: i64,
        package: &str,
    ) -> Vec<(String, String, Option<f64>, Vec<String>, Vec<String>)> {
        let mut conn = self.app_state.db.read().await.unwrap();
        let patch = patchport_db::servers::patch_rows(&mut conn, server_id)
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.package == package)
            .unwrap();
        patchport_db::advisories::of_patch(&mut conn, patch.patch_id)
            .await
            .unwrap()
            .into_iter()
            .map(|a| {
                (
                    a.advisory_id,
                    a.severity,
                    a.cvss_score,
                    a.cves,
                    a.known_exploited,
                )
            })
            .collect()
    }

    async fn count(&self, table: &str) -> i64 {
        let mut conn = self.app_state.db.read().await.unwrap();
        let (n,): (i64,) = sqlx::query_as(&format!("select count(*) from {table}"))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        n
    }
}

#[tokio::test]
async fn imported_advisories_and_kev_land_on_the_patches_that_fix_them() {
    for_each_backend(|app| async move {
        let web = app
            .reported(&report(
                "web-1",
                vec![
                    pkg("libssl3", "openssl", "3.0.11-1~deb12u2"),
                    pkg("curl", "curl", "7.88.1-10+deb12u5"),
                    pkg("bash", "bash", "5.2.15-2+b2"),
                ],
                vec![
                    update("libssl3", "3.0.11-1~deb12u2", "3.0.15-1~deb12u1"),
                    update("curl", "7.88.1-10+deb12u5", "7.88.1-10+deb12u8"),
                    update("bash", "5.2.15-2+b2", "5.2.15-2+b7"),
                ],
            ))
            .await;
        let db = &app.app_state.db;
        let clock = &app.clock;
        let done = import_osv(db, clock, &[&fixtures("osv")], "test")
            .await
            .unwrap();
        assert_eq!(
            (done.read, done.inserted, done.updated, done.unchanged),
            (4, 4, 0, 0)
        );
        assert_eq!(
            done.linked, 3,
            "two openssl advisories and one curl advisory"
        );
        let (read, changed) = import_kev(db, clock, &fixtures("kev.json"), "test")
            .await
            .unwrap();
        assert_eq!((read, changed), (2, 2));

        // Matched through the source package (libssl3 is built from openssl);
        // the AlmaLinux advisory does not apply to a Debian server.
        let openssl = app.advisories_of(web, "libssl3").await;
        assert_eq!(
            openssl,
            [
                (
                    "DEBIAN-CVE-2024-2511".to_owned(),
                    "critical".to_owned(),
                    Some(9.8),
                    vec!["CVE-2024-2511".to_owned()],
                    vec!["CVE-2024-2511".to_owned()],
                ),
                (
                    "DSA-5678-1".to_owned(),
                    "unknown".to_owned(),
                    None,
                    vec!["CVE-2024-2511".to_owned(), "CVE-2024-4603".to_owned()],
                    vec!["CVE-2024-2511".to_owned()],
                ),
            ]
        );
        let curl = app.advisories_of(web, "curl").await;
        assert_eq!(curl.len(), 1);
        assert_eq!(curl[0].0, "DSA-5700-1");
        assert!(curl[0].4.is_empty(), "not known exploited");
        assert!(
            app.advisories_of(web, "bash").await.is_empty(),
            "no advisory for bash"
        );

        // On the server's page, with the risk and why, riskiest first.
        let mut tx = db.begin().await.unwrap();
        patchport_db::servers::set_assignment(&mut tx, web, None, "critical")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        clock.advance(21 * 86_400);
        let admin = app.login(support::ADMIN, support::PASSWORD).await.unwrap();
        let detail: serde_json::Value = app
            .post_fn(
                "/api/servers/detail",
                Some(&admin),
                &[("id", &web.to_string())],
            )
            .await
            .json()
            .await
            .unwrap();
        let first = &detail["patches"][0];
        assert_eq!(first["package"], "libssl3");
        assert_eq!(first["risk"]["score"], 100);
        assert_eq!(
            first["risk"]["explanation"],
            "critical: CVSS 9.8, known exploited, on a critical server, 21 days old"
        );
        assert_eq!(first["known_exploited"], true);
        assert_eq!(
            first["advisories"],
            serde_json::json!(["DEBIAN-CVE-2024-2511", "DSA-5678-1"])
        );
        let bash = detail["patches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["package"] == "bash")
            .unwrap();
        assert_eq!(
            bash["risk"]["explanation"],
            "medium: security update, not rated, on a critical server, 21 days old"
        );
        assert_eq!(app.audit_count("advisories.imported").await, 1);
        assert_eq!(app.audit_count("kev.imported").await, 1);

        // The same data again: nothing changes, nothing is audited.
        let again = import_osv(db, clock, &[&fixtures("osv")], "test")
            .await
            .unwrap();
        assert_eq!(
            (again.inserted, again.updated, again.unchanged, again.linked),
            (0, 0, 4, 0)
        );
        assert_eq!(
            import_kev(db, clock, &fixtures("kev.json"), "test")
                .await
                .unwrap(),
            (2, 0)
        );
        assert_eq!(app.count("patch_advisory").await, 3);
        assert_eq!(app.audit_count("advisories.imported").await, 1);
        assert_eq!(app.audit_count("kev.imported").await, 1);

        // A patch first seen after the import is matched when it arrives.
        let db_server = app
            .reported(&report(
                "db-1",
                vec![pkg("openssl", "openssl", "3.0.11-1~deb12u2")],
                vec![update("openssl", "3.0.11-1~deb12u2", "3.0.15-1~deb12u1")],
            ))
            .await;
        let later = app.advisories_of(db_server, "openssl").await;
        assert_eq!(
            later.iter().map(|a| a.0.as_str()).collect::<Vec<_>>(),
            ["DEBIAN-CVE-2024-2511", "DSA-5678-1"]
        );

        // The Patches Missing report by patch, filtered and sorted.
        let report = |filter: serde_json::Value| {
            let (app, admin) = (&app, admin.clone());
            async move {
                let resp = app
                    .post_json(
                        "/api/admin/report/patches",
                        Some(&admin),
                        serde_json::json!({"filter": filter, "page": 1}),
                    )
                    .await;
                let status = resp.status().as_u16();
                let body: serde_json::Value = resp.json().await.unwrap();
                let names: Vec<String> = body["items"]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|r| r["package"].as_str().unwrap().to_owned())
                            .collect()
                    })
                    .unwrap_or_default();
                (status, names, body)
            }
        };
        let (status, names, body) = report(serde_json::json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(
            names[0], "libssl3",
            "the known-exploited critical one first"
        );
        assert_eq!(body["items"][0]["severity"], "critical");
        assert_eq!(body["items"][0]["cvss"], 9.8);
        assert_eq!(body["items"][0]["known_exploited"], true);
        assert_eq!(body["items"][0]["servers"], 1);
        // db-1's openssl patch is in the report too.
        assert_eq!(body["total"], 4);
        assert_eq!(
            report(serde_json::json!({"known_exploited": true})).await.1,
            ["libssl3", "openssl"]
        );
        assert_eq!(
            report(serde_json::json!({"severity": "high"})).await.1,
            ["libssl3", "openssl"]
        );
        assert_eq!(
            report(serde_json::json!({"search": "CUR"})).await.1,
            ["curl"]
        );
        assert_eq!(
            report(serde_json::json!({"criticality": "standard"}))
                .await
                .1,
            ["openssl"]
        );
        assert_eq!(
            report(serde_json::json!({"criticality": "critical"}))
                .await
                .1
                .len(),
            3
        );
        assert_eq!(
            report(serde_json::json!({"release": "debian:11"}))
                .await
                .1
                .len(),
            0
        );
        assert_eq!(
            report(serde_json::json!({"min_age_days": 30}))
                .await
                .1
                .len(),
            0
        );
        assert_eq!(
            report(serde_json::json!({"min_age_days": 21}))
                .await
                .1
                .len(),
            3
        );
        assert_eq!(
            report(serde_json::json!({"sort": "package", "descending": false}))
                .await
                .1,
            ["bash", "curl", "libssl3", "openssl"]
        );
        // The CSV has exactly the rows of the filter, in the same order.
        let csv_of = |query: &'static str| {
            let (app, admin) = (&app, admin.clone());
            async move {
                let resp = app
                    .get(&format!("/export/patches.csv?{query}"), Some(&admin))
                    .await;
                assert_eq!(resp.status(), 200);
                assert!(
                    resp.headers()["content-type"]
                        .to_str()
                        .unwrap()
                        .starts_with("text/csv")
                );
                let text = resp.text().await.unwrap();
                let mut reader = csv::Reader::from_reader(text.as_bytes());
                assert_eq!(reader.headers().unwrap().get(0), Some("package"));
                reader
                    .records()
                    .map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            }
        };
        let rows = csv_of("known_exploited=true").await;
        assert_eq!(
            rows.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
            ["libssl3", "openssl"]
        );
        assert_eq!(rows[0][4], "critical");
        assert_eq!(rows[0][5], "9.8");
        assert_eq!(rows[0][6], "yes");
        assert_eq!(csv_of("sort=package&descending=false").await.len(), 4);
        assert_eq!(csv_of("search=curl").await.len(), 1);
        let bad = app
            .get("/export/patches.csv?severity=extreme", Some(&admin))
            .await;
        assert_eq!(bad.status(), 422);
        assert_eq!(report(serde_json::json!({"sort": "password"})).await.0, 422);
        assert_eq!(
            report(serde_json::json!({"owner": "nobody-here"})).await.0,
            422
        );

        // The patch page: why it matters and where it is missing; owners
        // see only their servers, and nothing for patches they do not miss.
        let patch_id = {
            let mut conn = db.read().await.unwrap();
            patchport_db::servers::patch_rows(&mut conn, web)
                .await
                .unwrap()
                .into_iter()
                .find(|p| p.package == "libssl3")
                .unwrap()
                .patch_id
        };
        let page: serde_json::Value = app
            .post_fn(
                "/api/patches/detail",
                Some(&admin),
                &[("id", &patch_id.to_string())],
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["package"], "libssl3");
        assert_eq!(page["source_package"], "openssl");
        assert_eq!(page["advisories"][0]["id"], "DEBIAN-CVE-2024-2511");
        assert!(
            page["advisories"][1]["details"]
                .as_str()
                .unwrap()
                .contains("bookworm")
        );
        assert_eq!(page["servers"].as_array().unwrap().len(), 1);
        assert_eq!(page["servers"][0]["hostname"], "web-1");
        let owner = app.login(support::OWNER, support::PASSWORD).await.unwrap();
        let refused = app
            .post_fn(
                "/api/patches/detail",
                Some(&owner),
                &[("id", &patch_id.to_string())],
            )
            .await;
        assert_eq!(refused.status(), 404, "the owner has no server missing it");
        let owner_id = app.find_user(support::OWNER).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        patchport_db::servers::set_assignment(&mut tx, web, Some(owner_id), "critical")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mine: serde_json::Value = app
            .post_fn(
                "/api/patches/detail",
                Some(&owner),
                &[("id", &patch_id.to_string())],
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(mine["servers"].as_array().unwrap().len(), 1);
        let refused = app
            .post_json(
                "/api/admin/report/patches",
                Some(&owner),
                serde_json::json!({"filter": {}, "page": 1}),
            )
            .await;
        assert_eq!(refused.status(), 403, "the report is for admins");
        let refused = app.get("/export/patches.csv", Some(&owner)).await;
        assert_eq!(refused.status(), 403, "and so is its export");
        let anonymous = app.get("/export/patches.csv", None).await;
        assert!(anonymous.status().is_redirection(), "to the sign-in page");
        assert_eq!(
            app.post_fn(
                "/api/patches/detail",
                None,
                &[("id", &patch_id.to_string())]
            )
            .await
            .status(),
            401
        );

        // One bad entry rejects the whole import: the good advisory beside
        // it is not stored either.
        let err = import_osv(db, clock, &[&fixtures("bad")], "test")
            .await
            .unwrap_err();
        match &err {
            ImportError::Invalid { file, error } => {
                assert!(file.ends_with("DSA-5801-1.json"), "{file}");
                assert_eq!(error.entry, "DSA-5801-1");
                assert!(error.field.starts_with("affected[0]"), "{err}");
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("DSA-5801-1"), "{err}");
        assert_eq!(
            app.count("advisory").await,
            4,
            "nothing from the bad import"
        );

        // A malformed KEV file is refused whole too.
        let dir = tempfile::tempdir().unwrap();
        let bad_kev = dir.path().join("kev.json");
        let text = std::fs::read_to_string(fixtures("kev.json"))
            .unwrap()
            .replace("CVE-2023-44487", "CVE-23-1");
        std::fs::write(&bad_kev, text).unwrap();
        let err = import_kev(db, clock, &bad_kev, "test").await.unwrap_err();
        assert!(
            err.to_string().contains("vulnerabilities[1].cveID"),
            "{err}"
        );
    })
    .await;
}

#[tokio::test]
async fn advisories_import_from_a_zip_as_osv_dev_publishes_them() {
    for_each_backend(|app| async move {
        let dir = tempfile::tempdir().unwrap();
        let zip_path = dir.path().join("Debian.zip");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for name in ["DSA-5678-1.json", "DSA-5700-1.json"] {
            zip.start_file(name, options).unwrap();
            let bytes = std::fs::read(fixtures("osv").join(name)).unwrap();
            std::io::Write::write_all(&mut zip, &bytes).unwrap();
        }
        zip.finish().unwrap();
        let done = import_osv(&app.app_state.db, &app.clock, &[&zip_path], "test")
            .await
            .unwrap();
        assert_eq!((done.read, done.inserted), (2, 2));
        let empty = tempfile::tempdir().unwrap();
        let err = import_osv(&app.app_state.db, &app.clock, &[empty.path()], "test")
            .await
            .unwrap_err();
        assert!(matches!(err, ImportError::Empty(_)), "{err}");
    })
    .await;
}

/// Serves `files` (path → bytes) over HTTP on loopback; other paths 404.
async fn serve_files(files: Vec<(&'static str, Vec<u8>)>) -> String {
    use axum::routing::get;
    let mut router = axum::Router::new();
    for (path, bytes) in files {
        router = router.route(path, get(move || async move { bytes.clone() }));
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    base
}

fn fixture_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for name in ["DSA-5678-1.json", "DSA-5700-1.json"] {
        zip.start_file(name, options).unwrap();
        let bytes = std::fs::read(fixtures("osv").join(name)).unwrap();
        std::io::Write::write_all(&mut zip, &bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[tokio::test]
async fn advisories_are_fetched_from_urls_at_start_and_by_hand() {
    let base = serve_files(vec![
        ("/osv/Debian.zip", fixture_zip()),
        (
            "/osv/DSA-5700-1.json",
            std::fs::read(fixtures("osv").join("DSA-5700-1.json")).unwrap(),
        ),
        ("/kev.json", std::fs::read(fixtures("kev.json")).unwrap()),
        ("/broken.zip", b"PK\x03\x04 not really a zip".to_vec()),
    ])
    .await;
    // The portal fetches its configured sources when it starts.
    let app = support::spawn_fetching(
        vec![format!("{base}/osv/Debian.zip")],
        Some(format!("{base}/kev.json")),
    )
    .await;
    let mut waited = 0;
    while (app.count("advisory").await < 2 || app.count("kev").await == 0) && waited < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(app.count("advisory").await, 2, "both advisories of the zip");
    assert!(app.count("kev").await > 0, "the KEV catalog");

    // By hand (what `patchport advisories import URL` calls): the same
    // data again changes nothing; a single document works too.
    let db = &app.app_state.db;
    let again = import_url(db, &app.clock, &format!("{base}/osv/Debian.zip"), "test")
        .await
        .unwrap();
    assert_eq!(
        (again.read, again.inserted, again.updated, again.unchanged),
        (2, 0, 0, 2)
    );
    let one = import_url(
        db,
        &app.clock,
        &format!("{base}/osv/DSA-5700-1.json"),
        "test",
    )
    .await
    .unwrap();
    assert_eq!((one.read, one.unchanged), (1, 1));

    // A missing file, a broken zip and a non-http URL are refused with the
    // URL named, and change nothing.
    for (url, expect) in [
        (format!("{base}/nothing.zip"), "404"),
        (format!("{base}/broken.zip"), "broken.zip"),
        ("file:///etc/passwd".to_owned(), "only http and https"),
    ] {
        let err = import_url(db, &app.clock, &url, "test").await.unwrap_err();
        let text = err.to_string();
        assert!(text.contains(&url) && text.contains(expect), "{text}");
    }
    assert_eq!(app.count("advisory").await, 2);
}
