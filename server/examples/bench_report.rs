//! Benchmark of the Patches Missing report at fleet scale.
//!
//! Generates `--servers` servers (default 10,000) that each miss
//! `--missing` patches (default 100: one million server-patch rows), with
//! owners, groups, three releases, advisories with severities and CVSS,
//! and known-exploited CVEs; then measures, server-side, the first page of
//! the report by patch and by server under each filter (p50 and p95 of
//! `--runs` runs), the dashboard counts, and the CSV export rate.
//!
//! ```text
//! cargo run --release -p patchport --example bench_report            # SQLite
//! PATCHPORT_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test \
//!   cargo run --release -p patchport --example bench_report -- --postgres
//! ```
//!
//! `--keep FILE` keeps the SQLite database in FILE (for `explain query
//! plan`); `--servers N`, `--missing N` and `--runs N` change the size.

use futures_util::StreamExt;
use patchport::export::{View, csv_stream};
use patchport_db::Db;
use patchport_db::report::{self, PatchQuery, ServerSort};
use std::time::{Duration, Instant};

const NOW: i64 = 1_790_000_000;
const RELEASES: [(&str, &str); 3] = [("debian", "12"), ("ubuntu", "22.04"), ("almalinux", "9")];
/// Patches in each release's catalog.
const CATALOG: i64 = 1_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: i64| -> i64 {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let servers = arg("--servers", 10_000);
    let missing = arg("--missing", 100).min(CATALOG);
    let runs = arg("--runs", 30) as usize;
    let dir = tempfile::tempdir()?;
    let url = if args.iter().any(|a| a == "--postgres") {
        patchport_db::testing::postgres_url()
            .await
            .ok_or_else(|| anyhow::anyhow!("set PATCHPORT_TEST_POSTGRES"))?
    } else if let Some(path) = args
        .iter()
        .position(|a| a == "--keep")
        .and_then(|i| args.get(i + 1))
    {
        // A SQLite file to keep for a look at the query plans afterwards.
        format!("sqlite:{path}?mode=rwc")
    } else {
        patchport_db::testing::sqlite_url(dir.path())
    };
    let db = Db::connect(&url).await?;
    db.migrate().await?;
    println!("backend: {:?}", db.backend());

    let started = Instant::now();
    generate(&db, servers, missing).await?;
    let mut conn = db.read().await?;
    let (rows,): (i64,) = sqlx::query_as("select count(*) from server_patch")
        .fetch_one(&mut *conn)
        .await?;
    println!(
        "generated {servers} servers, {rows} server-patch rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let (owner,): (i64,) = sqlx::query_as("select min(id) from account")
        .fetch_one(&mut *conn)
        .await?;
    let (group,): (i64,) = sqlx::query_as("select min(id) from server_group")
        .fetch_one(&mut *conn)
        .await?;
    let filters: Vec<(&str, PatchQuery)> = vec![
        ("no filter", PatchQuery::default()),
        (
            "search 'lib'",
            PatchQuery {
                search: "lib".into(),
                ..Default::default()
            },
        ),
        (
            "critical severity",
            PatchQuery {
                min_severity: 5,
                ..Default::default()
            },
        ),
        (
            "security only",
            PatchQuery {
                security_only: true,
                ..Default::default()
            },
        ),
        (
            "known exploited",
            PatchQuery {
                known_exploited: true,
                ..Default::default()
            },
        ),
        (
            "release debian:12",
            PatchQuery {
                release: Some("debian:12".into()),
                ..Default::default()
            },
        ),
        (
            "group",
            PatchQuery {
                group_id: Some(group),
                ..Default::default()
            },
        ),
        (
            "critical servers",
            PatchQuery {
                criticality: Some("critical".into()),
                ..Default::default()
            },
        ),
        (
            "owner",
            PatchQuery {
                owner_id: Some(owner),
                ..Default::default()
            },
        ),
        (
            "state failed",
            PatchQuery {
                state: Some("failed".into()),
                ..Default::default()
            },
        ),
        (
            "missing ≥ 30 days",
            PatchQuery {
                older_than: Some(NOW - 30 * 86_400),
                ..Default::default()
            },
        ),
        (
            "critical security on critical servers",
            PatchQuery {
                min_severity: 5,
                security_only: true,
                criticality: Some("critical".into()),
                ..Default::default()
            },
        ),
    ];
    println!("\nfirst page (50 rows), server-side, {runs} runs each: p50 / p95 in ms");
    println!("{:<40} {:>18} {:>18}", "filter", "by patch", "by server");
    for (name, q) in &filters {
        let mut by_patch = Vec::new();
        let mut by_server = Vec::new();
        let mut found = (0, 0);
        for _ in 0..runs {
            let t = Instant::now();
            let page = report::by_patch(&mut conn, q, 1, 50).await?;
            by_patch.push(t.elapsed());
            found.0 = page.total;
            let t = Instant::now();
            let page = report::by_server(&mut conn, q, ServerSort::default(), true, 1, 50).await?;
            by_server.push(t.elapsed());
            found.1 = page.total;
        }
        println!(
            "{:<40} {:>7.1} / {:>6.1}  {:>7.1} / {:>6.1}   ({} patches, {} servers)",
            name,
            ms(pct(&mut by_patch, 50)),
            ms(pct(&mut by_patch, 95)),
            ms(pct(&mut by_server, 50)),
            ms(pct(&mut by_server, 95)),
            found.0,
            found.1
        );
    }
    let mut dash = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        report::dashboard(&mut conn, NOW - 30 * 86_400).await?;
        dash.push(t.elapsed());
    }
    println!(
        "{:<40} {:>7.1} / {:>6.1}",
        "dashboard counts",
        ms(pct(&mut dash, 50)),
        ms(pct(&mut dash, 95))
    );
    drop(conn);

    println!("\nCSV export (streamed, as the download sends it)");
    for (name, q, view) in [
        ("by server, no filter", PatchQuery::default(), View::Server),
        (
            "by server, critical servers",
            filters[7].1.clone(),
            View::Server,
        ),
        ("by patch, no filter", PatchQuery::default(), View::Patch),
    ] {
        let t = Instant::now();
        let mut stream = std::pin::pin!(csv_stream(db.clone(), q, view));
        let (mut lines, mut bytes) = (0_usize, 0_usize);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            lines += chunk.iter().filter(|b| **b == b'\n').count();
            bytes += chunk.len();
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{name:<40} {:>9} rows, {:>6.1} MB in {secs:.2} s = {:>8.0} rows/s",
            lines - 1,
            bytes as f64 / 1e6,
            (lines - 1) as f64 / secs
        );
    }
    db.close().await;
    Ok(())
}

fn pct(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    samples[((samples.len() * p).div_ceil(100)).saturating_sub(1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Fills the database with SQL (recursive CTEs), far faster than going
/// through check-ins; the triggers keep the counts as check-ins would, and
/// the advisories are matched to each installed version as imports do.
async fn generate(db: &Db, servers: i64, missing: i64) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let seq = |n: i64| {
        format!("with recursive n(i) as (select 1 union all select i + 1 from n where i < {n}) ")
    };
    sqlx::query(&format!(
        "{} insert into account (username, display_name, role, password_hash, created_at, updated_at) \
         select 'owner' || i, 'Owner ' || i, 'owner', 'x', {NOW}, {NOW} from n",
        seq(50)
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "{} insert into server_group (name, created_at) select 'group-' || i, {NOW} from n",
        seq(20)
    ))
    .execute(&mut *tx)
    .await?;
    let (first_owner,): (i64,) = sqlx::query_as("select min(id) from account")
        .fetch_one(&mut *tx)
        .await?;
    let (first_group,): (i64,) = sqlx::query_as("select min(id) from server_group")
        .fetch_one(&mut *tx)
        .await?;
    // Server i runs release i % 3, is critical when i % 7 = 0, belongs to
    // owner i % 50 and to groups i % 20 and (i / 20) % 20.
    let os = |col: usize| {
        format!(
            "(case i % 3 when 0 then '{}' when 1 then '{}' else '{}' end)",
            match col {
                0 => RELEASES[0].0,
                _ => RELEASES[0].1,
            },
            match col {
                0 => RELEASES[1].0,
                _ => RELEASES[1].1,
            },
            match col {
                0 => RELEASES[2].0,
                _ => RELEASES[2].1,
            },
        )
    };
    sqlx::query(&format!(
        "{} insert into server (hostname, os_id, os_version, os_name, package_format, arch, owner_id, criticality, \
           last_check_in, created_at) \
         select 'srv-' || (100000 + i), {}, {}, 'generated', 'deb', 'amd64', {first_owner} + i % 50, \
           (case when i % 7 = 0 then 'critical' else 'standard' end), {NOW}, {NOW} from n",
        seq(servers),
        os(0),
        os(1)
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(&format!(
        "insert into server_group_member (server_id, group_id) \
         select id, {first_group} + id % 20 from server union \
         select id, {first_group} + (id / 20) % 20 from server"
    ))
    .execute(&mut *tx)
    .await?;
    // Patch i of each release: 60 % from a security origin; a quarter
    // named lib…; it updates to 1.i-3.
    for (id, version) in RELEASES {
        sqlx::query(&format!(
            "{} insert into patch (release, package, version, arch, origin, security, source_package, first_seen) \
             select '{id}:{version}', (case when i % 4 = 0 then 'lib' else 'pkg' end) || 'x' || i, \
               '1.' || i || '-3', 'amd64', 'generated', (i % 5 < 3), \
               (case when i % 4 = 0 then 'lib' else 'pkg' end) || 'x' || i, {NOW} - 90 * 86400 from n",
            seq(CATALOG)
        ))
        .execute(&mut *tx)
        .await?;
    }
    // Servers have one of three versions installed: 1.i-0, 1.i-1 or
    // 1.i-2.1 (which already has the advisory's fix, 1.i-2).
    sqlx::query(
        "insert into patch_from (patch_id, from_version) \
         select p.id, replace(p.version, '-3', v.suffix) from patch p \
         cross join (select '-0' as suffix union all select '-1' union all select '-2.1') v",
    )
    .execute(&mut *tx)
    .await?;
    // One advisory per security patch, fixed in 1.i-2, severities spread
    // by id, CVSS by id, one CVE each; every 25th CVE known exploited.
    sqlx::query(
        "insert into advisory (advisory_id, summary, details, severity, cvss_score10, published, modified, source, \
           content_hash, imported_at) \
         select 'GEN-' || id, 'Generated advisory for ' || package, 'Generated.', \
           (case id % 4 when 0 then 'critical' when 1 then 'high' when 2 then 'medium' else 'low' end), \
           40 + id % 60, first_seen, first_seen, 'generated', 'x' || id, first_seen from patch where security",
    )
    .execute(&mut *tx)
    .await?;
    let ecosystem = "(case p.release when 'debian:12' then 'Debian:12' when 'ubuntu:22.04' then 'Ubuntu:22.04:LTS' \
        else 'AlmaLinux:9' end)";
    sqlx::query(&format!(
        "insert into advisory_affected (advisory_id, ecosystem, package, ranges) \
         select a.id, {ecosystem}, p.package, \
           '{{\"package\":{{\"ecosystem\":\"' || {ecosystem} || '\",\"name\":\"' || p.package || \
           '\"}},\"ranges\":[{{\"type\":\"ECOSYSTEM\",\"events\":[{{\"introduced\":\"0\"}},{{\"fixed\":\"' || \
           replace(p.version, '-3', '-2') || '\"}}]}}],\"versions\":[]}}' \
         from patch p join advisory a on a.advisory_id = 'GEN-' || p.id"
    ))
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into advisory_cve (advisory_id, cve) select id, 'CVE-2026-' || (10000 + id) from advisory",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "insert into kev (cve, date_added, content_hash) \
         select cve, 0, 'x' from advisory_cve where advisory_id % 25 = 0",
    )
    .execute(&mut *tx)
    .await?;
    // Matched the way imports match, before any server counts in them.
    while patchport_db::advisories::rematch_stale(&mut tx, 2_000).await? > 0 {}
    // Server s misses patches (7s + 13k) mod CATALOG + 1 of its release,
    // for k < missing (distinct, since 13 and 1,000 are coprime), from one
    // of the three installed versions, detected up to 88 days ago; 1 in 50
    // failed, 1 in 100 queued.
    let pick = format!("((7 * s.id + 13 * k.j) % {CATALOG} + 1)");
    sqlx::query(&format!(
        "with recursive k(j) as (select 0 union all select j + 1 from k where j < {}) \
         insert into server_patch (server_id, patch_id, state, installed_version, from_id, first_seen, updated_at) \
         select s.id, p.id, \
           (case when (s.id + k.j) % 50 = 0 then 'failed' when (s.id + k.j) % 100 = 1 then 'queued' else 'missing' end), \
           f.from_version, f.id, {NOW} - ((s.id * 31 + k.j * 17) % 89) * 86400, {NOW} \
         from server s cross join k join patch p on p.release = s.os_id || ':' || s.os_version \
           and p.package = (case when {pick} % 4 = 0 then 'lib' else 'pkg' end) || 'x' || {pick} \
         join patch_from f on f.patch_id = p.id and f.from_version = replace(p.version, '-3', \
           (case (s.id + k.j) % 3 when 0 then '-0' when 1 then '-1' else '-2.1' end))",
        missing - 1
    ))
    .execute(&mut *tx)
    .await?;
    patchport_db::commit(tx).await?;
    // The triggers updated the version and server rows once per generated
    // row, all in one transaction: a million dead versions of 19,000 rows,
    // which no live portal piles up (its updates come in many small
    // transactions that in-page pruning and autovacuum clean up as they
    // go). The benchmark compacts them rather than measure the bloat.
    // VACUUM FULL leaves the visibility map empty (no index-only scans);
    // the plain VACUUM after it sets it, as autovacuum does.
    let statements: &[&str] = match db.backend() {
        patchport_db::Backend::Postgres => &["vacuum full", "vacuum analyze"],
        patchport_db::Backend::Sqlite => &["analyze"],
    };
    for statement in statements {
        sqlx::query(statement)
            .execute(&mut *db.write().await?)
            .await?;
    }
    Ok(())
}
