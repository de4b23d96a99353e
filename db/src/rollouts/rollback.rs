//! Rolling a deployment back on its servers (issue 18): storage reads each
//! server's install job, the versions recorded when it started and its
//! newest rollback; [`patchport_core::rollback::plan`] decides; the
//! rollback jobs are queued here and noted in the rollout's history.

use super::Actor;
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

/// Deployment `id`'s servers (only `server_id`, when given) as
/// [`rollback::plan`] reads them, by host name.
pub async fn rollback_candidates(
    conn: &mut Conn,
    id: i64,
    server_id: Option<i64>,
) -> Result<Vec<Candidate>> {
    let rows: Vec<Row> = sqlx::query_as(
        "select t.server_id as server_id, s.hostname as host, j.id as job_id, j.state as job_state, \
           j.packages as packages, j.previous as previous, \
           (select r.state from job r where r.rollback_of = j.id order by r.id desc limit 1) as rollback_state \
         from (select distinct server_id, job_id from deployment_target \
               where deployment_id = $1 and ($2 < 0 or server_id = $2)) t \
         join server s on s.id = t.server_id left join job j on j.id = t.job_id \
         order by s.hostname, t.server_id",
    )
    .bind(id)
    .bind(server_id.unwrap_or(-1))
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Candidate {
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
        })
        .collect())
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
    for job in &plan.jobs {
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
