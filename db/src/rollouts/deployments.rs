//! Publishing and deploying patches to servers (as
//! `patchport_core::deploy` plans it), following the installs they
//! queued, and resolving which servers a deployment names.

use super::*;
use crate::states::{
    JOB_SUCCEEDED, KIND_DEPLOY, PATCH_PUBLISHABLE, PATCH_PUBLISHED, ROLLOUT_DECLINED,
};
use crate::{Conn, Result, StorageError, id_list, jobs};
use patchport_core::Timestamp;
use patchport_core::deploy::{
    self, Candidate, DeployRequest, PatchName, ServerTargets, Skip, SkipReason,
};
use patchport_core::notice::Notice;
use patchport_core::protocol::{JobSpec, PackageTarget};
use patchport_core::refusal::Refusal;
use patchport_core::state::{PatchState, RebootOption};
use std::collections::{BTreeSet, HashMap};

/// Publish or deploy.
pub use patchport_core::state::DeployKind as Kind;

/// When a deployment reboots.
pub use patchport_core::deploy::Reboot;

/// A publication or deployment to create.
#[derive(Debug, Clone)]
pub struct NewDeployment<'a> {
    /// Publish or deploy.
    pub kind: Kind,
    /// Patches.
    pub patch_ids: &'a [i64],
    /// Servers (already resolved from servers, groups, owners).
    pub server_ids: &'a [i64],
    /// Install not before (deploy).
    pub not_before: Timestamp,
    /// Install in each server's next maintenance window instead (not
    /// before it opens, expiring when it closes); servers without one are
    /// left out.
    pub in_windows: bool,
    /// Reboot option (deploy).
    pub reboot: Reboot,
    /// The rollout that approved it.
    pub rollout_id: Option<i64>,
    /// The admin who asked.
    pub created_by: Option<i64>,
    /// The form's one-time key: a repeat returns the first deployment.
    pub request_key: Option<&'a str>,
    /// Free text.
    pub note: &'a str,
}

/// What creating a deployment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// The deployment.
    pub id: i64,
    /// False when the request key had been used: nothing new was done.
    pub created: bool,
    /// Server-patches it acts on.
    pub targets: u32,
    /// Install jobs queued (one per server).
    pub jobs: u32,
    /// Server-patches left out, each with why ("web-1: openssl 3.0.15 is
    /// already installed").
    pub skipped: Vec<String>,
}

/// Publishes or deploys patches to servers. Only server-patches that are
/// missing (or published, or failed) are acted on; the rest are reported
/// in `skipped`. A declined patch is refused. What it acts on is
/// [`deploy::plan`]'s choice.
pub async fn deploy(conn: &mut Conn, d: &NewDeployment<'_>, now: Timestamp) -> Result<Deployed> {
    deploy::check_choice(d.patch_ids, d.server_ids).map_err(refused)?;
    let declined = declined_patches(conn, d.patch_ids).await?;
    deploy::check_declined(declined).map_err(refused)?;
    let Some(id) = insert_deployment(conn, d, now).await? else {
        return existing_deployment(conn, d.request_key).await;
    };
    let rows = deploy_candidates(conn, d).await?;
    let windows = if d.in_windows {
        crate::windows::next_for_servers(conn, d.server_ids, now).await?
    } else {
        HashMap::new()
    };
    let plan = deploy::plan(
        &DeployRequest {
            kind: d.kind,
            not_before: d.not_before,
            windows: d.in_windows.then_some(&windows),
            now,
        },
        &rows,
    );
    for server in &plan.servers {
        write_targets(conn, id, server, d.created_by, now).await?;
    }
    for told in &plan.notices {
        crate::mail::notify(conn, told.owner, &told.notice(), now).await?;
    }
    record_skips(conn, id, &plan.skips).await?;
    Ok(Deployed {
        id,
        created: true,
        targets: plan.targets() as u32,
        jobs: plan.jobs() as u32,
        skipped: plan.skips.iter().map(ToString::to_string).collect(),
    })
}

/// Rows per insert of left-out server-patches (6 values each, well under
/// either backend's limit of bound values).
const SKIPS_PER_INSERT: usize = 500;

/// Keeps what the deployment left out, in the plan's order.
async fn record_skips(conn: &mut Conn, deployment_id: i64, skipped: &[Skip]) -> Result<()> {
    for (chunk_no, chunk) in skipped.chunks(SKIPS_PER_INSERT).enumerate() {
        let sql = format!(
            "insert into deployment_skip (deployment_id, position, host, package, version, reason) values {}",
            crate::values_placeholders(chunk.len(), 6)
        );
        let mut q = sqlx::query(&sql);
        for (i, skip) in chunk.iter().enumerate() {
            q = q
                .bind(deployment_id)
                .bind((chunk_no * SKIPS_PER_INSERT + i) as i64)
                .bind(skip.host.clone())
                .bind(skip.patch.as_ref().map(|p| p.package.clone()))
                .bind(skip.patch.as_ref().map(|p| p.version.clone()))
                .bind(skip.reason.as_str());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// What deployment `id` left out and why, in the order it was planned.
pub async fn skips(conn: &mut Conn, id: i64) -> Result<Vec<Skip>> {
    let rows: Vec<(String, Option<String>, Option<String>, String)> = sqlx::query_as(
        "select host, package, version, reason from deployment_skip \
         where deployment_id = $1 order by position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(host, package, version, reason)| {
            Ok(Skip {
                host,
                patch: package.map(|package| PatchName {
                    package,
                    version: version.unwrap_or_default(),
                }),
                reason: SkipReason::parse(&reason).ok_or_else(|| {
                    StorageError::Corrupt(format!(
                        "deployment {id} left something out for an unknown reason {reason:?}"
                    ))
                })?,
            })
        })
        .collect()
}

/// A refusal, as the caller's conflict.
pub(super) fn refused(r: impl std::fmt::Display) -> StorageError {
    StorageError::Conflict(r.to_string())
}

/// The patches among `patch_ids` whose rollout was declined.
pub(super) async fn declined_patches(conn: &mut Conn, patch_ids: &[i64]) -> Result<Vec<PatchName>> {
    let declined: Vec<(String, String)> = sqlx::query_as(&format!(
        "select p.package, p.version from rollout r join patch p on p.id = r.patch_id \
         where r.state = {ROLLOUT_DECLINED} and r.patch_id in ({}) order by p.package",
        id_list(patch_ids)
    ))
    .fetch_all(&mut *conn)
    .await?;
    Ok(declined
        .into_iter()
        .map(|(package, version)| PatchName { package, version })
        .collect())
}

/// Stores the deployment; None when its request key was used already.
pub(super) async fn insert_deployment(
    conn: &mut Conn,
    d: &NewDeployment<'_>,
    now: Timestamp,
) -> Result<Option<i64>> {
    let (reboot, reboot_at) = d.reboot.stored();
    let inserted: Option<(i64,)> = sqlx::query_as(
        "insert into deployment (kind, rollout_id, created_by, request_key, not_before, reboot, reboot_at, note, created_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (request_key) do nothing returning id",
    )
    .bind(d.kind.as_str())
    .bind(d.rollout_id)
    .bind(d.created_by)
    .bind(d.request_key)
    .bind(d.not_before)
    .bind(reboot.as_str())
    .bind(reboot_at)
    .bind(d.note)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(inserted.map(|(id,)| id))
}

/// The deployment made earlier with this request key, as made.
pub(super) async fn existing_deployment(
    conn: &mut Conn,
    request_key: Option<&str>,
) -> Result<Deployed> {
    #[derive(sqlx::FromRow)]
    struct Made {
        id: i64,
        targets: i64,
        jobs: i64,
    }
    let made: Made = sqlx::query_as(
        "select d.id as id, (select count(*) from deployment_target t where t.deployment_id = d.id) as targets, \
           (select count(distinct t.job_id) from deployment_target t where t.deployment_id = d.id) as jobs \
         from deployment d where d.request_key = $1",
    )
    .bind(request_key)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Deployed {
        id: made.id,
        created: false,
        targets: made.targets as u32,
        jobs: made.jobs as u32,
        skipped: skips(conn, made.id)
            .await?
            .iter()
            .map(ToString::to_string)
            .collect(),
    })
}

/// Every chosen (server, patch), by server and patch, with where the patch
/// stands there.
pub(super) async fn deploy_candidates(
    conn: &mut Conn,
    d: &NewDeployment<'_>,
) -> Result<Vec<Candidate>> {
    #[derive(sqlx::FromRow)]
    struct Pair {
        server_id: i64,
        hostname: String,
        owner_id: Option<i64>,
        patch_id: i64,
        package: String,
        version: String,
        arch: String,
        /// None when the server does not offer the patch.
        state: Option<String>,
    }
    let pairs: Vec<Pair> = sqlx::query_as(&format!(
        "select s.id as server_id, s.hostname as hostname, p.id as patch_id, p.package as package, \
               p.version as version, p.arch as arch, sp.state as state, s.owner_id as owner_id \
             from server s cross join patch p \
             left join server_patch sp on sp.server_id = s.id and sp.patch_id = p.id \
             where s.id in ({}) and p.id in ({}) order by s.id, p.id",
        id_list(d.server_ids),
        id_list(d.patch_ids)
    ))
    .fetch_all(&mut *conn)
    .await?;
    Ok(pairs
        .into_iter()
        .map(|p| Candidate {
            server_id: p.server_id,
            host: p.hostname,
            owner: p.owner_id,
            patch_id: p.patch_id,
            package: PackageTarget {
                name: p.package,
                version: p.version,
                arch: p.arch,
            },
            state: p.state.as_deref().and_then(PatchState::parse),
        })
        .collect())
}

/// Writes one server's part of a plan: publishes its patches or queues
/// its install job, and records the targets.
pub(super) async fn write_targets(
    conn: &mut Conn,
    deployment_id: i64,
    server: &ServerTargets,
    created_by: Option<i64>,
    now: Timestamp,
) -> Result<()> {
    let job_id = match &server.job {
        None => {
            for patch_id in &server.patch_ids {
                sqlx::query(&format!(
                    "update server_patch set state = {PATCH_PUBLISHED}, updated_at = $1 \
                     where server_id = $2 and patch_id = $3 and state in {PATCH_PUBLISHABLE}"
                ))
                .bind(now)
                .bind(server.server_id)
                .bind(patch_id)
                .execute(&mut *conn)
                .await?;
            }
            None
        }
        Some(job) => {
            let new = jobs::NewJob {
                server_id: server.server_id,
                spec: &job.spec,
                not_before: job.not_before,
                not_after: job.not_after,
                created_by,
            };
            Some(jobs::create(conn, &new, now).await?)
        }
    };
    for patch_id in &server.patch_ids {
        sqlx::query(
            "insert into deployment_target (deployment_id, server_id, patch_id, job_id) values ($1, $2, $3, $4)",
        )
        .bind(deployment_id)
        .bind(server.server_id)
        .bind(patch_id)
        .bind(job_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Deployments whose installs finished: queue the reboot it asked for, or
/// ask the owner to schedule one.
pub(super) async fn follow_deployments(
    conn: &mut Conn,
    now: Timestamp,
    out: &mut Ticked,
) -> Result<()> {
    let done: Vec<Installed> = sqlx::query_as(&format!(
        "select distinct d.id as deployment_id, t.server_id as server_id, d.reboot as reboot, \
           d.reboot_at as reboot_at, s.owner_id as owner, s.hostname as hostname \
         from deployment d join deployment_target t on t.deployment_id = d.id \
         join job j on j.id = t.job_id join server s on s.id = t.server_id \
         where d.kind = {KIND_DEPLOY} and j.state = {JOB_SUCCEEDED} and t.reboot_job_id is null and not t.owner_told \
         order by d.id, t.server_id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    for installed in &done {
        if RebootOption::parse(&installed.reboot) == Some(RebootOption::None) {
            out.notified += oblige_reboot(conn, installed, now).await?;
        } else {
            queue_reboot(conn, installed, now).await?;
            out.reboots += 1;
        }
    }
    Ok(())
}

/// A server whose install of a deployment succeeded and that was neither
/// rebooted nor told yet.
#[derive(sqlx::FromRow)]
pub(super) struct Installed {
    deployment_id: i64,
    server_id: i64,
    reboot: String,
    reboot_at: Option<Timestamp>,
    owner: Option<i64>,
    hostname: String,
}

/// An install without a reboot: the server now owes one (its deadline
/// from the worst severity installed), its owner is told to book it, and
/// the target is marked told. Returns how many were told (0 or 1).
async fn oblige_reboot(conn: &mut Conn, i: &Installed, now: Timestamp) -> Result<u32> {
    let mut told = 0;
    if let Some(owner) = i.owner {
        let packages: Vec<(String, String)> = sqlx::query_as(
            "select p.package, p.version from deployment_target t join patch p on p.id = t.patch_id \
             where t.deployment_id = $1 and t.server_id = $2 order by p.package",
        )
        .bind(i.deployment_id)
        .bind(i.server_id)
        .fetch_all(&mut *conn)
        .await?;
        let (rank,): (i64,) = sqlx::query_as(
            "select coalesce(max(f.severity_rank), 0) from deployment_target t \
             join server_patch sp on sp.server_id = t.server_id and sp.patch_id = t.patch_id \
             join patch_from f on f.id = sp.from_id where t.deployment_id = $1 and t.server_id = $2",
        )
        .bind(i.deployment_id)
        .bind(i.server_id)
        .fetch_one(&mut *conn)
        .await?;
        let deadline = crate::windows::oblige_reboot(conn, i.server_id, rank, now).await?;
        let notice = Notice::RebootNeeded {
            server_id: i.server_id,
            host: i.hostname.clone(),
            packages: packages.iter().map(|(p, v)| format!("{p} {v}")).collect(),
            deadline,
        };
        crate::mail::notify(conn, owner, &notice, now).await?;
        told = 1;
    }
    sqlx::query(
        "update deployment_target set owner_told = $1 where deployment_id = $2 and server_id = $3",
    )
    .bind(true)
    .bind(i.deployment_id)
    .bind(i.server_id)
    .execute(&mut *conn)
    .await?;
    Ok(told)
}

/// Queues the reboot the deployment asked for, at its time (or now).
async fn queue_reboot(conn: &mut Conn, i: &Installed, now: Timestamp) -> Result<()> {
    let not_before = i.reboot_at.unwrap_or(now).max(now);
    let job_id = jobs::create(
        conn,
        &jobs::NewJob {
            server_id: i.server_id,
            spec: &JobSpec::Reboot,
            not_before,
            not_after: not_before + INSTALL_WINDOW,
            created_by: None,
        },
        now,
    )
    .await?;
    sqlx::query(
        "update deployment_target set reboot_job_id = $1 where deployment_id = $2 and server_id = $3",
    )
    .bind(job_id)
    .bind(i.deployment_id)
    .bind(i.server_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Server ids for host names (or `#id`); a name no server has, or that
/// several servers share, is an error naming it.
pub async fn servers_named(conn: &mut Conn, hostnames: &[String]) -> Result<Vec<i64>> {
    let mut ids = Vec::with_capacity(hostnames.len());
    for name in hostnames {
        // `#12` names server 12 itself; a host name must name exactly one
        // server (names need not be unique, and a deployment must never
        // reach a server nobody meant).
        if let Some(id) = name.strip_prefix('#') {
            let id: i64 = id
                .parse()
                .map_err(|_| refused(Refusal::NotAServerNumber(name.clone())))?;
            let found: Option<(i64,)> = sqlx::query_as("select id from server where id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
            ids.push(
                found
                    .ok_or_else(|| refused(Refusal::NoServerNumbered(name.clone())))?
                    .0,
            );
            continue;
        }
        let found: Vec<(i64,)> =
            sqlx::query_as("select id from server where hostname = $1 order by id")
                .bind(name)
                .fetch_all(&mut *conn)
                .await?;
        match found.as_slice() {
            [] => return Err(refused(Refusal::NoServerNamed(name.clone()))),
            [(id,)] => ids.push(*id),
            many => {
                return Err(refused(Refusal::Ambiguous {
                    name: name.clone(),
                    ids: many.iter().map(|(id,)| *id).collect(),
                }));
            }
        }
    }
    Ok(ids)
}

/// Servers named by id, by group and by owner, as one sorted list.
pub async fn resolve_servers(
    conn: &mut Conn,
    server_ids: &[i64],
    group_ids: &[i64],
    owner_ids: &[i64],
) -> Result<Vec<i64>> {
    let mut all: BTreeSet<i64> = BTreeSet::new();
    if !server_ids.is_empty() {
        let rows: Vec<(i64,)> = sqlx::query_as(&format!(
            "select id from server where id in ({})",
            id_list(server_ids)
        ))
        .fetch_all(&mut *conn)
        .await?;
        if rows.len() != server_ids.iter().collect::<BTreeSet<_>>().len() {
            return Err(refused(Refusal::ServerGone));
        }
        all.extend(rows.into_iter().map(|r| r.0));
    }
    if !group_ids.is_empty() {
        let rows: Vec<(i64,)> = sqlx::query_as(&format!(
            "select server_id from server_group_member where group_id in ({})",
            id_list(group_ids)
        ))
        .fetch_all(&mut *conn)
        .await?;
        all.extend(rows.into_iter().map(|r| r.0));
    }
    if !owner_ids.is_empty() {
        let rows: Vec<(i64,)> = sqlx::query_as(&format!(
            "select id from server where owner_id in ({})",
            id_list(owner_ids)
        ))
        .fetch_all(&mut *conn)
        .await?;
        all.extend(rows.into_iter().map(|r| r.0));
    }
    Ok(all.into_iter().collect())
}
