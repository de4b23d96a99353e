//! Rollouts, deployments and notifications as the pages show them.

use crate::row::{Flag, flag};
use crate::states::PATCH_MISSING;
use crate::{Conn, Page, Result, limit_offset};
use patchport_core::Timestamp;
use patchport_core::rollout::RolloutState;
use patchport_core::state::{DeployKind, JobState, PatchState, RebootOption, TargetState};

/// One rollout as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutRow {
    /// Id.
    pub id: i64,
    /// Patch id.
    pub patch_id: i64,
    /// Package.
    pub package: String,
    /// Target version.
    pub version: String,
    /// Release.
    pub release: String,
    /// Severity ("" unknown).
    pub severity: String,
    /// Known exploited.
    pub known_exploited: bool,
    /// Servers missing it.
    pub servers: i64,
    /// State.
    pub state: RolloutState,
    /// Policy name ("" none).
    pub policy: String,
    /// Observation end (observing).
    pub observe_until: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A rollout as [`rollout_select`] reads it.
#[derive(sqlx::FromRow)]
pub(super) struct RolloutRecord {
    id: i64,
    patch_id: i64,
    package: String,
    version: String,
    release: String,
    severity_rank: i64,
    #[sqlx(try_from = "Flag")]
    known_exploited: bool,
    servers: i64,
    state: String,
    policy: String,
    observe_until: Option<Timestamp>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// A rollout with its patch: the worst the patch fixes from any installed
/// version seen, and the servers it is open on now.
pub(super) fn rollout_select() -> String {
    format!(
        "select r.id as id, r.patch_id as patch_id, p.package as package, p.version as version, \
           p.release as release, \
           coalesce((select max(f.severity_rank) from patch_from f where f.patch_id = p.id), 0) \
             as severity_rank, \
           coalesce((select max({}) from patch_from f where f.patch_id = p.id), 0) as known_exploited, \
           coalesce((select cast(sum(f.open_servers) as bigint) from patch_from f \
             where f.patch_id = p.id), 0) as servers, \
           r.state as state, coalesce(pol.name, '') as policy, r.observe_until as observe_until, \
           r.created_at as created_at, r.updated_at as updated_at \
         from rollout r join patch p on p.id = r.patch_id \
         left join rollout_policy pol on pol.id = r.policy_id",
        flag("f.known_exploited")
    )
}

impl From<RolloutRecord> for RolloutRow {
    fn from(r: RolloutRecord) -> Self {
        RolloutRow {
            id: r.id,
            patch_id: r.patch_id,
            package: r.package,
            version: r.version,
            release: r.release,
            severity: crate::report::severity_of_rank(r.severity_rank).to_owned(),
            known_exploited: r.known_exploited,
            servers: r.servers,
            state: RolloutState::parse(&r.state).unwrap_or(RolloutState::New),
            policy: r.policy,
            observe_until: r.observe_until,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Rollouts, newest change first, optionally in one state.
pub async fn list(
    conn: &mut Conn,
    state: Option<RolloutState>,
    page: i64,
    per_page: i64,
) -> Result<Page<RolloutRow>> {
    let q = RolloutQuery {
        state,
        ..RolloutQuery::default()
    };
    search(conn, &q, page, per_page).await
}

/// How the rollouts list is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RolloutSort {
    /// Last change first.
    #[default]
    Changed,
    /// Worst first (severity, then known exploitation), then the one
    /// waiting longest (oldest rollout) first.
    Severity,
}

/// What the rollouts list asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolloutQuery {
    /// Text in the package's name or in the id of an advisory or CVE the
    /// patch fixes (case-insensitive); empty for all.
    pub search: String,
    /// Only rollouts in this state.
    pub state: Option<RolloutState>,
    /// Only patches at least this severe (a rank, see
    /// `patchport_core::rollout::severity_rank`; 0 for any).
    pub min_severity: i64,
    /// Only patches fixing a known-exploited CVE.
    pub known_exploited: bool,
    /// The order.
    pub sort: RolloutSort,
}

/// A value bound to a query built from a [`RolloutQuery`].
enum Arg {
    Text(String),
    Int(i64),
}

/// Rollouts as `q` asks: filtered and ordered in the database, one page.
pub async fn search(
    conn: &mut Conn,
    q: &RolloutQuery,
    page: i64,
    per_page: i64,
) -> Result<Page<RolloutRow>> {
    let mut args = Vec::new();
    let mut arg = |a: Arg| {
        args.push(a);
        format!("${}", args.len())
    };
    let mut conditions = Vec::new();
    if let Some(state) = q.state {
        conditions.push(format!(
            "x.state = {}",
            arg(Arg::Text(state.as_str().into()))
        ));
    }
    let search = q.search.trim().to_lowercase();
    if !search.is_empty() {
        let n = arg(Arg::Text(format!("%{}%", crate::like_escape(&search))));
        conditions.push(format!(
            "(lower(x.package) like {n} escape '\\' or exists (\
               select 1 from patch_from f join patch_from_advisory fa on fa.from_id = f.id \
               join advisory a on a.id = fa.advisory_id where f.patch_id = x.patch_id \
               and (lower(a.advisory_id) like {n} escape '\\' or exists (\
                 select 1 from advisory_cve c where c.advisory_id = a.id \
                 and lower(c.cve) like {n} escape '\\'))))"
        ));
    }
    if q.min_severity > 0 {
        conditions.push(format!(
            "x.severity_rank >= {}",
            arg(Arg::Int(q.min_severity))
        ));
    }
    if q.known_exploited {
        conditions.push("x.known_exploited = 1".into());
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("where {}", conditions.join(" and "))
    };
    let order = match q.sort {
        RolloutSort::Changed => "x.updated_at desc, x.id desc",
        RolloutSort::Severity => "x.severity_rank desc, x.known_exploited desc, x.created_at, x.id",
    };
    let from = format!("from ({}) x {filter}", rollout_select());
    let (limit, offset) = limit_offset(page, per_page);
    let count_sql = format!("select count(*) {from}");
    let mut count = sqlx::query_as::<_, (i64,)>(&count_sql);
    let rows_sql = format!(
        "select * {from} order by {order} limit ${} offset ${}",
        args.len() + 1,
        args.len() + 2
    );
    let mut rows = sqlx::query_as::<_, RolloutRecord>(&rows_sql);
    for a in &args {
        (count, rows) = match a {
            Arg::Text(t) => (count.bind(t.clone()), rows.bind(t.clone())),
            Arg::Int(i) => (count.bind(*i), rows.bind(*i)),
        };
    }
    let (total,) = count.fetch_one(&mut *conn).await?;
    let items = rows.bind(limit).bind(offset).fetch_all(conn).await?;
    Ok(Page {
        items: items.into_iter().map(RolloutRow::from).collect(),
        total,
    })
}

/// The package and version of each of `ids` that exists, by rollout id.
pub async fn named(
    conn: &mut Conn,
    ids: &[i64],
) -> Result<std::collections::BTreeMap<i64, (String, String)>> {
    if ids.is_empty() {
        return Ok(Default::default());
    }
    let rows: Vec<(i64, String, String)> = sqlx::query_as(&format!(
        "select r.id, p.package, p.version from rollout r join patch p on p.id = r.patch_id \
         where r.id in ({})",
        crate::id_list(ids)
    ))
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id, p, v)| (id, (p, v))).collect())
}

/// A decision in a rollout's history.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EventRow {
    /// Previous state.
    #[sqlx(rename = "from_state")]
    pub from: Option<String>,
    /// New state.
    #[sqlx(rename = "to_state")]
    pub to: String,
    /// "policy" or the admin's user name.
    pub actor: String,
    /// Why.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// A test install on one server.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TestRow {
    /// Server id.
    pub server_id: i64,
    /// Host name.
    pub hostname: String,
    /// Job id.
    pub job_id: Option<i64>,
    /// Job state.
    pub state: String,
    /// Exit code.
    pub exit_code: Option<i64>,
    /// Log.
    pub log: String,
}

/// A rollout with its history and test installs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutDetail {
    /// The rollout.
    pub rollout: RolloutRow,
    /// Decisions, oldest first.
    pub events: Vec<EventRow>,
    /// Test installs.
    pub tests: Vec<TestRow>,
    /// Deployments it made.
    pub deployments: Vec<i64>,
}

/// One rollout.
pub async fn get(conn: &mut Conn, id: i64) -> Result<Option<RolloutDetail>> {
    let row: Option<RolloutRecord> =
        sqlx::query_as(&format!("{} where r.id = $1", rollout_select()))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let events: Vec<EventRow> = sqlx::query_as(
        "select from_state, to_state, actor, reason, at from rollout_event where rollout_id = $1 order by id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let tests: Vec<TestRow> = sqlx::query_as(
        "select t.server_id as server_id, s.hostname as hostname, t.job_id as job_id, \
           coalesce(j.state, 'gone') as state, j.exit_code as exit_code, coalesce(j.log, '') as log \
         from rollout_test t join server s on s.id = t.server_id left join job j on j.id = t.job_id \
         where t.rollout_id = $1 order by s.hostname",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let deployments: Vec<(i64,)> =
        sqlx::query_as("select id from deployment where rollout_id = $1 order by id")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(Some(RolloutDetail {
        rollout: row.into(),
        events,
        tests,
        deployments: deployments.into_iter().map(|d| d.0).collect(),
    }))
}

/// The rollout of a patch, if it has one.
pub async fn of_patch(conn: &mut Conn, patch_id: i64) -> Result<Option<i64>> {
    let row: Option<(i64,)> = sqlx::query_as("select id from rollout where patch_id = $1")
        .bind(patch_id)
        .fetch_optional(conn)
        .await?;
    Ok(row.map(|r| r.0))
}

/// A server's place in a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRow {
    /// Server id.
    pub server_id: i64,
    /// Host name.
    pub hostname: String,
    /// Its patches in this deployment ("openssl 3.0.15-1").
    pub patches: Vec<String>,
    /// queued, installing, installed, failed, reboot pending, rebooting,
    /// rebooted, published.
    pub state: String,
    /// The install job and its log.
    pub job_id: Option<i64>,
    /// Install log (tail).
    pub log: String,
    /// Why the install job ended as it did, when something else decided
    /// (e.g. "the patch was declined"); empty otherwise.
    pub reason: String,
    /// The reboot job.
    pub reboot_job_id: Option<i64>,
    /// The newest rollback of the install, if any: its state, log (tail)
    /// and reason.
    pub rollback: Option<RollbackRow>,
}

/// A rollback of a deployment's install on one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackRow {
    /// Its job state (queued, running, succeeded, failed, ...).
    pub state: String,
    /// Its log (tail): the package manager's output, or the agent's
    /// refusal.
    pub log: String,
    /// Why it ended as it did, when something else decided.
    pub reason: String,
}

/// A deployment with each server's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentDetail {
    /// Id.
    pub id: i64,
    /// publish or deploy.
    pub kind: String,
    /// Who asked ("policy" for an approval).
    pub created_by: String,
    /// The rollout behind it.
    pub rollout_id: Option<i64>,
    /// Install not before.
    pub not_before: Timestamp,
    /// none, after, at.
    pub reboot: String,
    /// Reboot time (at).
    pub reboot_at: Option<Timestamp>,
    /// Created.
    pub created_at: Timestamp,
    /// Per server.
    pub targets: Vec<TargetRow>,
}

/// The state a server is in within a deployment, from its jobs and its
/// patch states.
pub(crate) fn target_state(
    kind: &str,
    job: Option<&str>,
    reboot_job: Option<&str>,
    reboot: &str,
    patch_states: &[String],
) -> String {
    use JobState::{Cancelled, Queued, Rebooting, Running, Succeeded};
    if DeployKind::parse(kind) == Some(DeployKind::Publish) {
        let states: Vec<Option<PatchState>> =
            patch_states.iter().map(|s| PatchState::parse(s)).collect();
        return if states.iter().all(|s| *s == Some(PatchState::Installed)) {
            TargetState::Installed
        } else if states
            .iter()
            .any(|s| matches!(s, Some(PatchState::Installing | PatchState::Queued)))
        {
            TargetState::Installing
        } else {
            TargetState::Published
        }
        .as_str()
        .to_owned();
    }
    // An unknown name (there is none: the CHECK constraint) is Some(None).
    let job = job.map(JobState::parse);
    let reboot_job = reboot_job.map(JobState::parse);
    let no_reboot = RebootOption::parse(reboot) == Some(RebootOption::None);
    match (job, reboot_job) {
        (Some(Some(Queued)) | None, _) => TargetState::Queued,
        (Some(Some(Running)), _) => TargetState::Installing,
        (Some(Some(Succeeded)), None) if no_reboot => TargetState::Installed,
        (Some(Some(Succeeded)), None | Some(Some(Queued))) => TargetState::RebootPending,
        (Some(Some(Succeeded)), Some(Some(Running | Rebooting))) => TargetState::Rebooting,
        (Some(Some(Succeeded)), Some(Some(Succeeded))) => TargetState::Rebooted,
        (Some(Some(Succeeded)), Some(_)) => TargetState::RebootFailed,
        (Some(Some(Cancelled)), _) => TargetState::Cancelled,
        _ => TargetState::Failed,
    }
    .as_str()
    .to_owned()
}

/// One deployment.
pub async fn deployment(conn: &mut Conn, id: i64) -> Result<Option<DeploymentDetail>> {
    let head: Option<DeploymentHead> = sqlx::query_as(
        "select d.id as id, d.kind as kind, coalesce(a.username, 'policy') as created_by, \
           d.rollout_id as rollout_id, d.not_before as not_before, d.reboot as reboot, \
           d.reboot_at as reboot_at, d.created_at as created_at \
         from deployment d left join account a on a.id = d.created_by where d.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(h) = head else {
        return Ok(None);
    };
    let rows: Vec<TargetPatch> = sqlx::query_as(&format!(
        "select t.server_id as server_id, s.hostname as hostname, p.package as package, \
           p.version as version, coalesce(sp.state, {PATCH_MISSING}) as patch_state, t.job_id as job_id, \
           j.state as job_state, coalesce(j.log, '') as log, coalesce(j.reason, '') as reason, \
           t.reboot_job_id as reboot_job_id, rj.state as reboot_job_state, \
           bj.state as rollback_state, coalesce(bj.log, '') as rollback_log, \
           coalesce(bj.reason, '') as rollback_reason \
         from deployment_target t join server s on s.id = t.server_id join patch p on p.id = t.patch_id \
         left join server_patch sp on sp.server_id = t.server_id and sp.patch_id = t.patch_id \
         left join job j on j.id = t.job_id left join job rj on rj.id = t.reboot_job_id \
         left join job bj on bj.id = (select max(r.id) from job r where r.rollback_of = t.job_id) \
         where t.deployment_id = $1 order by s.hostname, p.package"
    ))
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let targets = targets_of(&h, rows);
    Ok(Some(DeploymentDetail {
        id: h.id,
        kind: h.kind,
        created_by: h.created_by,
        rollout_id: h.rollout_id,
        not_before: h.not_before,
        reboot: h.reboot,
        reboot_at: h.reboot_at,
        created_at: h.created_at,
        targets,
    }))
}

/// A deployment as stored.
#[derive(sqlx::FromRow)]
struct DeploymentHead {
    id: i64,
    kind: String,
    created_by: String,
    rollout_id: Option<i64>,
    not_before: Timestamp,
    reboot: String,
    reboot_at: Option<Timestamp>,
    created_at: Timestamp,
}

/// One patch of one server in a deployment, with its jobs.
#[derive(sqlx::FromRow)]
struct TargetPatch {
    server_id: i64,
    hostname: String,
    package: String,
    version: String,
    patch_state: String,
    job_id: Option<i64>,
    job_state: Option<String>,
    log: String,
    reason: String,
    reboot_job_id: Option<i64>,
    reboot_job_state: Option<String>,
    rollback_state: Option<String>,
    rollback_log: String,
    rollback_reason: String,
}

/// The rows (ordered by server) as one target per server, each in the
/// state its jobs and patches give it.
fn targets_of(h: &DeploymentHead, rows: Vec<TargetPatch>) -> Vec<TargetRow> {
    /// A server's target, with its patch states and its first row (whose
    /// job states are the server's).
    struct Target {
        row: TargetRow,
        patch_states: Vec<String>,
        first: TargetPatch,
    }
    let mut targets: Vec<Target> = Vec::new();
    for r in rows {
        let patch = format!("{} {}", r.package, r.version);
        match targets.last_mut() {
            Some(last) if last.row.server_id == r.server_id => {
                last.row.patches.push(patch);
                last.patch_states.push(r.patch_state);
            }
            _ => targets.push(Target {
                row: TargetRow {
                    server_id: r.server_id,
                    hostname: r.hostname.clone(),
                    patches: vec![patch],
                    state: String::new(),
                    job_id: r.job_id,
                    log: r.log.clone(),
                    reason: r.reason.clone(),
                    reboot_job_id: r.reboot_job_id,
                    rollback: r.rollback_state.clone().map(|state| RollbackRow {
                        state,
                        log: r.rollback_log.clone(),
                        reason: r.rollback_reason.clone(),
                    }),
                },
                patch_states: vec![r.patch_state.clone()],
                first: r,
            }),
        }
    }
    targets
        .into_iter()
        .map(|t| {
            let mut row = t.row;
            row.state = target_state(
                &h.kind,
                t.first.job_state.as_deref(),
                t.first.reboot_job_state.as_deref(),
                &h.reboot,
                &t.patch_states,
            );
            row
        })
        .collect()
}

/// A recorded notification.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct NotificationRow {
    /// Id.
    pub id: i64,
    /// Recipient's user name.
    pub username: String,
    /// Kind (test_failed, observation_ended, published, reboot_needed).
    pub kind: String,
    /// Subject.
    pub subject: String,
    /// Body.
    pub body: String,
    /// Link in the portal.
    pub link: String,
    /// When.
    pub created_at: Timestamp,
}

/// Notifications, newest first (all, or one account's).
pub async fn notifications(
    conn: &mut Conn,
    account_id: Option<i64>,
    page: i64,
    per_page: i64,
) -> Result<Page<NotificationRow>> {
    let (limit, offset) = limit_offset(page, per_page);
    // One account's, or everyone's: two texts, so each keeps its plan.
    let only = if account_id.is_some() {
        "where n.account_id = $3"
    } else {
        ""
    };
    let count_sql = format!(
        "select count(*) from notification n {}",
        only.replace("$3", "$1")
    );
    let mut count = sqlx::query_as(&count_sql);
    if let Some(id) = account_id {
        count = count.bind(id);
    }
    let (total,): (i64,) = count.fetch_one(&mut *conn).await?;
    let sql = format!(
        "select n.id as id, a.username as username, n.kind as kind, n.subject as subject, n.body as body, \
           n.link as link, n.created_at as created_at from notification n \
         join account a on a.id = n.account_id {only} order by n.id desc limit $1 offset $2",
    );
    let mut q = sqlx::query_as(&sql).bind(limit).bind(offset);
    if let Some(id) = account_id {
        q = q.bind(id);
    }
    let items: Vec<NotificationRow> = q.fetch_all(conn).await?;
    Ok(Page { items, total })
}

#[cfg(test)]
mod tests {
    use super::target_state;

    #[test]
    fn a_deployment_target_state_follows_its_jobs() {
        let s = |job, reboot_job, reboot| target_state("deploy", job, reboot_job, reboot, &[]);
        assert_eq!(s(Some("queued"), None, "none"), "queued");
        assert_eq!(s(Some("running"), None, "after"), "installing");
        assert_eq!(s(Some("succeeded"), None, "none"), "installed");
        assert_eq!(s(Some("succeeded"), None, "at"), "reboot pending");
        assert_eq!(s(Some("succeeded"), Some("queued"), "at"), "reboot pending");
        assert_eq!(
            s(Some("succeeded"), Some("rebooting"), "after"),
            "rebooting"
        );
        assert_eq!(s(Some("succeeded"), Some("succeeded"), "after"), "rebooted");
        assert_eq!(s(Some("failed"), None, "after"), "failed");
        assert_eq!(s(Some("expired"), None, "none"), "failed");
        assert_eq!(s(Some("cancelled"), None, "after"), "cancelled");
        let published = ["published".to_owned(), "installed".to_owned()];
        assert_eq!(
            target_state("publish", None, None, "none", &published),
            "published"
        );
    }
}
