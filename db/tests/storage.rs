//! One storage story, run unchanged on SQLite and (when
//! `PATCHPORT_TEST_POSTGRES` is set) on PostgreSQL.

use patchport_core::Role;
use patchport_db::accounts::{self, AccountQuery, AccountSort, NewAccount};
use patchport_db::throttle::{self, Policy};
use patchport_db::{StorageError, audit, sessions, testing};

const NOW: i64 = 1_800_000_000;

fn query(search: &str) -> AccountQuery {
    AccountQuery {
        search: search.into(),
        ..Default::default()
    }
}

fn new_account<'a>(username: &'a str, role: Role) -> NewAccount<'a> {
    NewAccount {
        username,
        display_name: "Someone",
        email: None,
        role,
        password_hash: "$argon2id$fake",
    }
}

#[tokio::test]
async fn accounts_are_created_unique_listed_and_updated() {
    testing::with_backends(|db| async move {
        let mut tx = db.begin().await.unwrap();
        assert!(!accounts::admin_exists(&mut tx).await.unwrap());
        let admin = accounts::create(&mut tx, &new_account("alice", Role::Admin), NOW)
            .await
            .unwrap();
        let owner = accounts::create(&mut tx, &new_account("bob", Role::Owner), NOW)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(admin.role, Role::Admin);
        assert!(!admin.disabled);

        let mut tx = db.begin().await.unwrap();
        let dup = accounts::create(&mut tx, &new_account("alice", Role::Owner), NOW).await;
        assert!(
            matches!(
                dup,
                Err(StorageError::Duplicate(patchport_db::Unique::Username))
            ),
            "duplicate user name: {dup:?}"
        );
        drop(tx);

        let mut c = db.read().await.unwrap();
        assert!(accounts::admin_exists(&mut c).await.unwrap());
        assert_eq!(accounts::count_enabled_admins(&mut c).await.unwrap(), 1);
        let (found, hash) = accounts::find_for_login(&mut c, "bob")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.id, hash.as_str()), (owner.id, "$argon2id$fake"));
        assert!(
            accounts::find_for_login(&mut c, "nobody")
                .await
                .unwrap()
                .is_none()
        );

        let page = accounts::list(&mut c, &AccountQuery::default(), 1, 1)
            .await
            .unwrap();
        assert_eq!((page.total, page.items.len()), (2, 1));
        assert_eq!(page.items[0].username, "alice", "sorted by user name");
        let page2 = accounts::list(&mut c, &AccountQuery::default(), 2, 1)
            .await
            .unwrap();
        assert_eq!(page2.items[0].username, "bob");
        let searched = accounts::list(&mut c, &query("BO"), 1, 50).await.unwrap();
        assert_eq!(
            searched
                .items
                .iter()
                .map(|a| a.username.as_str())
                .collect::<Vec<_>>(),
            ["bob"]
        );
        drop(c);

        let mut tx = db.begin().await.unwrap();
        accounts::set_role(&mut tx, owner.id, Role::Admin, NOW + 1)
            .await
            .unwrap();
        accounts::set_disabled(&mut tx, admin.id, true, NOW + 1)
            .await
            .unwrap();
        accounts::set_password_hash(&mut tx, owner.id, "$argon2id$new", NOW + 1)
            .await
            .unwrap();
        assert!(matches!(
            accounts::set_disabled(&mut tx, 9999, true, NOW).await,
            Err(StorageError::NotFound)
        ));
        tx.commit().await.unwrap();

        let mut c = db.read().await.unwrap();
        assert_eq!(
            accounts::get(&mut c, owner.id).await.unwrap().unwrap().role,
            Role::Admin
        );
        assert!(
            accounts::get(&mut c, admin.id)
                .await
                .unwrap()
                .unwrap()
                .disabled
        );
        assert_eq!(accounts::count_enabled_admins(&mut c).await.unwrap(), 1);
        // Filters and sorting: alice is now a disabled admin, bob an admin.
        let names = |p: patchport_db::Page<accounts::Account>| {
            p.items.into_iter().map(|a| a.username).collect::<Vec<_>>()
        };
        let disabled = AccountQuery {
            disabled: Some(true),
            ..Default::default()
        };
        assert_eq!(
            names(accounts::list(&mut c, &disabled, 1, 50).await.unwrap()),
            ["alice"]
        );
        let enabled = AccountQuery {
            disabled: Some(false),
            ..Default::default()
        };
        assert_eq!(
            names(accounts::list(&mut c, &enabled, 1, 50).await.unwrap()),
            ["bob"]
        );
        let owners = AccountQuery {
            role: Some(Role::Owner),
            ..Default::default()
        };
        assert!(names(accounts::list(&mut c, &owners, 1, 50).await.unwrap()).is_empty());
        let desc = AccountQuery {
            sort: AccountSort::Username,
            descending: true,
            ..Default::default()
        };
        assert_eq!(
            names(accounts::list(&mut c, &desc, 1, 50).await.unwrap()),
            ["bob", "alice"]
        );
        let wildcard = query("_");
        assert_eq!(
            accounts::list(&mut c, &wildcard, 1, 50)
                .await
                .unwrap()
                .total,
            0,
            "'_' is literal"
        );
        assert_eq!(
            accounts::password_hash(&mut c, owner.id).await.unwrap(),
            "$argon2id$new"
        );
    })
    .await;
}

#[tokio::test]
async fn sessions_expire_and_end_per_account() {
    testing::with_backends(|db| async move {
        let mut tx = db.begin().await.unwrap();
        let a = accounts::create(&mut tx, &new_account("carol", Role::Owner), NOW)
            .await
            .unwrap();
        assert!(
            sessions::create(&mut tx, "s1", Some(a.id), "{}", NOW + 60)
                .await
                .unwrap()
        );
        assert!(
            !sessions::create(&mut tx, "s1", None, "{}", NOW + 60)
                .await
                .unwrap(),
            "ids are unique"
        );
        sessions::save(&mut tx, "s2", Some(a.id), r#"{"k":1}"#, NOW + 60)
            .await
            .unwrap();
        sessions::save(&mut tx, "s2", Some(a.id), r#"{"k":2}"#, NOW + 120)
            .await
            .unwrap();
        sessions::save(&mut tx, "s3", None, "{}", NOW + 10)
            .await
            .unwrap();
        tx.commit().await.unwrap();

        let mut c = db.read().await.unwrap();
        assert_eq!(
            sessions::load(&mut c, "s2", NOW).await.unwrap(),
            Some((r#"{"k":2}"#.to_owned(), NOW + 120))
        );
        assert_eq!(
            sessions::load(&mut c, "s3", NOW + 10).await.unwrap(),
            None,
            "expired at its expiry"
        );
        assert_eq!(
            sessions::count_for_account(&mut c, a.id, NOW)
                .await
                .unwrap(),
            2
        );
        drop(c);

        let mut tx = db.begin().await.unwrap();
        assert_eq!(
            sessions::delete_for_account(&mut tx, a.id, Some("s1"))
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            sessions::delete_expired(&mut tx, NOW + 30).await.unwrap(),
            1
        );
        sessions::delete(&mut tx, "s1").await.unwrap();
        tx.commit().await.unwrap();
        let mut c = db.read().await.unwrap();
        assert_eq!(
            sessions::count_for_account(&mut c, a.id, NOW)
                .await
                .unwrap(),
            0
        );
    })
    .await;
}

#[tokio::test]
async fn audit_events_are_listed_newest_first_and_filtered() {
    testing::with_backends(|db| async move {
        let mut tx = db.begin().await.unwrap();
        for (i, action) in ["login.failed", "login.succeeded", "user.created"]
            .iter()
            .enumerate()
        {
            let e = audit::NewAuditEvent {
                actor_name: "alice",
                action,
                target: "bob",
                source: "127.0.0.1",
                ..Default::default()
            };
            audit::record(&mut tx, &e, NOW + i as i64).await.unwrap();
        }
        tx.commit().await.unwrap();
        let mut c = db.read().await.unwrap();
        let all = audit::list(&mut c, "", 1, 2).await.unwrap();
        assert_eq!(all.total, 3);
        assert_eq!(
            all.items
                .iter()
                .map(|e| e.action.as_str())
                .collect::<Vec<_>>(),
            ["user.created", "login.succeeded"]
        );
        assert_eq!(all.items[0].at, NOW + 2);
        let logins = audit::list(&mut c, "login.", 1, 50).await.unwrap();
        assert_eq!(logins.total, 2);
        let literal = audit::list(&mut c, "login_", 1, 50).await.unwrap();
        assert_eq!(
            literal.total, 0,
            "'_' in a prefix is literal, not a wildcard"
        );
        let pct = audit::list(&mut c, "%", 1, 50).await.unwrap();
        assert_eq!(pct.total, 0, "'%' in a prefix is literal");
    })
    .await;
}

#[tokio::test]
async fn throttle_blocks_after_free_failures_with_growing_bounded_blocks() {
    testing::with_backends(|db| async move {
        let policy = Policy {
            free_failures: 3,
            window: 600,
            base_block: 30,
            max_block: 100,
        };
        let mut tx = db.begin().await.unwrap();
        for i in 0..3 {
            let until = throttle::record_failure(&mut tx, "user:dave", NOW + i, policy)
                .await
                .unwrap();
            assert!(until <= NOW + i, "failure {} is free", i + 1);
        }
        assert_eq!(
            throttle::record_failure(&mut tx, "user:dave", NOW + 3, policy)
                .await
                .unwrap(),
            NOW + 33
        );
        assert_eq!(
            throttle::record_failure(&mut tx, "user:dave", NOW + 4, policy)
                .await
                .unwrap(),
            NOW + 64
        );
        assert_eq!(
            throttle::record_failure(&mut tx, "user:dave", NOW + 5, policy)
                .await
                .unwrap(),
            NOW + 105,
            "capped"
        );
        assert_eq!(
            throttle::blocked_until(&mut tx, "user:dave", NOW + 6)
                .await
                .unwrap(),
            Some(NOW + 105)
        );
        assert_eq!(
            throttle::blocked_until(&mut tx, "user:dave", NOW + 105)
                .await
                .unwrap(),
            None,
            "block ends"
        );
        assert_eq!(
            throttle::blocked_until(&mut tx, "user:erin", NOW)
                .await
                .unwrap(),
            None
        );
        // A new window starts counting afresh.
        let until = throttle::record_failure(&mut tx, "user:dave", NOW + 1000, policy)
            .await
            .unwrap();
        assert!(until <= NOW + 1000);
        throttle::clear(&mut tx, "user:dave").await.unwrap();
        assert_eq!(
            throttle::blocked_until(&mut tx, "user:dave", NOW)
                .await
                .unwrap(),
            None
        );
        tx.commit().await.unwrap();
    })
    .await;
}

/// An affected entry as the portal stores it (`Affected::for_matching`
/// serialised): openssl on Debian 12, fixed in `fixed`.
fn openssl_entry(fixed: &str) -> (String, String, String) {
    (
        "Debian:12".to_owned(),
        "openssl".to_owned(),
        serde_json::json!({
            "package": {"ecosystem": "Debian:12", "name": "openssl"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            "versions": []
        })
        .to_string(),
    )
}

#[tokio::test]
async fn advisory_imports_stage_switch_over_and_match_each_installed_version() {
    use patchport_db::advisories::{self, ImportKind, KevEntry, NewAdvisory};
    testing::with_backends(|db| async move {
        let advisory = NewAdvisory {
            advisory_id: "DSA-5678-1".into(),
            summary: "openssl security update".into(),
            details: "Several vulnerabilities were found.".into(),
            severity: "high".into(),
            severity_source: "CVSS 3.1 base score 7.5".into(),
            kind: "security".into(),
            cvss_vector: Some("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N".into()),
            cvss_score: Some(7.5),
            published: Some(NOW - 86_400),
            modified: NOW,
            withdrawn: None,
            source: "dsa.json".into(),
            content_hash: "h1".into(),
            cves: vec!["CVE-2024-0001".into(), "CVE-2024-0002".into()],
            affected: vec![openssl_entry("3.0.15-1~deb12u1")],
        };
        // One catalog patch, seen from two installed versions: one below
        // the fix, one that already has it.
        let mut tx = db.begin().await.unwrap();
        let (patch,): (i64,) = sqlx::query_as(
            "insert into patch (release, package, version, arch, origin, security, source_package, first_seen) \
             values ('debian:12', 'libssl3', '3.0.16-1~deb12u1', 'amd64', '', false, 'openssl', $1) returning id",
        )
        .bind(NOW)
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        let pairs = vec![
            (patch, "3.0.11-1~deb12u2".to_owned()),
            (patch, "3.0.15-1~deb12u1".to_owned()),
        ];
        let (versions, unmatched) = advisories::versions_for(&mut tx, &pairs).await.unwrap();
        assert_eq!(unmatched.len(), 2, "both new");
        advisories::rematch(&mut tx, &unmatched).await.unwrap();
        let (again, unmatched) = advisories::versions_for(&mut tx, &pairs).await.unwrap();
        assert_eq!(again, versions, "the same rows again");
        assert!(unmatched.is_empty(), "matched already");
        patchport_db::commit(tx).await.unwrap();
        let old = versions[&pairs[0]];
        let fixed = versions[&pairs[1]];

        // Staged: invisible until the switch; then the version below the
        // fix is marked for matching.
        let mut conn = db.write().await.unwrap();
        let import = advisories::begin_import(&mut conn, ImportKind::Osv, "dsa.json", "test", NOW)
            .await
            .unwrap();
        drop(conn);
        let mut tx = db.begin().await.unwrap();
        advisories::stage(&mut tx, import, std::slice::from_ref(&advisory)).await.unwrap();
        patchport_db::commit(tx).await.unwrap();
        let mut conn = db.read().await.unwrap();
        assert!(advisories::stored_hashes(&mut conn).await.unwrap().is_empty());
        assert!(!advisories::any(&mut conn).await.unwrap(), "nothing live before the switch");
        drop(conn);
        let mut tx = db.begin().await.unwrap();
        let switched = advisories::switch(&mut tx, import, NOW).await.unwrap();
        assert_eq!((switched.inserted, switched.updated), (1, 0));
        assert_eq!(switched.stale, 2, "both versions of the package it names");
        assert_eq!(advisories::rematch_stale(&mut tx, 100).await.unwrap(), 2);
        assert_eq!(advisories::rematch_stale(&mut tx, 100).await.unwrap(), 0);
        let staged: (i64,) = sqlx::query_as("select count(*) from advisory_stage_affected")
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        assert_eq!(staged.0, 0, "the staging rows are gone");
        let links: Vec<(i64, i64, i64)> = sqlx::query_as(
            "select f.id, f.severity_rank, f.advisories from patch_from f where f.patch_id = $1 order by f.id",
        )
        .bind(patch)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        assert_eq!(
            links,
            [(old, 4, 1), (fixed, 0, 0)],
            "the update fixes it only where the fix is not installed yet"
        );
        patchport_db::commit(tx).await.unwrap();
        let mut conn = db.write().await.unwrap();
        advisories::finish_import(
            &mut conn,
            import,
            &advisories::Outcome { documents: 1, inserted: 1, ..Default::default() },
            NOW,
        )
        .await
        .unwrap();
        drop(conn);

        // The same advisory changed: replaced, not doubled; the same content
        // again stages nothing.
        let mut conn = db.read().await.unwrap();
        let hashes = advisories::stored_hashes(&mut conn).await.unwrap();
        assert_eq!(hashes.get("DSA-5678-1").map(String::as_str), Some("h1"));
        drop(conn);
        let changed = NewAdvisory {
            content_hash: "h2".into(),
            summary: "openssl security update (revised)".into(),
            affected: vec![openssl_entry("3.0.16-1~deb12u1")],
            ..advisory.clone()
        };
        let mut conn = db.write().await.unwrap();
        let import = advisories::begin_import(&mut conn, ImportKind::Osv, "dsa.json", "test", NOW + 1)
            .await
            .unwrap();
        drop(conn);
        let mut tx = db.begin().await.unwrap();
        advisories::stage(&mut tx, import, std::slice::from_ref(&changed)).await.unwrap();
        let switched = advisories::switch(&mut tx, import, NOW + 1).await.unwrap();
        assert_eq!((switched.inserted, switched.updated), (0, 1));
        advisories::rematch_stale(&mut tx, 100).await.unwrap();
        let records: Vec<(String,)> = sqlx::query_as(
            "select ranges from advisory_affected where ecosystem = 'Debian:12' and package = 'openssl'",
        )
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        assert_eq!(records.len(), 1, "replaced, not doubled");
        let counts: Vec<(i64,)> = sqlx::query_as(
            "select advisories from patch_from where patch_id = $1 order by id",
        )
        .bind(patch)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        assert_eq!(counts, [(1,), (1,)], "now fixed in the offered version: both versions lack it");

        // Known exploitation comes from the KEV catalog and marks the
        // versions linked to its CVEs for matching.
        let kev = KevEntry {
            cve: "CVE-2024-0002",
            vendor: "OpenSSL",
            product: "OpenSSL",
            name: "OpenSSL flaw",
            date_added: NOW,
            due_date: Some(NOW + 21 * 86_400),
            ransomware: "Unknown",
            content_hash: "k1",
        };
        assert!(advisories::store_kev(&mut tx, &kev).await.unwrap());
        assert!(!advisories::store_kev(&mut tx, &kev).await.unwrap(), "unchanged");
        assert_eq!(
            advisories::stale_for_cves(&mut tx, &["CVE-2024-0002".to_owned()]).await.unwrap(),
            2
        );
        advisories::rematch_stale(&mut tx, 100).await.unwrap();
        let exploited: Vec<(i64,)> = sqlx::query_as(
            "select (case when known_exploited then 1 else 0 end) from patch_from where patch_id = $1 order by id",
        )
        .bind(patch)
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        assert_eq!(exploited, [(1,), (1,)]);
        advisories::finish_import(&mut tx, import, &Default::default(), NOW + 2).await.unwrap();
        patchport_db::commit(tx).await.unwrap();

        // A failed import leaves nothing behind; one whose process stopped
        // is marked failed once it has been silent long enough.
        let mut conn = db.write().await.unwrap();
        let failed = advisories::begin_import(&mut conn, ImportKind::Osv, "x", "test", NOW + 2)
            .await
            .unwrap();
        advisories::stage(&mut conn, failed, std::slice::from_ref(&changed)).await.unwrap();
        advisories::fail_import(&mut conn, failed, "x: bad", NOW + 3).await.unwrap();
        let stopped = advisories::begin_import(&mut conn, ImportKind::Kev, "y", "test", NOW + 2)
            .await
            .unwrap();
        assert_eq!(advisories::abandon_silent(&mut conn, NOW + 1, NOW + 4).await.unwrap(), 0);
        assert_eq!(advisories::abandon_silent(&mut conn, NOW + 3, NOW + 4).await.unwrap(), 1);
        let rows = advisories::imports(&mut conn, 10).await.unwrap();
        let state = |id: i64| rows.iter().find(|r| r.id == id).map(|r| (r.state.clone(), r.error.clone()));
        assert_eq!(state(failed), Some(("failed".into(), "x: bad".into())));
        assert_eq!(state(stopped).unwrap().0, "failed");
        assert_eq!(state(import).unwrap().0, "succeeded");
        let (staged,): (i64,) = sqlx::query_as("select count(*) from advisory_stage")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(staged, 0);
    })
    .await;
}

#[tokio::test]
async fn each_uniqueness_rule_people_meet_is_recognised_on_both_backends() {
    use patchport_db::Unique;
    testing::with_backends(|db| async move {
        // Each pair of statements breaks one rule with its second row; the
        // error says which rule, whatever the backend called it.
        let cases: [(&str, &str, Unique); 4] = [
            (
                "insert into server_group (name, is_test_group, created_at) values ('web', false, 0)",
                "insert into server_group (name, is_test_group, created_at) values ('web', false, 0)",
                Unique::GroupName,
            ),
            (
                "insert into server_group (name, is_test_group, created_at) values ('canary-a', true, 0)",
                "insert into server_group (name, is_test_group, created_at) values ('canary-b', true, 0)",
                Unique::TestGroup,
            ),
            (
                "insert into rollout_policy (name, position, enabled, settings, updated_at) \
                 values ('Kernels', 1, true, '{}', 0)",
                "insert into rollout_policy (name, position, enabled, settings, updated_at) \
                 values ('Kernels', 2, true, '{}', 0)",
                Unique::PolicyName,
            ),
            (
                "insert into maintenance_window (name, settings, created_at) values ('nightly', '{}', 0)",
                "insert into maintenance_window (name, settings, created_at) values ('nightly', '{}', 0)",
                Unique::WindowName,
            ),
        ];
        for (first, second, rule) in cases {
            let mut tx = db.begin().await.unwrap();
            sqlx::query(first).execute(&mut *tx).await.unwrap();
            let err = StorageError::from(sqlx::query(second).execute(&mut *tx).await.unwrap_err());
            assert!(
                matches!(err, StorageError::Duplicate(r) if r == rule),
                "{rule:?} on {:?}: {err:?}",
                db.backend()
            );
        }
        // A foreign key to nothing is told apart from other failures.
        let mut tx = db.begin().await.unwrap();
        let err = StorageError::from(
            sqlx::query("insert into server_group_member (group_id, server_id) values (987654, 987654)")
                .execute(&mut *tx)
                .await
                .unwrap_err(),
        );
        assert!(matches!(err, StorageError::Dangling(_)), "{err:?}");
    })
    .await;
}

#[tokio::test]
async fn the_scheduler_turn_goes_to_one_instance_per_interval() {
    testing::with_backends(|db| async move {
        use patchport_db::rollouts::take_turn;
        let mut conn = db.write().await.unwrap();
        // Three instances ask within the same minute: only the first runs.
        assert!(
            take_turn(&mut conn, "scheduler", "a", NOW, 60)
                .await
                .unwrap()
        );
        assert!(
            !take_turn(&mut conn, "scheduler", "b", NOW + 20, 60)
                .await
                .unwrap()
        );
        assert!(
            !take_turn(&mut conn, "scheduler", "c", NOW + 40, 60)
                .await
                .unwrap()
        );
        assert!(
            !take_turn(&mut conn, "scheduler", "a", NOW + 58, 60)
                .await
                .unwrap()
        );
        // A timer firing a second early still finds its turn due; whoever
        // asks first after that takes it, and the others wait again.
        assert!(
            take_turn(&mut conn, "scheduler", "b", NOW + 59, 60)
                .await
                .unwrap()
        );
        assert!(
            !take_turn(&mut conn, "scheduler", "a", NOW + 60, 60)
                .await
                .unwrap()
        );
        // Another name is another turn.
        assert!(
            take_turn(&mut conn, "other", "c", NOW + 60, 60)
                .await
                .unwrap()
        );
        let (holder, due): (String, i64) =
            sqlx::query_as("select holder, due_at from scheduler_turn where name = 'scheduler'")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
        assert_eq!((holder.as_str(), due), ("b", NOW + 59 + 59));
    })
    .await;
}
