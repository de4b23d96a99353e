//! Advisory and KEV imports of real files (`core/tests/fixtures/advisories`,
//! copied from AlmaLinux's and Canonical's public repositories and CISA's
//! catalog; see PROVENANCE.md there), on SQLite and PostgreSQL: what an
//! update fixes is decided per server from the version it has installed;
//! the ratings the real files carry reach the report, risk and filters;
//! bug-fix errata are not security; re-importing changes nothing; a
//! malformed file is rejected whole, naming the file and the entry; every
//! run is recorded for the admins' advisories page.

mod support;

use patchport::advisories::{ImportError, import_kev, import_osv, import_url};
use patchport_core::protocol::{AvailableUpdate, InstalledPackage, OsInfo, PackageFormat, Report};
use std::path::{Path, PathBuf};
use support::{TestApp, for_each_backend};

fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../core/tests/fixtures/advisories")
        .join(name)
}

/// An installed deb package with its source.
fn deb(name: &str, source: &str, version: &str) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: "amd64".into(),
        source_name: Some(source.into()),
        source_version: Some(version.into()),
    }
}

/// A deb update as the agent reports it (the candidate's source too).
fn deb_update(name: &str, source: &str, from: &str, to: &str, security: bool) -> AvailableUpdate {
    AvailableUpdate {
        name: name.into(),
        arch: "amd64".into(),
        installed_version: Some(from.into()),
        version: to.into(),
        origin: if security {
            "Ubuntu:22.04/jammy-security".into()
        } else {
            "Ubuntu:22.04/jammy-updates".into()
        },
        security,
        advisories: vec![],
        source_name: Some(source.into()),
        source_version: Some(to.into()),
    }
}

fn rpm(name: &str, version: &str) -> InstalledPackage {
    InstalledPackage {
        name: name.into(),
        version: version.into(),
        arch: "x86_64".into(),
        source_name: None,
        source_version: None,
    }
}

fn rpm_update(name: &str, from: &str, to: &str, security: bool) -> AvailableUpdate {
    AvailableUpdate {
        name: name.into(),
        arch: "x86_64".into(),
        installed_version: Some(from.into()),
        version: to.into(),
        origin: "baseos".into(),
        security,
        advisories: vec![],
        source_name: None,
        source_version: None,
    }
}

/// A report of another release and package format than the support's
/// Debian 12 one.
fn report_of(
    hostname: &str,
    os: (&str, &str, &str),
    format: PackageFormat,
    packages: Vec<InstalledPackage>,
    updates: Vec<AvailableUpdate>,
) -> Report {
    let mut r = support::report(hostname, packages, updates);
    r.os = OsInfo {
        id: os.0.into(),
        id_like: vec![],
        version_id: os.1.into(),
        version_codename: None,
        pretty_name: os.2.into(),
    };
    r.package_format = format;
    if format == PackageFormat::Rpm {
        r.arch = "x86_64".into();
    }
    r.normalise();
    r
}

const JAMMY: (&str, &str, &str) = ("ubuntu", "22.04", "Ubuntu 22.04.4 LTS");
const ALMA9: (&str, &str, &str) = ("almalinux", "9.4", "AlmaLinux 9.4 (Seafoam Ocelot)");

impl TestApp {
    /// The advisory ids the server's update of `package` fixes there, as
    /// the patch page shows them for that server.
    async fn fixes_on(&self, cookie: &str, server_id: i64, package: &str) -> Vec<String> {
        let page = self
            .patch_page(cookie, server_id, package, Some(server_id))
            .await;
        page["advisories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_owned())
            .collect()
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

    async fn patch_page(
        &self,
        cookie: &str,
        server_id: i64,
        package: &str,
        scope: Option<i64>,
    ) -> serde_json::Value {
        let id = self.patch_id(server_id, package).await;
        let resp = self.patch_detail(Some(cookie), id, scope).await;
        assert_eq!(resp.status(), 200, "patch page of {package}");
        resp.json().await.unwrap()
    }

    async fn patch_detail(
        &self,
        cookie: Option<&str>,
        id: i64,
        scope: Option<i64>,
    ) -> reqwest::Response {
        let mut form = vec![("id", id.to_string()), ("page", "1".to_owned())];
        if let Some(server) = scope {
            form.push(("server", server.to_string()));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.post_fn("/api/patches/detail", cookie, &form).await
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
async fn what_an_update_fixes_is_decided_per_server_on_real_advisories() {
    for_each_backend(|app| async move {
        // Two Ubuntu 22.04 servers offered the same updates from different
        // installed versions, and an AlmaLinux 9 server.
        let old = app
            .reported(&report_of(
                "ubu-old",
                JAMMY,
                PackageFormat::Deb,
                vec![
                    deb("libssl3", "openssl", "3.0.2-0ubuntu1.16"),
                    deb("libc6", "glibc", "2.35-0ubuntu3.3"),
                ],
                vec![
                    deb_update("libssl3", "openssl", "3.0.2-0ubuntu1.16", "3.0.2-0ubuntu1.18", true),
                    deb_update("libc6", "glibc", "2.35-0ubuntu3.3", "2.35-0ubuntu3.4", true),
                ],
            ))
            .await;
        let new = app
            .reported(&report_of(
                "ubu-new",
                JAMMY,
                PackageFormat::Deb,
                vec![
                    deb("libssl3", "openssl", "3.0.2-0ubuntu1.17"),
                    deb("libc6", "glibc", "2.35-0ubuntu3.4"),
                ],
                vec![
                    deb_update("libssl3", "openssl", "3.0.2-0ubuntu1.17", "3.0.2-0ubuntu1.18", true),
                    deb_update("libc6", "glibc", "2.35-0ubuntu3.4", "2.35-0ubuntu3.8", false),
                ],
            ))
            .await;
        let alma = app
            .reported(&report_of(
                "alma-1",
                ALMA9,
                PackageFormat::Rpm,
                vec![
                    rpm("openssl-libs", "1:3.0.7-25.el9_3"),
                    rpm("kernel-core", "5.14.0-687.25.1.el9_8"),
                ],
                vec![
                    rpm_update("openssl-libs", "1:3.0.7-25.el9_3", "1:3.0.7-28.el9_4", true),
                    rpm_update("kernel-core", "5.14.0-687.25.1.el9_8", "5.14.0-687.26.1.el9_8", false),
                ],
            ))
            .await;
        let db = &app.app_state.db;
        let clock = &app.clock;
        let done = import_osv(db, clock, &[&fixtures("ubuntu"), &fixtures("almalinux/almalinux9")], "test")
            .await
            .unwrap();
        let files = std::fs::read_dir(fixtures("ubuntu")).unwrap().count()
            + std::fs::read_dir(fixtures("almalinux/almalinux9")).unwrap().count();
        assert_eq!((done.read, done.inserted, done.updated, done.unchanged), (files, files, 0, 0));
        assert!(done.matched > 0, "the servers' versions were matched");
        let kev = import_kev(db, clock, &fixtures("kev/known_exploited_vulnerabilities.json"), "test")
            .await
            .unwrap();
        assert_eq!((kev.read, kev.inserted), (1404, 1404));

        let admin = app.login(support::ADMIN, support::PASSWORD).await.unwrap();
        // The same libssl3 update fixes what each server lacks: the older
        // one also gets USN-6937-1 (fixed in .17), the newer one has that
        // fix already.
        assert_eq!(
            app.fixes_on(&admin, old, "libssl3").await,
            ["USN-6937-1", "USN-6986-1", "UBUNTU-CVE-2024-6119"],
            "most severe first (CVE-2024-5535's CVSS 9.1 makes USN-6937-1 critical), then the newest"
        );
        assert_eq!(
            app.fixes_on(&admin, new, "libssl3").await,
            ["USN-6986-1", "UBUNTU-CVE-2024-6119"]
        );
        // Looney Tunables (CVE-2023-4911, in the KEV catalog) is fixed by
        // ubu-old's glibc update only; ubu-new has that fix installed, and
        // its next glibc update fixes nothing imported.
        assert_eq!(
            app.fixes_on(&admin, old, "libc6").await,
            ["UBUNTU-CVE-2023-4911", "USN-6409-1"]
        );
        assert!(app.fixes_on(&admin, new, "libc6").await.is_empty());
        // AlmaLinux names binary packages; its rating is in the summary.
        let page = app.patch_page(&admin, alma, "openssl-libs", Some(alma)).await;
        let ids: Vec<&str> = page["advisories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["ALSA-2024:6783", "ALSA-2024:2447"], "Moderate before Low");
        assert_eq!(page["advisories"][0]["severity"], "medium");
        assert_eq!(page["advisories"][0]["severity_source"], "AlmaLinux rating Moderate");
        // A bug-fix erratum is shown for what it is, never as a reason.
        let kernel = app.patch_page(&admin, alma, "kernel-core", Some(alma)).await;
        assert_eq!(kernel["advisories"][0]["id"], "ALBA-2026:39332");
        assert_eq!(kernel["advisories"][0]["kind"], "bugfix");

        // The unscoped page counts servers per advisory.
        let page = app.patch_page(&admin, old, "libssl3", None).await;
        let servers_of = |id: &str| {
            page["advisories"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["id"] == id)
                .map(|a| a["servers"].as_i64().unwrap())
        };
        assert_eq!(servers_of("USN-6986-1"), Some(2));
        assert_eq!(servers_of("USN-6937-1"), Some(1));
        assert_eq!(page["servers"].as_array().unwrap().len(), 2);
        let severity: Vec<(&str, i64)> = page["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["hostname"].as_str().unwrap(), s["advisories"].as_i64().unwrap()))
            .collect();
        assert!(severity.contains(&("ubu-old", 3)) && severity.contains(&("ubu-new", 2)), "{severity:?}");

        // The server page: risk and reasons from what each update fixes
        // there.
        let detail = |id: i64| {
            let (app, admin) = (&app, admin.clone());
            async move {
                let v: serde_json::Value = app
                    .post_fn("/api/servers/detail", Some(&admin), &[("id", &id.to_string())])
                    .await
                    .json()
                    .await
                    .unwrap();
                v
            }
        };
        let patch_of = |v: &serde_json::Value, package: &str| {
            v["patches"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["package"] == package)
                .cloned()
                .unwrap()
        };
        let old_page = detail(old).await;
        let glibc = patch_of(&old_page, "libc6");
        assert_eq!(glibc["known_exploited"], true);
        assert_eq!(
            glibc["risk"]["explanation"],
            "critical: high severity, CVSS 7.8, known exploited, new today"
        );
        let new_page = detail(new).await;
        let glibc = patch_of(&new_page, "libc6");
        assert_eq!(glibc["known_exploited"], false);
        assert_eq!(glibc["risk"]["explanation"], "low: not a security update, new today");
        let alma_page = detail(alma).await;
        let kernel = patch_of(&alma_page, "kernel-core");
        assert_eq!(kernel["security"], false, "a bug-fix erratum is not a security update");
        assert_eq!(kernel["advisories"], serde_json::json!(["ALBA-2026:39332"]));
        assert_eq!(kernel["risk"]["explanation"], "low: not a security update, new today");
        let openssl = patch_of(&alma_page, "openssl-libs");
        assert_eq!(openssl["risk"]["explanation"], "medium: medium severity, new today");

        // The report, the dashboard and the filters follow the per-server
        // answers.
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
                let rows: Vec<(String, String, i64)> = body["items"]
                    .as_array()
                    .map(|items| {
                        items
                            .iter()
                            .map(|r| {
                                (
                                    r["package"].as_str().unwrap().to_owned(),
                                    r["version"].as_str().unwrap().to_owned(),
                                    r["servers"].as_i64().unwrap(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (status, rows, body)
            }
        };
        let (status, rows, body) = report(serde_json::json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(body["total"], 5);
        assert_eq!(rows[0], ("libssl3".into(), "3.0.2-0ubuntu1.18".into(), 2), "critical on ubu-old");
        assert_eq!(body["items"][0]["severity"], "critical");
        assert_eq!(rows[1], ("libc6".into(), "2.35-0ubuntu3.4".into(), 1));
        assert_eq!(body["items"][1]["severity"], "high");
        assert_eq!(body["items"][1]["known_exploited"], true);
        assert_eq!(
            report(serde_json::json!({"known_exploited": true})).await.1,
            [("libc6".to_owned(), "2.35-0ubuntu3.4".to_owned(), 1)],
            "flagged on the one server that lacks the fix"
        );
        assert_eq!(
            report(serde_json::json!({"severity": "high"})).await.1,
            [
                ("libssl3".to_owned(), "3.0.2-0ubuntu1.18".to_owned(), 2),
                ("libc6".to_owned(), "2.35-0ubuntu3.4".to_owned(), 1),
            ]
        );
        assert_eq!(
            report(serde_json::json!({"severity": "critical"})).await.1,
            [("libssl3".to_owned(), "3.0.2-0ubuntu1.18".to_owned(), 1)],
            "critical on the one server that lacks USN-6937-1's fix"
        );
        let security: Vec<String> = report(serde_json::json!({"security_only": true}))
            .await
            .1
            .into_iter()
            .map(|r| r.0)
            .collect();
        assert_eq!(security, ["libssl3", "libc6", "openssl-libs"], "no bug-fix-only kernel, no plain glibc update");
        let by_server = app
            .post_json(
                "/api/admin/report/servers",
                Some(&admin),
                serde_json::json!({"filter": {"known_exploited": true}, "page": 1}),
            )
            .await;
        let by_server: serde_json::Value = by_server.json().await.unwrap();
        assert_eq!(by_server["total"], 1);
        assert_eq!(by_server["items"][0]["hostname"], "ubu-old");
        let dash = {
            let mut conn = db.read().await.unwrap();
            patchport_db::report::dashboard(&mut conn, clock_now(&app)).await.unwrap()
        };
        assert_eq!(dash.missing_known_exploited, 1);
        assert_eq!(
            dash.missing_by_severity,
            [1, 2, 1, 0, 2],
            "libssl3 critical on ubu-old, high on ubu-new; libc6 high; alma openssl medium; two not security"
        );

        // The same data again: nothing changes, nothing is audited twice.
        assert_eq!(app.audit_count("advisories.imported").await, 1);
        let again = import_osv(db, clock, &[&fixtures("ubuntu"), &fixtures("almalinux/almalinux9")], "test")
            .await
            .unwrap();
        assert_eq!((again.inserted, again.updated, again.unchanged), (0, 0, files));
        let kev_again = import_kev(db, clock, &fixtures("kev/known_exploited_vulnerabilities.json"), "test")
            .await
            .unwrap();
        assert_eq!((kev_again.inserted, kev_again.unchanged), (0, 1404));
        assert_eq!(app.audit_count("advisories.imported").await, 1);
        assert_eq!(app.audit_count("kev.imported").await, 1);

        // A server first seen after the import is matched when it reports.
        let later = app
            .reported(&report_of(
                "ubu-later",
                JAMMY,
                PackageFormat::Deb,
                vec![deb("openssl", "openssl", "3.0.2-0ubuntu1.16")],
                vec![deb_update("openssl", "openssl", "3.0.2-0ubuntu1.16", "3.0.2-0ubuntu1.19", true)],
            ))
            .await;
        assert_eq!(
            app.fixes_on(&admin, later, "openssl").await,
            ["USN-6937-1", "USN-6986-1", "UBUNTU-CVE-2024-6119", "USN-7278-1"]
        );

        // The advisories page records each run (admins only).
        let status: serde_json::Value = app
            .post_fn("/api/admin/advisories/status", Some(&admin), &[])
            .await
            .json()
            .await
            .unwrap();
        let imports = status["imports"].as_array().unwrap();
        assert_eq!(imports.len(), 4);
        assert!(imports.iter().all(|i| i["state"] == "succeeded"), "{imports:?}");
        assert_eq!(status["stale"], 0);
        let kinds: i64 = status["counts"].as_array().unwrap().iter().map(|c| c[2].as_i64().unwrap()).sum();
        assert_eq!(kinds, files as i64);
        let owner = app.login(support::OWNER, support::PASSWORD).await.unwrap();
        assert_eq!(app.post_fn("/api/admin/advisories/status", Some(&owner), &[]).await.status(), 403);

        // Owners see their own servers on a patch page, and nothing else.
        let id = app.patch_id(old, "libssl3").await;
        let refused = app.patch_detail(Some(&owner), id, None).await;
        assert_eq!(refused.status(), 404, "the owner has no server missing it");
        let owner_id = app.find_user(support::OWNER).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        patchport_db::servers::set_assignment(&mut tx, new, Some(owner_id), "standard")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mine = app.patch_page(&owner, new, "libssl3", None).await;
        assert_eq!(mine["servers"].as_array().unwrap().len(), 1, "only ubu-new");
        assert!(
            mine["advisories"].as_array().unwrap().iter().all(|a| a["id"] != "USN-6937-1"),
            "what the update fixes on servers the owner cannot see is not shown"
        );
        let other = app.patch_detail(Some(&owner), id, Some(old)).await;
        assert_eq!(other.status(), 404, "another owner's server");
    })
    .await;
}

fn clock_now(app: &TestApp) -> i64 {
    use patchport_core::Clock;
    app.clock.now()
}

/// A real file with one change, in a fresh directory.
fn broken_copy(dir: &Path, source: &str, change: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures(source)).unwrap()).unwrap();
    change(&mut doc);
    let name = Path::new(source).file_name().unwrap();
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    path
}

#[tokio::test]
async fn a_bad_file_rejects_the_whole_import_and_leaves_nothing_behind() {
    for_each_backend(|app| async move {
        let db = &app.app_state.db;
        // Good files beside one whose package has no name.
        let dir = tempfile::tempdir().unwrap();
        for good in ["ubuntu/USN-6986-1.json", "ubuntu/USN-6937-1.json"] {
            std::fs::copy(
                fixtures(good),
                dir.path().join(Path::new(good).file_name().unwrap()),
            )
            .unwrap();
        }
        broken_copy(dir.path(), "ubuntu/USN-7278-1.json", |d| {
            d["affected"][0]["package"]["name"] = serde_json::json!("")
        });
        let err = import_osv(db, &app.clock, &[dir.path()], "test")
            .await
            .unwrap_err();
        match &err {
            ImportError::Invalid { file, error } => {
                assert!(file.ends_with("USN-7278-1.json"), "{file}");
                assert_eq!(error.entry, "USN-7278-1");
                assert_eq!(error.field, "affected[0].package.name");
            }
            other => panic!("{other}"),
        }
        assert_eq!(
            err.to_string(),
            format!(
                "{}: USN-7278-1: affected[0].package.name: must not be empty",
                dir.path().join("USN-7278-1.json").display()
            )
        );
        assert_eq!(
            app.count("advisory").await,
            0,
            "nothing from the bad import"
        );
        assert_eq!(app.count("advisory_stage").await, 0);
        assert_eq!(app.audit_count("advisories.imported").await, 0);
        // The run is recorded as failed, with the reason.
        let mut conn = db.read().await.unwrap();
        let runs = patchport_db::advisories::imports(&mut conn, 5)
            .await
            .unwrap();
        drop(conn);
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].state, "failed");
        assert!(
            runs[0]
                .error
                .contains("USN-7278-1: affected[0].package.name"),
            "{}",
            runs[0].error
        );

        // A malformed KEV catalog is refused whole too.
        let bad_kev = broken_copy(
            dir.path(),
            "kev/known_exploited_vulnerabilities.json",
            |d| d["vulnerabilities"][1]["cveID"] = serde_json::json!("CVE-23-1"),
        );
        let err = import_kev(db, &app.clock, &bad_kev, "test")
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("vulnerabilities[1].cveID"),
            "{err}"
        );
        assert_eq!(app.count("kev").await, 0);

        // A zip, as osv.dev publishes per ecosystem; an empty directory is
        // refused.
        let zip_path = dir.path().join("AlmaLinux.zip");
        std::fs::write(&zip_path, fixture_zip()).unwrap();
        let done = import_osv(db, &app.clock, &[&zip_path], "test")
            .await
            .unwrap();
        assert_eq!((done.read, done.inserted), (2, 2));
        let empty = tempfile::tempdir().unwrap();
        let err = import_osv(db, &app.clock, &[empty.path()], "test")
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

/// Two real ALSAs in a zip.
fn fixture_zip() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for name in ["ALSA-2024-2447.json", "ALSA-2024-6783.json"] {
        zip.start_file(name, options).unwrap();
        let bytes = std::fs::read(fixtures("almalinux/almalinux9").join(name)).unwrap();
        std::io::Write::write_all(&mut zip, &bytes).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[tokio::test]
async fn advisories_are_fetched_from_urls_at_start_and_by_hand() {
    let base = serve_files(vec![
        ("/osv/AlmaLinux.zip", fixture_zip()),
        (
            "/osv/USN-6986-1.json",
            std::fs::read(fixtures("ubuntu/USN-6986-1.json")).unwrap(),
        ),
        (
            "/kev.json",
            std::fs::read(fixtures("kev/known_exploited_vulnerabilities.json")).unwrap(),
        ),
        ("/broken.zip", b"PK\x03\x04 not really a zip".to_vec()),
    ])
    .await;
    // The portal fetches its configured sources when it starts.
    let app = support::spawn_fetching(
        vec![format!("{base}/osv/AlmaLinux.zip")],
        Some(format!("{base}/kev.json")),
    )
    .await;
    let mut waited = 0;
    while (app.count("advisory").await < 2 || app.count("kev").await < 1404) && waited < 100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        waited += 1;
    }
    assert_eq!(app.count("advisory").await, 2, "both advisories of the zip");
    assert_eq!(app.count("kev").await, 1404, "the KEV catalog");

    // By hand (what `patchport advisories import URL` calls): the same
    // data again changes nothing; a single document works too.
    let db = &app.app_state.db;
    let again = import_url(db, &app.clock, &format!("{base}/osv/AlmaLinux.zip"), "test")
        .await
        .unwrap();
    assert_eq!(
        (again.read, again.inserted, again.updated, again.unchanged),
        (2, 0, 0, 2)
    );
    let one = import_url(
        db,
        &app.clock,
        &format!("{base}/osv/USN-6986-1.json"),
        "test",
    )
    .await
    .unwrap();
    assert_eq!((one.read, one.inserted), (1, 1));

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
    assert_eq!(app.count("advisory").await, 3);
    assert_eq!(app.count("advisory_import where state = 'failed'").await, 3);
}
