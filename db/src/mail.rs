//! The mail outbox. A notification and its mail are written with the
//! connection (so in the transaction) of whatever caused them; the portal's
//! worker claims due mail, sends it and records the outcome here. Nothing is
//! deleted: sent and dead mail stay for the outbox page. Booking changes
//! are the exception to "told at once": they are marked in
//! `booking_notice` ([`booking_changed`]) and told in one notice once they
//! rest ([`settle_bookings`], run by the worker before it sends).

use crate::row::{Flag, flag};
use crate::states::{JOB_OPEN, JOB_QUEUED, KIND_REBOOT, MAIL_QUEUED, MAIL_SENT};
use crate::{Conn, Page, Result, StorageError, limit_offset};
use patchport_core::Timestamp;
use patchport_core::notice::{self, BookingMark, Notice};
use patchport_core::refusal::Refusal;
use patchport_core::state::{JobState, MailState};

/// The accounts a notice goes to, as `account a`: the account `$1`, or
/// every enabled admin when `$1` is null. (A disabled account still gets
/// its notifications, for when it is enabled again, but no mail.)
const RECIPIENTS: &str = "(a.id = $1 or ($1 is null and a.role = 'admin' and not a.disabled))";

/// Records a notification for one account and queues its mail.
pub async fn notify(
    conn: &mut Conn,
    account_id: i64,
    notice: &Notice,
    now: Timestamp,
) -> Result<()> {
    tell(conn, Some(account_id), notice, now).await.map(drop)
}

/// Records a notification for every enabled admin and queues their mail;
/// returns how many were told.
pub async fn notify_admins(conn: &mut Conn, notice: &Notice, now: Timestamp) -> Result<u32> {
    tell(conn, None, notice, now).await
}

/// Records the notification for the recipients (see `RECIPIENTS`) and
/// queues the mail of those with an address who did not switch this kind
/// off, its times written in each recipient's zone; returns how many were
/// notified.
async fn tell(
    conn: &mut Conn,
    account_id: Option<i64>,
    notice: &Notice,
    now: Timestamp,
) -> Result<u32> {
    let zone = crate::accounts::zone_of("a");
    let zones: Vec<(String,)> = sqlx::query_as(&format!(
        "select distinct {zone} from account a where {RECIPIENTS}"
    ))
    .bind(account_id)
    .fetch_all(&mut *conn)
    .await?;
    let notification = format!(
        "insert into notification (account_id, kind, subject, body, link, data, created_at) \
         select a.id, $2, $3, $4, $5, $7, $6 from account a where {RECIPIENTS} and {zone} = $8"
    );
    let mail = format!(
        "insert into mail \
         (account_id, recipient, kind, subject, body, link, data, next_attempt_at, created_at) \
         select a.id, a.email, $2, $3, $4, $5, $7, $6, $6 from account a \
         where {RECIPIENTS} and {zone} = $8 and not a.disabled and a.email is not null and a.email <> '' \
         and not exists (select 1 from mail_opt_out o where o.account_id = a.id and o.kind = $2)"
    );
    let (link, data) = (notice.link(), notice.to_json());
    let mut told = 0;
    for (zone,) in zones {
        let (subject, body) = (notice.subject_in(&zone), notice.body_in(&zone));
        let bound = |sql| {
            sqlx::query(sql)
                .bind(account_id)
                .bind(notice.kind())
                .bind(&subject)
                .bind(&body)
                .bind(&link)
                .bind(now)
                .bind(&data)
                .bind(&zone)
        };
        told += bound(&notification)
            .execute(&mut *conn)
            .await?
            .rows_affected() as u32;
        bound(&mail).execute(&mut *conn).await?;
    }
    Ok(told)
}

/// Queues a mail whose link carries a secret (invitation, password reset)
/// to an account's address, whatever its preferences. The link is not
/// part of the stored notice: it is hidden on the outbox page and removed
/// once the mail is sent. Returns the mail's id, or None when the account
/// has no address.
pub async fn queue_secret(
    conn: &mut Conn,
    account_id: i64,
    notice: &Notice,
    link: &str,
    now: Timestamp,
) -> Result<Option<i64>> {
    let zone: Option<(String,)> = sqlx::query_as(&format!(
        "select {} from account a where a.id = $1",
        crate::accounts::zone_of("a")
    ))
    .bind(account_id)
    .fetch_optional(&mut *conn)
    .await?;
    let zone = zone.map_or_else(|| patchport_core::clock::DEFAULT_ZONE.to_owned(), |z| z.0);
    let row: Option<(i64,)> = sqlx::query_as(
        "insert into mail (account_id, recipient, kind, subject, body, link, data, secret_link, \
         next_attempt_at, created_at) \
         select id, email, $2, $3, $4, $5, $7, true, $6, $6 from account \
         where id = $1 and email is not null and email <> '' returning id",
    )
    .bind(account_id)
    .bind(notice.kind())
    .bind(notice.subject_in(&zone))
    .bind(notice.body_in(&zone))
    .bind(link)
    .bind(now)
    .bind(notice.to_json())
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.0))
}

/// A mail in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Mail {
    /// Id.
    pub id: i64,
    /// Address it goes to.
    pub recipient: String,
    /// Kind.
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Text.
    pub body: String,
    /// Path under the public URL; empty once a secret link was sent.
    pub link: String,
    /// Whether the link holds a secret.
    #[sqlx(try_from = "Flag")]
    pub secret_link: bool,
    /// queued, sent or dead.
    pub state: String,
    /// Tries so far.
    pub attempts: i64,
    /// When the next try may start (queued mail).
    pub next_attempt_at: Timestamp,
    /// Why the last try failed.
    pub last_error: String,
    /// Queued at.
    pub created_at: Timestamp,
    /// Sent at.
    pub sent_at: Option<Timestamp>,
    /// The notice as stored (`patchport_core::notice::Notice` as JSON; `{}`
    /// for mail queued before notices were kept), for what the mail
    /// carries besides its text (a calendar entry).
    pub data: String,
    /// The zone its recipient reads times in now (UTC without an account).
    pub zone: String,
}

/// The columns of [`Mail`].
fn mail_columns() -> String {
    format!(
        "id, recipient, kind, subject, body, link, {} as secret_link, state, attempts, \
         next_attempt_at, last_error, created_at, sent_at, data, \
         coalesce((select {} from account a where a.id = mail.account_id), '{}') as zone",
        flag("secret_link"),
        crate::accounts::zone_of("a"),
        patchport_core::clock::DEFAULT_ZONE
    )
}

/// Claims up to `limit` due mails for `lease` seconds: their next attempt
/// moves past the lease and their attempt count goes up, so another worker
/// (or this one after a crash) takes them only once the lease ends. A mail
/// another worker claimed first is skipped.
pub async fn claim_due(
    conn: &mut Conn,
    now: Timestamp,
    lease: i64,
    limit: i64,
) -> Result<Vec<Mail>> {
    let due: Vec<Mail> = sqlx::query_as(&format!(
        "select {} from mail where state = {MAIL_QUEUED} and next_attempt_at <= $1 \
         order by next_attempt_at, id limit $2",
        mail_columns()
    ))
    .bind(now)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    let mut claimed = Vec::with_capacity(due.len());
    for mut m in due {
        let won = sqlx::query(&format!(
            "update mail set attempts = attempts + 1, next_attempt_at = $1 \
             where id = $2 and state = {MAIL_QUEUED} and next_attempt_at = $3"
        ))
        .bind(now + lease)
        .bind(m.id)
        .bind(m.next_attempt_at)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if won {
            m.attempts += 1;
            m.next_attempt_at = now + lease;
            claimed.push(m);
        }
    }
    Ok(claimed)
}

/// Records a delivery; a secret link is removed from the stored mail.
pub async fn mark_sent(conn: &mut Conn, id: i64, now: Timestamp) -> Result<()> {
    sqlx::query(&format!(
        "update mail set state = {MAIL_SENT}, sent_at = $1, last_error = '', \
         link = case when secret_link then '' else link end where id = $2"
    ))
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records a failed try: it is tried again at `retry_at`, or, with None,
/// given up (dead letter).
pub async fn mark_failed(
    conn: &mut Conn,
    id: i64,
    error: &str,
    retry_at: Option<Timestamp>,
) -> Result<()> {
    sqlx::query(&format!(
        "update mail set state = $1, next_attempt_at = $2, last_error = $3 \
         where id = $4 and state = {MAIL_QUEUED}"
    ))
    .bind(
        if retry_at.is_some() {
            MailState::Queued
        } else {
            MailState::Dead
        }
        .as_str(),
    )
    .bind(retry_at.unwrap_or(0))
    .bind(error)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Which mails to list.
#[derive(Debug, Clone, Default)]
pub struct MailFilter {
    /// queued, sent or dead; None for all.
    pub state: Option<String>,
    /// Only mails to this account.
    pub account_id: Option<i64>,
}

/// The outbox, newest first.
pub async fn list(
    conn: &mut Conn,
    filter: &MailFilter,
    page: i64,
    per_page: i64,
) -> Result<Page<Mail>> {
    let (limit, offset) = limit_offset(page, per_page);
    let state = filter.state.clone().unwrap_or_default();
    let account = filter.account_id.unwrap_or(-1);
    let filter_sql = "($1 = '' or state = $1) and ($2 < 0 or account_id = $2)";
    let (total,): (i64,) = sqlx::query_as(&format!("select count(*) from mail where {filter_sql}"))
        .bind(&state)
        .bind(account)
        .fetch_one(&mut *conn)
        .await?;
    let items: Vec<Mail> = sqlx::query_as(&format!(
        "select {} from mail where {filter_sql} order by id desc limit $3 offset $4",
        mail_columns()
    ))
    .bind(&state)
    .bind(account)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok(Page { items, total })
}

/// How many mails are in each state: (queued, sent, dead).
pub async fn counts(conn: &mut Conn) -> Result<(i64, i64, i64)> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("select state, count(*) from mail group by state")
            .fetch_all(conn)
            .await?;
    let of = |s: MailState| {
        rows.iter()
            .find(|r| r.0 == s.as_str())
            .map(|r| r.1)
            .unwrap_or_default()
    };
    Ok((
        of(MailState::Queued),
        of(MailState::Sent),
        of(MailState::Dead),
    ))
}

/// Queues a sent or dead mail again, now, with a fresh count of tries.
/// Refused (Conflict) for a mail still queued, and for one whose secret
/// link was removed when it was sent: a new link must be asked for.
pub async fn resend(conn: &mut Conn, id: i64, now: Timestamp) -> Result<()> {
    #[derive(sqlx::FromRow)]
    struct Sent {
        state: String,
        #[sqlx(try_from = "Flag")]
        secret_link: bool,
        link: String,
    }
    let sent: Sent = sqlx::query_as(&format!(
        "select state, {} as secret_link, link from mail where id = $1",
        flag("secret_link")
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(StorageError::NotFound)?;
    if MailState::parse(&sent.state) == Some(MailState::Queued) {
        return Err(StorageError::Conflict(Refusal::MailStillQueued.to_string()));
    }
    if sent.secret_link && sent.link.is_empty() {
        return Err(StorageError::Conflict(Refusal::SecretLinkGone.to_string()));
    }
    sqlx::query(&format!(
        "update mail set state = {MAIL_QUEUED}, attempts = 0, next_attempt_at = $1, last_error = '', \
         sent_at = null where id = $2"
    ))
    .bind(now)
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The kinds an account switched off.
pub async fn opt_outs(conn: &mut Conn, account_id: i64) -> Result<Vec<String>> {
    let rows: Vec<(String,)> =
        sqlx::query_as("select kind from mail_opt_out where account_id = $1 order by kind")
            .bind(account_id)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

/// Replaces the kinds an account switched off. Unknown kinds, and kinds
/// that cannot be switched off, are refused (Conflict) and change nothing.
pub async fn set_opt_outs(conn: &mut Conn, account_id: i64, kinds: &[String]) -> Result<()> {
    if let Some(bad) = kinds
        .iter()
        .find(|k| !patchport_core::mail::kind(k).is_some_and(|k| k.optional()))
    {
        return Err(StorageError::Conflict(
            Refusal::NotOptional(bad.to_string()).to_string(),
        ));
    }
    sqlx::query("delete from mail_opt_out where account_id = $1")
        .bind(account_id)
        .execute(&mut *conn)
        .await?;
    for kind in kinds {
        sqlx::query("insert into mail_opt_out (account_id, kind) values ($1, $2)")
            .bind(account_id)
            .bind(kind)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// One step of the reboot-booking follow-up: reminders 24 hours and 1 hour
/// before a booked reboot (each once, and only while it is still booked),
/// and the outcome once its job ends: done (a new boot id was seen),
/// failed, or missed (the window closed first). A booking cancelled or
/// moved ends without a mail. Returns how many mails were queued.
pub async fn follow_bookings(conn: &mut Conn, now: Timestamp) -> Result<u32> {
    /// A booking still to follow, with its job's state and its server.
    #[derive(sqlx::FromRow)]
    struct Open {
        job_id: i64,
        server_id: i64,
        hostname: String,
        owner_id: Option<i64>,
        at: Timestamp,
        state: String,
        #[sqlx(try_from = "Flag")]
        reminded_day: bool,
        #[sqlx(try_from = "Flag")]
        reminded_hour: bool,
    }
    let rows: Vec<Open> = sqlx::query_as(&format!(
        "select b.job_id as job_id, b.server_id as server_id, s.hostname as hostname, \
         s.owner_id as owner_id, b.at as at, j.state as state, \
         {} as reminded_day, {} as reminded_hour \
         from reboot_booking b join job j on j.id = b.job_id join server s on s.id = b.server_id \
         where not b.outcome_told and (j.state not in {JOB_OPEN} \
         or (not b.reminded_hour and b.at - $1 <= 3600) \
         or (not b.reminded_day and b.at - $1 <= 86400)) order by b.at, b.job_id",
        flag("b.reminded_day"),
        flag("b.reminded_hour")
    ))
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let mut queued = 0;
    for Open {
        job_id,
        server_id,
        hostname: host,
        owner_id: owner,
        at,
        state,
        reminded_day,
        reminded_hour,
    } in rows
    {
        let Some(state) = JobState::parse(&state) else {
            continue;
        };
        let booking = notice::Booking {
            at,
            state,
            reminded_day,
            reminded_hour,
        };
        let Some((mark, news)) = notice::follow_booking(&booking, now) else {
            continue;
        };
        if let (Some(news), Some(owner)) = (news, owner) {
            notify(conn, owner, &news.notice(server_id, &host, at), now).await?;
            queued += 1;
        }
        // An hour's reminder makes the day's one pointless.
        let set = match mark {
            BookingMark::OutcomeTold => "outcome_told = true",
            BookingMark::RemindedHour => "reminded_hour = true, reminded_day = true",
            BookingMark::RemindedDay => "reminded_day = true",
        };
        sqlx::query(&format!(
            "update reboot_booking set {set} where job_id = $1"
        ))
        .bind(job_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(queued)
}

/// Records a booked reboot for reminders; a booking made less than a day
/// (an hour) ahead gets no day (hour) reminder: its booking mail said it.
pub async fn record_booking(
    conn: &mut Conn,
    job_id: i64,
    server_id: i64,
    at: Timestamp,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "insert into reboot_booking (job_id, server_id, at, reminded_day, reminded_hour, created_at) \
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(job_id)
    .bind(server_id)
    .bind(at)
    .bind(at - now <= 86400)
    .bind(at - now <= 3600)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that a server's booked reboot changed (booked, moved or
/// cancelled) at `now`. Its owner is not mailed at once: once the changes
/// stop, [`settle_bookings`] tells where they ended, in one mail.
/// `windows_changed`: an admin's edit of the maintenance windows made it.
pub async fn booking_changed(
    conn: &mut Conn,
    server_id: i64,
    now: Timestamp,
    windows_changed: bool,
) -> Result<()> {
    sqlx::query(
        "insert into booking_notice (server_id, first_change_at, last_change_at, windows_changed) \
         values ($1, $2, $2, $3) on conflict (server_id) do update set \
         first_change_at = coalesce(booking_notice.first_change_at, excluded.first_change_at), \
         last_change_at = excluded.last_change_at, \
         windows_changed = (booking_notice.windows_changed or excluded.windows_changed)",
    )
    .bind(server_id)
    .bind(now)
    .bind(windows_changed)
    .execute(conn)
    .await?;
    Ok(())
}

/// How much longer than a quiet period changes that never stop may hold
/// their mail back: it goes at the latest this many quiet periods after
/// the first of them.
const MOST_QUIET_PERIODS: i64 = 5;

/// The mail worker's step before sending: for each server whose booking
/// changes stopped `quiet` seconds ago (or began five quiet periods ago,
/// or whose reboot is less than a quiet period away), tells its owner in
/// one notice where the booking ended, as [`notice::settle_booking`]
/// decides: booked for the final time, cancelled, or nothing. Each notice
/// revises the server's calendar entry. Returns how many were told.
pub async fn settle_bookings(conn: &mut Conn, now: Timestamp, quiet: i64) -> Result<u32> {
    let mut told = 0;
    for p in resting_bookings(conn, now, quiet).await? {
        // Another worker (another portal) may have settled it first.
        let claimed = sqlx::query(
            "update booking_notice set first_change_at = null, last_change_at = null, \
             windows_changed = $1 where server_id = $2 and last_change_at = $3",
        )
        .bind(false)
        .bind(p.server_id)
        .bind(p.last_change_at)
        .execute(&mut *conn)
        .await?
        .rows_affected()
            == 1;
        if !claimed {
            continue;
        }
        let current = crate::windows::booked_reboots(conn, p.server_id)
            .await?
            .into_iter()
            .next();
        let last = p.told_at.map(|at| notice::Told {
            at,
            state: p.told_state.as_deref().and_then(JobState::parse),
        });
        let revision = p.revision + 1;
        let settled = notice::settle_booking(last, current.map(|b| (b.at, b.until)));
        if settled != notice::Settled::Nothing {
            let (host, owner) = crate::servers::host_and_owner(conn, p.server_id).await?;
            let news = settled.notice(p.server_id, host, revision, p.windows_changed);
            if let (Some(news), Some(owner)) = (news, owner) {
                notify(conn, owner, &news, now).await?;
                told += 1;
            }
        }
        // What the owner knows now is the booking as it is.
        sqlx::query(
            "update booking_notice set told_job_id = $1, told_at = $2, revision = $3 \
             where server_id = $4",
        )
        .bind(current.map(|b| b.job_id))
        .bind(current.map(|b| b.at))
        .bind(revision)
        .bind(p.server_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(told)
}

/// A server whose booking changes are due to be told.
#[derive(sqlx::FromRow)]
struct Resting {
    server_id: i64,
    last_change_at: Timestamp,
    told_at: Option<Timestamp>,
    /// The state of the job last told.
    told_state: Option<String>,
    revision: i64,
    #[sqlx(try_from = "Flag")]
    windows_changed: bool,
}

/// The servers whose booking changes are due to be told at `now` (see
/// [`settle_bookings`]), oldest change first.
async fn resting_bookings(conn: &mut Conn, now: Timestamp, quiet: i64) -> Result<Vec<Resting>> {
    Ok(sqlx::query_as(&format!(
        "select n.server_id as server_id, n.last_change_at as last_change_at, \
         n.told_at as told_at, j.state as told_state, n.revision as revision, \
         {} as windows_changed \
         from booking_notice n left join job j on j.id = n.told_job_id \
         where n.last_change_at is not null and (n.last_change_at <= $1 or n.first_change_at <= $2 \
         or exists (select 1 from job r where r.server_id = n.server_id and r.kind = {KIND_REBOOT} \
         and r.state = {JOB_QUEUED} and r.not_before <= $3)) \
         order by n.last_change_at, n.server_id",
        flag("n.windows_changed")
    ))
    .bind(now - quiet)
    .bind(now - MOST_QUIET_PERIODS * quiet)
    .bind(now + quiet)
    .fetch_all(conn)
    .await?)
}

/// The revision of a server's calendar entry as the next booking mail will
/// carry it (one more than the last mail's while a change waits), so a
/// downloaded entry and the mails agree.
pub async fn calendar_revision(conn: &mut Conn, server_id: i64) -> Result<i64> {
    let row: Option<(i64,)> = sqlx::query_as(
        "select revision + case when last_change_at is null then 0 else 1 end \
         from booking_notice where server_id = $1",
    )
    .bind(server_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map_or(0, |r| r.0))
}
