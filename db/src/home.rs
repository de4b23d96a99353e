//! The home pages' reads: what needs doing for admins (the whole fleet)
//! and for an owner (their own servers only), and the deployments list.
//! What counts (silent, soon, overdue, a deployment's state) is decided in
//! `patchport_core::view::home`; the queries here select by its bounds.

use crate::rollouts::target_state;
use crate::states::{
    JOB_QUEUED, JOB_SUCCEEDED, KIND_REBOOT, List, Lit, PATCH_MISSING, PATCH_OPEN, PATCH_PUBLISHED,
};
use crate::{Conn, Page, Result, id_list, limit_offset};
use patchport_core::Timestamp;
use patchport_core::rollout::RolloutState;
use patchport_core::state::{DeployKind, JobState, TargetState};
use patchport_core::view::home::{
    self, AdminHome, BookedReboot, Changes, DeploymentRow, DeploymentState, HOME_LIST, KevItem,
    NoticeItem, OwnerHome, PublishedItem, RebootItem, RolloutItem, SilentServer, TargetCounts,
};
use sqlx::any::AnyRow;

/// The audit action `app::accounts` records at each successful sign-in:
/// the portal keeps no "last visit", so an owner's previous visit is their
/// previous successful sign-in in the audit trail.
pub const SIGN_IN_ACTION: &str = "login.succeeded";

/// How far back "what changed" looks on an owner's first sign-in.
const FIRST_VISIT_SECONDS: i64 = 7 * 86_400;

const ROLLOUT_OBSERVING: Lit<RolloutState> = Lit(RolloutState::Observing);
const ROLLOUT_TEST_FAILED: Lit<RolloutState> = Lit(RolloutState::TestFailed);
const KIND_PUBLISH: Lit<DeployKind> = Lit(DeployKind::Publish);
/// A finished job that did not do its work.
const JOB_UNDONE: List<JobState> = List(&[JobState::Failed, JobState::Expired]);

/// The first [`HOME_LIST`] rows of `select {select} {rest} order by
/// {order}` and how many there are in all; `args` bind `$1`, `$2`, ….
async fn listed<T>(
    conn: &mut Conn,
    select: &str,
    rest: &str,
    order: &str,
    args: &[i64],
) -> Result<Page<T>>
where
    T: for<'r> sqlx::FromRow<'r, AnyRow> + Send + Unpin,
{
    // A sub-select counts grouped rows as the list shows them.
    let count_sql = format!("select count(*) from (select 1 as one {rest}) x");
    let mut count = sqlx::query_as::<_, (i64,)>(&count_sql);
    for a in args {
        count = count.bind(*a);
    }
    let (total,) = count.fetch_one(&mut *conn).await?;
    let sql = format!("select {select} {rest} order by {order} limit {HOME_LIST}");
    let mut q = sqlx::query_as::<_, T>(&sql);
    for a in args {
        q = q.bind(*a);
    }
    let items = q.fetch_all(conn).await?;
    Ok(Page { items, total })
}

/// The server's first booked reboot (a queued reboot job) and whether it
/// has a maintenance window to book one in, as columns of a select over
/// servers `s`.
fn booking_columns() -> String {
    format!(
        "(select min(j.not_before) from job j where j.server_id = s.id \
           and j.kind = {KIND_REBOOT} and j.state = {JOB_QUEUED}) as booked_at, {} as has_window",
        crate::row::flag(
            "exists (select 1 from maintenance_window_server ws where ws.server_id = s.id) \
             or exists (select 1 from maintenance_window_group wg \
               join server_group_member m on m.group_id = wg.group_id where m.server_id = s.id)"
        )
    )
}

/// What needs doing across the fleet, at `now`.
pub async fn admin(conn: &mut Conn, now: Timestamp) -> Result<AdminHome> {
    let rollout = "r.id as id, p.package as package, p.version as version, p.release as release";
    let awaiting_approval = listed::<RolloutItem>(
        conn,
        &format!("{rollout}, r.observe_until as since"),
        &format!(
            "from rollout r join patch p on p.id = r.patch_id \
             where r.state = {ROLLOUT_OBSERVING} and r.observe_until <= $1"
        ),
        "r.observe_until, r.id",
        &[now],
    )
    .await?;
    let test_failed = listed::<RolloutItem>(
        conn,
        &format!("{rollout}, r.updated_at as since"),
        &format!(
            "from rollout r join patch p on p.id = r.patch_id where r.state = {ROLLOUT_TEST_FAILED}"
        ),
        "r.updated_at desc, r.id desc",
        &[],
    )
    .await?;
    let silent = listed::<SilentServer>(
        conn,
        "s.id as id, s.hostname as hostname, s.last_check_in as last_check_in",
        "from server s where s.last_check_in < $1",
        "s.last_check_in, s.id",
        &[home::silent_before(now)],
    )
    .await?;
    let obligation = format!(
        "o.server_id as server_id, s.hostname as hostname, o.deadline_at as deadline_at, {}",
        booking_columns()
    );
    let deadlines_soon = listed::<RebootItem>(
        conn,
        &obligation,
        "from reboot_obligation o join server s on s.id = o.server_id \
         where o.deadline_at > $1 and o.deadline_at <= $2",
        "o.deadline_at, o.server_id",
        &[now, home::deadline_soon_until(now)],
    )
    .await?;
    let deadlines_missed = listed::<RebootItem>(
        conn,
        &obligation,
        "from reboot_obligation o join server s on s.id = o.server_id where o.deadline_at <= $1",
        "o.deadline_at, o.server_id",
        &[now],
    )
    .await?;
    let kev_overdue = listed::<KevItem>(
        conn,
        "p.id as patch_id, p.package as package, p.version as version, \
         count(distinct sp.server_id) as servers, min(sp.first_seen) as oldest",
        &format!(
            "from server_patch sp join patch_from f on f.id = sp.from_id \
             join patch p on p.id = sp.patch_id \
             where sp.state in {PATCH_OPEN} and f.known_exploited and sp.first_seen <= $1 \
             group by p.id, p.package, p.version"
        ),
        "oldest, p.id",
        &[home::kev_overdue_since(now)],
    )
    .await?;
    let all = summaries(conn, "", None).await?;
    let of_state = |state: DeploymentState| -> (Vec<(i64, TargetCounts)>, i64) {
        let matching: Vec<_> = all.iter().filter(|(_, c)| c.state() == state).collect();
        let total = matching.len() as i64;
        (
            matching.into_iter().take(HOME_LIST).copied().collect(),
            total,
        )
    };
    let (running, running_total) = of_state(DeploymentState::Running);
    let (failed, failed_total) = of_state(DeploymentState::Failed);
    Ok(AdminHome {
        awaiting_approval,
        test_failed,
        deployments_running: Page {
            items: rows_for(conn, &running).await?,
            total: running_total,
        },
        deployments_failed: Page {
            items: rows_for(conn, &failed).await?,
            total: failed_total,
        },
        silent,
        deadlines_soon,
        deadlines_missed,
        kev_overdue,
    })
}

/// When the account signed in before its latest sign-in, if it did.
pub async fn previous_sign_in(conn: &mut Conn, account_id: i64) -> Result<Option<Timestamp>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "select at from audit_event where actor_id = $1 and action = $2 \
         order by id desc limit 1 offset 1",
    )
    .bind(account_id)
    .bind(SIGN_IN_ACTION)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| r.0))
}

/// What needs doing on the servers `owner_id` owns, at `now`; no other
/// server is ever read.
pub async fn owner(conn: &mut Conn, owner_id: i64, now: Timestamp) -> Result<OwnerHome> {
    let published = listed::<PublishedItem>(
        conn,
        "s.id as server_id, s.hostname as hostname, count(*) as patches",
        &format!(
            "from server s join server_patch sp on sp.server_id = s.id \
             where s.owner_id = $1 and sp.state = {PATCH_PUBLISHED} group by s.id, s.hostname"
        ),
        "s.hostname, s.id",
        &[owner_id],
    )
    .await?;
    let reboots_to_book = listed::<RebootItem>(
        conn,
        &format!(
            "s.id as server_id, s.hostname as hostname, o.deadline_at as deadline_at, {}",
            booking_columns()
        ),
        &format!(
            "from server s left join reboot_obligation o on o.server_id = s.id \
             where s.owner_id = $1 and (o.server_id is not null or s.reboot_required) \
             and not exists (select 1 from job j where j.server_id = s.id \
               and j.kind = {KIND_REBOOT} and j.state = {JOB_QUEUED})"
        ),
        "case when o.deadline_at is null then 1 else 0 end, o.deadline_at, s.hostname, s.id",
        &[owner_id],
    )
    .await?;
    let next_reboot: Option<BookedReboot> = sqlx::query_as(&format!(
        "select j.server_id as server_id, s.hostname as hostname, j.not_before as at \
         from job j join server s on s.id = j.server_id \
         where s.owner_id = $1 and j.kind = {KIND_REBOOT} and j.state = {JOB_QUEUED} \
         order by j.not_before, j.id limit 1"
    ))
    .bind(owner_id)
    .fetch_optional(&mut *conn)
    .await?;
    let changes = changes(conn, owner_id, now).await?;
    Ok(OwnerHome {
        published,
        reboots_to_book,
        next_reboot,
        changes,
    })
}

/// What changed on the owner's servers since their previous sign-in (a
/// week, on their first).
async fn changes(conn: &mut Conn, owner_id: i64, now: Timestamp) -> Result<Changes> {
    let previous = previous_sign_in(conn, owner_id).await?;
    let since = previous.unwrap_or(now - FIRST_VISIT_SECONDS);
    let (published,): (i64,) = sqlx::query_as(&format!(
        "select count(*) from deployment_target t join deployment d on d.id = t.deployment_id \
         join server s on s.id = t.server_id \
         where s.owner_id = $1 and d.kind = {KIND_PUBLISH} and d.created_at >= $2"
    ))
    .bind(owner_id)
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    let (jobs_succeeded, jobs_failed): (i64, i64) = sqlx::query_as(&format!(
        "select cast(coalesce(sum(case when j.state = {JOB_SUCCEEDED} then 1 else 0 end), 0) as bigint), \
           cast(coalesce(sum(case when j.state in {JOB_UNDONE} then 1 else 0 end), 0) as bigint) \
         from job j join server s on s.id = j.server_id \
         where s.owner_id = $1 and j.finished_at >= $2"
    ))
    .bind(owner_id)
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    let notices = listed::<NoticeItem>(
        conn,
        "n.subject as subject, n.link as link, n.created_at as created_at",
        "from notification n where n.account_id = $1 and n.created_at >= $2",
        "n.id desc",
        &[owner_id, since],
    )
    .await?;
    Ok(Changes {
        since,
        since_sign_in: previous.is_some(),
        published,
        jobs_succeeded,
        jobs_failed,
        notices,
    })
}

/// Filters of the deployments list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeploymentQuery {
    /// Only deployments in this state.
    pub state: Option<DeploymentState>,
    /// Text in a patch's package and version ("openssl 3.0").
    pub search: String,
}

/// Deployments, newest first, filtered. Without a state filter the page
/// is chosen in SQL and only its deployments are judged; a deployment's
/// state depends on its jobs, so filtering by it judges every deployment
/// the search matches before paging.
pub async fn deployments(
    conn: &mut Conn,
    q: &DeploymentQuery,
    page: i64,
    per_page: i64,
) -> Result<Page<DeploymentRow>> {
    let (limit, offset) = limit_offset(page, per_page);
    let search = q.search.trim().to_lowercase();
    let (on_page, total) = match q.state {
        None => {
            let ids: Vec<(i64,)> = with_search(
                &format!(
                    "select d.id from deployment d {} order by d.id desc limit {limit} offset {offset}",
                    search_filter(&search)
                ),
                &search,
            )
            .fetch_all(&mut *conn)
            .await?;
            let (total,): (i64,) = with_search(
                &format!(
                    "select count(*) from deployment d {}",
                    search_filter(&search)
                ),
                &search,
            )
            .fetch_one(&mut *conn)
            .await?;
            let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
            (summaries(conn, &search, Some(&ids)).await?, total)
        }
        Some(state) => {
            let matching: Vec<(i64, TargetCounts)> = summaries(conn, &search, None)
                .await?
                .into_iter()
                .filter(|(_, c)| c.state() == state)
                .collect();
            let total = matching.len() as i64;
            let on_page = matching
                .into_iter()
                .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                .take(usize::try_from(limit).unwrap_or(usize::MAX))
                .collect();
            (on_page, total)
        }
    };
    Ok(Page {
        items: rows_for(conn, &on_page).await?,
        total,
    })
}

/// One patch of one server in a deployment, with its jobs.
#[derive(sqlx::FromRow)]
struct TargetFact {
    deployment_id: i64,
    kind: String,
    reboot: String,
    server_id: Option<i64>,
    patch_state: String,
    job_state: Option<String>,
    reboot_job_state: Option<String>,
}

/// `where …` keeping the deployments (`d`) with a patch whose package and
/// version contain `search` (lowercased; "" keeps all), bound as `$1`.
fn search_filter(search: &str) -> &'static str {
    if search.is_empty() {
        "where 1 = 1"
    } else {
        "where exists (select 1 from deployment_target t2 join patch p2 on p2.id = t2.patch_id \
           where t2.deployment_id = d.id and lower(p2.package || ' ' || p2.version) like $1 escape '\\')"
    }
}

/// `sql` with [`search_filter`]'s pattern bound when there is one.
fn with_search<'q, O>(
    sql: &'q str,
    search: &str,
) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>
where
    O: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
{
    let q = sqlx::query_as::<_, O>(sql);
    if search.is_empty() {
        q
    } else {
        q.bind(format!("%{}%", crate::like_escape(search)))
    }
}

/// The deployments whose patches match `search` (lowercased, "" all), or
/// just those of `only`, newest first, with their servers' states counted
/// by the same rule as the deployment's page (`rollouts::target_state`):
/// one row per deployed server-patch, read once.
async fn summaries(
    conn: &mut Conn,
    search: &str,
    only: Option<&[i64]>,
) -> Result<Vec<(i64, TargetCounts)>> {
    let chosen = match only {
        Some([]) => return Ok(Vec::new()),
        Some(ids) => format!(" and d.id in ({})", id_list(ids)),
        None => String::new(),
    };
    let sql = format!(
        "select d.id as deployment_id, d.kind as kind, d.reboot as reboot, t.server_id as server_id, \
           coalesce(sp.state, {PATCH_MISSING}) as patch_state, j.state as job_state, \
           rj.state as reboot_job_state \
         from deployment d left join deployment_target t on t.deployment_id = d.id \
         left join server_patch sp on sp.server_id = t.server_id and sp.patch_id = t.patch_id \
         left join job j on j.id = t.job_id left join job rj on rj.id = t.reboot_job_id \
         {}{chosen} order by d.id desc, t.server_id",
        search_filter(search)
    );
    let facts = with_search::<TargetFact>(&sql, search)
        .fetch_all(conn)
        .await?;
    Ok(count_targets(facts))
}

/// The facts (ordered by deployment, then server) as each deployment's
/// counts; a server's patches share its jobs, so its first row's jobs are
/// the server's.
fn count_targets(facts: Vec<TargetFact>) -> Vec<(i64, TargetCounts)> {
    let mut out: Vec<(i64, Vec<TargetState>)> = Vec::new();
    let mut i = 0;
    while i < facts.len() {
        let first = &facts[i];
        let mut j = i + 1;
        while j < facts.len()
            && facts[j].deployment_id == first.deployment_id
            && facts[j].server_id == first.server_id
        {
            j += 1;
        }
        if out.last().is_none_or(|(id, _)| *id != first.deployment_id) {
            out.push((first.deployment_id, Vec::new()));
        }
        if first.server_id.is_some() {
            let patch_states: Vec<String> =
                facts[i..j].iter().map(|f| f.patch_state.clone()).collect();
            let state = target_state(
                &first.kind,
                first.job_state.as_deref(),
                first.reboot_job_state.as_deref(),
                &first.reboot,
                &patch_states,
            );
            if let Some(last) = out.last_mut() {
                last.1
                    .push(TargetState::parse(&state).unwrap_or(TargetState::Failed));
            }
        }
        i = j;
    }
    out.into_iter()
        .map(|(id, states)| (id, TargetCounts::of(states)))
        .collect()
}

/// A deployment as the list shows it.
#[derive(sqlx::FromRow)]
struct Head {
    id: i64,
    kind: String,
    created_by: String,
    created_at: Timestamp,
    rollout_id: Option<i64>,
}

/// The list rows of these deployments (in this order).
async fn rows_for(conn: &mut Conn, chosen: &[(i64, TargetCounts)]) -> Result<Vec<DeploymentRow>> {
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = chosen.iter().map(|c| c.0).collect();
    let heads: Vec<Head> = sqlx::query_as(&format!(
        "select d.id as id, d.kind as kind, coalesce(a.username, 'policy') as created_by, \
           d.created_at as created_at, d.rollout_id as rollout_id \
         from deployment d left join account a on a.id = d.created_by where d.id in ({})",
        id_list(&ids)
    ))
    .fetch_all(&mut *conn)
    .await?;
    let patches: Vec<(i64, String, String)> = sqlx::query_as(&format!(
        "select distinct t.deployment_id, p.package, p.version from deployment_target t \
         join patch p on p.id = t.patch_id where t.deployment_id in ({}) \
         order by t.deployment_id, p.package, p.version",
        id_list(&ids)
    ))
    .fetch_all(conn)
    .await?;
    Ok(chosen
        .iter()
        .filter_map(|(id, counts)| {
            let h = heads.iter().find(|h| h.id == *id)?;
            Some(DeploymentRow {
                id: h.id,
                kind: h.kind.clone(),
                created_by: h.created_by.clone(),
                created_at: h.created_at,
                rollout_id: h.rollout_id,
                patches: patches
                    .iter()
                    .filter(|p| p.0 == *id)
                    .map(|p| format!("{} {}", p.1, p.2))
                    .collect(),
                counts: *counts,
                state: counts.state(),
            })
        })
        .collect())
}
