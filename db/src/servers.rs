//! Servers: identity, inventory and the patches they miss. A full report is
//! reconciled in the caller's transaction, so a check-in is all or nothing.

use crate::row::{Flag, flag};
use crate::states::{
    CHECK_IN_NEVER, CHECK_IN_OFFLINE, CHECK_IN_ONLINE, CHECK_IN_STALE, JOB_FAILED, JOB_OPEN,
    JOB_QUEUED, KIND_PUBLISH, KIND_REBOOT, List, PATCH_CLOSED, PATCH_FAILED, PATCH_MISSING,
    PATCH_OPEN, PATCH_PUBLISHED, ROLLOUT_DECLINED,
};
use crate::{Conn, Page, Result, limit_offset};
use patchport_core::Timestamp;
use patchport_core::protocol::{InstalledPackage, PackageFormat, Report};
use patchport_core::reconcile::{self, OpenPatch};
use patchport_core::state::PatchState;
use patchport_core::workflow::JobReason;

pub use patchport_core::state::CheckInStatus;

/// Server-patch states in which the patch is not (yet) on the server
/// ([`PatchState::OPEN`]), as an SQL list: `sp.state in {OPEN_STATES}`.
pub const OPEN_STATES: List<PatchState> = PATCH_OPEN;

/// Creates a server record at enrolment.
pub async fn create(conn: &mut Conn, hostname: &str, now: Timestamp) -> Result<i64> {
    let (id,): (i64,) =
        sqlx::query_as("insert into server (hostname, created_at) values ($1, $2) returning id")
            .bind(hostname)
            .bind(now)
            .fetch_one(conn)
            .await?;
    Ok(id)
}

/// What the portal knows about a server at a digest-only check-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    /// The digest of the last full report (empty before the first).
    pub report_digest: String,
    /// The server has jobs that are not finished (queued, running or
    /// rebooting): worth a look for one to hand out.
    pub open_jobs: bool,
    /// When its earliest queued job may start, so the agent can come back
    /// then rather than a whole interval later.
    pub next_job_at: Option<Timestamp>,
}

/// A server's host name and owner (if it has one).
pub async fn host_and_owner(conn: &mut Conn, server_id: i64) -> Result<(String, Option<i64>)> {
    Ok(
        sqlx::query_as("select hostname, owner_id from server where id = $1")
            .bind(server_id)
            .fetch_one(conn)
            .await?,
    )
}

/// Records a check-in that brought no new report, in one statement, and
/// returns what the check-in needs to decide on; `None` if the server does
/// not exist.
pub async fn touch(conn: &mut Conn, server_id: i64, now: Timestamp) -> Result<Option<Touched>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        report_digest: String,
        open_jobs: i64,
        next_job_at: Option<Timestamp>,
    }
    let row: Option<Row> = sqlx::query_as(&format!(
        "update server set last_check_in = $1 where id = $2 returning report_digest, \
         (select count(*) from job j where j.server_id = server.id and j.state in {JOB_OPEN}) as open_jobs, \
         (select min(j.not_before) from job j where j.server_id = server.id and j.state = {JOB_QUEUED}) \
           as next_job_at"
    ))
    .bind(now)
    .bind(server_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| Touched {
        report_digest: r.report_digest,
        open_jobs: r.open_jobs > 0,
        next_job_at: r.next_job_at,
    }))
}

/// What reconciling a report changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Patches the catalog had not seen before.
    pub new_patches: u32,
    /// Server-patches that became missing (new, or back again).
    pub now_missing: u32,
    /// Server-patches that disappeared because they were installed.
    pub installed: u32,
    /// Server-patches replaced by a newer version of the same package.
    pub superseded: u32,
    /// The server has unfinished jobs (one may be due, or a reboot may now
    /// be confirmed).
    pub open_jobs: bool,
    /// Catalog patches this report says come from a security origin while
    /// the catalog does not count them as security yet. The caller raises
    /// them with [`raise_security`] after committing: raising one moves the
    /// counts of every server the patch is open on, and doing that inside a
    /// check-in would lock other servers' rows out of order.
    pub security_raised: Vec<i64>,
}

/// The PostgreSQL advisory lock key that serialises [`raise_security`].
const RAISE_SECURITY_LOCK: i64 = 0x7061_7463_6873_6563; // "patchsec"

/// Marks patches as security updates (see [`Reconciled::security_raised`]),
/// in a transaction of its own. On PostgreSQL, raises run one at a time
/// (a transaction-level advisory lock: they are rare, once per patch), and
/// each first locks the rows of the servers whose counts move, in id order,
/// then the patches: the order a check-in takes them in (its server, then
/// catalog rows).
pub async fn raise_security(conn: &mut Conn, patch_ids: &[i64]) -> Result<()> {
    let mut ids = patch_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("select pg_advisory_xact_lock($1)")
            .bind(RAISE_SECURITY_LOCK)
            .execute(&mut *conn)
            .await?;
        let list = crate::id_list(&ids);
        sqlx::query(&format!(
            "select s.id from server s where s.id in (select sp.server_id from server_patch sp \
             where sp.patch_id in (select p.id from patch p where p.id in ({list}) and not p.security) \
             and sp.state in {PATCH_OPEN}) order by s.id for update"
        ))
        .execute(&mut *conn)
        .await?;
    }
    for id in ids {
        sqlx::query("update patch set security = $1 where id = $2 and security = $3")
            .bind(true)
            .bind(id)
            .bind(false)
            .execute(&mut *conn)
            .await?;
        // Every installed version sees a security update now; the
        // `patch_from_risk` trigger moves the servers' counts.
        sqlx::query("update patch_from set security = $1 where patch_id = $2 and security = $3")
            .bind(true)
            .bind(id)
            .bind(false)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Rows per multi-row insert. Small on purpose: sqlx looks up each bound
/// parameter's name in SQLite, a linear walk, so one statement with n
/// parameters costs O(n²); 3,000 parameters made reconciling a 1,500-package
/// report spend 60 % of its time there. 64 rows × 6 columns keeps it cheap
/// while still saving most round trips.
const CHUNK: usize = 64;

/// Turns a validated report into the server's identity, inventory, patch
/// catalog entries and server-patch states, as [`reconcile`] plans it.
/// Idempotent: the same report twice changes nothing the second time.
pub async fn apply_report(
    conn: &mut Conn,
    server_id: i64,
    report: &Report,
    digest: &str,
    now: Timestamp,
) -> Result<Reconciled> {
    let (open_jobs, lost_reboots) = record_identity(conn, server_id, report, digest, now).await?;
    replace_inventory(conn, server_id, &reconcile::inventory(&report.packages)).await?;
    // The server's open patches before this report: those no longer
    // offered close below.
    let open = open_patches(conn, server_id).await?;
    let plan = reconcile::plan(report, &open);
    let written = write_catalog(conn, &plan, now).await?;
    let catalogued = plan.catalogued(&written.iter().map(CatalogRead::row).collect::<Vec<_>>());
    // What each update fixes depends on what this server has installed:
    // the (patch, installed version) rows its server-patch rows count in.
    // Rows no server counts in yet are matched now, so the report is right
    // from this first report on.
    let pairs: Vec<(i64, String)> = catalogued
        .patches
        .iter()
        .map(|p| (p.patch_id, p.from.to_owned()))
        .collect();
    let (versions, unmatched) = crate::advisories::versions_for(conn, &pairs).await?;
    crate::advisories::rematch(conn, &unmatched).await?;
    let server_patches = plan.server_patches(&catalogued.patches, &versions);
    write_server_patches(conn, server_id, &server_patches.rows, now).await?;
    close_patches(conn, server_id, &plan.closing, now).await?;
    if reconcile::check_reboots(open_jobs, lost_reboots) {
        crate::jobs::confirm_reboots(conn, server_id, &report.boot_id, now).await?;
    }
    Ok(Reconciled {
        new_patches: catalogued.new_patches,
        now_missing: server_patches.now_missing,
        installed: plan.closing_to(PatchState::Installed),
        superseded: plan.closing_to(PatchState::Superseded),
        open_jobs: open_jobs > 0,
        security_raised: catalogued.security_raised,
    })
}

/// Records the report's identity of the server and the check-in, in one
/// statement that also counts its unfinished jobs and its reboots lost
/// recently enough for a new boot id to confirm them.
async fn record_identity(
    conn: &mut Conn,
    server_id: i64,
    report: &Report,
    digest: &str,
    now: Timestamp,
) -> Result<(i64, i64)> {
    Ok(sqlx::query_as(&format!(
        "update server set hostname = $1, os_id = $2, os_version = $3, os_name = $4, package_format = $5, \
         arch = $6, kernel = $7, boot_id = $8, reboot_required = $9, reboot_required_packages = $10, \
         report_digest = $11, last_check_in = $12, last_report_at = $12 where id = $13 \
         returning (select count(*) from job j where j.server_id = server.id \
                    and j.state in {JOB_OPEN}), \
                   (select count(*) from job j where j.server_id = server.id and j.kind = {KIND_REBOOT} \
                    and j.state = {JOB_FAILED} and j.reason = $15 and j.finished_at >= $14)"
    ))
    .bind(&report.hostname)
    .bind(&report.os.id)
    .bind(&report.os.version_id)
    .bind(&report.os.pretty_name)
    .bind(match report.package_format {
        PackageFormat::Deb => "deb",
        PackageFormat::Rpm => "rpm",
    })
    .bind(&report.arch)
    .bind(&report.kernel)
    .bind(&report.boot_id)
    .bind(report.reboot_required)
    .bind(report.reboot_required_packages.join(" "))
    .bind(digest)
    .bind(now)
    .bind(server_id)
    .bind(now - crate::jobs::LOST_REBOOT_CONFIRMABLE)
    .bind(JobReason::LostReboot.text())
    .fetch_one(&mut *conn)
    .await?)
}

/// The server's open patches.
async fn open_patches(conn: &mut Conn, server_id: i64) -> Result<Vec<OpenPatch>> {
    #[derive(sqlx::FromRow)]
    struct Open {
        patch_id: i64,
        package: String,
        version: String,
        arch: String,
    }
    let rows: Vec<Open> = sqlx::query_as(&format!(
        "select sp.patch_id as patch_id, p.package as package, p.version as version, p.arch as arch \
         from server_patch sp join patch p on p.id = sp.patch_id \
         where sp.server_id = $1 and sp.state in {PATCH_OPEN}"
    ))
    .bind(server_id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| OpenPatch {
            patch_id: r.patch_id,
            package: r.package,
            version: r.version,
            arch: r.arch,
        })
        .collect())
}

/// A catalog row as [`write_catalog`] returns it.
#[derive(sqlx::FromRow)]
struct CatalogRead {
    id: i64,
    package: String,
    version: String,
    arch: String,
    #[sqlx(try_from = "Flag")]
    inserted: bool,
    #[sqlx(try_from = "Flag")]
    security: bool,
}

impl CatalogRead {
    fn row(&self) -> reconcile::CatalogRow<'_> {
        reconcile::CatalogRow {
            id: self.id,
            key: reconcile::Key {
                package: &self.package,
                version: &self.version,
                arch: &self.arch,
            },
            inserted: self.inserted,
            security: self.security,
        }
    }
}

/// Writes the plan's catalog rows ([`reconcile::Plan::catalog`]): one
/// multi-row upsert per chunk, returning each row. The closing patches'
/// rows are taken too (a no-op update): the report-count triggers write to
/// every catalog row this check-in touches, and on PostgreSQL concurrent
/// check-ins sharing patches must lock those rows in one global order (the
/// key order, ascending across chunks), or they deadlock.
async fn write_catalog(
    conn: &mut Conn,
    plan: &reconcile::Plan<'_>,
    now: Timestamp,
) -> Result<Vec<CatalogRead>> {
    let mut written = Vec::new();
    for chunk in plan.catalog().chunks(CHUNK) {
        let n = chunk.len() * 9;
        let sql = format!(
            "insert into patch (release, package, version, arch, origin, security, source_package, source_version, \
               first_seen) values {} \
             on conflict (release, package, version, arch) do update set \
               source_package = coalesce(patch.source_package, excluded.source_package), \
               source_version = coalesce(patch.source_version, excluded.source_version) \
             returning id, package, version, arch, {} as inserted, {} as security",
            crate::values_placeholders(chunk.len(), 9),
            flag(&format!("first_seen = ${}", n + 1)),
            flag("security"),
        );
        let mut q = sqlx::query_as::<_, CatalogRead>(&sql);
        for c in chunk {
            q = q
                .bind(&plan.release)
                .bind(c.key.package)
                .bind(c.key.version)
                .bind(c.key.arch)
                .bind(c.origin)
                .bind(c.security)
                .bind(c.source)
                .bind(c.source_version)
                .bind(now);
        }
        written.extend(q.bind(now).fetch_all(&mut *conn).await?);
    }
    Ok(written)
}

/// Writes the server's missing patches, by [`reconcile::on_offer`]'s rule:
/// a patch that was installed or superseded and is offered again is
/// missing again; any other state stays as the workflow left it. The
/// installed version is kept current.
async fn write_server_patches(
    conn: &mut Conn,
    server_id: i64,
    rows: &[reconcile::ServerPatch<'_>],
    now: Timestamp,
) -> Result<()> {
    for chunk in rows.chunks(CHUNK) {
        let sql = format!(
            "insert into server_patch (server_id, patch_id, state, installed_version, from_id, first_seen, updated_at) \
             values {} on conflict (server_id, patch_id) do update set \
               state = (case when server_patch.state in {PATCH_CLOSED} then {PATCH_MISSING} \
                 else server_patch.state end), \
               installed_version = excluded.installed_version, from_id = excluded.from_id, \
               updated_at = excluded.updated_at \
             where server_patch.state in {PATCH_CLOSED} \
               or server_patch.from_id is distinct from excluded.from_id",
            crate::values_placeholders(chunk.len(), 7)
        );
        let mut q = sqlx::query(&sql);
        for row in chunk {
            q = q
                .bind(server_id)
                .bind(row.patch_id)
                .bind(PatchState::Missing.as_str())
                .bind(row.installed_version)
                .bind(row.from_id)
                .bind(now)
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Closes the patches the report no longer offers: one statement per
/// closed state.
async fn close_patches(
    conn: &mut Conn,
    server_id: i64,
    closing: &[reconcile::Closing<'_>],
    now: Timestamp,
) -> Result<()> {
    for &state in PatchState::CLOSED {
        let ids: Vec<i64> = closing
            .iter()
            .filter(|c| c.to == state)
            .map(|c| c.patch_id)
            .collect();
        if ids.is_empty() {
            continue;
        }
        sqlx::query(&format!(
            "update server_patch set state = $1, updated_at = $2 \
             where server_id = $3 and patch_id in ({})",
            crate::id_list(&ids)
        ))
        .bind(state.as_str())
        .bind(now)
        .bind(server_id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Makes the server's installed packages `packages`
/// ([`reconcile::inventory`]) by changing only what differs: packages gone
/// are deleted, new ones inserted, changed versions updated, and the rest
/// left alone. Rewriting the whole inventory on every report left
/// PostgreSQL a dead version of every row each time (the database doubled
/// after a second round of the same reports).
async fn replace_inventory(
    conn: &mut Conn,
    server_id: i64,
    packages: &[&InstalledPackage],
) -> Result<()> {
    // [name, arch, version, source name, source version] per package.
    type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
    let rows: Vec<Row> = packages
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.arch.as_str(),
                p.version.as_str(),
                p.source_name.as_deref(),
                p.source_version.as_deref(),
            )
        })
        .collect();
    // The whole inventory travels as one JSON parameter that the database
    // unpacks: one statement instead of dozens, and none of the per-
    // parameter cost that made multi-row inserts quadratic on SQLite.
    // Arrays, not objects: SQLite extracts array items faster.
    let json = serde_json::to_string(&rows)
        .map_err(|e| crate::StorageError::Database(sqlx::Error::Encode(e.into())))?;
    let postgres = conn.backend_name() == "PostgreSQL";
    let (items, item) = if postgres {
        ("jsonb_array_elements($2::jsonb) as e", "e")
    } else {
        ("json_each($2)", "value")
    };
    sqlx::query(&format!(
        "delete from installed_package where server_id = $1 \
         and (name, arch) not in (select {item}->>0, {item}->>1 from {items})"
    ))
    .bind(server_id)
    .bind(&json)
    .execute(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    // `where true`: SQLite's parser needs it before an upsert's ON CONFLICT.
    let differs = if postgres {
        "is distinct from"
    } else {
        "is not"
    };
    sqlx::query(&format!(
        "insert into installed_package (server_id, name, arch, version, source_name, source_version) \
         select $1, {item}->>0, {item}->>1, {item}->>2, {item}->>3, {item}->>4 from {items} where true \
         on conflict (server_id, name, arch) do update set version = excluded.version, \
         source_name = excluded.source_name, source_version = excluded.source_version \
         where installed_package.version <> excluded.version \
         or installed_package.source_name {differs} excluded.source_name \
         or installed_package.source_version {differs} excluded.source_version"
    ))
    .bind(server_id)
    .bind(json)
    .execute(conn)
    .await?;
    Ok(())
}

/// One row of the servers list (its status, window and booked reboot are
/// the portal's to set).
pub use patchport_core::view::ServerRow;

/// Tells each owner once when one of their servers goes offline (no
/// check-in for a day): the notice and its mail say since when and what it
/// means. A server that checks in again and goes silent again is told
/// about again. Returns how many notices were made.
pub async fn notice_silent(conn: &mut Conn, now: Timestamp) -> Result<u32> {
    let (_, offline) = CheckInStatus::bounds(now);
    #[derive(sqlx::FromRow)]
    struct Silent {
        id: i64,
        hostname: String,
        owner_id: i64,
        last_check_in: Timestamp,
    }
    let silent: Vec<Silent> = sqlx::query_as(
        "select s.id as id, s.hostname as hostname, s.owner_id as owner_id, s.last_check_in as last_check_in \
         from server s \
         where s.owner_id is not null and s.last_check_in < $1 \
         and not exists (select 1 from notification n where n.account_id = s.owner_id \
           and n.kind = 'server_silent' and n.link = '/servers/' || s.id \
           and n.created_at >= s.last_check_in) \
         order by s.id",
    )
    .bind(offline)
    .fetch_all(&mut *conn)
    .await?;
    for s in &silent {
        let notice = patchport_core::notice::Notice::ServerSilent {
            server_id: s.id,
            host: s.hostname.clone(),
            last_check_in: s.last_check_in,
        };
        crate::mail::notify(conn, s.owner_id, &notice, now).await?;
    }
    Ok(silent.len() as u32)
}

/// Columns the servers list sorts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServerSort {
    /// Host name.
    #[default]
    Hostname,
    /// OS name.
    Os,
    /// Owner's user name (unassigned first).
    Owner,
    /// Criticality.
    Criticality,
    /// Last check-in (never first).
    LastSeen,
    /// Missing patches.
    Missing,
    /// Missing security patches.
    Security,
}

impl ServerSort {
    /// Parses a column name as the UI sends it.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "hostname" => Self::Hostname,
            "os" => Self::Os,
            "owner" => Self::Owner,
            "criticality" => Self::Criticality,
            "last_seen" => Self::LastSeen,
            "missing" => Self::Missing,
            "security" => Self::Security,
            _ => return None,
        })
    }

    fn expr(self) -> &'static str {
        match self {
            Self::Hostname => "lower(s.hostname)",
            Self::Os => "s.os_name",
            Self::Owner => "coalesce(a.username, '')",
            Self::Criticality => "s.criticality",
            Self::LastSeen => "coalesce(s.last_check_in, 0)",
            Self::Missing => "missing",
            Self::Security => "missing_security",
        }
    }
}

/// Which servers to list, and in which order.
#[derive(Debug, Clone, Default)]
pub struct ServerQuery {
    /// Substring of the host name.
    pub search: String,
    /// Only this owner's servers (owners always get their own id here).
    pub owner_id: Option<i64>,
    /// Only this server.
    pub id: Option<i64>,
    /// Only members of this group.
    pub group_id: Option<i64>,
    /// Only `critical` or `standard` servers.
    pub criticality: Option<String>,
    /// Only servers with this check-in status, as seen at `now`.
    pub status: Option<CheckInStatus>,
    /// Only servers that need (true) or do not need (false) a reboot.
    pub reboot_required: Option<bool>,
    /// Only servers missing at least one patch.
    pub missing_only: bool,
    /// The time the status filter is judged at.
    pub now: Timestamp,
    /// Sort column.
    pub sort: ServerSort,
    /// Largest first.
    pub descending: bool,
}

/// The servers list's filter as bound values: `$1` search, `$2` owner,
/// `$3` id, `$4` group, `$5` criticality, `$6` status, `$7` online bound,
/// `$8` stale bound, `$9` reboot (-1 any, 0, 1), `$10` missing only.
struct ListFilter {
    pattern: String,
    owner_id: i64,
    id: i64,
    group_id: i64,
    criticality: String,
    status: &'static str,
    online: Timestamp,
    stale: Timestamp,
    reboot: i64,
    missing_only: i64,
}

impl ListFilter {
    fn of(q: &ServerQuery) -> Self {
        let (online, stale) = CheckInStatus::bounds(q.now);
        ListFilter {
            pattern: format!("%{}%", crate::like_escape(&q.search.trim().to_lowercase())),
            owner_id: q.owner_id.unwrap_or(-1),
            id: q.id.unwrap_or(-1),
            group_id: q.group_id.unwrap_or(-1),
            criticality: q.criticality.clone().unwrap_or_default(),
            status: q.status.map_or("", CheckInStatus::as_str),
            online,
            stale,
            reboot: q.reboot_required.map_or(-1, i64::from),
            missing_only: i64::from(q.missing_only),
        }
    }

    /// The `where` clause over `server s`.
    fn sql() -> String {
        format!(
            "where lower(s.hostname) like $1 escape '\\' and ($2 < 0 or s.owner_id = $2) and ($3 < 0 or s.id = $3) \
             and ($4 < 0 or exists (select 1 from server_group_member m where m.server_id = s.id and m.group_id = $4)) \
             and ($5 = '' or s.criticality = $5) \
             and ($6 = '' \
                  or ($6 = {CHECK_IN_ONLINE} and s.last_check_in >= $7) \
                  or ($6 = {CHECK_IN_STALE} and s.last_check_in < $7 and s.last_check_in >= $8) \
                  or ($6 = {CHECK_IN_OFFLINE} and s.last_check_in < $8) \
                  or ($6 = {CHECK_IN_NEVER} and s.last_check_in is null)) \
             and ($9 < 0 or {} = $9) \
             and ($10 = 0 or exists (select 1 from server_patch sp where sp.server_id = s.id and sp.state in {PATCH_OPEN}))",
            flag("s.reboot_required")
        )
    }

    fn bind<'q, O>(
        &'q self,
        query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
        query
            .bind(self.pattern.as_str())
            .bind(self.owner_id)
            .bind(self.id)
            .bind(self.group_id)
            .bind(self.criticality.as_str())
            .bind(self.status)
            .bind(self.online)
            .bind(self.stale)
            .bind(self.reboot)
            .bind(self.missing_only)
    }
}

/// The columns of a [`ServerRow`] (but its groups), over `server s`,
/// `account a` (its owner) and `agent_credential c`.
fn list_columns() -> String {
    format!(
        "s.id as id, s.hostname as hostname, s.os_name as os_name, a.username as owner, \
         s.criticality as criticality, s.last_check_in as last_check_in, {} as reboot_required, \
         s.open_patches as missing, s.open_security as missing_security, {} as agent_active, \
         (select count(*) from server_patch sp where sp.server_id = s.id and sp.state = {PATCH_PUBLISHED}) \
           as published",
        flag("s.reboot_required"),
        flag("c.revoked_at is null and c.server_id is not null"),
    )
}

/// Lists servers.
pub async fn list(
    conn: &mut Conn,
    q: &ServerQuery,
    page: i64,
    per_page: i64,
) -> Result<Page<ServerRow>> {
    let (limit, offset) = limit_offset(page, per_page);
    let filter = ListFilter::of(q);
    let where_ = ListFilter::sql();
    let (total,): (i64,) = filter
        .bind(sqlx::query_as(&format!(
            "select count(*) from server s {where_}"
        )))
        .fetch_one(&mut *conn)
        .await?;
    let direction = if q.descending { "desc" } else { "asc" };
    let mut items: Vec<ServerRow> = filter
        .bind(sqlx::query_as(&format!(
            "select {} from server s left join account a on a.id = s.owner_id \
             left join agent_credential c on c.server_id = s.id \
             {where_} order by {} {direction}, lower(s.hostname), s.id limit $11 offset $12",
            list_columns(),
            q.sort.expr()
        )))
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
    let ids: Vec<i64> = items.iter().map(|r| r.id).collect();
    let mut groups = crate::groups::of_servers(conn, &ids).await?;
    for row in &mut items {
        row.groups = groups.remove(&row.id).unwrap_or_default();
    }
    Ok(Page { items, total })
}

/// Sets a server's owner (or none) and criticality.
pub async fn set_assignment(
    conn: &mut Conn,
    server_id: i64,
    owner_id: Option<i64>,
    criticality: &str,
) -> Result<()> {
    let done = sqlx::query("update server set owner_id = $1, criticality = $2 where id = $3")
        .bind(owner_id)
        .bind(criticality)
        .bind(server_id)
        .execute(conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(crate::StorageError::NotFound);
    }
    Ok(())
}

/// When the server last checked in and last sent a full report.
pub async fn check_in_times(
    conn: &mut Conn,
    server_id: i64,
) -> Result<(Option<Timestamp>, Option<Timestamp>)> {
    Ok(
        sqlx::query_as("select last_check_in, last_report_at from server where id = $1")
            .bind(server_id)
            .fetch_one(conn)
            .await?,
    )
}

/// One page of a server's packages whose name contains `search`:
/// (name, arch, version, source name).
pub async fn search_packages(
    conn: &mut Conn,
    server_id: i64,
    search: &str,
    page: i64,
    per_page: i64,
) -> Result<Page<(String, String, String, Option<String>)>> {
    let (limit, offset) = limit_offset(page, per_page);
    let pattern = format!("%{}%", crate::like_escape(&search.trim().to_lowercase()));
    const FILTER: &str = "where server_id = $1 and lower(name) like $2 escape '\\'";
    let (total,): (i64,) =
        sqlx::query_as(&format!("select count(*) from installed_package {FILTER}"))
            .bind(server_id)
            .bind(&pattern)
            .fetch_one(&mut *conn)
            .await?;
    let items = sqlx::query_as(&format!(
        "select name, arch, version, source_name from installed_package {FILTER} \
         order by name, arch limit $3 offset $4"
    ))
    .bind(server_id)
    .bind(&pattern)
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Page { items, total })
}

/// A server's identity and status, for its detail page.
pub use patchport_core::view::ServerDetail;

/// Loads one server.
pub async fn get(conn: &mut Conn, server_id: i64) -> Result<Option<ServerDetail>> {
    let detail: Option<ServerDetail> = sqlx::query_as(&format!(
        "select s.owner_id as owner_id, s.kernel as kernel, s.arch as arch, s.boot_id as boot_id, \
         s.package_format as package_format, s.reboot_required_packages as reboot_required_packages, \
         s.last_report_at as last_report_at, s.created_at as created_at, {} as rotation_pending \
         from server s left join agent_credential c on c.server_id = s.id where s.id = $1",
        flag("c.rotate_requested_at is not null and c.revoked_at is null")
    ))
    .bind(server_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(mut detail) = detail else {
        return Ok(None);
    };
    let q = ServerQuery {
        id: Some(server_id),
        ..Default::default()
    };
    let Some(row) = list(conn, &q, 1, 1).await?.items.pop() else {
        return Ok(None);
    };
    detail.row = row;
    Ok(Some(detail))
}

/// One of a server's patches, as its page and job creation need it.
pub use patchport_core::view::ServerPatch as PatchRow;

/// The patches of a server its owner may install: those published for it,
/// and those once published for it whose install failed (the owner tries
/// again), unless their rollout was declined since.
pub async fn owner_installable(conn: &mut Conn, server_id: i64) -> Result<Vec<i64>> {
    let rows: Vec<(i64,)> = sqlx::query_as(&format!(
        "select sp.patch_id from server_patch sp where sp.server_id = $1 and (sp.state = {PATCH_PUBLISHED} \
           or (sp.state = {PATCH_FAILED} \
             and exists (select 1 from deployment_target t join deployment d on d.id = t.deployment_id \
               where t.server_id = sp.server_id and t.patch_id = sp.patch_id and d.kind = {KIND_PUBLISH}) \
             and not exists (select 1 from rollout r where r.patch_id = sp.patch_id and r.state = {ROLLOUT_DECLINED}))) \
         order by sp.patch_id"
    ))
    .bind(server_id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id,)| id).collect())
}

/// A server's patches, open ones first, by package.
pub async fn patch_rows(conn: &mut Conn, server_id: i64) -> Result<Vec<PatchRow>> {
    Ok(sqlx::query_as(&format!(
        "select p.id as patch_id, p.package as package, sp.installed_version as installed_version, \
           p.version as version, p.arch as arch, {} as security, sp.state as state, \
           sp.first_seen as first_seen \
         from server_patch sp join patch p on p.id = sp.patch_id where sp.server_id = $1 \
         order by (case when sp.state in {PATCH_OPEN} then 0 else 1 end), p.package, p.version",
        flag("p.security")
    ))
    .bind(server_id)
    .fetch_all(conn)
    .await?)
}
