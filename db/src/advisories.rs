//! Security advisories and known-exploited CVEs as imported, and what each
//! offered update fixes on the servers it is offered to. The decisions
//! (parsing, ratings, whether an update fixes an advisory from an
//! installed version) live in `patchport_core::advisory`; this module
//! stores what they decided.
//!
//! **Imports** never hold the database for long: an OSV import writes what
//! it read into staging tables in short transactions ([`stage`]), then
//! switches it over in one short, set-based transaction ([`switch`]), so
//! it stays all or nothing while check-ins, sign-ins and the scheduler go
//! on. The switch marks the affected [`patch_from`](self#matching) rows
//! stale; [`rematch_stale`] then brings their links up to date in small
//! batches.
//!
//! # Matching
//!
//! A `patch_from` row is a patch seen from one installed version (the
//! version advisories compare: the source version on deb servers). Every
//! open server-patch row points at one; its links (`patch_from_advisory`)
//! are the advisories the update fixes from that version, and its
//! severity, CVSS, known exploitation, advisory count and security flag
//! sum them up for the report, the dashboard, risk and policies.

use crate::row::{Flag, flag};
use crate::states::{IMPORT_FAILED, IMPORT_RUNNING, IMPORT_SUCCEEDED, PATCH_OPEN};
use crate::{Conn, Result, id_list, values_placeholders};
use patchport_core::Timestamp;
use patchport_core::advisory::{Affected, Offer};
use patchport_core::state::ImportState;
use std::collections::{BTreeSet, HashMap, HashSet};

/// An advisory to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAdvisory {
    /// Its own id, e.g. `DSA-5678-1`.
    pub advisory_id: String,
    /// One line.
    pub summary: String,
    /// Full text.
    pub details: String,
    /// critical, high, medium, low, negligible or unknown.
    pub severity: String,
    /// Where the rating was read ("Ubuntu priority high", "AlmaLinux
    /// rating Important"), empty when unrated.
    pub severity_source: String,
    /// security, bugfix or enhancement.
    pub kind: String,
    /// CVSS vector, if any.
    pub cvss_vector: Option<String>,
    /// CVSS base score, if known.
    pub cvss_score: Option<f64>,
    /// Published.
    pub published: Option<Timestamp>,
    /// Last modified.
    pub modified: Timestamp,
    /// Withdrawn.
    pub withdrawn: Option<Timestamp>,
    /// Where it came from (file, zip entry, URL).
    pub source: String,
    /// Digest of its content, to tell a changed advisory from the same one.
    pub content_hash: String,
    /// CVE ids.
    pub cves: Vec<String>,
    /// Affected packages: (ecosystem, package, the entry as JSON).
    pub affected: Vec<(String, String, String)>,
}

/// What kind of import a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// OSV advisories.
    Osv,
    /// The CISA KEV catalog.
    Kev,
}

impl ImportKind {
    fn as_str(self) -> &'static str {
        match self {
            ImportKind::Osv => "osv",
            ImportKind::Kev => "kev",
        }
    }
}

/// Records the start of an import and returns its id.
pub async fn begin_import(
    conn: &mut Conn,
    kind: ImportKind,
    source: &str,
    actor: &str,
    now: Timestamp,
) -> Result<i64> {
    let (id,): (i64,) = sqlx::query_as(&format!(
        "insert into advisory_import (kind, source, actor, state, started_at, updated_at) \
         values ($1, $2, $3, {IMPORT_RUNNING}, $4, $4) returning id"
    ))
    .bind(kind.as_str())
    .bind(source)
    .bind(actor)
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Records how far an import got: its phase and progress within it.
pub async fn progress(
    conn: &mut Conn,
    import_id: i64,
    phase: &str,
    done: i64,
    total: i64,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(
        "update advisory_import set phase = $1, done = $2, total = $3, updated_at = $4 where id = $5",
    )
    .bind(phase)
    .bind(done)
    .bind(total)
    .bind(now)
    .bind(import_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// What an import did, as recorded for the admins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Documents read.
    pub documents: i64,
    /// New advisories (or KEV entries).
    pub inserted: i64,
    /// Changed ones.
    pub updated: i64,
    /// Ones already stored as they are.
    pub unchanged: i64,
    /// Server-patch versions matched again.
    pub matched: i64,
    /// What was read but not used, one line each.
    pub warnings: Vec<String>,
}

/// Records the outcome of an import that succeeded.
pub async fn finish_import(
    conn: &mut Conn,
    import_id: i64,
    outcome: &Outcome,
    now: Timestamp,
) -> Result<()> {
    sqlx::query(&format!(
        "update advisory_import set state = {IMPORT_SUCCEEDED}, phase = 'done', documents = $1, inserted = $2, \
         updated = $3, unchanged = $4, matched = $5, warnings = $6, finished_at = $7, updated_at = $7 \
         where id = $8"
    ))
    .bind(outcome.documents)
    .bind(outcome.inserted)
    .bind(outcome.updated)
    .bind(outcome.unchanged)
    .bind(outcome.matched)
    .bind(outcome.warnings.join("\n"))
    .bind(now)
    .bind(import_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Records that an import failed (nothing it read was switched over) and
/// drops what it staged.
pub async fn fail_import(
    conn: &mut Conn,
    import_id: i64,
    error: &str,
    now: Timestamp,
) -> Result<()> {
    drop_stage(conn, import_id).await?;
    sqlx::query(&format!(
        "update advisory_import set state = {IMPORT_FAILED}, error = $1, finished_at = $2, updated_at = $2 \
         where id = $3"
    ))
    .bind(error)
    .bind(now)
    .bind(import_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks imports that have shown no progress since `silent_since` as
/// failed (their process stopped: nothing they staged was switched over)
/// and drops what they staged. Every step of a live import records its
/// progress, far more often than the caller's cut-off.
pub async fn abandon_silent(
    conn: &mut Conn,
    silent_since: Timestamp,
    now: Timestamp,
) -> Result<u64> {
    let ids: Vec<(i64,)> = sqlx::query_as(&format!(
        "select id from advisory_import where state = {IMPORT_RUNNING} and updated_at < $1"
    ))
    .bind(silent_since)
    .fetch_all(&mut *conn)
    .await?;
    for (id,) in &ids {
        fail_import(conn, *id, ImportState::INTERRUPTED, now).await?;
    }
    Ok(ids.len() as u64)
}

async fn drop_stage(conn: &mut Conn, import_id: i64) -> Result<()> {
    for table in [
        "advisory_stage",
        "advisory_stage_cve",
        "advisory_stage_affected",
    ] {
        sqlx::query(&format!("delete from {table} where import_id = $1"))
            .bind(import_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// One import as the admins' page shows it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ImportRow {
    /// Its id.
    pub id: i64,
    /// osv or kev.
    pub kind: String,
    /// What was imported.
    pub source: String,
    /// Who started it.
    pub actor: String,
    /// running, succeeded or failed.
    pub state: String,
    /// Where a running import is.
    pub phase: String,
    /// Progress within the phase.
    pub done: i64,
    /// Out of.
    pub total: i64,
    /// Documents read.
    pub documents: i64,
    /// New.
    pub inserted: i64,
    /// Changed.
    pub updated: i64,
    /// Unchanged.
    pub unchanged: i64,
    /// Versions matched again.
    pub matched: i64,
    /// Why it failed.
    pub error: String,
    /// What was read but not used.
    pub warnings: String,
    /// Started.
    pub started_at: Timestamp,
    /// Finished.
    pub finished_at: Option<Timestamp>,
}

/// The latest imports, newest first.
pub async fn imports(conn: &mut Conn, limit: i64) -> Result<Vec<ImportRow>> {
    Ok(sqlx::query_as(
        "select id, kind, source, actor, state, phase, done, total, documents, inserted, updated, \
         unchanged, matched, error, warnings, started_at, finished_at from advisory_import \
         order by started_at desc, id desc limit $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// What is stored, by erratum kind and rating, for the admins' page:
/// (kind, severity, advisories).
pub async fn counts(conn: &mut Conn) -> Result<Vec<(String, String, i64)>> {
    #[derive(sqlx::FromRow)]
    struct Count {
        kind: String,
        severity: String,
        advisories: i64,
    }
    let rows: Vec<Count> = sqlx::query_as(
        "select kind, severity, count(*) as advisories from advisory group by kind, severity \
         order by kind, severity",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|c| (c.kind, c.severity, c.advisories))
        .collect())
}

/// The content digest of every stored advisory, by its id: an import
/// stages only what is new or changed.
pub async fn stored_hashes(conn: &mut Conn) -> Result<HashMap<String, String>> {
    let rows: Vec<(String, String)> =
        sqlx::query_as("select advisory_id, content_hash from advisory")
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().collect())
}

/// Rows per multi-row insert into the staging tables.
const STAGE_CHUNK: usize = 64;

/// Writes advisories into an import's staging area (invisible until
/// [`switch`]). Call it in short transactions of a few hundred advisories.
pub async fn stage(conn: &mut Conn, import_id: i64, advisories: &[NewAdvisory]) -> Result<()> {
    for chunk in advisories.chunks(STAGE_CHUNK) {
        let sql = format!(
            "insert into advisory_stage (import_id, advisory_id, summary, details, severity, severity_source, \
             kind, cvss_vector, cvss_score10, published, modified, withdrawn, source, content_hash) values {}",
            values_placeholders(chunk.len(), 14)
        );
        let mut q = sqlx::query(&sql);
        for a in chunk {
            q = q
                .bind(import_id)
                .bind(&a.advisory_id)
                .bind(&a.summary)
                .bind(&a.details)
                .bind(&a.severity)
                .bind(&a.severity_source)
                .bind(&a.kind)
                .bind(&a.cvss_vector)
                .bind(a.cvss_score.map(|s| (s * 10.0).round() as i64))
                .bind(a.published)
                .bind(a.modified)
                .bind(a.withdrawn)
                .bind(&a.source)
                .bind(&a.content_hash);
        }
        q.execute(&mut *conn).await?;
    }
    let cves: Vec<(&str, &str)> = advisories
        .iter()
        .flat_map(|a| {
            a.cves
                .iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .map(move |c| (a.advisory_id.as_str(), c.as_str()))
        })
        .collect();
    for chunk in cves.chunks(STAGE_CHUNK) {
        let sql = format!(
            "insert into advisory_stage_cve (import_id, advisory_id, cve) values {}",
            values_placeholders(chunk.len(), 3)
        );
        let mut q = sqlx::query(&sql);
        for (advisory, cve) in chunk {
            q = q.bind(import_id).bind(*advisory).bind(*cve);
        }
        q.execute(&mut *conn).await?;
    }
    let affected: Vec<(&str, &(String, String, String))> = advisories
        .iter()
        .flat_map(|a| a.affected.iter().map(move |x| (a.advisory_id.as_str(), x)))
        .collect();
    for chunk in affected.chunks(STAGE_CHUNK) {
        let sql = format!(
            "insert into advisory_stage_affected (import_id, advisory_id, ecosystem, package, ranges) values {}",
            values_placeholders(chunk.len(), 5)
        );
        let mut q = sqlx::query(&sql);
        for (advisory, (ecosystem, package, ranges)) in chunk {
            q = q
                .bind(import_id)
                .bind(*advisory)
                .bind(ecosystem)
                .bind(package)
                .bind(ranges);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// What a switch-over did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Switched {
    /// Advisories that were new.
    pub inserted: i64,
    /// Advisories that replaced stored ones.
    pub updated: i64,
    /// Versions marked for matching again.
    pub stale: i64,
}

/// Makes an import's staged advisories the stored ones, in one set-based
/// transaction (the caller's): new ones are added, changed ones replace
/// theirs with their CVEs and affected packages, and every `patch_from`
/// row they may concern (linked to a changed advisory, or of a package an
/// advisory names) is marked stale for [`rematch_stale`]. The staging rows
/// are dropped.
pub async fn switch(conn: &mut Conn, import_id: i64, now: Timestamp) -> Result<Switched> {
    let (staged, existing): (i64, i64) = sqlx::query_as(
        "select count(*), cast(coalesce(sum(case when exists (select 1 from advisory a \
           where a.advisory_id = s.advisory_id) then 1 else 0 end), 0) as bigint) \
         from advisory_stage s where s.import_id = $1",
    )
    .bind(import_id)
    .fetch_one(&mut *conn)
    .await?;
    let mut out = Switched {
        inserted: staged - existing,
        updated: existing,
        stale: 0,
    };
    if staged == 0 {
        return Ok(out);
    }
    // Versions linked to an advisory about to change: its new content may
    // no longer apply to them.
    out.stale += sqlx::query(
        "update patch_from set stale = $1 where not stale and id in (select l.from_id \
           from patch_from_advisory l join advisory a on a.id = l.advisory_id \
           join advisory_stage s on s.advisory_id = a.advisory_id where s.import_id = $2)",
    )
    .bind(true)
    .bind(import_id)
    .execute(&mut *conn)
    .await?
    .rows_affected() as i64;
    copy_stage(conn, import_id, now).await?;
    // Versions of packages the new content names: it may apply to them.
    out.stale += sqlx::query(
        "update patch_from set stale = $1 where not stale and patch_id in (select p.id from patch p \
         where p.package in (select x.package from advisory_stage_affected x where x.import_id = $2) \
            or p.source_package in (select x.package from advisory_stage_affected x where x.import_id = $2))",
    )
    .bind(true)
    .bind(import_id)
    .execute(&mut *conn)
    .await?
    .rows_affected() as i64;
    drop_stage(conn, import_id).await?;
    Ok(out)
}

/// Writes an import's staged advisories over the stored ones: new ones are
/// added, changed ones replaced, and the CVEs and affected packages of both
/// are the staged ones.
async fn copy_stage(conn: &mut Conn, import_id: i64, now: Timestamp) -> Result<()> {
    sqlx::query(
        "insert into advisory (advisory_id, summary, details, severity, severity_source, kind, cvss_vector, \
           cvss_score10, published, modified, withdrawn, source, content_hash, imported_at) \
         select advisory_id, summary, details, severity, severity_source, kind, cvss_vector, cvss_score10, \
           published, modified, withdrawn, source, content_hash, $1 from advisory_stage where import_id = $2 \
         on conflict (advisory_id) do update set summary = excluded.summary, details = excluded.details, \
           severity = excluded.severity, severity_source = excluded.severity_source, kind = excluded.kind, \
           cvss_vector = excluded.cvss_vector, cvss_score10 = excluded.cvss_score10, \
           published = excluded.published, modified = excluded.modified, withdrawn = excluded.withdrawn, \
           source = excluded.source, content_hash = excluded.content_hash, imported_at = excluded.imported_at",
    )
    .bind(now)
    .bind(import_id)
    .execute(&mut *conn)
    .await?;
    for table in ["advisory_cve", "advisory_affected"] {
        sqlx::query(&format!(
            "delete from {table} where advisory_id in (select a.id from advisory a \
             join advisory_stage s on s.advisory_id = a.advisory_id where s.import_id = $1)"
        ))
        .bind(import_id)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(
        "insert into advisory_cve (advisory_id, cve) select distinct a.id, c.cve from advisory_stage_cve c \
         join advisory a on a.advisory_id = c.advisory_id where c.import_id = $1",
    )
    .bind(import_id)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "insert into advisory_affected (advisory_id, ecosystem, package, ranges) \
         select a.id, x.ecosystem, x.package, x.ranges from advisory_stage_affected x \
         join advisory a on a.advisory_id = x.advisory_id where x.import_id = $1",
    )
    .bind(import_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
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

/// Marks stale the versions linked to advisories about these CVEs (their
/// known exploitation changed). Returns how many.
pub async fn stale_for_cves(conn: &mut Conn, cves: &[String]) -> Result<u64> {
    let mut marked = 0;
    for chunk in cves.chunks(500) {
        let list = values_list(chunk.len(), 2);
        let sql = format!(
            "update patch_from set stale = $1 where not stale and id in (select l.from_id \
             from patch_from_advisory l join advisory_cve c on c.advisory_id = l.advisory_id \
             where c.cve in ({list}))"
        );
        let mut q = sqlx::query(&sql).bind(true);
        for cve in chunk {
            q = q.bind(cve);
        }
        marked += q.execute(&mut *conn).await?.rows_affected();
    }
    Ok(marked)
}

/// `$from, $from+1, …` for `n` values.
fn values_list(n: usize, from: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether any advisory is stored (skips matching work before the first
/// import).
pub async fn any(conn: &mut Conn) -> Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as("select 1 from advisory_affected limit 1")
        .fetch_optional(conn)
        .await?;
    Ok(row.is_some())
}

/// How many versions wait to be matched again.
pub async fn stale_count(conn: &mut Conn) -> Result<i64> {
    let (n,): (i64,) = sqlx::query_as("select count(*) from patch_from where stale")
        .fetch_one(conn)
        .await?;
    Ok(n)
}

/// The PostgreSQL advisory lock key that lets one instance at a time pick
/// stale versions in [`rematch_stale`].
const REMATCH_LOCK: i64 = 0x7061_7463_6872_6d74; // "patchrmt"

/// Matches up to `limit` stale versions again (see [`rematch`]) and
/// returns how many; 0 when none is stale (or, on PostgreSQL, another
/// instance is at it). Run it in a transaction of its own, repeatedly,
/// until it returns 0.
pub async fn rematch_stale(conn: &mut Conn, limit: i64) -> Result<usize> {
    let postgres = conn.backend_name() == "PostgreSQL";
    if postgres {
        let (got,): (bool,) = sqlx::query_as("select pg_try_advisory_xact_lock($1)")
            .bind(REMATCH_LOCK)
            .fetch_one(&mut *conn)
            .await?;
        if !got {
            return Ok(0);
        }
    }
    let ids: Vec<(i64,)> =
        sqlx::query_as("select id from patch_from where stale order by id limit $1")
            .bind(limit)
            .fetch_all(&mut *conn)
            .await?;
    let ids: Vec<i64> = ids.into_iter().map(|(id,)| id).collect();
    if ids.is_empty() {
        return Ok(0);
    }
    if postgres {
        // Servers before versions, in id order: the order a check-in takes
        // them in (its server, then the versions its rows count in), so the
        // two cannot deadlock.
        let list = id_list(&ids);
        sqlx::query(&format!(
            "select s.id from server s where s.id in (select sp.server_id from server_patch sp \
             where sp.from_id in ({list}) and sp.state in {PATCH_OPEN}) order by s.id for update"
        ))
        .execute(&mut *conn)
        .await?;
        sqlx::query(&format!(
            "select id from patch_from where id in ({list}) order by id for update"
        ))
        .execute(&mut *conn)
        .await?;
    }
    rematch(conn, &ids).await?;
    Ok(ids.len())
}

/// A version to match, with its patch.
#[derive(sqlx::FromRow)]
struct Version {
    id: i64,
    /// The installed version.
    from_version: String,
    release: String,
    package: String,
    source_package: Option<String>,
    version: String,
    source_version: Option<String>,
    origin: String,
}

impl Version {
    /// The offered version as advisories compare it: the source version
    /// when the agent reported one.
    fn to(&self) -> &str {
        self.source_version.as_deref().unwrap_or(&self.version)
    }
}

/// Computes which stored advisories each of these versions' updates fixes
/// (with `patchport_core::advisory::Advisory::fixed_by_offer`'s rule),
/// replaces their links, sums the links up on the rows and clears their
/// stale mark. Returns the number of links now.
pub async fn rematch(conn: &mut Conn, ids: &[i64]) -> Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let list = id_list(ids);
    let versions: Vec<Version> = sqlx::query_as(&format!(
        "select f.id as id, f.from_version as from_version, p.release as release, p.package as package, \
           p.source_package as source_package, p.version as version, p.source_version as source_version, \
           p.origin as origin from patch_from f join patch p on p.id = f.patch_id where f.id in ({list})"
    ))
    .fetch_all(&mut *conn)
    .await?;
    let names: BTreeSet<&str> = versions
        .iter()
        .flat_map(|v| std::iter::once(v.package.as_str()).chain(v.source_package.as_deref()))
        .collect();
    let entries = affected_by_name(conn, &names).await?;
    let mut links: Vec<(i64, i64)> = Vec::new();
    let mut parsed: HashMap<usize, Option<Affected>> = HashMap::new();
    for v in &versions {
        let offer = Offer {
            release: &v.release,
            package: &v.package,
            source: v.source_package.as_deref(),
            from: &v.from_version,
            to: v.to(),
            origin: &v.origin,
        };
        let ecosystems = patchport_core::advisory::offer_ecosystems(&v.release, &v.origin);
        let mut found = BTreeSet::new();
        let candidates = std::iter::once(v.package.as_str())
            .chain(v.source_package.as_deref())
            .collect::<BTreeSet<_>>();
        for name in candidates {
            for &index in entries.by_name.get(name).into_iter().flatten() {
                let (advisory, ecosystem, json) = &entries.rows[index];
                if found.contains(advisory)
                    || !ecosystems
                        .iter()
                        .any(|e| patchport_core::advisory::ecosystem_matches(ecosystem, e))
                {
                    continue;
                }
                let entry = parsed
                    .entry(index)
                    .or_insert_with(|| serde_json::from_str::<Affected>(json).ok());
                if entry.as_ref().is_some_and(|a| a.fixed_by_offer(&offer)) {
                    found.insert(*advisory);
                }
            }
        }
        links.extend(found.into_iter().map(|a| (v.id, a)));
    }
    replace_links(conn, ids, &links).await?;
    summarise(conn, ids).await?;
    Ok(links.len() as u64)
}

/// Stored affected entries of live, not withdrawn advisories, by package
/// name: (advisory row, ecosystem, entry JSON).
struct Entries {
    rows: Vec<(i64, String, String)>,
    by_name: HashMap<String, Vec<usize>>,
}

async fn affected_by_name(conn: &mut Conn, names: &BTreeSet<&str>) -> Result<Entries> {
    #[derive(sqlx::FromRow)]
    struct Row {
        advisory_id: i64,
        package: String,
        ecosystem: String,
        ranges: String,
    }
    let mut out = Entries {
        rows: Vec::new(),
        by_name: HashMap::new(),
    };
    let names: Vec<&str> = names.iter().copied().collect();
    for chunk in names.chunks(500) {
        let sql = format!(
            "select aa.advisory_id as advisory_id, aa.package as package, aa.ecosystem as ecosystem, \
               aa.ranges as ranges from advisory_affected aa \
             join advisory a on a.id = aa.advisory_id where a.withdrawn is null and aa.package in ({})",
            values_list(chunk.len(), 1)
        );
        let mut q = sqlx::query_as::<_, Row>(&sql);
        for name in chunk {
            q = q.bind(*name);
        }
        for r in q.fetch_all(&mut *conn).await? {
            out.by_name
                .entry(r.package)
                .or_default()
                .push(out.rows.len());
            out.rows.push((r.advisory_id, r.ecosystem, r.ranges));
        }
    }
    Ok(out)
}

/// Makes `links` the links of versions `ids`: removes the others, adds the
/// missing ones.
async fn replace_links(conn: &mut Conn, ids: &[i64], links: &[(i64, i64)]) -> Result<()> {
    let existing: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "select from_id, advisory_id from patch_from_advisory where from_id in ({})",
        id_list(ids)
    ))
    .fetch_all(&mut *conn)
    .await?;
    let want: HashSet<(i64, i64)> = links.iter().copied().collect();
    let have: HashSet<(i64, i64)> = existing.into_iter().collect();
    for (from_id, advisory) in have.difference(&want) {
        sqlx::query("delete from patch_from_advisory where from_id = $1 and advisory_id = $2")
            .bind(from_id)
            .bind(advisory)
            .execute(&mut *conn)
            .await?;
    }
    let mut added: Vec<(i64, i64)> = want.difference(&have).copied().collect();
    added.sort_unstable();
    for chunk in added.chunks(STAGE_CHUNK) {
        let sql = format!(
            "insert into patch_from_advisory (from_id, advisory_id) values {}",
            values_placeholders(chunk.len(), 2)
        );
        let mut q = sqlx::query(&sql);
        for (from_id, advisory) in chunk {
            q = q.bind(from_id).bind(advisory);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The rank of a stored severity, as SQL: 5 critical … 1 negligible, 0
/// unknown.
pub(crate) const SEVERITY_RANK_SQL: &str = "(case a.severity when 'critical' then 5 when 'high' then 4 \
     when 'medium' then 3 when 'low' then 2 when 'negligible' then 1 else 0 end)";

/// Sums up the links of versions `ids` on their rows (only security
/// advisories rate, count as security and known exploitation; bug-fix and
/// enhancement errata only count as advisories) and clears their stale
/// mark. The server counts follow through the `patch_from_risk` trigger.
async fn summarise(conn: &mut Conn, ids: &[i64]) -> Result<()> {
    let links = "from patch_from_advisory l join advisory a on a.id = l.advisory_id \
                 where l.from_id = patch_from.id";
    sqlx::query(&format!(
        "update patch_from set \
           severity_rank = coalesce((select max({SEVERITY_RANK_SQL}) {links} and a.kind = 'security'), 0), \
           cvss10 = coalesce((select max(a.cvss_score10) {links} and a.kind = 'security'), -1), \
           known_exploited = exists (select 1 {links} and a.kind = 'security' and exists (select 1 \
             from advisory_cve c join kev k on k.cve = c.cve where c.advisory_id = a.id)), \
           advisories = (select count(*) from patch_from_advisory l where l.from_id = patch_from.id), \
           security = (select p.security from patch p where p.id = patch_from.patch_id) \
             or exists (select 1 {links} and a.kind = 'security'), \
           stale = $1 \
         where id in ({})",
        id_list(ids)
    ))
    .bind(false)
    .execute(conn)
    .await?;
    Ok(())
}

/// The `patch_from` rows for (patch, installed version) pairs, created when
/// missing. Returns each pair's row id, and the ids of the rows to match
/// now (see [`rematch`]): stale rows no server counts in yet, such as the
/// ones just created. Matching those touches no other server's counts, so
/// a check-in can do it without taking other servers' rows.
pub async fn versions_for(
    conn: &mut Conn,
    pairs: &[(i64, String)],
) -> Result<(HashMap<(i64, String), i64>, Vec<i64>)> {
    /// A stored row; `unmatched` when it is stale and no server counts in
    /// it yet.
    #[derive(sqlx::FromRow)]
    struct Known {
        id: i64,
        patch_id: i64,
        from_version: String,
        #[sqlx(try_from = "Flag")]
        unmatched: bool,
    }
    /// A row just created.
    #[derive(sqlx::FromRow)]
    struct Created {
        id: i64,
        patch_id: i64,
        from_version: String,
    }
    let mut ids = HashMap::new();
    let mut created = Vec::new();
    let sorted: Vec<&(i64, String)> = pairs.iter().collect::<BTreeSet<_>>().into_iter().collect();
    for chunk in sorted.chunks(STAGE_CHUNK) {
        // Existing rows are only read: a full report of a fleet that has
        // been seen before writes nothing here.
        let keys = values_placeholders(chunk.len(), 2);
        let sql = format!(
            "select f.id as id, f.patch_id as patch_id, f.from_version as from_version, {} as unmatched \
             from patch_from f join (values {keys}) k on f.patch_id = k.column1 and f.from_version = k.column2",
            flag("f.stale and f.open_servers = 0")
        );
        let mut q = sqlx::query_as::<_, Known>(&sql);
        for (patch_id, from) in chunk {
            q = q.bind(*patch_id).bind(from.as_str());
        }
        for r in q.fetch_all(&mut *conn).await? {
            if r.unmatched {
                created.push(r.id);
            }
            ids.insert((r.patch_id, r.from_version), r.id);
        }
        let missing: Vec<&&(i64, String)> = chunk
            .iter()
            .filter(|(patch_id, from)| !ids.contains_key(&(*patch_id, from.clone())))
            .collect();
        if missing.is_empty() {
            continue;
        }
        // A concurrent check-in may create the same row first: then this
        // one's insert does nothing and the row is read back below.
        let sql = format!(
            "insert into patch_from (patch_id, from_version) values {} \
             on conflict (patch_id, from_version) do nothing returning id, patch_id, from_version",
            values_placeholders(missing.len(), 2)
        );
        let mut q = sqlx::query_as::<_, Created>(&sql);
        for (patch_id, from) in &missing {
            q = q.bind(*patch_id).bind(from.as_str());
        }
        for r in q.fetch_all(&mut *conn).await? {
            created.push(r.id);
            ids.insert((r.patch_id, r.from_version), r.id);
        }
        read_back(conn, &missing, &mut ids).await?;
    }
    Ok((ids, created))
}

/// Reads the ids of the `missing` pairs a concurrent check-in created
/// first (this one's insert did nothing for them).
async fn read_back(
    conn: &mut Conn,
    missing: &[&&(i64, String)],
    ids: &mut HashMap<(i64, String), i64>,
) -> Result<()> {
    for (patch_id, from) in missing.iter().map(|p| **p) {
        let key = (*patch_id, from.clone());
        if ids.contains_key(&key) {
            continue;
        }
        let (id,): (i64,) =
            sqlx::query_as("select id from patch_from where patch_id = $1 and from_version = $2")
                .bind(*patch_id)
                .bind(from.as_str())
                .fetch_one(&mut *conn)
                .await?;
        ids.insert(key, id);
    }
    Ok(())
}

/// Marks a patch's versions stale (its security origin or source version
/// changed).
pub async fn stale_for_patches(conn: &mut Conn, patch_ids: &[i64]) -> Result<()> {
    if patch_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(&format!(
        "update patch_from set stale = $1 where patch_id in ({})",
        id_list(patch_ids)
    ))
    .bind(true)
    .execute(conn)
    .await?;
    Ok(())
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
    /// Where the rating was read.
    pub severity_source: String,
    /// security, bugfix or enhancement.
    pub kind: String,
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
    /// Open servers (within the asked scope) on which the update fixes it.
    pub servers: i64,
}

/// A page of the advisories a patch fixes on the servers it is open on
/// (one server's, or one owner's, when given): security advisories first,
/// then the most severe, the highest CVSS, the newest. Returns the page
/// and how many there are in all.
pub async fn of_patch(
    conn: &mut Conn,
    patch_id: i64,
    server_id: Option<i64>,
    owner_id: Option<i64>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AdvisoryRow>, i64)> {
    let mut scope = String::new();
    if server_id.is_some() {
        scope.push_str(" and sp.server_id = $2");
    }
    if owner_id.is_some() {
        scope.push_str(" and sp.server_id in (select id from server where owner_id = $3)");
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        advisory_id: String,
        summary: String,
        severity: String,
        severity_source: String,
        kind: String,
        cvss_vector: Option<String>,
        cvss_score10: Option<i64>,
        published: Option<Timestamp>,
        details: String,
        servers: i64,
        /// How many in all, on every row.
        total: i64,
    }
    let sql = format!(
        "select a.id as id, a.advisory_id as advisory_id, a.summary as summary, a.severity as severity, \
           a.severity_source as severity_source, a.kind as kind, a.cvss_vector as cvss_vector, \
           a.cvss_score10 as cvss_score10, a.published as published, a.details as details, \
           x.servers as servers, count(*) over () as total \
         from (select l.advisory_id, count(*) as servers from server_patch sp \
               join patch_from_advisory l on l.from_id = sp.from_id \
               where sp.patch_id = $1 and sp.state in {PATCH_OPEN}{scope} group by l.advisory_id) x \
         join advisory a on a.id = x.advisory_id \
         order by (case when a.kind = 'security' then 0 else 1 end), {SEVERITY_RANK_SQL} desc, \
           coalesce(a.cvss_score10, -1) desc, coalesce(a.published, 0) desc, a.advisory_id \
         limit $4 offset $5"
    );
    let rows: Vec<Row> = sqlx::query_as(&sql)
        .bind(patch_id)
        .bind(server_id.unwrap_or(-1))
        .bind(owner_id.unwrap_or(-1))
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
    let total = rows.first().map_or(0, |r| r.total);
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let cves = cves_of(conn, &ids).await?;
    let out = rows
        .into_iter()
        .map(|r| {
            let (cves, kev) = cves.get(&r.id).cloned().unwrap_or_default();
            AdvisoryRow {
                advisory_id: r.advisory_id,
                summary: r.summary,
                severity: r.severity,
                severity_source: r.severity_source,
                kind: r.kind,
                cvss_vector: r.cvss_vector,
                cvss_score: r.cvss_score10.map(|s| s as f64 / 10.0),
                published: r.published,
                details: r.details,
                servers: r.servers,
                cves,
                known_exploited: kev,
            }
        })
        .collect();
    Ok((out, total))
}

/// The CVEs of advisories (by row id), and which of them are known
/// exploited, sorted.
async fn cves_of(conn: &mut Conn, ids: &[i64]) -> Result<HashMap<i64, (Vec<String>, Vec<String>)>> {
    let mut out: HashMap<i64, (Vec<String>, Vec<String>)> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    #[derive(sqlx::FromRow)]
    struct Row {
        advisory_id: i64,
        cve: String,
        #[sqlx(try_from = "Flag")]
        known_exploited: bool,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select c.advisory_id as advisory_id, c.cve as cve, {} as known_exploited from advisory_cve c \
         left join kev k on k.cve = c.cve where c.advisory_id in ({}) order by c.advisory_id, c.cve",
        flag("k.cve is not null"),
        id_list(ids)
    ))
    .fetch_all(conn)
    .await?;
    for r in rows {
        let (cves, kev) = out.entry(r.advisory_id).or_default();
        if r.known_exploited {
            kev.push(r.cve.clone());
        }
        cves.push(r.cve);
    }
    Ok(out)
}

/// What the advisories an update fixes on one server add up to.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PatchSummary {
    /// Advisory ids, security ones first, most severe first.
    pub advisories: Vec<String>,
    /// How many advisories in all (the list may be cut short).
    pub advisory_count: i64,
    /// CVE ids, sorted.
    pub cves: Vec<String>,
    /// Highest CVSS score of the security advisories.
    pub cvss: Option<f64>,
    /// Highest rating of the security advisories (critical … negligible),
    /// or empty.
    pub severity: String,
    /// Some CVE of a security advisory is known exploited.
    pub known_exploited: bool,
    /// A security update here: from a security origin, or it fixes a
    /// security advisory on this server.
    pub security: bool,
}

/// Advisory ids listed per patch on a server's page; the patch page has
/// them all.
const LISTED: usize = 5;

/// The summary of every open (or recently closed) patch of a server, from
/// what each update fixes *on this server*.
pub async fn summaries_for_server(
    conn: &mut Conn,
    server_id: i64,
) -> Result<HashMap<i64, PatchSummary>> {
    #[derive(sqlx::FromRow)]
    struct Head {
        patch_id: i64,
        severity_rank: i64,
        cvss10: i64,
        #[sqlx(try_from = "Flag")]
        known_exploited: bool,
        #[sqlx(try_from = "Flag")]
        security: bool,
        advisories: i64,
    }
    #[derive(sqlx::FromRow)]
    struct Listed {
        patch_id: i64,
        advisory_id: String,
        /// Empty when the advisory has none.
        cve: String,
    }
    let heads: Vec<Head> = sqlx::query_as(&format!(
        "select sp.patch_id as patch_id, f.severity_rank as severity_rank, f.cvss10 as cvss10, \
           {} as known_exploited, {} as security, f.advisories as advisories \
         from server_patch sp join patch_from f on f.id = sp.from_id where sp.server_id = $1",
        flag("f.known_exploited"),
        flag("f.security")
    ))
    .bind(server_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: HashMap<i64, PatchSummary> = heads
        .into_iter()
        .map(|h| {
            (
                h.patch_id,
                PatchSummary {
                    advisory_count: h.advisories,
                    cvss: (h.cvss10 >= 0).then(|| h.cvss10 as f64 / 10.0),
                    severity: crate::report::severity_of_rank(h.severity_rank).to_owned(),
                    known_exploited: h.known_exploited,
                    security: h.security,
                    ..Default::default()
                },
            )
        })
        .collect();
    let rows: Vec<Listed> = sqlx::query_as(&format!(
        "select sp.patch_id as patch_id, a.advisory_id as advisory_id, coalesce(c.cve, '') as cve \
         from server_patch sp \
         join patch_from_advisory l on l.from_id = sp.from_id join advisory a on a.id = l.advisory_id \
         left join advisory_cve c on c.advisory_id = a.id where sp.server_id = $1 \
         order by sp.patch_id, (case when a.kind = 'security' then 0 else 1 end), {SEVERITY_RANK_SQL} desc, \
           coalesce(a.cvss_score10, -1) desc, coalesce(a.published, 0) desc, a.advisory_id"
    ))
    .bind(server_id)
    .fetch_all(conn)
    .await?;
    for r in rows {
        let s = out.entry(r.patch_id).or_default();
        if s.advisories.len() < LISTED && !s.advisories.contains(&r.advisory_id) {
            s.advisories.push(r.advisory_id);
        }
        if !r.cve.is_empty() && !s.cves.contains(&r.cve) {
            s.cves.push(r.cve);
        }
    }
    for s in out.values_mut() {
        s.cves.sort();
    }
    Ok(out)
}

/// The catalog's security patches as one server sees them: (release,
/// package, source package, installed version as compared, offered
/// version as compared), by package. The demo writes its advisories from
/// these.
pub async fn security_patches(
    conn: &mut Conn,
) -> Result<Vec<(String, String, Option<String>, String, String)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        release: String,
        package: String,
        source_package: Option<String>,
        from_version: String,
        to_version: String,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "select p.release as release, p.package as package, p.source_package as source_package, \
           min(f.from_version) as from_version, coalesce(p.source_version, p.version) as to_version \
         from patch p join patch_from f on f.patch_id = p.id \
         where p.security group by p.id, p.release, p.package, p.source_package, p.source_version, p.version \
         order by p.package, p.version, p.release",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.release,
                r.package,
                r.source_package,
                r.from_version,
                r.to_version,
            )
        })
        .collect())
}

/// A patch in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PatchInfo {
    /// Release, e.g. `debian:12`.
    pub release: String,
    /// Binary package.
    pub package: String,
    /// Source package.
    pub source_package: Option<String>,
    /// Target version.
    pub version: String,
    /// Its source version, when the agent reported it.
    pub source_version: Option<String>,
    /// Architecture.
    pub arch: String,
    /// apt origin or dnf repository.
    pub origin: String,
    /// From a security origin.
    #[sqlx(try_from = "Flag")]
    pub security: bool,
    /// First seen anywhere.
    pub first_seen: Timestamp,
}

/// One patch.
pub async fn patch(conn: &mut Conn, patch_id: i64) -> Result<Option<PatchInfo>> {
    Ok(sqlx::query_as(&format!(
        "select release, package, source_package, version, source_version, arch, origin, \
         {} as security, first_seen from patch where id = $1",
        flag("security")
    ))
    .bind(patch_id)
    .fetch_optional(conn)
    .await?)
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
    /// Version installed now.
    pub installed_version: Option<String>,
    /// Where it stands.
    pub state: String,
    /// Missing since.
    pub first_seen: Timestamp,
    /// Highest rating of what the update fixes there, or empty.
    pub severity: String,
    /// How many advisories the update fixes there.
    pub advisories: i64,
    /// One of them is known exploited.
    pub known_exploited: bool,
}

/// The servers a patch is open on (only `owner_id`'s when given), the
/// most severe first, then by host name.
pub async fn servers_missing(
    conn: &mut Conn,
    patch_id: i64,
    owner_id: Option<i64>,
) -> Result<Vec<MissingOn>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        server_id: i64,
        hostname: String,
        criticality: String,
        owner: Option<String>,
        installed_version: Option<String>,
        state: String,
        first_seen: Timestamp,
        severity_rank: i64,
        advisories: i64,
        #[sqlx(try_from = "Flag")]
        known_exploited: bool,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select s.id as server_id, s.hostname as hostname, s.criticality as criticality, a.username as owner, \
           sp.installed_version as installed_version, sp.state as state, sp.first_seen as first_seen, \
           coalesce(f.severity_rank, 0) as severity_rank, coalesce(f.advisories, 0) as advisories, \
           {} as known_exploited \
         from server_patch sp join server s on s.id = sp.server_id left join account a on a.id = s.owner_id \
         left join patch_from f on f.id = sp.from_id \
         where sp.patch_id = $1 and sp.state in {PATCH_OPEN} and ($2 < 0 or s.owner_id = $2) \
         order by coalesce(f.severity_rank, 0) desc, lower(s.hostname), s.id",
        flag("f.known_exploited")
    ))
    .bind(patch_id)
    .bind(owner_id.unwrap_or(-1))
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| MissingOn {
            server_id: r.server_id,
            hostname: r.hostname,
            criticality: r.criticality,
            owner: r.owner,
            installed_version: r.installed_version,
            state: r.state,
            first_seen: r.first_seen,
            severity: crate::report::severity_of_rank(r.severity_rank).to_owned(),
            advisories: r.advisories,
            known_exploited: r.known_exploited,
        })
        .collect())
}
