//! Server groups. One group may be the test group, where new patches are
//! tried first.

use crate::row::{Flag, flag};
use crate::{Conn, Result, StorageError};
use patchport_core::Timestamp;
use std::collections::HashMap;

/// A group as listed.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Group {
    /// Group id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// The test group.
    #[sqlx(try_from = "Flag")]
    pub is_test_group: bool,
    /// Servers in it.
    pub members: i64,
}

/// All groups by name.
pub async fn list(conn: &mut Conn) -> Result<Vec<Group>> {
    Ok(sqlx::query_as(&format!(
        "select g.id as id, g.name as name, {} as is_test_group, \
           (select count(*) from server_group_member m where m.group_id = g.id) as members \
         from server_group g order by g.name",
        flag("g.is_test_group")
    ))
    .fetch_all(conn)
    .await?)
}

/// Creates a group; a taken name is a [`StorageError::Duplicate`].
pub async fn create(conn: &mut Conn, name: &str, now: Timestamp) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "insert into server_group (name, is_test_group, created_at) values ($1, false, $2) returning id",
    )
    .bind(name)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Makes `id` the test group (the previous one stops being it), or, with
/// `None`, leaves no test group.
pub async fn set_test_group(conn: &mut Conn, id: Option<i64>) -> Result<()> {
    sqlx::query("update server_group set is_test_group = false where is_test_group")
        .execute(&mut *conn)
        .await?;
    if let Some(id) = id {
        let done = sqlx::query("update server_group set is_test_group = true where id = $1")
            .bind(id)
            .execute(conn)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StorageError::NotFound);
        }
    }
    Ok(())
}

/// Deletes a group (its servers stay). Returns its name.
pub async fn delete(conn: &mut Conn, id: i64) -> Result<String> {
    let row: Option<(String,)> =
        sqlx::query_as("delete from server_group where id = $1 returning name")
            .bind(id)
            .fetch_optional(conn)
            .await?;
    row.map(|r| r.0).ok_or(StorageError::NotFound)
}

/// Puts a server in exactly `group_ids` (all must exist).
pub async fn set_server_groups(conn: &mut Conn, server_id: i64, group_ids: &[i64]) -> Result<()> {
    sqlx::query("delete from server_group_member where server_id = $1")
        .bind(server_id)
        .execute(&mut *conn)
        .await?;
    let mut ids = group_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for id in ids {
        sqlx::query("insert into server_group_member (server_id, group_id) values ($1, $2)")
            .bind(server_id)
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The groups of each of `server_ids`: server id → (group id, name), by name.
pub async fn of_servers(
    conn: &mut Conn,
    server_ids: &[i64],
) -> Result<HashMap<i64, Vec<(i64, String)>>> {
    #[derive(sqlx::FromRow)]
    struct Member {
        server_id: i64,
        group_id: i64,
        name: String,
    }
    let mut out: HashMap<i64, Vec<(i64, String)>> = HashMap::new();
    for chunk in server_ids.chunks(200) {
        let placeholders = (1..=chunk.len())
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "select m.server_id as server_id, g.id as group_id, g.name as name \
             from server_group_member m join server_group g on g.id = m.group_id \
             where m.server_id in ({placeholders}) order by g.name"
        );
        let mut q = sqlx::query_as::<_, Member>(&sql);
        for id in chunk {
            q = q.bind(*id);
        }
        for m in q.fetch_all(&mut *conn).await? {
            out.entry(m.server_id)
                .or_default()
                .push((m.group_id, m.name));
        }
    }
    Ok(out)
}
