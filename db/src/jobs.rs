//! Jobs: typed work for one server's agent (install exact versions, reboot,
//! refresh), with a not-before / not-after window and a lease, so a job runs
//! at most once at a time and a dead agent's job is offered again or fails.
//!
//! States: `queued` → `running` (leased to an attempt) → `succeeded` or
//! `failed`. A reboot goes `running` → `rebooting` → `succeeded` only once
//! the server reports a new boot id. A queued job past its not-after is
//! `expired`; an admin may cancel a queued job (`cancelled`).

use crate::{Conn, Page, Result, StorageError, limit_offset};
use patchport_core::Timestamp;
use patchport_core::protocol::{
    JOB_LEASE, JobOrder, JobOutcome, JobResult, JobSpec, MAX_JOB_LOG, PackageTarget, REBOOT_GRACE,
    log_tail,
};

/// Seconds after a reboot was marked lost during which a new boot id still
/// confirms it (later, a new boot id says nothing about that reboot).
pub const LOST_REBOOT_CONFIRMABLE: i64 = 86_400;

/// Attempts before a job whose agent keeps going silent fails for good.
pub const MAX_ATTEMPTS: i64 = 3;

/// A new job.
#[derive(Debug, Clone)]
pub struct NewJob<'a> {
    /// For this server.
    pub server_id: i64,
    /// What to do (validated by the caller).
    pub spec: &'a JobSpec,
    /// Not to start before.
    pub not_before: Timestamp,
    /// Expires if not started by then.
    pub not_after: Timestamp,
    /// The admin who asked, if a person did.
    pub created_by: Option<i64>,
}

/// Queues a job and marks the server's matching open patches `queued`.
pub async fn create(conn: &mut Conn, job: &NewJob<'_>, now: Timestamp) -> Result<i64> {
    let packages = match job.spec {
        JobSpec::Install { packages } => packages.as_slice(),
        _ => &[],
    };
    let (id,): (i64,) = sqlx::query_as(
        "insert into job (server_id, kind, packages, state, not_before, not_after, created_by, created_at) \
         values ($1, $2, $3, 'queued', $4, $5, $6, $7) returning id",
    )
    .bind(job.server_id)
    .bind(job.spec.kind())
    .bind(serde_json::to_string(packages).unwrap_or_else(|_| "[]".into()))
    .bind(job.not_before)
    .bind(job.not_after)
    .bind(job.created_by)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    set_patch_states(
        conn,
        job.server_id,
        packages,
        "queued",
        "('missing', 'published', 'failed')",
        now,
    )
    .await?;
    Ok(id)
}

/// Moves the server's patches for `packages` that are in one of `from`
/// states to `state`.
async fn set_patch_states(
    conn: &mut Conn,
    server_id: i64,
    packages: &[PackageTarget],
    state: &str,
    from: &str,
    now: Timestamp,
) -> Result<()> {
    for p in packages {
        sqlx::query(&format!(
            "update server_patch set state = $1, updated_at = $2 where server_id = $3 and state in {from} \
             and patch_id in (select id from patch where package = $4 and version = $5 and arch = $6)"
        ))
        .bind(state)
        .bind(now)
        .bind(server_id)
        .bind(&p.name)
        .bind(&p.version)
        .bind(&p.arch)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

fn decode_packages(json: &str) -> Vec<PackageTarget> {
    serde_json::from_str(json).unwrap_or_default()
}

fn spec_of(kind: &str, packages: &str) -> JobSpec {
    match kind {
        "install" => JobSpec::Install {
            packages: decode_packages(packages),
        },
        "reboot" => JobSpec::Reboot,
        _ => JobSpec::Refresh,
    }
}

/// Applies the clock to jobs: queued jobs past their not-after expire;
/// running jobs whose lease ran out are offered again (a new attempt) while
/// attempts and time remain, else fail, but a reboot is never offered
/// again (it is lost: it may have happened); reboots not confirmed by a new boot
/// id within the grace period fail. `server_id` limits it to one server.
/// Returns how many jobs changed.
pub async fn sweep(conn: &mut Conn, server_id: Option<i64>, now: Timestamp) -> Result<u64> {
    let only = server_id.unwrap_or(-1);
    let scope = "($2 < 0 or server_id = $2)";
    let mut changed = 0;
    // Jobs whose install fails or expires hand their patches back.
    let ending: Vec<(i64, String)> = sqlx::query_as(&format!(
        "select server_id, packages from job where {scope} and kind = 'install' and \
         ((state = 'queued' and not_after <= $1) or \
          (state = 'running' and lease_until <= $1 and (attempt >= {MAX_ATTEMPTS} or not_after <= $1)))"
    ))
    .bind(now)
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    changed += sqlx::query(&format!(
        "update job set state = 'expired', finished_at = $1, \
         reason = 'not started before its deadline (the agent did not check in in time)' \
         where {scope} and state = 'queued' and not_after <= $1"
    ))
    .bind(now)
    .bind(only)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    // A reboot whose agent went silent may well have rebooted the server
    // (the agent dies with it before it can say so); offering it again
    // could reboot the server twice, the second time outside its window.
    // It is lost: failed with that reason, for a person to look at. A new
    // boot id within a day still confirms it (`confirm_reboots`).
    changed += sqlx::query(&format!(
        "update job set state = 'failed', finished_at = $1, lease_until = null, \
         reason = 'lost: the agent stopped reporting during the reboot and the server has \
         not come back with a new boot id; not offered again, so the server is never rebooted \
         twice (book another reboot if it still needs one)' \
         where {scope} and kind = 'reboot' and state = 'running' and lease_until <= $1"
    ))
    .bind(now)
    .bind(only)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    changed += sqlx::query(&format!(
        "update job set state = 'failed', finished_at = $1, lease_until = null, \
         reason = 'the agent did not report within its lease (' || attempt || ' attempts)' \
         where {scope} and state = 'running' and lease_until <= $1 \
         and (attempt >= {MAX_ATTEMPTS} or not_after <= $1)"
    ))
    .bind(now)
    .bind(only)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    changed += sqlx::query(&format!(
        "update job set state = 'queued', lease_until = null, \
         reason = 'attempt ' || attempt || ' ended without a result (lease expired); offered again' \
         where {scope} and state = 'running' and lease_until <= $1"
    ))
    .bind(now)
    .bind(only)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    changed += sqlx::query(&format!(
        "update job set state = 'failed', finished_at = $1, lease_until = null, \
         reason = 'the server did not come back with a new boot id in time' \
         where {scope} and state = 'rebooting' and lease_until <= $1"
    ))
    .bind(now)
    .bind(only)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    for (server, packages) in ending {
        set_patch_states(
            conn,
            server,
            &decode_packages(&packages),
            "missing",
            "('queued', 'installing')",
            now,
        )
        .await?;
    }
    Ok(changed)
}

/// Leases the server's next due job to its agent, if any: reboots come after
/// everything else, then by not-before. Sweeps the server's jobs first.
pub async fn claim(conn: &mut Conn, server_id: i64, now: Timestamp) -> Result<Option<JobOrder>> {
    // A server runs one job at a time. Its row is locked first, so that
    // two check-ins claiming at once take turns (on PostgreSQL; SQLite has
    // one writer): the second then sees the job the first started.
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("select id from server where id = $1 for update")
            .bind(server_id)
            .execute(&mut *conn)
            .await?;
    }
    sweep(conn, Some(server_id), now).await?;
    let (busy,): (i64,) = sqlx::query_as(
        "select count(*) from job where server_id = $1 and state in ('running', 'rebooting')",
    )
    .bind(server_id)
    .fetch_one(&mut *conn)
    .await?;
    if busy > 0 {
        return Ok(None);
    }
    let next: Option<(i64, String, String)> = sqlx::query_as(
        "select id, kind, packages from job where server_id = $1 and state = 'queued' \
         and not_before <= $2 and not_after > $2 \
         order by (case when kind = 'reboot' then 1 else 0 end), not_before, id limit 1",
    )
    .bind(server_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((id, kind, packages)) = next else {
        return Ok(None);
    };
    // Guarded by the state, so two claims racing cannot both win.
    let won: Option<(i64,)> = sqlx::query_as(
        "update job set state = 'running', attempt = attempt + 1, lease_until = $1, started_at = $2, \
         boot_id_before = (select boot_id from server where id = job.server_id) \
         where id = $3 and state = 'queued' returning attempt",
    )
    .bind(now + JOB_LEASE)
    .bind(now)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((attempt,)) = won else {
        return Ok(None);
    };
    let spec = spec_of(&kind, &packages);
    if let JobSpec::Install { packages } = &spec {
        set_patch_states(conn, server_id, packages, "installing", "('queued')", now).await?;
    }
    Ok(Some(JobOrder { id, attempt, spec }))
}

/// What became of a reported result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded now.
    Applied,
    /// The same result was already recorded (a retry): nothing changed.
    Repeated,
    /// The attempt is no longer current (its lease ran out and the job was
    /// offered again, or it ended otherwise): refused, nothing changed.
    Stale,
}

/// Records an agent's result for one of its server's jobs. Idempotent.
pub async fn record_result(
    conn: &mut Conn,
    server_id: i64,
    job_id: i64,
    result: &JobResult,
    now: Timestamp,
) -> Result<Recorded> {
    let row: Option<(String, String, i64, String)> = sqlx::query_as(
        "select kind, state, attempt, packages from job where id = $1 and server_id = $2",
    )
    .bind(job_id)
    .bind(server_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((kind, state, attempt, packages)) = row else {
        return Err(StorageError::NotFound);
    };
    let target = match (result.outcome, kind.as_str()) {
        (JobOutcome::Succeeded, _) => "succeeded",
        (JobOutcome::Failed, _) => "failed",
        (JobOutcome::Rebooting, "reboot") => "rebooting",
        (JobOutcome::Rebooting, _) => {
            return Err(StorageError::Conflict(
                "only a reboot job can be rebooting".into(),
            ));
        }
    };
    if attempt != result.attempt {
        return Ok(Recorded::Stale);
    }
    // A reboot confirmed by a new boot id before its "rebooting" result
    // arrived (it was spooled) is already done.
    let confirmed_reboot = kind == "reboot" && state == "succeeded" && target == "rebooting";
    if state == target || confirmed_reboot {
        return Ok(Recorded::Repeated);
    }
    // A reboot the system refused after the agent said "rebooting" may
    // still fail; anything else must be running to take a result.
    let refused_reboot = state == "rebooting" && target == "failed";
    if state != "running" && !refused_reboot {
        return Ok(Recorded::Stale);
    }
    let log = log_tail(&result.log, MAX_JOB_LOG);
    let (lease, finished) = if target == "rebooting" {
        (Some(now + REBOOT_GRACE), None)
    } else {
        (None, Some(now))
    };
    sqlx::query(
        "update job set state = $1, exit_code = $2, log = $3, lease_until = $4, finished_at = $5 \
         where id = $6 and state in ('running', 'rebooting') and attempt = $7",
    )
    .bind(target)
    .bind(result.exit_code.map(i64::from))
    .bind(log)
    .bind(lease)
    .bind(finished)
    .bind(job_id)
    .bind(attempt)
    .execute(&mut *conn)
    .await?;
    if kind == "install" && target == "failed" {
        set_patch_states(
            conn,
            server_id,
            &decode_packages(&packages),
            "failed",
            "('queued', 'installing')",
            now,
        )
        .await?;
    }
    if kind == "install" {
        tell_install_outcome(conn, server_id, &decode_packages(&packages), target, now).await?;
    }
    Ok(Recorded::Applied)
}

/// Tells the server's owner (if it has one) that an install finished or
/// failed, in the transaction that recorded it.
async fn tell_install_outcome(
    conn: &mut Conn,
    server_id: i64,
    packages: &[PackageTarget],
    state: &str,
    now: Timestamp,
) -> Result<()> {
    let (host, owner) = crate::servers::host_and_owner(conn, server_id).await?;
    let Some(owner) = owner else {
        return Ok(());
    };
    let list = packages
        .iter()
        .map(|p| format!("{} {}", p.name, p.version))
        .collect::<Vec<_>>()
        .join(", ");
    let (subject, body) = if state == "succeeded" {
        (
            format!("Install on {host} finished"),
            format!("Installed on {host}: {list}. A reboot may be needed; the server page says."),
        )
    } else {
        (
            format!("Install on {host} failed"),
            format!("The install of {list} on {host} failed. The log is on the server page."),
        )
    };
    let notice = crate::mail::Notice {
        kind: "install_done",
        subject: &subject,
        body: &body,
        link: &format!("/servers/{server_id}"),
    };
    crate::mail::notify(conn, owner, &notice, now).await
}

/// Takes a declined patch out of every queued install: a job that installs
/// only it is cancelled, one that installs more keeps the rest; its
/// server-patches go back to missing. A job already running is not
/// stopped (the agent has it). Returns how many jobs changed.
pub async fn withdraw_patch(conn: &mut Conn, patch_id: i64, now: Timestamp) -> Result<u64> {
    let patch: Option<(String, String, String)> =
        sqlx::query_as("select package, version, arch from patch where id = $1")
            .bind(patch_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((package, version, arch)) = patch else {
        return Ok(0);
    };
    let queued: Vec<(i64, i64, String)> = sqlx::query_as(
        "select j.id, j.server_id, j.packages from job j \
         where j.kind = 'install' and j.state = 'queued' and exists (select 1 from server_patch sp \
           where sp.server_id = j.server_id and sp.patch_id = $1 and sp.state = 'queued') \
         order by j.id",
    )
    .bind(patch_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut changed = 0;
    for (job_id, server_id, packages) in queued {
        let all = decode_packages(&packages);
        let (gone, kept): (Vec<_>, Vec<_>) = all
            .into_iter()
            .partition(|p| p.name == package && p.version == version && p.arch == arch);
        if gone.is_empty() {
            continue;
        }
        if kept.is_empty() {
            sqlx::query(
                "update job set state = 'cancelled', finished_at = $1, \
                 reason = 'its patch was declined' where id = $2 and state = 'queued'",
            )
            .bind(now)
            .bind(job_id)
            .execute(&mut *conn)
            .await?;
        } else {
            let rest = serde_json::to_string(&kept).unwrap_or_else(|_| "[]".into());
            sqlx::query(
                "update job set packages = $1, \
                 reason = 'a declined patch was taken out of it' where id = $2 and state = 'queued'",
            )
            .bind(rest)
            .bind(job_id)
            .execute(&mut *conn)
            .await?;
        }
        set_patch_states(conn, server_id, &gone, "missing", "('queued')", now).await?;
        changed += 1;
    }
    Ok(changed)
}

/// Marks the server's reboot jobs done when a report carries a boot id other
/// than the one seen when the reboot was claimed, lost ones included.
pub async fn confirm_reboots(
    conn: &mut Conn,
    server_id: i64,
    boot_id: &str,
    now: Timestamp,
) -> Result<u64> {
    Ok(sqlx::query(
        "update job set state = 'succeeded', finished_at = $1, lease_until = null, \
         reason = 'confirmed by a new boot id' \
         where server_id = $2 and kind = 'reboot' \
         and (state in ('running', 'rebooting') \
              or (state = 'failed' and reason like 'lost:%' and finished_at >= $4)) \
         and boot_id_before is not null and boot_id_before <> $3",
    )
    .bind(now)
    .bind(server_id)
    .bind(boot_id)
    .bind(now - LOST_REBOOT_CONFIRMABLE)
    .execute(conn)
    .await?
    .rows_affected())
}

/// Cancels a queued job. Returns false if it is no longer queued.
pub async fn cancel(conn: &mut Conn, job_id: i64, now: Timestamp) -> Result<bool> {
    let row: Option<(i64, String)> =
        sqlx::query_as("select server_id, packages from job where id = $1 and state = 'queued'")
            .bind(job_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((server_id, packages)) = row else {
        return Ok(false);
    };
    let done = sqlx::query(
        "update job set state = 'cancelled', finished_at = $1 where id = $2 and state = 'queued'",
    )
    .bind(now)
    .bind(job_id)
    .execute(&mut *conn)
    .await?;
    set_patch_states(
        conn,
        server_id,
        &decode_packages(&packages),
        "missing",
        "('queued')",
        now,
    )
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A job as listed for admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    /// Job id.
    pub id: i64,
    /// Server.
    pub server_id: i64,
    /// What it does.
    pub spec: JobSpec,
    /// Where it stands.
    pub state: String,
    /// Not before.
    pub not_before: Timestamp,
    /// Not after.
    pub not_after: Timestamp,
    /// Attempts so far.
    pub attempt: i64,
    /// The package manager's exit code.
    pub exit_code: Option<i64>,
    /// Tail of the output.
    pub log: String,
    /// Why it failed, expired or was retried.
    pub reason: String,
    /// Who asked.
    pub created_by: Option<String>,
    /// When.
    pub created_at: Timestamp,
    /// Last claimed.
    pub started_at: Option<Timestamp>,
    /// Ended.
    pub finished_at: Option<Timestamp>,
}

type Row = (
    i64,
    i64,
    String,
    String,
    String,
    Timestamp,
    Timestamp,
    i64,
    Option<i64>,
    String,
    String,
    Option<String>,
    Timestamp,
    Option<Timestamp>,
    Option<Timestamp>,
);

const COLUMNS: &str = "j.id, j.server_id, j.kind, j.packages, j.state, j.not_before, j.not_after, j.attempt, \
     j.exit_code, j.log, j.reason, a.username, j.created_at, j.started_at, j.finished_at \
     from job j left join account a on a.id = j.created_by";

fn job_row(r: Row) -> JobRow {
    JobRow {
        id: r.0,
        server_id: r.1,
        spec: spec_of(&r.2, &r.3),
        state: r.4,
        not_before: r.5,
        not_after: r.6,
        attempt: r.7,
        exit_code: r.8,
        log: r.9,
        reason: r.10,
        created_by: r.11,
        created_at: r.12,
        started_at: r.13,
        finished_at: r.14,
    }
}

/// One page of a server's jobs, newest first.
pub async fn list(
    conn: &mut Conn,
    server_id: i64,
    page: i64,
    per_page: i64,
) -> Result<Page<JobRow>> {
    let (limit, offset) = limit_offset(page, per_page);
    let (total,): (i64,) = sqlx::query_as("select count(*) from job where server_id = $1")
        .bind(server_id)
        .fetch_one(&mut *conn)
        .await?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select {COLUMNS} where j.server_id = $1 order by j.id desc limit $2 offset $3"
    ))
    .bind(server_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok(Page {
        items: rows.into_iter().map(job_row).collect(),
        total,
    })
}

/// One job.
pub async fn get(conn: &mut Conn, job_id: i64) -> Result<Option<JobRow>> {
    let row: Option<Row> = sqlx::query_as(&format!("select {COLUMNS} where j.id = $1"))
        .bind(job_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(job_row))
}
