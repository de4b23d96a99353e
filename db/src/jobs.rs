//! Jobs: typed work for one server's agent (install exact versions, reboot,
//! refresh), with a not-before / not-after window and a lease, so a job runs
//! at most once at a time and a dead agent's job is offered again or fails.
//!
//! States: `queued` → `running` (leased to an attempt) → `succeeded` or
//! `failed`. A reboot goes `running` → `rebooting` → `succeeded` only once
//! the server reports a new boot id. A queued job past its not-after is
//! `expired`; an admin may cancel a queued job (`cancelled`).
//!
//! The decisions (which state a result or the clock moves a job to, what a
//! declined patch does to queued installs) and the reasons recorded on jobs
//! are [`patchport_core::workflow`]'s: this module reads, asks it, and
//! writes what it planned.

use crate::row::flag;
use crate::states::{
    JOB_ACTIVE, JOB_CANCELLED, JOB_EXPIRED, JOB_FAILED, JOB_QUEUED, JOB_REBOOTING, JOB_RUNNING,
    JOB_SUCCEEDED, KIND_INSTALL, KIND_REBOOT, List, PATCH_QUEUED,
};
use crate::{Conn, Page, Result, StorageError, limit_offset};
use patchport_core::Timestamp;
use patchport_core::protocol::{
    JOB_LEASE, JobOrder, JobResult, JobSpec, MAX_JOB_LOG, PackageTarget, log_tail,
};
use patchport_core::state::{JobKind, JobState, PatchState};
use patchport_core::workflow::{
    self, JobChange, JobEdit, JobFacts, JobReason, MAX_ATTEMPTS, QueuedInstall, ResultPlan,
};

pub use patchport_core::workflow::LOST_REBOOT_CONFIRMABLE;

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

/// Queues a job; an install marks the server's matching open patches
/// `queued`.
pub async fn create(conn: &mut Conn, job: &NewJob<'_>, now: Timestamp) -> Result<i64> {
    let packages = job.spec.packages();
    let (id,): (i64,) = sqlx::query_as(&format!(
        "insert into job (server_id, kind, packages, state, not_before, not_after, created_by, created_at) \
         values ($1, $2, $3, {JOB_QUEUED}, $4, $5, $6, $7) returning id"
    ))
    .bind(job.server_id)
    .bind(JobKind::of(job.spec).as_str())
    .bind(serde_json::to_string(packages).unwrap_or_else(|_| "[]".into()))
    .bind(job.not_before)
    .bind(job.not_after)
    .bind(job.created_by)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    if let JobSpec::Install { packages } = job.spec {
        set_patch_states(
            conn,
            job.server_id,
            packages,
            PatchState::Queued,
            PatchState::ACTIONABLE,
            now,
        )
        .await?;
    }
    Ok(id)
}

/// Moves the server's patches for `packages` that are in one of `from`
/// states to `state`.
async fn set_patch_states(
    conn: &mut Conn,
    server_id: i64,
    packages: &[PackageTarget],
    state: PatchState,
    from: &'static [PatchState],
    now: Timestamp,
) -> Result<()> {
    let from = List(from);
    for p in packages {
        sqlx::query(&format!(
            "update server_patch set state = $1, updated_at = $2 where server_id = $3 and state in {from} \
             and patch_id in (select id from patch where package = $4 and version = $5 and arch = $6)"
        ))
        .bind(state.as_str())
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
    match JobKind::parse(kind) {
        Some(JobKind::Install) => JobSpec::Install {
            packages: decode_packages(packages),
        },
        Some(JobKind::Rollback) => JobSpec::Rollback {
            packages: decode_packages(packages),
        },
        Some(JobKind::Reboot) => JobSpec::Reboot,
        _ => JobSpec::Refresh,
    }
}

/// Applies the clock to jobs, by [`workflow::overdue`]'s rule, set-wise:
/// queued jobs past their not-after expire; running jobs whose lease ran
/// out are offered again (a new attempt) while attempts and time remain,
/// else fail, but a reboot is never offered again (it is lost: it may have
/// happened); reboots not confirmed by a new boot id within the grace
/// period fail. `server_id` limits it to one server. Returns how many jobs
/// changed.
pub async fn sweep(conn: &mut Conn, server_id: Option<i64>, now: Timestamp) -> Result<u64> {
    let only = server_id.unwrap_or(-1);
    // Jobs whose install fails or expires hand their patches back.
    let ending: Vec<(i64, String)> = sqlx::query_as(&format!(
        "select server_id, packages from job where {SCOPE} and kind = {KIND_INSTALL} and \
         ((state = {JOB_QUEUED} and not_after <= $1) or \
          (state = {JOB_RUNNING} and lease_until <= $1 and (attempt >= {MAX_ATTEMPTS} or not_after <= $1)))"
    ))
    .bind(now)
    .bind(only)
    .fetch_all(&mut *conn)
    .await?;
    let mut changed = 0;
    for (update, reason) in overdue_updates() {
        changed += set_overdue(conn, &update, reason, only, now).await?;
    }
    for (server, packages) in ending {
        set_patch_states(
            conn,
            server,
            &decode_packages(&packages),
            PatchState::Missing,
            PatchState::BEING_INSTALLED,
            now,
        )
        .await?;
    }
    Ok(changed)
}

/// `sweep`'s scope: `$2` is a server id, or -1 for all.
const SCOPE: &str = "($2 < 0 or server_id = $2)";

/// `sweep`'s updates, in order, each with the reason it records: the SQL
/// form of [`workflow::overdue`]. `$1` is now, `$2` the scope, the reason
/// `$3` (and `$4` after the attempt count).
fn overdue_updates() -> [(String, JobReason); 5] {
    let ends = "finished_at = $1, lease_until = null";
    let lease_over = format!("{SCOPE} and state = {JOB_RUNNING} and lease_until <= $1");
    [
        (
            format!(
                "update job set state = {JOB_EXPIRED}, finished_at = $1, reason = $3 \
                 where {SCOPE} and state = {JOB_QUEUED} and not_after <= $1"
            ),
            JobReason::NotStartedInTime,
        ),
        // A reboot whose agent went silent may well have rebooted the
        // server (the agent dies with it before it can say so); offering it
        // again could reboot the server twice, the second time outside its
        // window. It is lost, for a person to look at; a new boot id within
        // a day still confirms it (`confirm_reboots`).
        (
            format!(
                "update job set state = {JOB_FAILED}, {ends}, reason = $3 \
                 where {lease_over} and kind = {KIND_REBOOT}"
            ),
            JobReason::LostReboot,
        ),
        (
            format!(
                "update job set state = {JOB_FAILED}, {ends}, reason = $3 || attempt || $4 \
                 where {lease_over} and (attempt >= {MAX_ATTEMPTS} or not_after <= $1)"
            ),
            JobReason::AttemptsExhausted,
        ),
        (
            format!(
                "update job set state = {JOB_QUEUED}, lease_until = null, \
                 reason = $3 || attempt || $4 where {lease_over}"
            ),
            JobReason::OfferedAgain,
        ),
        (
            format!(
                "update job set state = {JOB_FAILED}, {ends}, reason = $3 \
                 where {SCOPE} and state = {JOB_REBOOTING} and lease_until <= $1"
            ),
            JobReason::RebootNotConfirmed,
        ),
    ]
}

/// Runs one of `sweep`'s updates. Returns how many jobs changed.
async fn set_overdue(
    conn: &mut Conn,
    update: &str,
    reason: JobReason,
    only: i64,
    now: Timestamp,
) -> Result<u64> {
    let mut q = sqlx::query(update).bind(now).bind(only).bind(reason.text());
    if let Some(after) = reason.after_count() {
        q = q.bind(after);
    }
    Ok(q.execute(&mut *conn).await?.rows_affected())
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
    let (busy,): (i64,) = sqlx::query_as(&format!(
        "select count(*) from job where server_id = $1 and state in {JOB_ACTIVE}"
    ))
    .bind(server_id)
    .fetch_one(&mut *conn)
    .await?;
    if busy > 0 {
        return Ok(None);
    }
    #[derive(sqlx::FromRow)]
    struct Next {
        id: i64,
        kind: String,
        packages: String,
    }
    let next: Option<Next> = sqlx::query_as(&format!(
        "select id, kind, packages from job where server_id = $1 and state = {JOB_QUEUED} \
         and not_before <= $2 and not_after > $2 \
         order by {}, not_before, id limit 1",
        flag(&format!("kind = {KIND_REBOOT}"))
    ))
    .bind(server_id)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(Next { id, kind, packages }) = next else {
        return Ok(None);
    };
    // Guarded by the state, so two claims racing cannot both win.
    let won: Option<(i64,)> = sqlx::query_as(&format!(
        "update job set state = {JOB_RUNNING}, attempt = attempt + 1, lease_until = $1, started_at = $2, \
         boot_id_before = (select boot_id from server where id = job.server_id) \
         where id = $3 and state = {JOB_QUEUED} returning attempt"
    ))
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
        keep_previous(conn, id, server_id, packages).await?;
        set_patch_states(
            conn,
            server_id,
            packages,
            PatchState::Installing,
            &[PatchState::Queued],
            now,
        )
        .await?;
    }
    Ok(Some(JobOrder { id, attempt, spec }))
}

/// Records, once, the versions the server had of an install's packages
/// as the job starts (its last report, which this check-in just stored):
/// what a rollback returns to ([`patchport_core::rollback`]). A package the
/// server did not have is left out.
async fn keep_previous(
    conn: &mut Conn,
    job_id: i64,
    server_id: i64,
    packages: &[PackageTarget],
) -> Result<()> {
    let mut previous = Vec::with_capacity(packages.len());
    for p in packages {
        let version: Option<(String,)> = sqlx::query_as(
            "select version from installed_package where server_id = $1 and name = $2 and arch = $3",
        )
        .bind(server_id)
        .bind(&p.name)
        .bind(&p.arch)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some((version,)) = version {
            previous.push(PackageTarget {
                name: p.name.clone(),
                version,
                arch: p.arch.clone(),
            });
        }
    }
    sqlx::query("update job set previous = $1 where id = $2 and previous is null")
        .bind(serde_json::to_string(&previous).unwrap_or_else(|_| "[]".into()))
        .bind(job_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
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

/// Records an agent's result for one of its server's jobs, as
/// [`workflow::on_result`] plans it. Idempotent.
pub async fn record_result(
    conn: &mut Conn,
    server_id: i64,
    job_id: i64,
    result: &JobResult,
    now: Timestamp,
) -> Result<Recorded> {
    #[derive(sqlx::FromRow)]
    struct Current {
        kind: String,
        state: String,
        attempt: i64,
        packages: String,
    }
    let row: Option<Current> = sqlx::query_as(
        "select kind, state, attempt, packages from job where id = $1 and server_id = $2",
    )
    .bind(job_id)
    .bind(server_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(Current {
        kind,
        state,
        attempt,
        packages,
    }) = row
    else {
        return Err(StorageError::NotFound);
    };
    let job = JobFacts {
        kind: JobKind::parse(&kind),
        state: JobState::parse(&state),
        attempt,
    };
    let (state, lease, finished, patches_to, tell_owner) =
        match workflow::on_result(job, result.attempt, result.outcome, now) {
            ResultPlan::Apply {
                state,
                lease_until,
                finished_at,
                patches_to,
                tell_owner,
            } => (state, lease_until, finished_at, patches_to, tell_owner),
            ResultPlan::Repeated => return Ok(Recorded::Repeated),
            ResultPlan::Stale => return Ok(Recorded::Stale),
            ResultPlan::Refused(why) => return Err(StorageError::Conflict(why.text().into())),
        };
    sqlx::query(&format!(
        "update job set state = $1, exit_code = $2, log = $3, lease_until = $4, finished_at = $5 \
         where id = $6 and state in {JOB_ACTIVE} and attempt = $7"
    ))
    .bind(state.as_str())
    .bind(result.exit_code.map(i64::from))
    .bind(log_tail(&result.log, MAX_JOB_LOG))
    .bind(lease)
    .bind(finished)
    .bind(job_id)
    .bind(attempt)
    .execute(&mut *conn)
    .await?;
    let packages = decode_packages(&packages);
    if let Some(to) = patches_to {
        set_patch_states(
            conn,
            server_id,
            &packages,
            to,
            PatchState::BEING_INSTALLED,
            now,
        )
        .await?;
    }
    if tell_owner {
        tell_install_outcome(conn, server_id, &packages, state, now).await?;
    }
    Ok(Recorded::Applied)
}

/// Tells the server's owner (if it has one) that an install finished or
/// failed, in the transaction that recorded it.
async fn tell_install_outcome(
    conn: &mut Conn,
    server_id: i64,
    packages: &[PackageTarget],
    state: JobState,
    now: Timestamp,
) -> Result<()> {
    let (host, owner) = crate::servers::host_and_owner(conn, server_id).await?;
    let Some(owner) = owner else {
        return Ok(());
    };
    let notice = patchport_core::notice::Notice::InstallDone {
        server_id,
        host,
        packages: packages
            .iter()
            .map(|p| format!("{} {}", p.name, p.version))
            .collect(),
        succeeded: state == JobState::Succeeded,
    };
    crate::mail::notify(conn, owner, &notice, now).await
}

/// Takes a declined patch out of every queued install, as
/// [`workflow::withdraw`] plans it: a job that installs only it is
/// cancelled, one that installs more keeps the rest; its server-patches go
/// back to missing. A job already running is not stopped (the agent has
/// it). Returns how many jobs changed.
pub async fn withdraw_patch(conn: &mut Conn, patch_id: i64, now: Timestamp) -> Result<u64> {
    #[derive(sqlx::FromRow)]
    struct Patch {
        name: String,
        version: String,
        arch: String,
    }
    #[derive(sqlx::FromRow)]
    struct Queued {
        job_id: i64,
        server_id: i64,
        packages: String,
    }
    let patch: Option<Patch> =
        sqlx::query_as("select package as name, version, arch from patch where id = $1")
            .bind(patch_id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(Patch {
        name,
        version,
        arch,
    }) = patch
    else {
        return Ok(0);
    };
    let rows: Vec<Queued> = sqlx::query_as(&format!(
        "select j.id as job_id, j.server_id as server_id, j.packages as packages from job j \
         where j.kind = {KIND_INSTALL} and j.state = {JOB_QUEUED} and exists (select 1 from server_patch sp \
           where sp.server_id = j.server_id and sp.patch_id = $1 and sp.state = {PATCH_QUEUED}) \
         order by j.id"
    ))
    .bind(patch_id)
    .fetch_all(&mut *conn)
    .await?;
    let queued: Vec<QueuedInstall> = rows
        .into_iter()
        .map(|r| QueuedInstall {
            job_id: r.job_id,
            server_id: r.server_id,
            packages: decode_packages(&r.packages),
        })
        .collect();
    let patch = PackageTarget {
        name,
        version,
        arch,
    };
    let changes = workflow::withdraw(&patch, &queued);
    for change in &changes {
        write_change(conn, change, now).await?;
    }
    Ok(changes.len() as u64)
}

/// Writes one of [`workflow::withdraw`]'s changes to a queued job.
async fn write_change(conn: &mut Conn, change: &JobChange, now: Timestamp) -> Result<()> {
    match &change.edit {
        JobEdit::Cancel => {
            sqlx::query(&format!(
                "update job set state = {JOB_CANCELLED}, finished_at = $1, reason = $2 \
                 where id = $3 and state = {JOB_QUEUED}"
            ))
            .bind(now)
            .bind(change.reason.text())
            .bind(change.job_id)
            .execute(&mut *conn)
            .await?;
        }
        JobEdit::Keep(kept) => {
            sqlx::query(&format!(
                "update job set packages = $1, reason = $2 where id = $3 and state = {JOB_QUEUED}"
            ))
            .bind(serde_json::to_string(kept).unwrap_or_else(|_| "[]".into()))
            .bind(change.reason.text())
            .bind(change.job_id)
            .execute(&mut *conn)
            .await?;
        }
    }
    set_patch_states(
        conn,
        change.server_id,
        &change.released,
        PatchState::Missing,
        &[PatchState::Queued],
        now,
    )
    .await
}

/// Marks the server's reboot jobs done when a report carries a boot id other
/// than the one seen when the reboot was claimed, lost ones included.
pub async fn confirm_reboots(
    conn: &mut Conn,
    server_id: i64,
    boot_id: &str,
    now: Timestamp,
) -> Result<u64> {
    Ok(sqlx::query(&format!(
        "update job set state = {JOB_SUCCEEDED}, finished_at = $1, lease_until = null, reason = $5 \
         where server_id = $2 and kind = {KIND_REBOOT} \
         and (state in {JOB_ACTIVE} \
              or (state = {JOB_FAILED} and reason = $6 and finished_at >= $4)) \
         and boot_id_before is not null and boot_id_before <> $3"
    ))
    .bind(now)
    .bind(server_id)
    .bind(boot_id)
    .bind(now - LOST_REBOOT_CONFIRMABLE)
    .bind(JobReason::RebootConfirmed.text())
    .bind(JobReason::LostReboot.text())
    .execute(conn)
    .await?
    .rows_affected())
}

/// Cancels a queued job. Returns false if it is no longer queued.
pub async fn cancel(conn: &mut Conn, job_id: i64, now: Timestamp) -> Result<bool> {
    let row: Option<(i64, String)> = sqlx::query_as(&format!(
        "select server_id, packages from job where id = $1 and state = {JOB_QUEUED}"
    ))
    .bind(job_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((server_id, packages)) = row else {
        return Ok(false);
    };
    let done = sqlx::query(&format!(
        "update job set state = {JOB_CANCELLED}, finished_at = $1 where id = $2 and state = {JOB_QUEUED}"
    ))
    .bind(now)
    .bind(job_id)
    .execute(&mut *conn)
    .await?;
    set_patch_states(
        conn,
        server_id,
        &decode_packages(&packages),
        PatchState::Missing,
        &[PatchState::Queued],
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

/// A job as [`COLUMNS`] selects it; kind and packages make its spec.
#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    server_id: i64,
    kind: String,
    packages: String,
    state: String,
    not_before: Timestamp,
    not_after: Timestamp,
    attempt: i64,
    exit_code: Option<i64>,
    log: String,
    reason: String,
    created_by: Option<String>,
    created_at: Timestamp,
    started_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
}

const COLUMNS: &str = "j.id as id, j.server_id as server_id, j.kind as kind, j.packages as packages, \
     j.state as state, j.not_before as not_before, j.not_after as not_after, j.attempt as attempt, \
     j.exit_code as exit_code, j.log as log, j.reason as reason, a.username as created_by, \
     j.created_at as created_at, j.started_at as started_at, j.finished_at as finished_at \
     from job j left join account a on a.id = j.created_by";

fn job_row(r: Row) -> JobRow {
    JobRow {
        id: r.id,
        server_id: r.server_id,
        spec: spec_of(&r.kind, &r.packages),
        state: r.state,
        not_before: r.not_before,
        not_after: r.not_after,
        attempt: r.attempt,
        exit_code: r.exit_code,
        log: r.log,
        reason: r.reason,
        created_by: r.created_by,
        created_at: r.created_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
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
