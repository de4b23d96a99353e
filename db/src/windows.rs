//! Maintenance windows (see `patchport_core::window`), assigned to groups
//! and servers. A server's windows are its own and its groups'.

use crate::row::{Flag, flag};
use crate::states::{JOB_QUEUED, JOB_SUCCEEDED, KIND_REBOOT};
use crate::{Conn, Result, StorageError};
use patchport_core::Timestamp;
use patchport_core::deadline::RebootRules;
use patchport_core::window::{Duty, Occurrence, Window, check_booking};
use std::collections::HashMap;

/// A stored window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowRow {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// When it recurs.
    pub window: Window,
    /// Groups it applies to (names).
    pub groups: Vec<String>,
    /// The same groups' ids, in the same order.
    pub group_ids: Vec<i64>,
    /// Servers it applies to directly (host names).
    pub servers: Vec<String>,
}

fn decode(id: i64, json: &str) -> Result<Window> {
    serde_json::from_str(json)
        .map_err(|e| StorageError::Corrupt(format!("window {id} is unreadable: {e}")))
}

/// Every window by name, with where it applies.
pub async fn list(conn: &mut Conn) -> Result<Vec<WindowRow>> {
    #[derive(sqlx::FromRow)]
    struct Stored {
        id: i64,
        name: String,
        settings: String,
    }
    let rows: Vec<Stored> =
        sqlx::query_as("select id, name, settings from maintenance_window order by name")
            .fetch_all(&mut *conn)
            .await?;
    let groups: Vec<(i64, String, i64)> = sqlx::query_as(
        "select wg.window_id, g.name, g.id from maintenance_window_group wg \
         join server_group g on g.id = wg.group_id order by g.name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let servers: Vec<(i64, String)> = sqlx::query_as(
        "select ws.window_id, s.hostname from maintenance_window_server ws \
         join server s on s.id = ws.server_id order by s.hostname",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|Stored { id, name, settings }| {
            Ok(WindowRow {
                id,
                name,
                window: decode(id, &settings)?,
                groups: groups
                    .iter()
                    .filter(|g| g.0 == id)
                    .map(|g| g.1.clone())
                    .collect(),
                group_ids: groups.iter().filter(|g| g.0 == id).map(|g| g.2).collect(),
                servers: servers
                    .iter()
                    .filter(|s| s.0 == id)
                    .map(|s| s.1.clone())
                    .collect(),
            })
        })
        .collect()
}

/// Creates a window (validated by the caller); a taken name is a
/// [`StorageError::Duplicate`].
pub async fn create(conn: &mut Conn, name: &str, window: &Window, now: Timestamp) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(
        "insert into maintenance_window (name, settings, created_at) values ($1, $2, $3) returning id",
    )
    .bind(name)
    .bind(serde_json::to_string(window).expect("a window serialises"))
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// One window, with where it applies.
pub async fn get(conn: &mut Conn, id: i64) -> Result<WindowRow> {
    list(conn)
        .await?
        .into_iter()
        .find(|w| w.id == id)
        .ok_or(StorageError::NotFound)
}

/// Renames and reschedules a window (validated by the caller); a taken
/// name is a [`StorageError::Duplicate`]. Bookings are the caller's to
/// check afterwards ([`refit_bookings`]).
pub async fn update(conn: &mut Conn, id: i64, name: &str, window: &Window) -> Result<()> {
    let updated =
        sqlx::query("update maintenance_window set name = $1, settings = $2 where id = $3")
            .bind(name)
            .bind(serde_json::to_string(window).expect("a window serialises"))
            .bind(id)
            .execute(conn)
            .await?
            .rows_affected();
    if updated == 0 {
        return Err(StorageError::NotFound);
    }
    Ok(())
}

/// Deletes a window; returns its name.
pub async fn delete(conn: &mut Conn, id: i64) -> Result<String> {
    let (name,): (String,) =
        sqlx::query_as("delete from maintenance_window where id = $1 returning name")
            .bind(id)
            .fetch_optional(conn)
            .await?
            .ok_or(StorageError::NotFound)?;
    Ok(name)
}

/// Applies a window to exactly these groups and servers.
pub async fn assign(conn: &mut Conn, id: i64, group_ids: &[i64], server_ids: &[i64]) -> Result<()> {
    let exists: Option<(i64,)> = sqlx::query_as("select id from maintenance_window where id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.is_none() {
        return Err(StorageError::NotFound);
    }
    for table in ["maintenance_window_group", "maintenance_window_server"] {
        sqlx::query(&format!("delete from {table} where window_id = $1"))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    // A group or server that does not exist is refused by its foreign key
    // ([`StorageError::Dangling`]), never dropped silently.
    let unique = |ids: &[i64]| std::collections::BTreeSet::from_iter(ids.iter().copied());
    for (table, column, ids) in [
        ("maintenance_window_group", "group_id", unique(group_ids)),
        ("maintenance_window_server", "server_id", unique(server_ids)),
    ] {
        for other in ids {
            sqlx::query(&format!(
                "insert into {table} (window_id, {column}) values ($1, $2)"
            ))
            .bind(id)
            .bind(other)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// A server's windows: its own and its groups', by name.
pub async fn of_server(conn: &mut Conn, server_id: i64) -> Result<Vec<(String, Window)>> {
    Ok(of_servers(conn, &[server_id])
        .await?
        .into_iter()
        .map(|a| (a.name, a.window))
        .collect())
}

/// The server has a window (its own or a group's), in one small read.
pub async fn has_any(conn: &mut Conn, server_id: i64) -> Result<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "select (select count(*) from maintenance_window_server where server_id = $1) \
           + (select count(*) from maintenance_window_group wg \
              join server_group_member m on m.group_id = wg.group_id where m.server_id = $1)",
    )
    .bind(server_id)
    .fetch_one(conn)
    .await?;
    Ok(n > 0)
}

/// A window as it applies to one server.
struct Applied {
    server_id: i64,
    id: i64,
    name: String,
    window: Window,
}

/// The windows of each of the servers (their own and their groups'), by
/// name, in one query.
async fn of_servers(conn: &mut Conn, server_ids: &[i64]) -> Result<Vec<Applied>> {
    if server_ids.is_empty() {
        return Ok(Vec::new());
    }
    #[derive(sqlx::FromRow)]
    struct Stored {
        server_id: i64,
        id: i64,
        name: String,
        settings: String,
    }
    let ids = crate::id_list(server_ids);
    let rows: Vec<Stored> = sqlx::query_as(&format!(
        "select a.server_id as server_id, w.id as id, w.name as name, w.settings as settings from ( \
           select server_id, window_id from maintenance_window_server where server_id in ({ids}) \
           union select m.server_id, wg.window_id from maintenance_window_group wg \
             join server_group_member m on m.group_id = wg.group_id where m.server_id in ({ids})) a \
         join maintenance_window w on w.id = a.window_id order by w.name, a.server_id"
    ))
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(Applied {
                window: decode(r.id, &r.settings)?,
                server_id: r.server_id,
                id: r.id,
                name: r.name,
            })
        })
        .collect()
}

/// The server's window open at `now`, or else its next one; None when it
/// has no window.
pub async fn next_for_server(
    conn: &mut Conn,
    server_id: i64,
    now: Timestamp,
) -> Result<Option<Occurrence>> {
    Ok(next_for_servers(conn, &[server_id], now)
        .await?
        .remove(&server_id))
}

/// For each of the servers that has a window, the one open at `now` or else
/// its next one (the first by name when two tie), in one query.
pub async fn next_for_servers(
    conn: &mut Conn,
    server_ids: &[i64],
    now: Timestamp,
) -> Result<HashMap<i64, Occurrence>> {
    let mut next: HashMap<i64, Occurrence> = HashMap::new();
    for Applied {
        server_id, window, ..
    } in of_servers(conn, server_ids).await?
    {
        let Some(o) = window.upcoming(now, 1).into_iter().next() else {
            continue;
        };
        let best = next.entry(server_id).or_insert(o);
        if o.start.max(now) < best.start.max(now) {
            *best = o;
        }
    }
    Ok(next)
}

/// A reboot booked for a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Booking {
    /// The reboot job.
    pub job_id: i64,
    /// When it reboots.
    pub at: Timestamp,
    /// The end of the window it is in (the job expires then).
    pub until: Timestamp,
}

/// The reboots waiting to run on a server (queued reboot jobs).
pub async fn booked_reboots(conn: &mut Conn, server_id: i64) -> Result<Vec<Booking>> {
    Ok(sqlx::query_as(&format!(
        "select id as job_id, not_before as at, not_after as until from job \
         where server_id = $1 and kind = {KIND_REBOOT} and state = {JOB_QUEUED} order by not_before"
    ))
    .bind(server_id)
    .fetch_all(conn)
    .await?)
}

/// For each of the servers with a reboot booked, when the first one is.
pub async fn first_bookings(
    conn: &mut Conn,
    server_ids: &[i64],
) -> Result<HashMap<i64, Timestamp>> {
    if server_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "select server_id, min(not_before) from job where server_id in ({}) \
         and kind = {KIND_REBOOT} and state = {JOB_QUEUED} group by server_id",
        crate::id_list(server_ids)
    ))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

pub use patchport_core::window::BookingRefusal;

/// Books (or moves) the server's reboot to `at`, which must be inside one
/// of its maintenance windows: a queued reboot is cancelled and one reboot
/// job queued for `at`, expiring when that window closes; its owner is
/// mailed once the booking stops changing ([`crate::mail::booking_changed`]).
/// The outer error is storage; the inner one says why the time was
/// refused.
pub async fn book_reboot(
    conn: &mut Conn,
    server_id: i64,
    at: Timestamp,
    by: i64,
    now: Timestamp,
) -> Result<std::result::Result<Booking, BookingRefusal>> {
    let windows = of_server(conn, server_id).await?;
    let windows: Vec<&Window> = windows.iter().map(|(_, w)| w).collect();
    let owed = obligation(conn, server_id).await?;
    let duty = match &owed {
        Some(o) => Some(Duty {
            deadline_at: o.deadline_at,
            bookings: o.bookings,
            max_deferrals: rules(conn).await?.max_deferrals,
        }),
        None => None,
    };
    let (at, window) = match check_booking(at, now, &windows, duty) {
        Ok(checked) => checked,
        Err(refused) => return Ok(Err(refused)),
    };
    if owed.is_some() {
        sqlx::query("update reboot_obligation set bookings = bookings + 1 where server_id = $1")
            .bind(server_id)
            .execute(&mut *conn)
            .await?;
    }
    for b in booked_reboots(conn, server_id).await? {
        crate::jobs::cancel(conn, b.job_id, now).await?;
    }
    let job_id = crate::jobs::create(
        conn,
        &crate::jobs::NewJob {
            server_id,
            spec: &patchport_core::protocol::JobSpec::Reboot,
            not_before: at,
            not_after: window.end,
            created_by: Some(by),
        },
        now,
    )
    .await?;
    crate::mail::record_booking(conn, job_id, server_id, at, now).await?;
    // The owner hears of it once the booking stops changing.
    crate::mail::booking_changed(conn, server_id, now, false).await?;
    Ok(Ok(Booking {
        job_id,
        at,
        until: window.end,
    }))
}

/// A booked reboot that a change of the maintenance windows left outside
/// all of its server's windows.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Stranded {
    /// The reboot job.
    pub job_id: i64,
    /// The server.
    pub server_id: i64,
    /// Its host name.
    pub host: String,
    /// The booked time.
    pub at: Timestamp,
    /// When its job expires (the end of the window it was booked in).
    pub until: Option<Timestamp>,
}

/// Every booked reboot still waiting, by time (as [`Stranded`] rows, which
/// they become if no window holds them).
async fn waiting_bookings(conn: &mut Conn) -> Result<Vec<Stranded>> {
    Ok(sqlx::query_as(&format!(
        "select j.id as job_id, j.server_id as server_id, s.hostname as host, b.at as at, \
         j.not_after as until from reboot_booking b join job j on j.id = b.job_id \
         join server s on s.id = j.server_id \
         where j.kind = {KIND_REBOOT} and j.state = {JOB_QUEUED} order by b.at, j.id"
    ))
    .fetch_all(conn)
    .await?)
}

/// The windows of each server that has a booking among `bookings`.
async fn windows_of_booked(
    conn: &mut Conn,
    bookings: &[Stranded],
) -> Result<HashMap<i64, Vec<(i64, Window)>>> {
    let mut ids: Vec<i64> = bookings.iter().map(|b| b.server_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut by_server: HashMap<i64, Vec<(i64, Window)>> = HashMap::new();
    for a in of_servers(conn, &ids).await? {
        by_server
            .entry(a.server_id)
            .or_default()
            .push((a.id, a.window));
    }
    Ok(by_server)
}

/// After a change of the maintenance windows, made in `conn`'s
/// transaction: checks every booked reboot still waiting against its
/// server's windows as they are now ([`patchport_core::window::refit`]).
/// One still inside expires when its window now closes; those inside none
/// are returned and, with `cancel`, cancelled: their owners are told (as
/// any booking change, [`crate::mail::booking_changed`], saying why), and a
/// server that owes a reboot gets the move back.
pub async fn refit_bookings(
    conn: &mut Conn,
    now: Timestamp,
    cancel: bool,
) -> Result<Vec<Stranded>> {
    use patchport_core::window::{Refit, refit};
    let bookings = waiting_bookings(conn).await?;
    let windows = windows_of_booked(conn, &bookings).await?;
    let mut stranded = Vec::new();
    for b in bookings {
        let theirs: Vec<&Window> = windows
            .get(&b.server_id)
            .map(|ws| ws.iter().map(|(_, w)| w).collect())
            .unwrap_or_default();
        match refit(b.at, b.until.unwrap_or_default(), &theirs) {
            Refit::Same => {}
            Refit::Until(end) => {
                sqlx::query(&format!(
                    "update job set not_after = $1 where id = $2 and state = {JOB_QUEUED}"
                ))
                .bind(end)
                .bind(b.job_id)
                .execute(&mut *conn)
                .await?;
            }
            Refit::Outside => stranded.push(b),
        }
    }
    if cancel {
        for b in &stranded {
            crate::jobs::cancel(conn, b.job_id, now).await?;
            sqlx::query(
                "update reboot_obligation set bookings = bookings - 1 \
                 where server_id = $1 and bookings > 0",
            )
            .bind(b.server_id)
            .execute(&mut *conn)
            .await?;
            crate::mail::booking_changed(conn, b.server_id, now, true).await?;
        }
    }
    Ok(stranded)
}

/// For each window, the booked reboots only it holds (inside none of
/// their server's other windows): those deleting it would leave outside.
pub async fn held_only_by(conn: &mut Conn) -> Result<HashMap<i64, Vec<Stranded>>> {
    let bookings = waiting_bookings(conn).await?;
    let windows = windows_of_booked(conn, &bookings).await?;
    let mut held: HashMap<i64, Vec<Stranded>> = HashMap::new();
    for b in bookings {
        let holding: Vec<i64> = windows
            .get(&b.server_id)
            .into_iter()
            .flatten()
            .filter(|(_, w)| w.open_at(b.at).is_some())
            .map(|(id, _)| *id)
            .collect();
        if let [only] = holding[..] {
            held.entry(only).or_default().push(b);
        }
    }
    Ok(held)
}

/// The admins' reboot rules (the defaults until they save their own).
pub async fn rules(conn: &mut Conn) -> Result<RebootRules> {
    let row: Option<(String,)> = sqlx::query_as("select settings from reboot_rules where id = 1")
        .fetch_optional(conn)
        .await?;
    match row {
        Some((json,)) => serde_json::from_str(&json)
            .map_err(|e| StorageError::Corrupt(format!("the reboot rules are unreadable: {e}"))),
        None => Ok(RebootRules::default()),
    }
}

/// Saves validated reboot rules. Open obligations keep their deadlines.
pub async fn save_rules(conn: &mut Conn, rules: &RebootRules, now: Timestamp) -> Result<()> {
    let json = serde_json::to_string(rules).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let updated =
        sqlx::query("update reboot_rules set settings = $1, updated_at = $2 where id = 1")
            .bind(&json)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
    if updated == 0 {
        sqlx::query("insert into reboot_rules (id, settings, updated_at) values (1, $1, $2)")
            .bind(&json)
            .bind(now)
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// A patched server's open obligation to reboot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Obligation {
    /// Since when.
    pub since: Timestamp,
    /// The worst severity rank installed.
    pub severity_rank: i64,
    /// Reboot by then.
    pub deadline_at: Timestamp,
    /// Bookings made so far (each after the first is a deferral).
    pub bookings: i64,
    /// Admins were told the deadline passed.
    #[sqlx(try_from = "Flag")]
    pub escalated: bool,
}

/// The server's open obligation to reboot, if any.
pub async fn obligation(conn: &mut Conn, server_id: i64) -> Result<Option<Obligation>> {
    Ok(sqlx::query_as(&format!(
        "select since, severity_rank, deadline_at, bookings, {} as escalated \
         from reboot_obligation where server_id = $1",
        flag("escalated")
    ))
    .bind(server_id)
    .fetch_optional(conn)
    .await?)
}

/// Records that a server was patched without a reboot: it must reboot
/// within the rules' days for `severity_rank`. An open obligation keeps
/// the earlier deadline and its bookings.
pub async fn oblige_reboot(
    conn: &mut Conn,
    server_id: i64,
    severity_rank: i64,
    now: Timestamp,
) -> Result<Timestamp> {
    let deadline = now + rules(conn).await?.days_for(severity_rank) * 86_400;
    if let Some(open) = obligation(conn, server_id).await? {
        let deadline = open.deadline_at.min(deadline);
        sqlx::query(
            "update reboot_obligation set deadline_at = $1, severity_rank = $2 where server_id = $3",
        )
        .bind(deadline)
        .bind(open.severity_rank.max(severity_rank))
        .bind(server_id)
        .execute(conn)
        .await?;
        return Ok(deadline);
    }
    sqlx::query(
        "insert into reboot_obligation (server_id, since, severity_rank, deadline_at) \
         values ($1, $2, $3, $4)",
    )
    .bind(server_id)
    .bind(now)
    .bind(severity_rank)
    .bind(deadline)
    .execute(conn)
    .await?;
    Ok(deadline)
}

/// Scheduler step: obligations whose server rebooted since are closed;
/// those whose deadline passed are told to the admins, once. Returns how
/// many admin notifications were recorded.
pub async fn follow_obligations(conn: &mut Conn, now: Timestamp) -> Result<u32> {
    sqlx::query(&format!(
        "delete from reboot_obligation where exists (select 1 from job j \
         where j.server_id = reboot_obligation.server_id and j.kind = {KIND_REBOOT} \
         and j.state = {JOB_SUCCEEDED} and j.finished_at >= reboot_obligation.since)"
    ))
    .execute(&mut *conn)
    .await?;
    #[derive(sqlx::FromRow)]
    struct Missed {
        server_id: i64,
        hostname: String,
        since: Timestamp,
        deadline_at: Timestamp,
        bookings: i64,
    }
    let missed: Vec<Missed> = sqlx::query_as(
        "select o.server_id as server_id, s.hostname as hostname, o.since as since, \
         o.deadline_at as deadline_at, o.bookings as bookings \
         from reboot_obligation o join server s on s.id = o.server_id \
         where not o.escalated and o.deadline_at <= $1 order by o.deadline_at, o.server_id",
    )
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let mut told = 0;
    for Missed {
        server_id,
        hostname: host,
        since,
        deadline_at: deadline,
        bookings,
    } in missed
    {
        let notice = patchport_core::notice::Notice::DeadlineMissed {
            server_id,
            host,
            since,
            deadline,
            bookings,
        };
        told += crate::mail::notify_admins(conn, &notice, now).await?;
        sqlx::query("update reboot_obligation set escalated = $1 where server_id = $2")
            .bind(true)
            .bind(server_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(told)
}
