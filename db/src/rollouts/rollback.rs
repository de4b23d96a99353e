//! Rolling a deployment back on its servers (issue 18): storage reads each
//! server's install job, the versions recorded when it started and its
//! newest rollback; [`patchport_core::rollback::plan`] decides; the
//! rollback jobs are queued here and noted in the rollout's history.

use super::Actor;
use crate::states::KIND_INSTALL;
use crate::{Conn, Result, jobs};
use patchport_core::Timestamp;
use patchport_core::protocol::PackageTarget;
use patchport_core::rollback::{self, Candidate, Installed};
use patchport_core::state::JobState;

/// What a rollback request did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolledBack {
    /// Rollback jobs queued, one per server.
    pub queued: Vec<String>,
    /// Servers left alone, each with why ("web-1: the install failed, so
    /// there is nothing to roll back").
    pub refused: Vec<String>,
}

/// One server of the deployment, as stored.
#[derive(sqlx::FromRow)]
struct Row {
    server_id: i64,
    host: String,
    job_id: Option<i64>,
    job_state: Option<String>,
    packages: Option<String>,
    previous: Option<String>,
    rollback_state: Option<String>,
}

fn decode(json: &str) -> Option<Vec<PackageTarget>> {
    serde_json::from_str(json).ok()
}

/// What [`Row`] reads of an install job `j` on server `s`.
const CANDIDATE: &str = "s.hostname as host, j.id as job_id, j.state as job_state, \
    j.packages as packages, j.previous as previous, \
    (select r.state from job r where r.rollback_of = j.id order by r.id desc limit 1) as rollback_state";

impl From<Row> for Candidate {
    fn from(r: Row) -> Self {
        Candidate {
            server_id: r.server_id,
            host: r.host,
            install: match (r.job_id, r.job_state.as_deref().and_then(JobState::parse)) {
                (Some(job_id), Some(state)) => Some(Installed {
                    job_id,
                    state,
                    packages: r.packages.as_deref().and_then(decode).unwrap_or_default(),
                    before: r.previous.as_deref().and_then(decode),
                }),
                _ => None,
            },
            rollback: r.rollback_state.as_deref().and_then(JobState::parse),
        }
    }
}

/// Deployment `id`'s servers (only `server_id`, when given) as
/// [`rollback::plan`] reads them, by host name.
pub async fn rollback_candidates(
    conn: &mut Conn,
    id: i64,
    server_id: Option<i64>,
) -> Result<Vec<Candidate>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select t.server_id as server_id, {CANDIDATE} \
         from (select distinct server_id, job_id from deployment_target \
               where deployment_id = $1 and ($2 < 0 or server_id = $2)) t \
         join server s on s.id = t.server_id left join job j on j.id = t.job_id \
         order by s.hostname, t.server_id"
    ))
    .bind(id)
    .bind(server_id.unwrap_or(-1))
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows.into_iter().map(Candidate::from).collect())
}

/// Install job `job_id` (from a deployment or a server's page) as
/// [`rollback::plan`] reads it; `None` when there is no such install.
pub async fn install_candidate(conn: &mut Conn, job_id: i64) -> Result<Option<Candidate>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "select j.server_id as server_id, {CANDIDATE} \
         from job j join server s on s.id = j.server_id where j.id = $1 and j.kind = {KIND_INSTALL}"
    ))
    .bind(job_id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(Candidate::from))
}

/// Rolls install job `job_id` back, to the versions its server had before
/// it. `Ok(None)`: no such install; `Ok(Some(Err(why)))`: refused, nothing
/// queued; else the new rollback job.
pub async fn rollback_install(
    conn: &mut Conn,
    job_id: i64,
    actor: Actor<'_>,
    now: Timestamp,
) -> Result<Option<std::result::Result<i64, rollback::Refusal>>> {
    let Some(candidate) = install_candidate(conn, job_id).await? else {
        return Ok(None);
    };
    let plan = rollback::plan(std::slice::from_ref(&candidate), now);
    if let Some(why) = plan.refused.into_iter().next() {
        return Ok(Some(Err(why)));
    }
    let mut queued = queue(conn, &plan.jobs, actor, now).await?;
    let deployment: Option<(i64,)> =
        sqlx::query_as("select deployment_id from deployment_target where job_id = $1 limit 1")
            .bind(job_id)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((deployment,)) = deployment {
        note_in_rollout(
            conn,
            deployment,
            std::slice::from_ref(&candidate.host),
            actor,
            now,
        )
        .await?;
    }
    Ok(queued.pop().map(Ok))
}

/// Queues `jobs`, each marked as undoing its install; returns their ids.
async fn queue(
    conn: &mut Conn,
    jobs: &[rollback::Job],
    actor: Actor<'_>,
    now: Timestamp,
) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(jobs.len());
    for job in jobs {
        let job_id = jobs::create(
            conn,
            &jobs::NewJob {
                server_id: job.server_id,
                spec: &job.spec,
                not_before: job.not_before,
                not_after: job.not_after,
                created_by: actor.id(),
            },
            now,
        )
        .await?;
        sqlx::query("update job set rollback_of = $1 where id = $2")
            .bind(job.install_job)
            .bind(job_id)
            .execute(&mut *conn)
            .await?;
        ids.push(job_id);
    }
    Ok(ids)
}

/// The `portal_setting` that lets owners roll back installs on their own
/// servers ("true" or "false"; off unless an admin turned it on).
const OWNERS_ROLL_BACK: &str = "owners_roll_back";

/// Whether owners may roll back installs on their own servers.
pub async fn owners_may_roll_back(conn: &mut Conn) -> Result<bool> {
    Ok(crate::accounts::setting(conn, OWNERS_ROLL_BACK)
        .await?
        .as_deref()
        == Some("true"))
}

/// Lets owners roll back installs on their own servers, or not (admins).
pub async fn set_owners_may_roll_back(
    conn: &mut Conn,
    allowed: bool,
    now: Timestamp,
) -> Result<()> {
    crate::accounts::set_setting(
        conn,
        OWNERS_ROLL_BACK,
        if allowed { "true" } else { "false" },
        now,
    )
    .await
}

/// Rolls deployment `id` back on `server_id`, or on all its servers: one
/// rollback job per server whose install succeeded, to the versions it
/// had before; the others are refused with why. Noted in the rollout's
/// history when the deployment came from one. `Ok(None)`: no such
/// deployment (or not that server in it).
pub async fn rollback(
    conn: &mut Conn,
    id: i64,
    server_id: Option<i64>,
    actor: Actor<'_>,
    now: Timestamp,
) -> Result<Option<RolledBack>> {
    let found = rollback_candidates(conn, id, server_id).await?;
    if found.is_empty() {
        return Ok(None);
    }
    let plan = rollback::plan(&found, now);
    let mut out = RolledBack {
        refused: plan.refused.iter().map(ToString::to_string).collect(),
        ..RolledBack::default()
    };
    queue(conn, &plan.jobs, actor, now).await?;
    for job in &plan.jobs {
        if let Some(c) = found.iter().find(|c| c.server_id == job.server_id) {
            out.queued.push(c.host.clone());
        }
    }
    if !out.queued.is_empty() {
        note_in_rollout(conn, id, &out.queued, actor, now).await?;
    }
    Ok(Some(out))
}

/// Notes the rollback in the history of the rollout the deployment came
/// from, if any (its state does not change).
async fn note_in_rollout(
    conn: &mut Conn,
    deployment_id: i64,
    hosts: &[String],
    actor: Actor<'_>,
    now: Timestamp,
) -> Result<()> {
    let rollout: Option<(i64, String)> = sqlx::query_as(
        "select r.id, r.state from deployment d join rollout r on r.id = d.rollout_id where d.id = $1",
    )
    .bind(deployment_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((rollout_id, state)) = rollout else {
        return Ok(());
    };
    let note = patchport_core::rollout::PolicyNote::RolledBack {
        deployment: deployment_id,
        hosts: hosts.to_vec(),
    };
    sqlx::query(
        "insert into rollout_event (rollout_id, from_state, to_state, actor_id, actor, reason, at) \
         values ($1, $2, $2, $3, $4, $5, $6)",
    )
    .bind(rollout_id)
    .bind(state)
    .bind(actor.id())
    .bind(actor.name())
    .bind(note.to_string())
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
