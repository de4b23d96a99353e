//! The Patches Missing report: which patches are missing where, with the
//! advisories' severity, CVSS and known exploitation, filtered and sorted
//! in the database.

use crate::{Conn, Page, Result, limit_offset};
use patchport_core::Timestamp;

/// Columns the report sorts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum PatchSort {
    /// Highest risk first: severity, then CVSS, then servers.
    #[default]
    Severity,
    /// Package name.
    Package,
    /// Release.
    Release,
    /// Servers missing it.
    Servers,
    /// Oldest detection.
    Oldest,
    /// CVSS score.
    Cvss,
}

impl PatchSort {
    /// Parses a column name as the UI sends it.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "severity" => Self::Severity,
            "package" => Self::Package,
            "release" => Self::Release,
            "servers" => Self::Servers,
            "oldest" => Self::Oldest,
            "cvss" => Self::Cvss,
            _ => return None,
        })
    }

    fn expr(self) -> &'static str {
        match self {
            Self::Severity => "r.severity_rank {dir}, r.cvss10 {dir}, r.servers {dir}",
            Self::Package => "r.package {dir}, r.version {dir}",
            Self::Release => "r.release {dir}, r.package",
            Self::Servers => "r.servers {dir}",
            Self::Oldest => "r.oldest {dir}",
            Self::Cvss => "r.cvss10 {dir}",
        }
    }
}

/// Which rows the report shows.
#[derive(Debug, Clone, Default)]
pub struct PatchQuery {
    /// Substring of the package name.
    pub search: String,
    /// Only patches from a security origin or with an advisory.
    pub security_only: bool,
    /// Only patches fixing a known-exploited CVE.
    pub known_exploited: bool,
    /// At least this severity rank (5 critical … 2 low; 0 any).
    pub min_severity: i64,
    /// Only this release (e.g. `debian:12`).
    pub release: Option<String>,
    /// Only servers in this group.
    pub group_id: Option<i64>,
    /// Only critical or standard servers.
    pub criticality: Option<String>,
    /// Only servers of this owner.
    pub owner_id: Option<i64>,
    /// Only this server-patch state.
    pub state: Option<String>,
    /// Only patches missing for at least this long (oldest detection).
    pub older_than: Option<Timestamp>,
    /// Sort column.
    pub sort: PatchSort,
    /// Largest first.
    pub descending: bool,
}

/// One row: a patch and where it is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRow {
    /// Patch id.
    pub patch_id: i64,
    /// Release.
    pub release: String,
    /// Package.
    pub package: String,
    /// Target version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// From a security origin.
    pub security: bool,
    /// Servers it is open on (within the filter).
    pub servers: i64,
    /// Oldest detection among them.
    pub oldest: Timestamp,
    /// Highest severity of its advisories (critical … unknown, or empty).
    pub severity: String,
    /// Highest CVSS score.
    pub cvss: Option<f64>,
    /// Fixes a known-exploited CVE.
    pub known_exploited: bool,
    /// Advisories it fixes.
    pub advisories: i64,
}

/// The severity names by rank.
pub fn severity_of_rank(rank: i64) -> &'static str {
    match rank {
        5 => "critical",
        4 => "high",
        3 => "medium",
        2 => "low",
        1 => "none",
        _ => "",
    }
}

/// One page of the report by patch.
pub async fn by_patch(
    conn: &mut Conn,
    q: &PatchQuery,
    page: i64,
    per_page: i64,
) -> Result<Page<PatchRow>> {
    let (limit, offset) = limit_offset(page, per_page);
    let open = crate::servers::OPEN_STATES;
    // $1 search, $2 release, $3 group, $4 criticality, $5 owner, $6 state,
    // $7 security only, $8 known exploited, $9 min severity, $10 older than
    let inner = format!(
        "select p.id as patch_id, p.release, p.package, p.version, p.arch, \
           (case when p.security then 1 else 0 end) as security, \
           count(*) as servers, min(sp.first_seen) as oldest, \
           coalesce((select max(case a.severity when 'critical' then 5 when 'high' then 4 when 'medium' then 3 \
               when 'low' then 2 when 'none' then 1 else 0 end) \
             from patch_advisory pa join advisory a on a.id = pa.advisory_id where pa.patch_id = p.id), 0) as severity_rank, \
           coalesce((select max(a.cvss_score10) from patch_advisory pa join advisory a on a.id = pa.advisory_id \
             where pa.patch_id = p.id), -1) as cvss10, \
           (case when exists (select 1 from patch_advisory pa join advisory_cve c on c.advisory_id = pa.advisory_id \
             join kev k on k.cve = c.cve where pa.patch_id = p.id) then 1 else 0 end) as kev, \
           (select count(*) from patch_advisory pa where pa.patch_id = p.id) as advisories \
         from server_patch sp join patch p on p.id = sp.patch_id join server s on s.id = sp.server_id \
         where sp.state in {open} \
           and lower(p.package) like $1 escape '\\' \
           and ($2 = '' or p.release = $2) \
           and ($3 < 0 or exists (select 1 from server_group_member m where m.server_id = s.id and m.group_id = $3)) \
           and ($4 = '' or s.criticality = $4) \
           and ($5 < 0 or s.owner_id = $5) \
           and ($6 = '' or sp.state = $6) \
         group by p.id, p.release, p.package, p.version, p.arch, p.security"
    );
    let filter = "where ($7 = 0 or r.security = 1 or r.advisories > 0) and ($8 = 0 or r.kev = 1) \
                  and r.severity_rank >= $9 and ($10 < 0 or r.oldest <= $10)";
    let pattern = format!("%{}%", crate::like_escape(&q.search.trim().to_lowercase()));
    macro_rules! bind_all {
        ($query:expr) => {
            $query
                .bind(&pattern)
                .bind(q.release.clone().unwrap_or_default())
                .bind(q.group_id.unwrap_or(-1))
                .bind(q.criticality.clone().unwrap_or_default())
                .bind(q.owner_id.unwrap_or(-1))
                .bind(q.state.clone().unwrap_or_default())
                .bind(i64::from(q.security_only))
                .bind(i64::from(q.known_exploited))
                .bind(q.min_severity)
                .bind(q.older_than.unwrap_or(-1))
        };
    }
    let (total,): (i64,) = bind_all!(sqlx::query_as(&format!(
        "select count(*) from ({inner}) r {filter}"
    )))
    .fetch_one(&mut *conn)
    .await?;
    let dir = if q.descending { "desc" } else { "asc" };
    let order = q.sort.expr().replace("{dir}", dir);
    type Row = (
        i64,
        String,
        String,
        String,
        String,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
        i64,
    );
    let rows: Vec<Row> = bind_all!(sqlx::query_as(&format!(
        "select r.patch_id, r.release, r.package, r.version, r.arch, r.security, r.servers, r.oldest, \
           r.severity_rank, r.cvss10, r.kev, r.advisories from ({inner}) r {filter} \
         order by {order}, r.package, r.version, r.patch_id limit $11 offset $12"
    )))
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(|r| PatchRow {
                patch_id: r.0,
                release: r.1,
                package: r.2,
                version: r.3,
                arch: r.4,
                security: r.5 != 0,
                servers: r.6,
                oldest: r.7,
                severity: severity_of_rank(r.8).to_owned(),
                cvss: (r.9 >= 0).then(|| r.9 as f64 / 10.0),
                known_exploited: r.10 != 0,
                advisories: r.11,
            })
            .collect(),
        total,
    })
}
