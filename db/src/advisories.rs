//! Security advisories and known-exploited CVEs as imported, and the links
//! from patches to the advisories they fix. Parsing and matching rules live
//! in `patchport_core::advisory`; this module stores what they decided.
//! Imports run in the caller's transaction, so a file is imported whole or
//! not at all.

use crate::{Conn, Result};
use patchport_core::Timestamp;

/// An advisory to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAdvisory<'a> {
    /// Its own id, e.g. `DSA-5678-1`.
    pub advisory_id: &'a str,
    /// One line.
    pub summary: &'a str,
    /// Full text.
    pub details: &'a str,
    /// critical, high, medium, low, none or unknown.
    pub severity: &'a str,
    /// CVSS vector, if any.
    pub cvss_vector: Option<&'a str>,
    /// CVSS base score, if known.
    pub cvss_score: Option<f64>,
    /// Published.
    pub published: Option<Timestamp>,
    /// Last modified.
    pub modified: Timestamp,
    /// Withdrawn.
    pub withdrawn: Option<Timestamp>,
    /// Where it came from.
    pub source: &'a str,
    /// Digest of its content, to tell a changed advisory from the same one.
    pub content_hash: &'a str,
    /// CVE ids.
    pub cves: &'a [String],
    /// Affected packages: (ecosystem, package, ranges as JSON).
    pub affected: &'a [(String, String, String)],
}

/// What storing an advisory did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// It was new.
    Inserted(i64),
    /// It existed with other content and was replaced.
    Updated(i64),
    /// It existed with the same content: nothing changed.
    Unchanged(i64),
}

impl Stored {
    /// The advisory's row id.
    pub fn id(self) -> i64 {
        match self {
            Stored::Inserted(id) | Stored::Updated(id) | Stored::Unchanged(id) => id,
        }
    }
}

/// Inserts or replaces an advisory by its id; the same content again is a
/// no-op.
pub async fn store(conn: &mut Conn, a: &NewAdvisory<'_>, now: Timestamp) -> Result<Stored> {
    let existing: Option<(i64, String)> =
        sqlx::query_as("select id, content_hash from advisory where advisory_id = $1")
            .bind(a.advisory_id)
            .fetch_optional(&mut *conn)
            .await?;
    if let Some((id, hash)) = &existing
        && *hash == a.content_hash
    {
        return Ok(Stored::Unchanged(*id));
    }
    let score10 = a.cvss_score.map(|s| (s * 10.0).round() as i64);
    let (id,): (i64,) = sqlx::query_as(
        "insert into advisory (advisory_id, summary, details, severity, cvss_vector, cvss_score10, \
         published, modified, withdrawn, source, content_hash, imported_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         on conflict (advisory_id) do update set summary = excluded.summary, details = excluded.details, \
         severity = excluded.severity, cvss_vector = excluded.cvss_vector, cvss_score10 = excluded.cvss_score10, \
         published = excluded.published, modified = excluded.modified, withdrawn = excluded.withdrawn, \
         source = excluded.source, content_hash = excluded.content_hash, imported_at = excluded.imported_at \
         returning id",
    )
    .bind(a.advisory_id)
    .bind(a.summary)
    .bind(a.details)
    .bind(a.severity)
    .bind(a.cvss_vector)
    .bind(score10)
    .bind(a.published)
    .bind(a.modified)
    .bind(a.withdrawn)
    .bind(a.source)
    .bind(a.content_hash)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let stored = if existing.is_some() {
        // Changed: its CVEs and affected packages are replaced below.
        for table in ["advisory_cve", "advisory_affected"] {
            sqlx::query(&format!("delete from {table} where advisory_id = $1"))
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        Stored::Updated(id)
    } else {
        Stored::Inserted(id)
    };
    let id = stored.id();
    let mut cves = a.cves.to_vec();
    cves.sort();
    cves.dedup();
    for cve in &cves {
        sqlx::query("insert into advisory_cve (advisory_id, cve) values ($1, $2)")
            .bind(id)
            .bind(cve)
            .execute(&mut *conn)
            .await?;
    }
    for (ecosystem, package, ranges) in a.affected {
        sqlx::query(
            "insert into advisory_affected (advisory_id, ecosystem, package, ranges) values ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(ecosystem)
        .bind(package)
        .bind(ranges)
        .execute(&mut *conn)
        .await?;
    }
    Ok(stored)
}

/// One entry of the Known Exploited Vulnerabilities catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KevEntry<'a> {
    /// CVE id.
    pub cve: &'a str,
    /// Vendor.
    pub vendor: &'a str,
    /// Product.
    pub product: &'a str,
    /// Vulnerability name.
    pub name: &'a str,
    /// Added to the catalog.
    pub date_added: Timestamp,
    /// Remediation due date for US federal agencies.
    pub due_date: Option<Timestamp>,
    /// Known use in ransomware campaigns (`Known`, `Unknown`).
    pub ransomware: &'a str,
    /// Digest of the entry.
    pub content_hash: &'a str,
}

/// Inserts or replaces a KEV entry; the same content again is a no-op.
/// Returns whether anything changed.
pub async fn store_kev(conn: &mut Conn, e: &KevEntry<'_>) -> Result<bool> {
    let done = sqlx::query(
        "insert into kev (cve, vendor, product, name, date_added, due_date, ransomware, content_hash) \
         values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (cve) do update set vendor = excluded.vendor, \
         product = excluded.product, name = excluded.name, date_added = excluded.date_added, \
         due_date = excluded.due_date, ransomware = excluded.ransomware, content_hash = excluded.content_hash \
         where kev.content_hash <> excluded.content_hash",
    )
    .bind(e.cve)
    .bind(e.vendor)
    .bind(e.product)
    .bind(e.name)
    .bind(e.date_added)
    .bind(e.due_date)
    .bind(e.ransomware)
    .bind(e.content_hash)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// An advisory as shown with a patch.
#[derive(Debug, Clone, PartialEq)]
pub struct AdvisoryRow {
    /// Its own id.
    pub advisory_id: String,
    /// One line.
    pub summary: String,
    /// Full text.
    pub details: String,
    /// critical … unknown.
    pub severity: String,
    /// CVSS vector.
    pub cvss_vector: Option<String>,
    /// CVSS base score.
    pub cvss_score: Option<f64>,
    /// Published.
    pub published: Option<Timestamp>,
    /// CVE ids.
    pub cves: Vec<String>,
    /// Of those, known exploited.
    pub known_exploited: Vec<String>,
}

/// The advisories a patch fixes, most severe first.
pub async fn of_patch(conn: &mut Conn, patch_id: i64) -> Result<Vec<AdvisoryRow>> {
    type Row = (
        i64,
        String,
        String,
        String,
        Option<String>,
        Option<i64>,
        Option<i64>,
        String,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "select a.id, a.advisory_id, a.summary, a.severity, a.cvss_vector, a.cvss_score10, a.published, a.details \
         from patch_advisory pa join advisory a on a.id = pa.advisory_id where pa.patch_id = $1 \
         order by coalesce(a.cvss_score10, -1) desc, a.advisory_id",
    )
    .bind(patch_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let cves: Vec<(String, i64)> = sqlx::query_as(
            "select c.cve, (case when k.cve is null then 0 else 1 end) from advisory_cve c \
             left join kev k on k.cve = c.cve where c.advisory_id = $1 order by c.cve",
        )
        .bind(r.0)
        .fetch_all(&mut *conn)
        .await?;
        out.push(AdvisoryRow {
            advisory_id: r.1,
            summary: r.2,
            details: r.7,
            severity: r.3,
            cvss_vector: r.4,
            cvss_score: r.5.map(|s| s as f64 / 10.0),
            published: r.6,
            known_exploited: cves
                .iter()
                .filter(|c| c.1 != 0)
                .map(|c| c.0.clone())
                .collect(),
            cves: cves.into_iter().map(|c| c.0).collect(),
        });
    }
    Ok(out)
}

/// Records that a patch fixes an advisory (once).
pub async fn link(conn: &mut Conn, patch_id: i64, advisory_id: i64) -> Result<()> {
    sqlx::query(
        "insert into patch_advisory (patch_id, advisory_id) values ($1, $2) on conflict do nothing",
    )
    .bind(patch_id)
    .bind(advisory_id)
    .execute(&mut *conn)
    .await?;
    refresh_patch_risk(conn, Some(patch_id)).await
}

/// Recomputes what the report keeps on a patch row from its advisories
/// (highest severity, CVSS, known exploitation, count); `None` does it for
/// every patch that has advisories or was flagged (after a KEV import).
pub async fn refresh_patch_risk(conn: &mut Conn, patch_id: Option<i64>) -> Result<()> {
    let which = if patch_id.is_some() {
        "id = $1"
    } else {
        "($1 < 0) and (id in (select patch_id from patch_advisory) or known_exploited <> 0)"
    };
    sqlx::query(&format!(
        "update patch set \
           severity_rank = coalesce((select max(case a.severity when 'critical' then 5 when 'high' then 4 \
             when 'medium' then 3 when 'low' then 2 when 'none' then 1 else 0 end) \
             from patch_advisory pa join advisory a on a.id = pa.advisory_id where pa.patch_id = patch.id), 0), \
           cvss10 = coalesce((select max(a.cvss_score10) from patch_advisory pa join advisory a on a.id = pa.advisory_id \
             where pa.patch_id = patch.id), -1), \
           known_exploited = (case when exists (select 1 from patch_advisory pa \
             join advisory_cve c on c.advisory_id = pa.advisory_id join kev k on k.cve = c.cve \
             where pa.patch_id = patch.id) then 1 else 0 end), \
           advisories = (select count(*) from patch_advisory pa where pa.patch_id = patch.id) \
         where {which}"
    ))
    .bind(patch_id.unwrap_or(-1))
    .execute(conn)
    .await?;
    Ok(())
}

/// Links an advisory (already stored as `advisory_row`) to every patch in
/// the catalog that fixes it; drops links its new ranges no longer
/// support. Returns how many patches it is linked to.
pub async fn match_advisory(
    conn: &mut Conn,
    advisory_row: i64,
    advisory: &patchport_core::advisory::Advisory,
) -> Result<u64> {
    let unlinked: Vec<(i64,)> =
        sqlx::query_as("delete from patch_advisory where advisory_id = $1 returning patch_id")
            .bind(advisory_row)
            .fetch_all(&mut *conn)
            .await?;
    for (patch_id,) in unlinked {
        refresh_patch_risk(conn, Some(patch_id)).await?;
    }
    if advisory.is_withdrawn() {
        return Ok(0);
    }
    let mut linked = std::collections::BTreeSet::new();
    for affected in &advisory.affected {
        let candidates: Vec<(i64, String, String)> = sqlx::query_as(
            "select id, release, version from patch where source_package = $1 or package = $1",
        )
        .bind(&affected.package.name)
        .fetch_all(&mut *conn)
        .await?;
        for (patch_id, release, version) in candidates {
            if affected.fixed_by(&release, &version) {
                linked.insert(patch_id);
            }
        }
    }
    for patch_id in &linked {
        link(conn, *patch_id, advisory_row).await?;
    }
    Ok(linked.len() as u64)
}

/// Links a new patch to the stored advisories it fixes (called when a
/// check-in brings a patch the catalog had not seen).
pub async fn match_patch(
    conn: &mut Conn,
    patch_id: i64,
    release: &str,
    names: &[&str],
    version: &str,
) -> Result<u64> {
    let mut found = 0;
    let mut names = names.to_vec();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let records: Vec<(i64, String)> =
            sqlx::query_as("select advisory_id, ranges from advisory_affected where package = $1")
                .bind(name)
                .fetch_all(&mut *conn)
                .await?;
        for (advisory_row, json) in records {
            let Ok(affected) = serde_json::from_str::<patchport_core::advisory::Affected>(&json)
            else {
                continue;
            };
            if affected.fixed_by(release, version) {
                link(conn, patch_id, advisory_row).await?;
                found += 1;
            }
        }
    }
    Ok(found)
}

/// Whether any advisory is stored (skips matching work before the first
/// import).
pub async fn any(conn: &mut Conn) -> Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as("select 1 from advisory_affected limit 1")
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// What the advisories linked to a patch add up to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatchSummary {
    /// Advisory ids, sorted.
    pub advisories: Vec<String>,
    /// CVE ids, sorted.
    pub cves: Vec<String>,
    /// Highest CVSS score.
    pub cvss: Option<f64>,
    /// Highest qualitative severity.
    pub severity: String,
    /// Some CVE is known exploited.
    pub known_exploited: bool,
}

fn severity_rank(s: &str) -> u8 {
    match s {
        "critical" => 5,
        "high" => 4,
        "medium" => 3,
        "low" => 2,
        "none" => 1,
        _ => 0,
    }
}

/// The advisory summary of every patch of a server that has advisories.
pub async fn summaries_for_server(
    conn: &mut Conn,
    server_id: i64,
) -> Result<std::collections::HashMap<i64, PatchSummary>> {
    type Row = (i64, String, String, Option<i64>, Option<String>, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "select pa.patch_id, a.advisory_id, a.severity, a.cvss_score10, c.cve, \
           (case when k.cve is null then 0 else 1 end) \
         from server_patch sp join patch_advisory pa on pa.patch_id = sp.patch_id \
         join advisory a on a.id = pa.advisory_id \
         left join advisory_cve c on c.advisory_id = a.id left join kev k on k.cve = c.cve \
         where sp.server_id = $1",
    )
    .bind(server_id)
    .fetch_all(conn)
    .await?;
    let mut out: std::collections::HashMap<i64, PatchSummary> = Default::default();
    for (patch_id, advisory, severity, score10, cve, kev) in rows {
        let s = out.entry(patch_id).or_default();
        if !s.advisories.contains(&advisory) {
            s.advisories.push(advisory);
        }
        if let Some(cve) = cve
            && !s.cves.contains(&cve)
        {
            s.cves.push(cve);
        }
        if let Some(score) = score10.map(|v| v as f64 / 10.0) {
            s.cvss = Some(s.cvss.map_or(score, |old| old.max(score)));
        }
        if severity_rank(&severity) > severity_rank(&s.severity) {
            s.severity = severity;
        }
        s.known_exploited |= kev != 0;
    }
    for s in out.values_mut() {
        s.advisories.sort();
        s.cves.sort();
    }
    Ok(out)
}

/// The catalog's security patches: (release, package, source package,
/// version), by package.
pub async fn security_patches(
    conn: &mut Conn,
) -> Result<Vec<(String, String, Option<String>, String)>> {
    Ok(sqlx::query_as(
        "select release, package, source_package, version from patch where security \
         order by package, version, release",
    )
    .fetch_all(conn)
    .await?)
}

/// A patch in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchInfo {
    /// Release, e.g. `debian:12`.
    pub release: String,
    /// Binary package.
    pub package: String,
    /// Source package.
    pub source_package: Option<String>,
    /// Target version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// apt origin or dnf repository.
    pub origin: String,
    /// From a security origin.
    pub security: bool,
    /// First seen anywhere.
    pub first_seen: Timestamp,
}

/// One patch.
pub async fn patch(conn: &mut Conn, patch_id: i64) -> Result<Option<PatchInfo>> {
    type Row = (
        String,
        String,
        Option<String>,
        String,
        String,
        String,
        i64,
        i64,
    );
    let row: Option<Row> = sqlx::query_as(
        "select release, package, source_package, version, arch, origin, \
         (case when security then 1 else 0 end), first_seen from patch where id = $1",
    )
    .bind(patch_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| PatchInfo {
        release: r.0,
        package: r.1,
        source_package: r.2,
        version: r.3,
        arch: r.4,
        origin: r.5,
        security: r.6 != 0,
        first_seen: r.7,
    }))
}

/// A server that misses (or missed) a patch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingOn {
    /// Server id.
    pub server_id: i64,
    /// Host name.
    pub hostname: String,
    /// critical or standard.
    pub criticality: String,
    /// Owner's user name.
    pub owner: Option<String>,
    /// Version installed when it was first seen missing.
    pub installed_version: Option<String>,
    /// Where it stands.
    pub state: String,
    /// Missing since.
    pub first_seen: Timestamp,
}

/// The servers a patch is open on (only `owner_id`'s when given), by host
/// name.
pub async fn servers_missing(
    conn: &mut Conn,
    patch_id: i64,
    owner_id: Option<i64>,
) -> Result<Vec<MissingOn>> {
    type Row = (
        i64,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        i64,
    );
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select s.id, s.hostname, s.criticality, a.username, sp.installed_version, sp.state, sp.first_seen \
         from server_patch sp join server s on s.id = sp.server_id left join account a on a.id = s.owner_id \
         where sp.patch_id = $1 and sp.state in {} and ($2 < 0 or s.owner_id = $2) \
         order by lower(s.hostname), s.id",
        crate::servers::OPEN_STATES
    ))
    .bind(patch_id)
    .bind(owner_id.unwrap_or(-1))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| MissingOn {
            server_id: r.0,
            hostname: r.1,
            criticality: r.2,
            owner: r.3,
            installed_version: r.4,
            state: r.5,
            first_seen: r.6,
        })
        .collect())
}
