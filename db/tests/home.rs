//! The home pages' reads (`patchport_db::home`) on one seeded fleet, run
//! unchanged on SQLite and (when `PATCHPORT_TEST_POSTGRES` is set) on
//! PostgreSQL: every count and list of the admin's and the owners' homes,
//! the deployments list's filters and pages, and that an owner's home
//! never shows another owner's server.

use patchport_core::Role;
use patchport_core::protocol::CHECK_IN_INTERVAL;
use patchport_core::view::home::{DeploymentState, OwnerHome, TargetCounts};
use patchport_db::accounts::{self, NewAccount};
use patchport_db::home::{self, DeploymentQuery};
use patchport_db::{Conn, Db, testing};

const NOW: i64 = 1_800_000_000;
const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// The seeded ids the assertions name.
struct Fleet {
    olive: i64,
    oscar: i64,
    web01: i64,
    app04: i64,
    backup01: i64,
    edge01: i64,
    p_openssl: i64,
    p_zlib: i64,
    r_waiting: i64,
    r_failed: i64,
    d_failed: i64,
    d_running: i64,
    d_published: i64,
}

async fn account(conn: &mut Conn, name: &str, role: Role) -> i64 {
    let new = NewAccount {
        username: name,
        display_name: "",
        email: None,
        role,
        password_hash: "$argon2id$fake",
    };
    accounts::create(conn, &new, NOW - 30 * DAY)
        .await
        .unwrap()
        .id
}

async fn server(
    conn: &mut Conn,
    hostname: &str,
    owner: Option<i64>,
    last_check_in: Option<i64>,
    reboot_required: bool,
) -> i64 {
    sqlx::query_as::<_, (i64,)>(
        "insert into server (hostname, owner_id, last_check_in, reboot_required, created_at) \
         values ($1, $2, $3, $4, $5) returning id",
    )
    .bind(hostname)
    .bind(owner)
    .bind(last_check_in)
    .bind(reboot_required)
    .bind(NOW - 30 * DAY)
    .fetch_one(conn)
    .await
    .unwrap()
    .0
}

/// A patch and the one installed version it is seen from.
async fn patch(conn: &mut Conn, package: &str, version: &str, kev: bool) -> (i64, i64) {
    let (p,): (i64,) = sqlx::query_as(
        "insert into patch (release, package, version, arch, first_seen) \
         values ('debian:12', $1, $2, 'amd64', $3) returning id",
    )
    .bind(package)
    .bind(version)
    .bind(NOW - 30 * DAY)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let (f,): (i64,) = sqlx::query_as(
        "insert into patch_from (patch_id, from_version, known_exploited, stale) \
         values ($1, '0', $2, $3) returning id",
    )
    .bind(p)
    .bind(kev)
    .bind(false)
    .fetch_one(conn)
    .await
    .unwrap();
    (p, f)
}

async fn server_patch(
    conn: &mut Conn,
    server: i64,
    (patch, from): (i64, i64),
    state: &str,
    first_seen: i64,
) {
    sqlx::query(
        "insert into server_patch (server_id, patch_id, state, first_seen, updated_at, from_id) \
         values ($1, $2, $3, $4, $4, $5)",
    )
    .bind(server)
    .bind(patch)
    .bind(state)
    .bind(first_seen)
    .bind(from)
    .execute(conn)
    .await
    .unwrap();
}

async fn rollout(conn: &mut Conn, patch: i64, state: &str, observe_until: Option<i64>) -> i64 {
    sqlx::query_as::<_, (i64,)>(
        "insert into rollout (patch_id, state, observe_until, created_at, updated_at) \
         values ($1, $2, $3, $4, $5) returning id",
    )
    .bind(patch)
    .bind(state)
    .bind(observe_until)
    .bind(NOW - 20 * DAY)
    .bind(NOW - 100)
    .fetch_one(conn)
    .await
    .unwrap()
    .0
}

async fn job(
    conn: &mut Conn,
    server: i64,
    kind: &str,
    state: &str,
    not_before: i64,
    finished_at: Option<i64>,
) -> i64 {
    sqlx::query_as::<_, (i64,)>(
        "insert into job (server_id, kind, state, not_before, not_after, created_at, finished_at) \
         values ($1, $2, $3, $4, $5, $6, $7) returning id",
    )
    .bind(server)
    .bind(kind)
    .bind(state)
    .bind(not_before)
    .bind(not_before + DAY)
    .bind(NOW - DAY)
    .bind(finished_at)
    .fetch_one(conn)
    .await
    .unwrap()
    .0
}

async fn deployment(conn: &mut Conn, kind: &str, by: Option<i64>, created_at: i64) -> i64 {
    sqlx::query_as::<_, (i64,)>(
        "insert into deployment (kind, created_by, not_before, reboot, created_at) \
         values ($1, $2, $3, 'none', $3) returning id",
    )
    .bind(kind)
    .bind(by)
    .bind(created_at)
    .fetch_one(conn)
    .await
    .unwrap()
    .0
}

async fn target(conn: &mut Conn, deployment: i64, server: i64, patch: i64, job: Option<i64>) {
    sqlx::query(
        "insert into deployment_target (deployment_id, server_id, patch_id, job_id) \
         values ($1, $2, $3, $4)",
    )
    .bind(deployment)
    .bind(server)
    .bind(patch)
    .bind(job)
    .execute(conn)
    .await
    .unwrap();
}

async fn obligation(conn: &mut Conn, server: i64, deadline_at: i64) {
    sqlx::query(
        "insert into reboot_obligation (server_id, since, severity_rank, deadline_at) \
         values ($1, $2, 4, $3)",
    )
    .bind(server)
    .bind(NOW - 5 * DAY)
    .bind(deadline_at)
    .execute(conn)
    .await
    .unwrap();
}

async fn signed_in(conn: &mut Conn, account: i64, name: &str, at: i64) {
    let event = patchport_db::audit::NewAuditEvent {
        actor_id: Some(account),
        actor_name: name,
        action: home::SIGN_IN_ACTION,
        target: name,
        ..Default::default()
    };
    patchport_db::audit::record(conn, &event, at).await.unwrap();
}

async fn notification(conn: &mut Conn, account: i64, subject: &str, at: i64) {
    sqlx::query(
        "insert into notification (account_id, kind, subject, body, link, created_at) \
         values ($1, 'published', $2, '', '/servers', $3)",
    )
    .bind(account)
    .bind(subject)
    .bind(at)
    .execute(conn)
    .await
    .unwrap();
}

/// A maintenance window (its settings are not read here) given to one
/// server or one group.
async fn window_for(conn: &mut Conn, name: &str, to: &str, id: i64) {
    let window = sqlx::query_as::<_, (i64,)>(
        "insert into maintenance_window (name, settings, created_at) values ($1, '{}', $2) returning id",
    )
    .bind(name)
    .bind(NOW - DAY)
    .fetch_one(&mut *conn)
    .await
    .unwrap()
    .0;
    sqlx::query(&format!(
        "insert into maintenance_window_{to} (window_id, {to}_id) values ($1, $2)"
    ))
    .bind(window)
    .bind(id)
    .execute(&mut *conn)
    .await
    .unwrap();
}

/// Two owners' servers, a silent pair, rollouts waiting, deployments
/// failed, running and published, reboot deadlines and their bookings.
async fn seed(db: &Db) -> Fleet {
    let mut tx = db.begin().await.unwrap();
    let c = &mut *tx;
    let ada = account(c, "ada", Role::Admin).await;
    let olive = account(c, "olive", Role::Owner).await;
    let oscar = account(c, "oscar", Role::Owner).await;
    let two_intervals = 2 * CHECK_IN_INTERVAL as i64;
    let web01 = server(c, "web-01", Some(olive), Some(NOW - 60), false).await;
    let app04 = server(
        c,
        "app-04",
        Some(olive),
        Some(NOW - two_intervals - 1),
        false,
    )
    .await;
    let backup01 = server(c, "backup-01", Some(oscar), Some(NOW - 3 * DAY), false).await;
    // Exactly two intervals ago is still online; never heard is not silent.
    let edge01 = server(c, "edge-01", Some(oscar), Some(NOW - two_intervals), true).await;
    server(c, "new-01", None, None, true).await;

    let openssl = patch(c, "openssl", "3.0.15-1", true).await;
    let curl = patch(c, "curl", "8.0.1-1", false).await;
    let zlib = patch(c, "zlib", "1.3-1", true).await;
    // Known exploited and open for ten days on web-01; on app-04 only for
    // two; installed (closed) on backup-01.
    server_patch(c, web01, openssl, "published", NOW - 10 * DAY).await;
    server_patch(c, app04, openssl, "missing", NOW - 2 * DAY).await;
    server_patch(c, backup01, openssl, "installed", NOW - 30 * DAY).await;
    server_patch(c, web01, curl, "published", NOW - DAY).await;
    server_patch(c, backup01, zlib, "published", NOW - 8 * DAY).await;

    let r_waiting = rollout(c, openssl.0, "observing", Some(NOW - HOUR)).await;
    rollout(c, curl.0, "observing", Some(NOW + DAY)).await;
    let r_failed = rollout(c, zlib.0, "test_failed", None).await;

    // Failed on one of its two servers; still queued; published.
    let d_failed = deployment(c, "deploy", Some(ada), NOW - 500).await;
    let ok = job(c, web01, "install", "succeeded", NOW - 500, Some(NOW - 100)).await;
    let bad = job(c, app04, "install", "failed", NOW - 500, Some(NOW - 50)).await;
    target(c, d_failed, web01, curl.0, Some(ok)).await;
    target(c, d_failed, app04, curl.0, Some(bad)).await;
    let d_running = deployment(c, "deploy", None, NOW - 400).await;
    let queued = job(c, backup01, "install", "queued", NOW + HOUR, None).await;
    target(c, d_running, backup01, zlib.0, Some(queued)).await;
    let d_published = deployment(c, "publish", Some(ada), NOW - 300).await;
    target(c, d_published, web01, openssl.0, None).await;
    // A job finished before olive's previous visit.
    job(
        c,
        web01,
        "refresh",
        "succeeded",
        NOW - 9000,
        Some(NOW - 5000),
    )
    .await;

    // Reboots: soon and not booked (web-01), missed and booked
    // (backup-01), later (app-04); edge-01's OS asks without a deadline.
    obligation(c, web01, NOW + 10 * HOUR).await;
    obligation(c, backup01, NOW - HOUR).await;
    obligation(c, app04, NOW + 5 * DAY).await;
    job(c, backup01, "reboot", "queued", NOW + HOUR, None).await;
    // Windows to book in: web-01 its own, edge-01 through its group;
    // app-04 none.
    window_for(c, "web nightly", "server", web01).await;
    let edge = sqlx::query_as::<_, (i64,)>(
        "insert into server_group (name, created_at) values ('edge', $1) returning id",
    )
    .bind(NOW - DAY)
    .fetch_one(&mut *c)
    .await
    .unwrap()
    .0;
    sqlx::query("insert into server_group_member (group_id, server_id) values ($1, $2)")
        .bind(edge)
        .bind(edge01)
        .execute(&mut *c)
        .await
        .unwrap();
    window_for(c, "edge weekly", "group", edge).await;

    signed_in(c, olive, "olive", NOW - 1000).await;
    signed_in(c, olive, "olive", NOW - 10).await;
    signed_in(c, oscar, "oscar", NOW - 5).await;
    notification(c, olive, "Patches published for web-01", NOW - 200).await;
    notification(c, olive, "An old notice", NOW - 5000).await;
    notification(c, oscar, "Patches published for backup-01", NOW - 100).await;
    tx.commit().await.unwrap();
    Fleet {
        olive,
        oscar,
        web01,
        app04,
        backup01,
        edge01,
        p_openssl: openssl.0,
        p_zlib: zlib.0,
        r_waiting,
        r_failed,
        d_failed,
        d_running,
        d_published,
    }
}

/// Every host name an owner's home names.
fn hosts(h: &OwnerHome) -> Vec<String> {
    let mut all: Vec<String> = h
        .published
        .items
        .iter()
        .map(|p| p.hostname.clone())
        .collect();
    all.extend(h.reboots_to_book.items.iter().map(|r| r.hostname.clone()));
    all.extend(h.next_reboot.iter().map(|b| b.hostname.clone()));
    all
}

#[tokio::test]
async fn the_admin_home_lists_what_needs_doing() {
    testing::with_backends(|db| async move {
        let f = seed(&db).await;
        let mut conn = db.read().await.unwrap();
        let h = home::admin(&mut conn, NOW).await.unwrap();

        let ids = |p: &patchport_db::Page<patchport_core::view::home::RolloutItem>| {
            p.items.iter().map(|r| r.id).collect::<Vec<_>>()
        };
        assert_eq!(h.awaiting_approval.total, 1, "observation over");
        assert_eq!(ids(&h.awaiting_approval), [f.r_waiting]);
        assert_eq!(h.awaiting_approval.items[0].since, NOW - HOUR);
        assert_eq!(h.test_failed.total, 1);
        assert_eq!(ids(&h.test_failed), [f.r_failed]);

        let silent: Vec<(i64, &str)> = h
            .silent
            .items
            .iter()
            .map(|s| (s.id, s.hostname.as_str()))
            .collect();
        assert_eq!(
            silent,
            [(f.backup01, "backup-01"), (f.app04, "app-04")],
            "longest silent first; online and never-heard servers are not"
        );
        assert_eq!(h.silent.total, 2);

        let soon: Vec<_> = h.deadlines_soon.items.iter().map(|r| r.server_id).collect();
        assert_eq!(
            soon,
            [f.web01],
            "within 48 hours, not app-04's in five days"
        );
        assert_eq!(h.deadlines_soon.items[0].deadline_at, Some(NOW + 10 * HOUR));
        assert_eq!(h.deadlines_soon.items[0].booked_at, None);
        let missed: Vec<_> = h
            .deadlines_missed
            .items
            .iter()
            .map(|r| (r.server_id, r.booked_at))
            .collect();
        assert_eq!(missed, [(f.backup01, Some(NOW + HOUR))]);

        let kev: Vec<_> = h
            .kev_overdue
            .items
            .iter()
            .map(|k| (k.patch_id, k.servers, k.oldest))
            .collect();
        assert_eq!(
            kev,
            [
                (f.p_openssl, 1, NOW - 10 * DAY),
                (f.p_zlib, 1, NOW - 8 * DAY)
            ],
            "open longer than seven days only: not app-04's two-day-old one, not an installed one"
        );
        assert_eq!(h.kev_overdue.total, 2);

        assert_eq!(h.deployments_failed.total, 1);
        let failed = &h.deployments_failed.items[0];
        assert_eq!(failed.id, f.d_failed);
        assert_eq!(
            (
                failed.counts.targets,
                failed.counts.installed,
                failed.counts.failed
            ),
            (2, 1, 1)
        );
        assert_eq!(h.deployments_running.total, 1);
        assert_eq!(h.deployments_running.items[0].id, f.d_running);
        assert_eq!(h.deployments_running.items[0].counts.pending, 1);
    })
    .await;
}

#[tokio::test]
async fn the_deployments_list_filters_by_state_and_patch_and_pages() {
    testing::with_backends(|db| async move {
        let f = seed(&db).await;
        let mut conn = db.read().await.unwrap();
        let list =
            async |conn: &mut Conn, state: Option<DeploymentState>, search: &str, page, per| {
                let q = DeploymentQuery {
                    state,
                    search: search.into(),
                };
                home::deployments(conn, &q, page, per).await.unwrap()
            };
        let all = list(&mut conn, None, "", 1, 50).await;
        assert_eq!(all.total, 3);
        let ids: Vec<i64> = all.items.iter().map(|d| d.id).collect();
        assert_eq!(
            ids,
            [f.d_published, f.d_running, f.d_failed],
            "newest first"
        );
        let failed = &all.items[2];
        assert_eq!(failed.state, DeploymentState::Failed);
        assert_eq!(failed.created_by, "ada");
        assert_eq!(failed.patches, ["curl 8.0.1-1"]);
        assert_eq!(failed.created_at, NOW - 500);
        assert_eq!(
            all.items[1].created_by, "policy",
            "an approval's deployment"
        );
        assert_eq!(
            all.items[0].counts,
            TargetCounts {
                targets: 1,
                published: 1,
                ..Default::default()
            }
        );

        for (state, want) in [
            (DeploymentState::Failed, f.d_failed),
            (DeploymentState::Running, f.d_running),
            (DeploymentState::Finished, f.d_published),
        ] {
            let p = list(&mut conn, Some(state), "", 1, 50).await;
            let ids: Vec<i64> = p.items.iter().map(|d| d.id).collect();
            assert_eq!((p.total, ids), (1, vec![want]), "{state:?}");
        }
        for (search, want) in [
            ("CURL", vec![f.d_failed]),
            ("zlib 1.3", vec![f.d_running]),
            ("%", vec![]),
            ("nothing", vec![]),
        ] {
            let p = list(&mut conn, None, search, 1, 50).await;
            let ids: Vec<i64> = p.items.iter().map(|d| d.id).collect();
            assert_eq!(ids, want, "search {search:?}");
        }
        let second = list(&mut conn, None, "", 2, 2).await;
        let ids: Vec<i64> = second.items.iter().map(|d| d.id).collect();
        assert_eq!((second.total, ids), (3, vec![f.d_failed]), "page 2 of 2");
        let past = list(&mut conn, None, "", 9, 2).await;
        assert!(past.items.is_empty());
    })
    .await;
}

#[tokio::test]
async fn an_owners_home_shows_their_own_servers_only() {
    testing::with_backends(|db| async move {
        let f = seed(&db).await;
        let mut conn = db.read().await.unwrap();

        let olive = home::owner(&mut conn, f.olive, NOW).await.unwrap();
        let published: Vec<_> = olive
            .published
            .items
            .iter()
            .map(|p| (p.server_id, p.patches))
            .collect();
        assert_eq!(published, [(f.web01, 2)]);
        let to_book: Vec<_> = olive
            .reboots_to_book
            .items
            .iter()
            .map(|r| (r.server_id, r.deadline_at, r.has_window))
            .collect();
        assert_eq!(
            to_book,
            [
                (f.web01, Some(NOW + 10 * HOUR), true),
                (f.app04, Some(NOW + 5 * DAY), false)
            ],
            "nearest deadline first; app-04 has no window to book in"
        );
        assert_eq!(olive.next_reboot, None);
        let c = &olive.changes;
        assert_eq!(
            (c.since, c.since_sign_in),
            (NOW - 1000, true),
            "the previous sign-in"
        );
        assert_eq!(c.published, 1, "the publication after that sign-in");
        assert_eq!((c.jobs_succeeded, c.jobs_failed), (1, 1));
        assert_eq!(c.notices.total, 1);
        assert_eq!(c.notices.items[0].subject, "Patches published for web-01");

        let oscar = home::owner(&mut conn, f.oscar, NOW).await.unwrap();
        let published: Vec<_> = oscar
            .published
            .items
            .iter()
            .map(|p| (p.server_id, p.patches))
            .collect();
        assert_eq!(published, [(f.backup01, 1)]);
        let to_book: Vec<_> = oscar
            .reboots_to_book
            .items
            .iter()
            .map(|r| (r.server_id, r.deadline_at, r.has_window))
            .collect();
        assert_eq!(
            to_book,
            [(f.edge01, None, true)],
            "backup-01's reboot is booked; edge-01's OS asks for one"
        );
        let next = oscar.next_reboot.as_ref().expect("backup-01's booking");
        assert_eq!((next.server_id, next.at), (f.backup01, NOW + HOUR));
        let c = &oscar.changes;
        assert_eq!(
            (c.since, c.since_sign_in),
            (NOW - 7 * DAY, false),
            "a first sign-in looks back a week"
        );
        assert_eq!((c.published, c.jobs_succeeded, c.jobs_failed), (0, 0, 0));
        assert_eq!(c.notices.total, 1);

        for host in hosts(&olive) {
            assert!(
                ["web-01", "app-04"].contains(&host.as_str()),
                "olive sees {host}"
            );
        }
        for host in hosts(&oscar) {
            assert!(
                ["backup-01", "edge-01"].contains(&host.as_str()),
                "oscar sees {host}"
            );
        }
        // Nobody's home for an account without servers.
        let nobody = home::owner(&mut conn, f.olive + f.oscar + 100, NOW)
            .await
            .unwrap();
        assert!(hosts(&nobody).is_empty());
        assert_eq!(nobody.published.total + nobody.reboots_to_book.total, 0);
    })
    .await;
}
