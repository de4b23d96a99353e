//! The Patches Missing report at the storage and HTTP level, on SQLite and
//! PostgreSQL: the counts the database keeps on patch rows stay equal to
//! the server-patch rows through check-ins, installs, state changes and
//! deletions; the views by patch, by server and the CSV export agree under
//! every filter; the dashboard counts and the daily trend.

mod support;

use patchport_core::Clock;
use patchport_db::Db;
use patchport_db::report::{self, PatchQuery, ServerSort};
use support::{TestApp, for_each_backend, pkg, report as debian_report, update};

/// What the triggers keep on each (patch, installed version) row and on
/// each server must equal a fresh count of the server-patch rows.
async fn assert_counts_consistent(db: &Db, step: &str) {
    let mut conn = db.read().await.unwrap();
    let kept: Vec<(i64, i64, Option<i64>)> =
        sqlx::query_as("select id, open_servers, oldest_open from patch_from order by id")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    let counted: Vec<(i64, i64, Option<i64>)> = sqlx::query_as(&format!(
        "select f.id, count(sp.patch_id), min(sp.first_seen) from patch_from f \
         left join server_patch sp on sp.from_id = f.id and sp.state in {} \
         group by f.id order by f.id",
        patchport_db::servers::OPEN_STATES
    ))
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert!(!kept.is_empty(), "{step}: the catalog has patches");
    assert_eq!(kept, counted, "{step}: kept counts equal the rows");
    let (without,): (i64,) =
        sqlx::query_as("select count(*) from server_patch where from_id is null")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    assert_eq!(
        without, 0,
        "{step}: every row counts in an installed version's row"
    );
    type Counts = (i64, i64, i64, i64, i64, i64, i64, i64, Option<i64>);
    let kept: Vec<Counts> = sqlx::query_as(
        "select id, open_patches, open_critical, open_high, open_medium, open_low, open_security, \
           open_kev, oldest_open from server order by id",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let counted: Vec<Counts> = sqlx::query_as(&format!(
        "select s.id, count(f.id), \
           coalesce(sum(case when f.severity_rank = 5 then 1 else 0 end), 0), \
           coalesce(sum(case when f.severity_rank = 4 then 1 else 0 end), 0), \
           coalesce(sum(case when f.severity_rank = 3 then 1 else 0 end), 0), \
           coalesce(sum(case when f.severity_rank = 2 then 1 else 0 end), 0), \
           coalesce(sum(case when f.security then 1 else 0 end), 0), \
           coalesce(sum(case when f.known_exploited then 1 else 0 end), 0), min(sp.first_seen) \
         from server s left join server_patch sp on sp.server_id = s.id and sp.state in {} \
         left join patch_from f on f.id = sp.from_id group by s.id order by s.id",
        patchport_db::servers::OPEN_STATES
    ))
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        kept, counted,
        "{step}: counts kept on servers equal the rows"
    );
}

/// Every server-patch row of a filter, walked in batches of three.
async fn detail_rows(db: &Db, q: &PatchQuery) -> Vec<(i64, i64)> {
    let mut conn = db.read().await.unwrap();
    let mut out = Vec::new();
    let mut after = (0, 0);
    loop {
        let rows = report::detail_after(&mut conn, q, after, 3).await.unwrap();
        out.extend(rows.iter().map(|r| (r.server_id, r.patch_id)));
        match rows.last() {
            Some(last) if rows.len() == 3 => after = (last.server_id, last.patch_id),
            _ => break,
        }
    }
    out
}

#[tokio::test]
async fn report_counts_views_and_export_agree_under_every_filter() {
    for_each_backend(|app: TestApp| async move {
        let db = app.app_state.db.clone();
        let packages = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];
        let inventory = || {
            packages
                .iter()
                .map(|p| pkg(p, p, "1.0-1"))
                .collect::<Vec<_>>()
        };
        // Server i misses the packages whose index is not a multiple of
        // i + 1; detection days apart.
        let mut servers = Vec::new();
        for i in 0..6_usize {
            let updates = packages
                .iter()
                .enumerate()
                .filter(|(k, _)| k % (i + 1) != 0 || i == 0)
                .map(|(_, p)| update(p, "1.0-1", "1.0-2"))
                .collect();
            servers.push(
                app.reported(&debian_report(&format!("host-{i}"), inventory(), updates))
                    .await,
            );
            app.clock.advance(86_400);
        }
        assert_counts_consistent(&db, "first reports").await;

        // Owners, criticality and a group.
        let owner = app.find_user(support::OWNER).await.unwrap();
        let mut tx = db.begin().await.unwrap();
        for id in &servers[..2] {
            patchport_db::servers::set_assignment(&mut tx, *id, Some(owner), "critical")
                .await
                .unwrap();
        }
        let group = patchport_db::groups::create(&mut tx, "web", app.clock.now())
            .await
            .unwrap();
        for id in &servers[1..4] {
            patchport_db::groups::set_server_groups(&mut tx, *id, &[group])
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();

        // host-0 installs alpha, and bravo moves on to a newer version
        // (superseded); host-1 gets alpha offered again later.
        let updates = vec![
            update("bravo", "1.0-1", "1.0-3"),
            update("charlie", "1.0-1", "1.0-2"),
            update("delta", "1.0-1", "1.0-2"),
            update("echo", "1.0-1", "1.0-2"),
            update("foxtrot", "1.0-1", "1.0-2"),
        ];
        let now = app.clock.now();
        let mut tx = db.begin().await.unwrap();
        let r = debian_report("host-0", inventory(), updates);
        patchport_db::servers::apply_report(&mut tx, servers[0], &r, &r.digest(), now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_counts_consistent(&db, "install and supersede").await;
        let r = debian_report("host-1", inventory(), vec![]);
        let mut tx = db.begin().await.unwrap();
        patchport_db::servers::apply_report(&mut tx, servers[1], &r, &r.digest(), now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_counts_consistent(&db, "everything installed").await;
        app.clock.advance(3_600);
        let r = debian_report("host-1", inventory(), vec![update("bravo", "1.0-1", "1.0-2")]);
        let mut tx = db.begin().await.unwrap();
        patchport_db::servers::apply_report(&mut tx, servers[1], &r, &r.digest(), app.clock.now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_counts_consistent(&db, "offered again").await;

        // Workflow states: queued and failed stay open.
        let mut conn = db.write().await.unwrap();
        sqlx::query("update server_patch set state = 'queued' where server_id = $1")
            .bind(servers[2])
            .execute(&mut *conn)
            .await
            .unwrap();
        sqlx::query("update server_patch set state = 'failed' where server_id = $1 and patch_id in (select min(patch_id) from server_patch where server_id = $1)")
            .bind(servers[3])
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        assert_counts_consistent(&db, "queued and failed").await;

        // What a patch fixes from an installed version changes (as an
        // advisory or KEV import does): every server it is open on from
        // that version moves.
        let mut conn = db.write().await.unwrap();
        sqlx::query(
            "update patch_from set severity_rank = 5, known_exploited = $1, advisories = 1, security = $1 \
             where patch_id in (select id from patch where package = 'charlie')",
        )
        .bind(true)
        .execute(&mut *conn)
        .await
        .unwrap();
        sqlx::query(
            "update patch_from set severity_rank = 3 where patch_id in (select id from patch where package = 'delta')",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        drop(conn);
        assert_counts_consistent(&db, "severity raised").await;
        let mut conn = db.write().await.unwrap();
        sqlx::query(
            "update patch_from set severity_rank = 4 where patch_id in (select id from patch where package = 'charlie')",
        )
        .execute(&mut *conn)
        .await
        .unwrap();
        drop(conn);
        assert_counts_consistent(&db, "severity changed").await;

        // A server whose installed version moves while the same update is
        // still missing counts in the new version's row, no longer the old.
        let mut moved = inventory();
        moved.retain(|p| p.name != "echo");
        moved.push(pkg("echo", "echo", "1.0-1+b1"));
        let r = debian_report("host-4", moved, vec![update("echo", "1.0-1+b1", "1.0-2")]);
        let mut tx = db.begin().await.unwrap();
        patchport_db::servers::apply_report(&mut tx, servers[4], &r, &r.digest(), app.clock.now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_counts_consistent(&db, "installed version moved").await;
        let mut conn = db.read().await.unwrap();
        let (installed,): (Option<String>,) = sqlx::query_as(
            "select sp.installed_version from server_patch sp join patch p on p.id = sp.patch_id \
             where sp.server_id = $1 and p.package = 'echo'",
        )
        .bind(servers[4])
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        assert_eq!(installed.as_deref(), Some("1.0-1+b1"), "kept current");
        drop(conn);

        // The report by patch, by server and the detail rows agree.
        let filters = [
            ("none", PatchQuery::default()),
            ("critical servers", PatchQuery { criticality: Some("critical".into()), ..Default::default() }),
            ("standard servers", PatchQuery { criticality: Some("standard".into()), ..Default::default() }),
            ("owner", PatchQuery { owner_id: Some(owner), ..Default::default() }),
            ("group", PatchQuery { group_id: Some(group), ..Default::default() }),
            ("queued", PatchQuery { state: Some("queued".into()), ..Default::default() }),
            ("failed", PatchQuery { state: Some("failed".into()), ..Default::default() }),
            ("older than 3 days", PatchQuery { older_than: Some(app.clock.now() - 3 * 86_400), ..Default::default() }),
            ("search", PatchQuery { search: "ECH".into(), ..Default::default() }),
            ("release", PatchQuery { release: Some("debian:12".into()), ..Default::default() }),
            ("other release", PatchQuery { release: Some("debian:11".into()), ..Default::default() }),
            ("critical", PatchQuery { min_severity: 5, ..Default::default() }),
            ("known exploited on critical servers", PatchQuery { known_exploited: true, criticality: Some("critical".into()), ..Default::default() }),
        ];
        let mut conn = db.read().await.unwrap();
        for (name, q) in &filters {
            let by_patch = report::by_patch(&mut conn, q, 1, 100).await.unwrap();
            let by_server = report::by_server(&mut conn, q, ServerSort::Hostname, false, 1, 100)
                .await
                .unwrap();
            let detail = detail_rows(&db, q).await;
            let patch_sum: i64 = by_patch.items.iter().map(|r| r.servers).sum();
            let server_sum: i64 = by_server.items.iter().map(|r| r.missing).sum();
            assert_eq!(patch_sum, detail.len() as i64, "{name}: by patch = detail rows");
            assert_eq!(server_sum, detail.len() as i64, "{name}: by server = detail rows");
            assert_eq!(by_patch.total, by_patch.items.len() as i64, "{name}: patch total");
            assert_eq!(by_server.total, by_server.items.len() as i64, "{name}: server total");
            let mut sorted = detail.clone();
            sorted.sort();
            assert_eq!(sorted, detail, "{name}: detail rows come in key order");
            sorted.dedup();
            assert_eq!(sorted.len(), detail.len(), "{name}: no row twice");
            // Each server row's count is that server's detail rows.
            for row in &by_server.items {
                let n = detail.iter().filter(|(s, _)| *s == row.server_id).count() as i64;
                assert_eq!(row.missing, n, "{name}: {}", row.hostname);
            }
        }
        // The counts kept on patch rows (no server filter) equal an
        // aggregation of the rows (a filter that keeps every row).
        let kept = report::by_patch(&mut conn, &PatchQuery::default(), 1, 100).await.unwrap();
        let counted = report::by_patch(
            &mut conn,
            &PatchQuery { older_than: Some(app.clock.now()), ..Default::default() },
            1,
            100,
        )
        .await
        .unwrap();
        assert_eq!((kept.total, kept.items), (counted.total, counted.items));
        for q in [PatchQuery::default(), filters[1].1.clone(), filters[4].1.clone()] {
            let kept = report::by_server(&mut conn, &q, ServerSort::Severity, true, 1, 100)
                .await
                .unwrap();
            let aggregated = report::by_server(
                &mut conn,
                &PatchQuery { older_than: Some(app.clock.now()), ..q.clone() },
                ServerSort::Severity,
                true,
                1,
                100,
            )
            .await
            .unwrap();
            assert_eq!((kept.total, &kept.items), (aggregated.total, &aggregated.items), "{q:?}");
            assert!(kept.items.iter().any(|r| r.worst == "high" && r.known_exploited > 0));
        }
        // Spot checks: host-0 and host-1 are the critical ones, and only
        // host-1 still misses bravo among them (host-0's moved to 1.0-3).
        let critical = report::by_patch(&mut conn, &filters[1].1, 1, 100).await.unwrap();
        let names: Vec<(&str, &str, i64)> = critical
            .items
            .iter()
            .map(|r| (r.package.as_str(), r.version.as_str(), r.servers))
            .collect();
        assert!(names.contains(&("bravo", "1.0-3", 1)), "{names:?}");
        assert!(names.contains(&("bravo", "1.0-2", 1)), "{names:?}");
        assert!(!names.iter().any(|n| n.0 == "alpha"), "host-0 installed alpha: {names:?}");
        let by_server = report::by_server(&mut conn, &PatchQuery::default(), ServerSort::Missing, true, 1, 2)
            .await
            .unwrap();
        assert_eq!(by_server.items.len(), 2, "paged");
        assert!(by_server.items[0].missing >= by_server.items[1].missing);
        let next = report::by_server(&mut conn, &PatchQuery::default(), ServerSort::Missing, true, 9, 2)
            .await
            .unwrap();
        assert!(next.items.is_empty());
        assert_eq!(next.total, 6, "a page past the end still knows the total");

        // The dashboard: host-1 misses only bravo, nobody is fully patched
        // yet; after host-5 installs everything, one server is.
        let d = report::dashboard(&mut conn, app.clock.now()).await.unwrap();
        assert_eq!(d.servers, 6);
        assert_eq!(d.servers_patched, 0);
        assert_eq!(
            d.missing_by_severity.iter().sum::<i64>(),
            detail_rows(&db, &PatchQuery::default()).await.len() as i64
        );
        drop(conn);
        let r = debian_report("host-5", inventory(), vec![]);
        let mut tx = db.begin().await.unwrap();
        patchport_db::servers::apply_report(&mut tx, servers[5], &r, &r.digest(), app.clock.now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let mut conn = db.read().await.unwrap();
        let d = report::dashboard(&mut conn, app.clock.now()).await.unwrap();
        assert_eq!(d.servers_patched, 1);

        // The daily snapshot: due, recorded, not due again within the hour.
        let now = app.clock.now();
        assert!(report::snapshot_due(&mut conn, now).await.unwrap());
        drop(conn);
        let mut w = db.write().await.unwrap();
        report::record_snapshot(&mut w, &d, now).await.unwrap();
        report::record_snapshot(&mut w, &d, now).await.unwrap();
        drop(w);
        let mut conn = db.read().await.unwrap();
        assert!(!report::snapshot_due(&mut conn, now + 60).await.unwrap());
        assert!(report::snapshot_due(&mut conn, now + 300).await.unwrap());
        // (The portal's own sweeper took one when it started, days ago.)
        let trend = report::trend(&mut conn, now / 86_400).await.unwrap();
        assert_eq!(trend.len(), 1, "one row per day");
        assert_eq!(trend[0].servers_patched, 1);
        drop(conn);

        // A deleted server takes its rows out of the counts.
        let mut conn = db.write().await.unwrap();
        sqlx::query("delete from server where id = $1")
            .bind(servers[3])
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        assert_counts_consistent(&db, "server deleted").await;

        // Over HTTP: the by-server view, the dashboard, the CSV per row.
        let admin = app.login(support::ADMIN, support::PASSWORD).await.unwrap();
        let page: serde_json::Value = app
            .post_json(
                "/api/admin/report/servers",
                Some(&admin),
                serde_json::json!({"filter": {"criticality": "critical", "sort": "hostname"}, "page": 1}),
            )
            .await
            .json()
            .await
            .unwrap();
        let hosts: Vec<&str> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["hostname"].as_str().unwrap())
            .collect();
        assert_eq!(hosts, ["host-0", "host-1"]);
        let bad = app
            .post_json(
                "/api/admin/report/servers",
                Some(&admin),
                serde_json::json!({"filter": {"sort": "cvss"}, "page": 1}),
            )
            .await;
        assert_eq!(bad.status(), 422, "by server has no CVSS column");
        let counts: serde_json::Value = app
            .post_json("/api/admin/report/dashboard", Some(&admin), serde_json::json!({"overdue_days": 30}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(counts["servers"], 5);
        assert_eq!(counts["servers_patched"], 1);
        let bad = app
            .post_json("/api/admin/report/dashboard", Some(&admin), serde_json::json!({"overdue_days": 0}))
            .await;
        assert_eq!(bad.status(), 422);
        let csv = app
            .get("/export/patches.csv?view=server&criticality=critical", Some(&admin))
            .await;
        assert_eq!(csv.status(), 200);
        assert!(
            csv.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("by-server")
        );
        let text = csv.text().await.unwrap();
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().unwrap().get(0), Some("hostname"));
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let expected = detail_rows(&db, &filters[1].1).await.len();
        assert_eq!(rows.len(), expected);
        assert!(rows.iter().all(|r| &r[1] == "critical" && &r[2] == support::OWNER));
        let bad = app.get("/export/patches.csv?view=pivot", Some(&admin)).await;
        assert_eq!(bad.status(), 400);

        let owner_cookie = app.login(support::OWNER, support::PASSWORD).await.unwrap();
        for endpoint in ["/api/admin/report/servers", "/api/admin/report/dashboard"] {
            let refused = app
                .post_json(
                    endpoint,
                    Some(&owner_cookie),
                    serde_json::json!({"filter": {}, "page": 1, "overdue_days": 30}),
                )
                .await;
            assert_eq!(refused.status(), 403, "{endpoint} is for admins");
        }
    })
    .await;
}

#[tokio::test]
async fn the_csv_export_has_every_patch_of_a_large_report() {
    for_each_backend(|app: TestApp| async move {
        // More patches than a page of the report, and than an export batch
        // would show if batches were cut to a page.
        let names: Vec<String> = (0..260).map(|i| format!("pkg{i:03}")).collect();
        let r = debian_report(
            "big",
            names.iter().map(|n| pkg(n, n, "1.0-1")).collect(),
            names.iter().map(|n| update(n, "1.0-1", "1.0-2")).collect(),
        );
        app.reported(&r).await;
        let admin = app.login(support::ADMIN, support::PASSWORD).await.unwrap();
        for query in ["sort=package&descending=false", "view=server"] {
            let text = app
                .get(&format!("/export/patches.csv?{query}"), Some(&admin))
                .await
                .text()
                .await
                .unwrap();
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            let packages: Vec<String> = reader
                .records()
                .map(|r| r.unwrap())
                .map(|r| r[if query.starts_with("view") { 4 } else { 0 }].to_owned())
                .collect();
            let mut sorted = packages.clone();
            sorted.sort();
            assert_eq!(sorted, names, "{query}: every patch once");
        }
    })
    .await;
}
