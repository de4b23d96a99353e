//! Servers: identity, inventory and the patches they miss. A full report is
//! reconciled in the caller's transaction, so a check-in is all or nothing.

use crate::states::{
    CHECK_IN_NEVER, CHECK_IN_OFFLINE, CHECK_IN_ONLINE, CHECK_IN_STALE, JOB_FAILED, JOB_OPEN,
    JOB_QUEUED, KIND_REBOOT, List, PATCH_CLOSED, PATCH_MISSING, PATCH_OPEN, PATCH_PUBLISHED,
};
use crate::{Conn, Page, Result, limit_offset};
use patchport_core::Timestamp;
use patchport_core::protocol::{AvailableUpdate, Report};
use patchport_core::state::PatchState;
use std::collections::{HashMap, HashSet};

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
    let row: Option<(String, i64, Option<i64>)> = sqlx::query_as(&format!(
        "update server set last_check_in = $1 where id = $2 returning report_digest, \
         (select count(*) from job j where j.server_id = server.id and j.state in {JOB_OPEN}), \
         (select min(j.not_before) from job j where j.server_id = server.id and j.state = {JOB_QUEUED})"
    ))
    .bind(now)
    .bind(server_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(report_digest, open, next_job_at)| Touched {
        report_digest,
        open_jobs: open > 0,
        next_job_at,
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
/// catalog entries and server-patch states. Idempotent: the same report
/// twice changes nothing the second time.
pub async fn apply_report(
    conn: &mut Conn,
    server_id: i64,
    report: &Report,
    digest: &str,
    now: Timestamp,
) -> Result<Reconciled> {
    let mut out = Reconciled::default();
    let (open_jobs, lost_reboots): (i64, i64) = sqlx::query_as(&format!(
        "update server set hostname = $1, os_id = $2, os_version = $3, os_name = $4, package_format = $5, \
         arch = $6, kernel = $7, boot_id = $8, reboot_required = $9, reboot_required_packages = $10, \
         report_digest = $11, last_check_in = $12, last_report_at = $12 where id = $13 \
         returning (select count(*) from job j where j.server_id = server.id \
                    and j.state in {JOB_OPEN}), \
                   (select count(*) from job j where j.server_id = server.id and j.kind = {KIND_REBOOT} \
                    and j.state = {JOB_FAILED} and j.reason like 'lost:%' and j.finished_at >= $14)"
    ))
    .bind(&report.hostname)
    .bind(&report.os.id)
    .bind(&report.os.version_id)
    .bind(&report.os.pretty_name)
    .bind(match report.package_format {
        patchport_core::protocol::PackageFormat::Deb => "deb",
        patchport_core::protocol::PackageFormat::Rpm => "rpm",
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
    .fetch_one(&mut *conn)
    .await?;
    out.open_jobs = open_jobs > 0;

    replace_inventory(conn, server_id, report).await?;

    let release = format!("{}:{}", report.os.id, report.os.version_id);
    // One row per catalog key: a report may list the same update from two
    // origins, and a multi-row upsert must not touch a row twice.
    let mut updates: HashMap<(&str, &str, &str), &AvailableUpdate> = HashMap::new();
    for u in &report.updates {
        let key = (u.name.as_str(), u.version.as_str(), u.arch.as_str());
        let keep = updates
            .get(&key)
            .is_none_or(|old| u.security && !old.security);
        if keep {
            updates.insert(key, u);
        }
    }
    let offered_keys: HashSet<(&str, &str, &str)> = updates.keys().copied().collect();
    let updates: Vec<&AvailableUpdate> = updates.into_values().collect();
    let offered: HashSet<(&str, &str)> = updates
        .iter()
        .map(|u| (u.name.as_str(), u.arch.as_str()))
        .collect();

    // The source package each binary package is built from, which Debian
    // and Ubuntu advisories name, and the installed source version they
    // compare.
    let installed: HashMap<(&str, &str), &patchport_core::protocol::InstalledPackage> = report
        .packages
        .iter()
        .map(|p| ((p.name.as_str(), p.arch.as_str()), p))
        .collect();
    let source_of = |u: &AvailableUpdate| -> String {
        u.source_name
            .as_deref()
            .or_else(|| {
                installed
                    .get(&(u.name.as_str(), u.arch.as_str()))
                    .and_then(|p| p.source_name.as_deref())
            })
            .unwrap_or(u.name.as_str())
            .to_owned()
    };
    // The installed version advisories compare: on deb, the installed
    // package's source version when known.
    let from_of = |u: &AvailableUpdate| -> String {
        let package = installed.get(&(u.name.as_str(), u.arch.as_str()));
        let binary = u
            .installed_version
            .as_deref()
            .or(package.map(|p| p.version.as_str()))
            .unwrap_or("");
        let source = package
            .filter(|p| {
                u.installed_version
                    .as_deref()
                    .is_none_or(|v| v == p.version)
            })
            .and_then(|p| p.source_version.as_deref());
        patchport_core::advisory::compared_version(report.package_format, binary, source).to_owned()
    };

    // The server's open patches before this report: those no longer
    // offered close below.
    let open: Vec<(i64, String, String, String)> = sqlx::query_as(&format!(
        "select sp.patch_id, p.package, p.version, p.arch from server_patch sp join patch p on p.id = sp.patch_id \
         where sp.server_id = $1 and sp.state in {PATCH_OPEN}"
    ))
    .bind(server_id)
    .fetch_all(&mut *conn)
    .await?;
    let closing: Vec<&(i64, String, String, String)> = open
        .iter()
        .filter(|(_, package, version, arch)| {
            !offered_keys.contains(&(package.as_str(), version.as_str(), arch.as_str()))
        })
        .collect();

    // The catalog: one multi-row upsert per chunk, returning each row's id.
    // It also takes the rows of patches about to close (a no-op update):
    // the report-count triggers write to every catalog row this check-in
    // touches, and on PostgreSQL concurrent check-ins sharing patches must
    // lock those rows in one global order (the key order, ascending across
    // chunks), or they deadlock.
    struct CatalogRow<'a> {
        package: &'a str,
        version: &'a str,
        arch: &'a str,
        origin: &'a str,
        security: bool,
        source: Option<String>,
        source_version: Option<&'a str>,
    }
    let mut catalog: Vec<CatalogRow> = updates
        .iter()
        .map(|u| CatalogRow {
            package: &u.name,
            version: &u.version,
            arch: &u.arch,
            origin: &u.origin,
            security: u.security,
            source: Some(source_of(u)),
            source_version: u.source_version.as_deref(),
        })
        .chain(
            closing
                .iter()
                .map(|(_, package, version, arch)| CatalogRow {
                    package,
                    version,
                    arch,
                    origin: "",
                    security: false,
                    source: None,
                    source_version: None,
                }),
        )
        .collect();
    catalog.sort_by(|a, b| (a.package, a.version, a.arch).cmp(&(b.package, b.version, b.arch)));
    let mut ids: HashMap<(String, String, String), i64> = HashMap::new();
    for chunk in catalog.chunks(CHUNK) {
        let n = chunk.len() * 9;
        let sql = format!(
            "insert into patch (release, package, version, arch, origin, security, source_package, source_version, \
               first_seen) values {} \
             on conflict (release, package, version, arch) do update set \
               source_package = coalesce(patch.source_package, excluded.source_package), \
               source_version = coalesce(patch.source_version, excluded.source_version) \
             returning id, package, version, arch, (case when first_seen = ${} then 1 else 0 end), \
               (case when security then 1 else 0 end)",
            crate::values_placeholders(chunk.len(), 9),
            n + 1
        );
        let mut q = sqlx::query_as::<_, (i64, String, String, String, i64, i64)>(&sql);
        for c in chunk {
            q = q
                .bind(&release)
                .bind(c.package)
                .bind(c.version)
                .bind(c.arch)
                .bind(c.origin)
                .bind(c.security)
                .bind(c.source.as_deref())
                .bind(c.source_version)
                .bind(now);
        }
        let claims: HashSet<(&str, &str, &str)> = chunk
            .iter()
            .filter(|c| c.security)
            .map(|c| (c.package, c.version, c.arch))
            .collect();
        for (id, package, version, arch, inserted, security) in
            q.bind(now).fetch_all(&mut *conn).await?
        {
            if security == 0
                && claims.contains(&(package.as_str(), version.as_str(), arch.as_str()))
            {
                out.security_raised.push(id);
            }
            out.new_patches += inserted as u32;
            ids.insert((package, version, arch), id);
        }
    }
    // What each update fixes depends on what this server has installed:
    // the (patch, installed version) rows its server-patch rows count in.
    // Rows no server counts in yet are matched now, so the report is right
    // from this first report on.
    let keyed: Vec<(&AvailableUpdate, (i64, String))> = updates
        .iter()
        .filter_map(|u| {
            let id = ids.get(&(u.name.clone(), u.version.clone(), u.arch.clone()))?;
            Some((*u, (*id, from_of(u))))
        })
        .collect();
    let pairs: Vec<(i64, String)> = keyed.iter().map(|(_, pair)| pair.clone()).collect();
    let (versions, unmatched) = crate::advisories::versions_for(conn, &pairs).await?;
    crate::advisories::rematch(conn, &unmatched).await?;

    // The server's missing patches. A patch that was installed or superseded
    // and is offered again is missing again; any other state stays as the
    // workflow left it. The installed version is kept current.
    let was_open: HashSet<i64> = open.iter().map(|(id, ..)| *id).collect();
    let rows: Vec<(i64, Option<&str>, i64)> = keyed
        .iter()
        .filter_map(|(u, pair)| {
            Some((pair.0, u.installed_version.as_deref(), *versions.get(pair)?))
        })
        .collect();
    out.now_missing += rows.iter().filter(|r| !was_open.contains(&r.0)).count() as u32;
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
        for (patch_id, installed, from_id) in chunk {
            q = q
                .bind(server_id)
                .bind(*patch_id)
                .bind(PatchState::Missing.as_str())
                .bind(*installed)
                .bind(*from_id)
                .bind(now)
                .bind(now);
        }
        q.execute(&mut *conn).await?;
    }
    for (patch_id, package, _, arch) in closing {
        // Still offered at another version: a newer patch replaced this one.
        // Not offered at all: it got installed (or the package went away).
        let state = if offered.contains(&(package.as_str(), arch.as_str())) {
            out.superseded += 1;
            PatchState::Superseded
        } else {
            out.installed += 1;
            PatchState::Installed
        };
        sqlx::query("update server_patch set state = $1, updated_at = $2 where server_id = $3 and patch_id = $4")
            .bind(state.as_str())
            .bind(now)
            .bind(server_id)
            .bind(patch_id)
            .execute(&mut *conn)
            .await?;
    }
    if out.open_jobs || lost_reboots > 0 {
        crate::jobs::confirm_reboots(conn, server_id, &report.boot_id, now).await?;
    }
    Ok(out)
}

async fn replace_inventory(conn: &mut Conn, server_id: i64, report: &Report) -> Result<()> {
    sqlx::query("delete from installed_package where server_id = $1")
        .bind(server_id)
        .execute(&mut *conn)
        .await?;
    // Reports are normalised, but a duplicate name+arch must not abort the
    // check-in: the last one wins, as it would on the server itself.
    let unique: HashMap<(&str, &str), &patchport_core::protocol::InstalledPackage> = report
        .packages
        .iter()
        .map(|p| ((p.name.as_str(), p.arch.as_str()), p))
        .collect();
    // [name, arch, version, source name, source version] per package.
    type Row<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);
    let rows: Vec<Row> = unique
        .into_values()
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
    if rows.is_empty() {
        return Ok(());
    }
    // The whole inventory travels as one JSON parameter that the database
    // unpacks: one statement instead of dozens, and none of the per-
    // parameter cost that made multi-row inserts quadratic on SQLite.
    // Arrays, not objects: SQLite extracts array items faster.
    let json = serde_json::to_string(&rows)
        .map_err(|e| crate::StorageError::Database(sqlx::Error::Encode(e.into())))?;
    let sql = if conn.backend_name() == "PostgreSQL" {
        "insert into installed_package (server_id, name, arch, version, source_name, source_version) \
         select $1, e->>0, e->>1, e->>2, e->>3, e->>4 from jsonb_array_elements($2::jsonb) as e"
    } else {
        "insert into installed_package (server_id, name, arch, version, source_name, source_version) \
         select $1, value->>0, value->>1, value->>2, value->>3, value->>4 from json_each($2)"
    };
    sqlx::query(sql)
        .bind(server_id)
        .bind(json)
        .execute(conn)
        .await?;
    Ok(())
}

/// One row of the servers list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRow {
    /// Server id.
    pub id: i64,
    /// Host name.
    pub hostname: String,
    /// OS name for display.
    pub os_name: String,
    /// Owner's user name, if assigned.
    pub owner: Option<String>,
    /// critical or standard.
    pub criticality: String,
    /// Last check-in.
    pub last_check_in: Option<Timestamp>,
    /// The OS asks for a reboot.
    pub reboot_required: bool,
    /// Patches not yet on the server.
    pub missing: i64,
    /// Of those, security patches.
    pub missing_security: i64,
    /// The agent's credential is live.
    pub agent_active: bool,
    /// Groups: (id, name), by name.
    pub groups: Vec<(i64, String)>,
    /// Patches published for the owner to install.
    pub published: i64,
}

/// Tells each owner once when one of their servers goes offline (no
/// check-in for a day): the notice and its mail say since when and what it
/// means. A server that checks in again and goes silent again is told
/// about again. Returns how many notices were made.
pub async fn notice_silent(conn: &mut Conn, now: Timestamp) -> Result<u32> {
    let (_, offline) = CheckInStatus::bounds(now);
    let silent: Vec<(i64, String, i64, Timestamp)> = sqlx::query_as(
        "select s.id, s.hostname, s.owner_id, s.last_check_in from server s \
         where s.owner_id is not null and s.last_check_in < $1 \
         and not exists (select 1 from notification n where n.account_id = s.owner_id \
           and n.kind = 'server_silent' and n.link = '/servers/' || s.id \
           and n.created_at >= s.last_check_in) \
         order by s.id",
    )
    .bind(offline)
    .fetch_all(&mut *conn)
    .await?;
    for (id, host, owner, last) in &silent {
        let subject = format!(
            "{host} has not checked in since {}",
            patchport_core::clock::format_utc(*last)
        );
        let body = format!(
            "The Patchport agent on {host} last reported at {} and has been silent for more \
             than a day. Until it reports again, its missing patches and reboot state may be \
             out of date, and installs and reboots queued for it cannot run. Check that the \
             server is up and that the patchport-agent service is running.",
            patchport_core::clock::format_utc(*last)
        );
        let notice = crate::mail::Notice {
            kind: "server_silent",
            subject: &subject,
            body: &body,
            link: &format!("/servers/{id}"),
        };
        crate::mail::notify(conn, *owner, &notice, now).await?;
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

/// Lists servers.
pub async fn list(
    conn: &mut Conn,
    q: &ServerQuery,
    page: i64,
    per_page: i64,
) -> Result<Page<ServerRow>> {
    let (limit, offset) = limit_offset(page, per_page);
    let pattern = format!("%{}%", crate::like_escape(&q.search.trim().to_lowercase()));
    let (online, stale) = CheckInStatus::bounds(q.now);
    let status = q.status.map_or("", CheckInStatus::as_str);
    // $1 search, $2 owner, $3 id, $4 group, $5 criticality, $6 status,
    // $7 online bound, $8 stale bound, $9 reboot (-1 any, 0, 1), $10 missing only
    let filter = format!(
        "where lower(s.hostname) like $1 escape '\\' and ($2 < 0 or s.owner_id = $2) and ($3 < 0 or s.id = $3) \
         and ($4 < 0 or exists (select 1 from server_group_member m where m.server_id = s.id and m.group_id = $4)) \
         and ($5 = '' or s.criticality = $5) \
         and ($6 = '' \
              or ($6 = {CHECK_IN_ONLINE} and s.last_check_in >= $7) \
              or ($6 = {CHECK_IN_STALE} and s.last_check_in < $7 and s.last_check_in >= $8) \
              or ($6 = {CHECK_IN_OFFLINE} and s.last_check_in < $8) \
              or ($6 = {CHECK_IN_NEVER} and s.last_check_in is null)) \
         and ($9 < 0 or (case when s.reboot_required then 1 else 0 end) = $9) \
         and ($10 = 0 or exists (select 1 from server_patch sp where sp.server_id = s.id and sp.state in {PATCH_OPEN}))"
    );
    let reboot = q.reboot_required.map_or(-1_i64, i64::from);
    macro_rules! bind_filter {
        ($query:expr) => {
            $query
                .bind(&pattern)
                .bind(q.owner_id.unwrap_or(-1))
                .bind(q.id.unwrap_or(-1))
                .bind(q.group_id.unwrap_or(-1))
                .bind(q.criticality.clone().unwrap_or_default())
                .bind(status)
                .bind(online)
                .bind(stale)
                .bind(reboot)
                .bind(i64::from(q.missing_only))
        };
    }
    let (total,): (i64,) = bind_filter!(sqlx::query_as(&format!(
        "select count(*) from server s {filter}"
    )))
    .fetch_one(&mut *conn)
    .await?;
    type Row = (
        i64,
        String,
        String,
        Option<String>,
        String,
        Option<i64>,
        i64,
        i64,
        i64,
        i64,
        i64,
    );
    let direction = if q.descending { "desc" } else { "asc" };
    let rows: Vec<Row> = bind_filter!(sqlx::query_as(&format!(
        "select s.id, s.hostname, s.os_name, a.username, s.criticality, s.last_check_in, \
           (case when s.reboot_required then 1 else 0 end), \
           s.open_patches as missing, s.open_security as missing_security, \
           (case when c.revoked_at is null and c.server_id is not null then 1 else 0 end), \
           (select count(*) from server_patch sp where sp.server_id = s.id and sp.state = {PATCH_PUBLISHED}) \
         from server s left join account a on a.id = s.owner_id left join agent_credential c on c.server_id = s.id \
         {filter} order by {} {direction}, lower(s.hostname), s.id limit $11 offset $12",
        q.sort.expr()
    )))
    .bind(limit)
    .bind(offset)
    .fetch_all(&mut *conn)
    .await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let mut groups = crate::groups::of_servers(conn, &ids).await?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(|r| ServerRow {
                groups: groups.remove(&r.0).unwrap_or_default(),
                id: r.0,
                hostname: r.1,
                os_name: r.2,
                owner: r.3,
                criticality: r.4,
                last_check_in: r.5,
                reboot_required: r.6 != 0,
                missing: r.7,
                missing_security: r.8,
                agent_active: r.9 != 0,
                published: r.10,
            })
            .collect(),
        total,
    })
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDetail {
    /// The list row (counts, owner, status).
    pub row: ServerRow,
    /// Owner's account id.
    pub owner_id: Option<i64>,
    /// Running kernel.
    pub kernel: String,
    /// Architecture.
    pub arch: String,
    /// Current boot id.
    pub boot_id: String,
    /// deb or rpm.
    pub package_format: String,
    /// Packages that asked for the reboot.
    pub reboot_required_packages: String,
    /// Last full report.
    pub last_report_at: Option<Timestamp>,
    /// Enrolled at.
    pub created_at: Timestamp,
    /// A credential rotation is waiting for the agent's next check-in.
    pub rotation_pending: bool,
}

/// Loads one server.
pub async fn get(conn: &mut Conn, server_id: i64) -> Result<Option<ServerDetail>> {
    type Extra = (
        Option<i64>,
        String,
        String,
        String,
        String,
        String,
        Option<i64>,
        i64,
        i64,
    );
    let extra: Option<Extra> = sqlx::query_as(
        "select s.owner_id, s.kernel, s.arch, s.boot_id, s.package_format, s.reboot_required_packages, \
         s.last_report_at, s.created_at, \
         (case when c.rotate_requested_at is not null and c.revoked_at is null then 1 else 0 end) \
         from server s left join agent_credential c on c.server_id = s.id where s.id = $1",
    )
    .bind(server_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(e) = extra else { return Ok(None) };
    let q = ServerQuery {
        id: Some(server_id),
        ..Default::default()
    };
    let Some(row) = list(conn, &q, 1, 1).await?.items.pop() else {
        return Ok(None);
    };
    Ok(Some(ServerDetail {
        row,
        owner_id: e.0,
        kernel: e.1,
        arch: e.2,
        boot_id: e.3,
        package_format: e.4,
        reboot_required_packages: e.5,
        last_report_at: e.6,
        created_at: e.7,
        rotation_pending: e.8 != 0,
    }))
}

/// One of a server's patches, as its page and job creation need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchRow {
    /// Catalog id.
    pub patch_id: i64,
    /// Package.
    pub package: String,
    /// Version installed now (as of the last report).
    pub installed_version: Option<String>,
    /// Target version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// From a security origin.
    pub security: bool,
    /// Where it stands on this server.
    pub state: String,
    /// Since when the server misses it.
    pub first_seen: Timestamp,
}

/// A server's patches, open ones first, by package.
pub async fn patch_rows(conn: &mut Conn, server_id: i64) -> Result<Vec<PatchRow>> {
    type Row = (
        i64,
        String,
        Option<String>,
        String,
        String,
        i64,
        String,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select p.id, p.package, sp.installed_version, p.version, p.arch, \
           (case when p.security then 1 else 0 end), sp.state, sp.first_seen \
         from server_patch sp join patch p on p.id = sp.patch_id where sp.server_id = $1 \
         order by (case when sp.state in {PATCH_OPEN} then 0 else 1 end), p.package, p.version"
    ))
    .bind(server_id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| PatchRow {
            patch_id: r.0,
            package: r.1,
            installed_version: r.2,
            version: r.3,
            arch: r.4,
            security: r.5 != 0,
            state: r.6,
            first_seen: r.7,
        })
        .collect())
}
