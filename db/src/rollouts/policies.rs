//! The stored policies: which patches they cover and how each one
//! tests, observes and approves.

use crate::row::{Flag, flag};
use crate::{Conn, Result, StorageError};
use patchport_core::Timestamp;
use patchport_core::rollout::Policy;

/// A stored policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRow {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Lower positions are asked first.
    pub position: i64,
    /// Disabled policies take no new patches.
    pub enabled: bool,
    /// What it covers and does.
    pub policy: Policy,
    /// Last change.
    pub updated_at: Timestamp,
    /// Who changed it last.
    pub updated_by: String,
}

/// Every policy, in the order they are asked.
pub async fn policies(conn: &mut Conn) -> Result<Vec<PolicyRow>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        name: String,
        position: i64,
        #[sqlx(try_from = "Flag")]
        enabled: bool,
        settings: String,
        updated_at: Timestamp,
        updated_by: String,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select p.id, p.name, p.position, {} as enabled, p.settings, p.updated_at, \
           coalesce(a.username, '') as updated_by \
         from rollout_policy p left join account a on a.id = p.updated_by \
         order by p.position, p.id",
        flag("p.enabled")
    ))
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(PolicyRow {
                policy: serde_json::from_str(&r.settings).map_err(|e| {
                    StorageError::Corrupt(format!("policy {} is unreadable: {e}", r.id))
                })?,
                id: r.id,
                name: r.name,
                position: r.position,
                enabled: r.enabled,
                updated_at: r.updated_at,
                updated_by: r.updated_by,
            })
        })
        .collect()
}

/// A policy to store (validated by the caller).
#[derive(Debug, Clone, Copy)]
pub struct PolicyInput<'a> {
    /// Unique name.
    pub name: &'a str,
    /// Lower positions are asked first.
    pub position: i64,
    /// Takes new patches.
    pub enabled: bool,
    /// What it covers and does.
    pub policy: &'a Policy,
}

/// Creates (`id` None) or updates a policy.
pub async fn save_policy(
    conn: &mut Conn,
    id: Option<i64>,
    p: &PolicyInput<'_>,
    by: i64,
    now: Timestamp,
) -> Result<i64> {
    let settings = serde_json::to_string(p.policy).expect("a policy serialises");
    match id {
        Some(id) => {
            let done = sqlx::query(
                "update rollout_policy set name = $1, position = $2, enabled = $3, settings = $4, \
                 updated_at = $5, updated_by = $6 where id = $7",
            )
            .bind(p.name)
            .bind(p.position)
            .bind(p.enabled)
            .bind(settings)
            .bind(now)
            .bind(by)
            .bind(id)
            .execute(&mut *conn)
            .await?;
            if done.rows_affected() == 0 {
                return Err(StorageError::NotFound);
            }
            Ok(id)
        }
        None => {
            let (id,): (i64,) = sqlx::query_as(
                "insert into rollout_policy (name, position, enabled, settings, updated_at, updated_by) \
                 values ($1, $2, $3, $4, $5, $6) returning id",
            )
            .bind(p.name)
            .bind(p.position)
            .bind(p.enabled)
            .bind(settings)
            .bind(now)
            .bind(by)
            .fetch_one(&mut *conn)
            .await?;
            Ok(id)
        }
    }
}
