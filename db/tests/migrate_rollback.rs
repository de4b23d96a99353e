//! Migration 0020 rebuilds `job` on SQLite (a new kind in its check
//! constraint), which is only safe with foreign keys off: with them on,
//! dropping the old table would delete the bookings and clear the
//! deployment targets that point at its jobs. `Db::migrate` turns them off
//! around the migrator; this test fills a database migrated to 0019 with
//! rows that point at jobs, migrates, and checks every one is still there,
//! pointing at the same job, and that the new kind is accepted.

use patchport_db::{Db, testing};
use sqlx::{AnyConnection, Connection, Executor};

#[tokio::test]
async fn rebuilding_job_keeps_every_row_that_points_at_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = testing::sqlite_url(dir.path());
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    conn.execute("pragma foreign_keys = on").await.unwrap();
    let mut before = sqlx::migrate!("../migrations/sqlite");
    before.migrations = before
        .migrations
        .iter()
        .filter(|m| m.version < 20)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    before.run(&mut conn).await.unwrap();
    for sql in [
        "insert into server (id, hostname, created_at) values (1, 'web-1', 0)",
        "insert into patch (id, release, package, version, arch, first_seen) values (1, 'debian:12', 'zlib', '1.0-2', 'amd64', 0)",
        "insert into job (id, server_id, kind, packages, state, not_before, not_after, created_at) \
         values (7, 1, 'install', '[]', 'succeeded', 0, 10, 0), (8, 1, 'reboot', '[]', 'queued', 0, 10, 0)",
        "insert into deployment (id, kind, not_before, reboot, created_at) values (1, 'deploy', 0, 'none', 0)",
        "insert into deployment_target (deployment_id, server_id, patch_id, job_id, reboot_job_id) values (1, 1, 1, 7, 8)",
        "insert into reboot_booking (job_id, server_id, at, created_at) values (8, 1, 5, 0)",
        "insert into booking_notice (server_id, told_job_id) values (1, 8)",
    ] {
        conn.execute(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    conn.close().await.unwrap();

    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    let mut conn = db.read().await.unwrap();
    let kept: (i64, i64, i64, i64) = sqlx::query_as(
        "select (select count(*) from job), \
           (select job_id + 10 * reboot_job_id from deployment_target), \
           (select job_id from reboot_booking), (select told_job_id from booking_notice)",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        kept,
        (2, 87, 8, 8),
        "jobs and the rows pointing at them are kept"
    );
    let (fk,): (i64,) = sqlx::query_as("select foreign_keys from pragma_foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(fk, 1, "connections still enforce foreign keys");
    drop(conn);
    let mut tx = db.begin().await.unwrap();
    sqlx::query(
        "insert into job (server_id, kind, packages, state, not_before, not_after, created_at, rollback_of) \
         values (1, 'rollback', '[]', 'queued', 0, 10, 0, 7)",
    )
    .execute(&mut *tx)
    .await
    .expect("the new kind is accepted");
    let bad = sqlx::query(
        "insert into job (server_id, kind, packages, state, not_before, not_after, created_at) \
         values (1, 'wipe', '[]', 'queued', 0, 10, 0)",
    )
    .execute(&mut *tx)
    .await;
    assert!(bad.is_err(), "other kinds are still refused");
}
