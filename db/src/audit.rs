//! The audit trail: who did what, when (UTC) and from where.

use crate::{Conn, Page, Result, limit_offset};
use patchport_core::Timestamp;

/// One recorded event.
pub use patchport_core::view::AuditEvent;

/// An event to record.
#[derive(Debug, Clone, Default)]
pub struct NewAuditEvent<'a> {
    /// The account that acted, if any.
    pub actor_id: Option<i64>,
    /// The actor's name.
    pub actor_name: &'a str,
    /// What happened.
    pub action: &'a str,
    /// What it happened to.
    pub target: &'a str,
    /// Free text.
    pub detail: &'a str,
    /// Client address.
    pub source: &'a str,
}

/// Records an event (inside the caller's transaction, if it has one).
pub async fn record(conn: &mut Conn, e: &NewAuditEvent<'_>, now: Timestamp) -> Result<()> {
    sqlx::query(
        "insert into audit_event (at, actor_id, actor_name, action, target, detail, source) \
         values ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(now)
    .bind(e.actor_id)
    .bind(one_line(e.actor_name))
    .bind(e.action)
    .bind(one_line(e.target))
    .bind(one_line(e.detail))
    .bind(one_line(e.source))
    .execute(conn)
    .await?;
    Ok(())
}

/// Text as the trail stores it: what people typed (user names, host
/// names from agents) may hold line breaks or other control characters
/// that would forge lines in an export or a log view; they are stored
/// escaped (`\n`), visible for what they are.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().collect::<String>()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Lists events, newest first, optionally only those whose action starts
/// with `action_prefix`.
pub async fn list(
    conn: &mut Conn,
    action_prefix: &str,
    page: i64,
    per_page: i64,
) -> Result<Page<AuditEvent>> {
    let (limit, offset) = limit_offset(page, per_page);
    let pattern = format!("{}%", crate::like_escape(action_prefix));
    let (total,): (i64,) =
        sqlx::query_as("select count(*) from audit_event where action like $1 escape '\\'")
            .bind(&pattern)
            .fetch_one(&mut *conn)
            .await?;
    let items: Vec<AuditEvent> = sqlx::query_as(
        "select id, at, actor_id, actor_name, action, target, detail, source from audit_event \
         where action like $1 escape '\\' order by id desc limit $2 offset $3",
    )
    .bind(&pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Page { items, total })
}

/// The kinds of event recorded so far: each action's part up to and
/// including its first `.` (`job.`), or the whole action when it has none
/// (`logout`), sorted, for the audit trail's filter.
pub async fn kinds(conn: &mut Conn) -> Result<Vec<String>> {
    let actions: Vec<(String,)> =
        sqlx::query_as("select distinct action from audit_event order by action")
            .fetch_all(conn)
            .await?;
    let mut kinds: Vec<String> = actions
        .into_iter()
        .map(|(a,)| match a.find('.') {
            Some(i) => a[..=i].to_owned(),
            None => a,
        })
        .collect();
    kinds.dedup();
    Ok(kinds)
}

#[cfg(test)]
mod tests {
    #[test]
    fn control_characters_are_stored_escaped() {
        assert_eq!(super::one_line("alice"), "alice");
        assert_eq!(super::one_line("a\r\nb\tc\u{7}"), "a\\r\\nb\\tc\\u{7}");
    }
}
