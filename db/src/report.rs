//! The Patches Missing report: which patches are missing where, with the
//! severity, CVSS and known exploitation of what each update fixes on each
//! server (from the version it has installed), filtered and sorted in the
//! database.

use crate::states::PATCH_OPEN;
use crate::{Conn, Page, Result, limit_offset};
use patchport_core::Timestamp;
use patchport_core::state::PatchState;

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
    /// Only server-patch rows detected at or before this time.
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
    /// Highest severity of what it fixes on the counted servers (critical
    /// … negligible, or empty).
    pub severity: String,
    /// Highest CVSS score.
    pub cvss: Option<f64>,
    /// Fixes a known-exploited CVE.
    pub known_exploited: bool,
    /// Advisories it fixes on the counted server where it fixes the most.
    pub advisories: i64,
    /// Its rollout's state ("" when no rollout took it).
    pub rollout: String,
    /// Its rollout.
    pub rollout_id: Option<i64>,
}

/// The severity names by rank.
pub fn severity_of_rank(rank: i64) -> &'static str {
    match rank {
        5 => "critical",
        4 => "high",
        3 => "medium",
        2 => "low",
        1 => "negligible",
        _ => "",
    }
}

/// A bound value of a report query.
#[derive(Debug, Clone)]
enum Arg {
    Int(i64),
    Text(String),
}

/// The SQL of a filter: only the conditions that are set, so the planner
/// can use an index for each (a catch-all `($n = '' or …)` defeats that).
#[derive(Debug, Default)]
struct Sql {
    /// Conditions on patch rows (alias `p`).
    patch: Vec<String>,
    /// Conditions on what the patch fixes from the installed version
    /// (`patch_from` rows, alias `f`).
    from: Vec<String>,
    /// Conditions on server and server-patch rows (aliases `s`, `sp`).
    server: Vec<String>,
    /// The server table must be joined (criticality or owner).
    needs_server: bool,
    /// The group asked for (its parameter), if any.
    group: Option<String>,
    /// The one server-patch state asked for (an open one), if any.
    state: Option<String>,
    args: Vec<Arg>,
}

impl Sql {
    fn arg(&mut self, a: Arg) -> String {
        self.args.push(a);
        format!("${}", self.args.len())
    }

    fn of(q: &PatchQuery) -> Self {
        let mut sql = Self::default();
        let search = q.search.trim().to_lowercase();
        if !search.is_empty() {
            let n = sql.arg(Arg::Text(format!("%{}%", crate::like_escape(&search))));
            sql.patch
                .push(format!("lower(p.package) like {n} escape '\\'"));
        }
        if let Some(release) = &q.release {
            let n = sql.arg(Arg::Text(release.clone()));
            sql.patch.push(format!("p.release = {n}"));
        }
        if q.security_only {
            sql.from.push("f.security".into());
        }
        if q.known_exploited {
            sql.from.push("f.known_exploited".into());
        }
        if q.min_severity > 0 {
            let n = sql.arg(Arg::Int(q.min_severity));
            sql.from.push(format!("f.severity_rank >= {n}"));
        }
        if let Some(group) = q.group_id {
            let n = sql.arg(Arg::Int(group));
            sql.group = Some(n);
        }
        if let Some(c) = &q.criticality {
            let n = sql.arg(Arg::Text(c.clone()));
            sql.server.push(format!("s.criticality = {n}"));
            sql.needs_server = true;
        }
        if let Some(owner) = q.owner_id {
            let n = sql.arg(Arg::Int(owner));
            sql.server.push(format!("s.owner_id = {n}"));
            sql.needs_server = true;
        }
        if let Some(state) = &q.state {
            // One state, on its own, so its index finds the rows; the
            // report is about open states, so a closed one finds nothing.
            let n = sql.arg(Arg::Text(state.clone()));
            sql.state = Some(
                if PatchState::parse(state).is_some_and(PatchState::is_open) {
                    format!("sp.state = {n}")
                } else {
                    format!("sp.state = {n} and 1 = 0")
                },
            );
        }
        if let Some(t) = q.older_than {
            let n = sql.arg(Arg::Int(t));
            sql.server.push(format!("sp.first_seen <= {n}"));
        }
        sql
    }

    /// Open server-patch rows `sp` of the filter, joined to what each
    /// fixes on its server (`f`), to `p` when patch attributes filter, and
    /// (when needed) to `s` and `m`: a `from … where …` without the
    /// `select`. With a server filter the chosen servers drive the query
    /// (`cross join` fixes SQLite's join order; PostgreSQL plans it as a
    /// plain join), reading their rows from the covering index by server.
    /// Without one, the versions that meet the filter drive it, reading
    /// their rows from the index by version.
    fn open_rows(&self) -> String {
        self.rows(true)
    }

    /// The open rows of the filter's servers, state and age only (no
    /// patch or version conditions, no `f` or `p`): what a count per
    /// installed version reads, from covering indexes.
    fn server_rows(&self) -> String {
        self.rows(false)
    }

    fn rows(&self, with_versions: bool) -> String {
        let mut from = Vec::new();
        let mut on = Vec::new();
        if let Some(n) = &self.group {
            from.push("server_group_member m");
            on.push(format!("m.group_id = {n}"));
        }
        if self.needs_server {
            if self.group.is_some() {
                on.push("s.id = m.server_id".into());
            }
            from.push("server s");
            on.push("sp.server_id = s.id".into());
        } else if self.group.is_some() {
            on.push("sp.server_id = m.server_id".into());
        }
        let servers_drive = !from.is_empty();
        // Without chosen servers, the versions that meet a patch or
        // version filter drive: their rows come from the covering index by
        // version (SQLite would rather walk every row by server, to group
        // without sorting, and look each version up).
        let versions_drive =
            with_versions && !servers_drive && !(self.patch.is_empty() && self.from.is_empty());
        if !with_versions {
            from.push("server_patch sp");
        } else if servers_drive {
            from.push("server_patch sp");
            from.push("patch_from f");
        } else {
            if versions_drive && !self.patch.is_empty() {
                from.push("patch p");
            }
            from.push("patch_from f");
            from.push("server_patch sp");
        }
        if with_versions {
            on.push("f.id = sp.from_id".into());
            if !self.patch.is_empty() {
                // With servers chosen, patches come last (else SQLite may
                // pair every chosen patch with every chosen server).
                if !versions_drive {
                    from.push("patch p");
                }
                on.push("p.id = f.patch_id".into());
            }
        }
        on.push(match &self.state {
            Some(state) => state.clone(),
            None => format!("sp.state in {PATCH_OPEN}"),
        });
        if with_versions {
            on.extend(self.patch.iter().cloned());
            on.extend(self.from.iter().cloned());
        }
        on.extend(self.server.iter().cloned());
        // Otherwise the planner picks the order (a comma join), e.g. from
        // the rows of one state.
        let joiner = if servers_drive || versions_drive {
            " cross join "
        } else {
            ", "
        };
        format!("from {} where {}", from.join(joiner), on.join(" and "))
    }

    /// The total of a page: the window count of its first row, or, for a
    /// page past the end, a count of `source`.
    async fn total(
        &self,
        conn: &mut Conn,
        source: &str,
        first_row: Option<i64>,
        offset: i64,
    ) -> Result<i64> {
        match first_row {
            Some(n) => Ok(n),
            None if offset > 0 => {
                let text = format!("select count(*) from ({source}) r");
                let (n,): (i64,) = self.bind(sqlx::query_as(&text)).fetch_one(conn).await?;
                Ok(n)
            }
            None => Ok(0),
        }
    }

    fn next(&self, k: usize) -> String {
        format!("${}", self.args.len() + k)
    }

    fn bind<'q, O>(
        &'q self,
        mut query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments<'q>> {
        for a in &self.args {
            query = match a {
                Arg::Int(v) => query.bind(*v),
                Arg::Text(v) => query.bind(v.as_str()),
            };
        }
        query
    }
}

impl PatchQuery {
    /// Whether a filter narrows the servers (or the server-patch rows), so
    /// the counts kept on the patch rows no longer apply.
    fn narrows_servers(&self) -> bool {
        self.group_id.is_some()
            || self.criticality.is_some()
            || self.owner_id.is_some()
            || self.state.is_some()
            || self.older_than.is_some()
    }
}

/// One page of the report by patch.
///
/// Without a server filter the counts come from the (patch, installed
/// version) rows (kept by triggers), so the page costs a scan of those, not
/// of every server-patch row; with one, the matching servers' rows are
/// counted per installed version from covering indexes first. Either way a
/// severity, security or known-exploited filter counts only the servers on
/// which the update meets it.
pub async fn by_patch(
    conn: &mut Conn,
    q: &PatchQuery,
    page: i64,
    per_page: i64,
) -> Result<Page<PatchRow>> {
    let (limit, offset) = limit_offset(page, per_page);
    let sql = Sql::of(q);
    // What the patch fixes differs per installed version; a row shows the
    // worst it fixes on the servers counted, and counts only the servers
    // on which it meets the filter.
    const FIXES: &str = "max(f.severity_rank) as severity_rank, max(f.cvss10) as cvss10, \
        max(case when f.known_exploited then 1 else 0 end) as known_exploited, \
        max(f.advisories) as advisories, max(case when f.security then 1 else 0 end) as security";
    let aggregated = if q.narrows_servers() {
        // Counted per installed version from the covering indexes first,
        // then joined to the few version rows the patch filters keep.
        let patch_join = if sql.patch.is_empty() {
            ""
        } else {
            " join patch p on p.id = f.patch_id"
        };
        let mut on = vec!["1 = 1".to_owned()];
        on.extend(sql.patch.iter().cloned());
        on.extend(sql.from.iter().cloned());
        format!(
            "select f.patch_id, cast(sum(x.servers) as bigint) as servers, min(x.oldest) as oldest, {FIXES} \
             from (select sp.from_id, count(*) as servers, min(sp.first_seen) as oldest {} \
                   group by sp.from_id) x \
             join patch_from f on f.id = x.from_id{patch_join} where {} group by f.patch_id",
            sql.server_rows(),
            on.join(" and ")
        )
    } else {
        // The counts kept on the version rows: no server-patch row is read.
        let patch_join = if sql.patch.is_empty() {
            ""
        } else {
            " join patch p on p.id = f.patch_id"
        };
        let mut on = vec!["f.open_servers > 0".to_owned()];
        on.extend(sql.patch.iter().cloned());
        on.extend(sql.from.iter().cloned());
        format!(
            "select f.patch_id, cast(sum(f.open_servers) as bigint) as servers, min(f.oldest_open) as oldest, \
               {FIXES} from patch_from f{patch_join} where {} group by f.patch_id",
            on.join(" and ")
        )
    };
    let source = format!(
        "select p.id, p.release, p.package, p.version, p.arch, x.security, x.servers, x.oldest, \
           x.severity_rank, x.cvss10, x.known_exploited, x.advisories \
         from ({aggregated}) x join patch p on p.id = x.patch_id"
    );
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
        i64,
    );
    let text = format!(
        "select r.id, r.release, r.package, r.version, r.arch, \
           r.security, r.servers, r.oldest, \
           r.severity_rank, r.cvss10, r.known_exploited, r.advisories, count(*) over () \
         from ({source}) r \
         order by {order}, r.package, r.version, r.id limit {} offset {}",
        sql.next(1),
        sql.next(2)
    );
    let rows: Vec<Row> = sql
        .bind(sqlx::query_as(&text))
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
    let total = sql
        .total(conn, &source, rows.first().map(|r| r.12), offset)
        .await?;
    // The page's rollouts, in one query.
    let mut rollouts: std::collections::HashMap<i64, (i64, String)> = Default::default();
    if !rows.is_empty() {
        let ids: Vec<String> = rows.iter().map(|r| r.0.to_string()).collect();
        let found: Vec<(i64, i64, String)> = sqlx::query_as(&format!(
            "select patch_id, id, state from rollout where patch_id in ({})",
            ids.join(",")
        ))
        .fetch_all(&mut *conn)
        .await?;
        rollouts.extend(found.into_iter().map(|(p, id, s)| (p, (id, s))));
    }
    Ok(Page {
        items: rows
            .into_iter()
            .map(|r| PatchRow {
                rollout: rollouts.get(&r.0).map(|x| x.1.clone()).unwrap_or_default(),
                rollout_id: rollouts.get(&r.0).map(|x| x.0),
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

/// Columns the report by server sorts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServerSort {
    /// Worst severity missing, then known exploited, then count.
    #[default]
    Severity,
    /// Host name.
    Hostname,
    /// Patches missing.
    Missing,
    /// Known-exploited patches missing.
    KnownExploited,
    /// Oldest detection.
    Oldest,
}

impl ServerSort {
    /// Parses a column name as the UI sends it.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "severity" => Self::Severity,
            "hostname" => Self::Hostname,
            "missing" => Self::Missing,
            "kev" => Self::KnownExploited,
            "oldest" => Self::Oldest,
            _ => return None,
        })
    }

    fn expr(self) -> &'static str {
        match self {
            Self::Severity => "r.worst {dir}, r.kev {dir}, r.missing {dir}",
            Self::Hostname => "r.hostname {dir}",
            Self::Missing => "r.missing {dir}",
            Self::KnownExploited => "r.kev {dir}, r.worst {dir}",
            Self::Oldest => "r.oldest {dir}",
        }
    }
}

/// One row of the report by server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRow {
    /// Server id.
    pub server_id: i64,
    /// Host name.
    pub hostname: String,
    /// Release, e.g. `debian:12`.
    pub release: String,
    /// critical or standard.
    pub criticality: String,
    /// Owner's user name, or empty.
    pub owner: String,
    /// Patches missing (within the filter).
    pub missing: i64,
    /// Of those, security patches.
    pub security: i64,
    /// Of those, fixing a known-exploited CVE.
    pub known_exploited: i64,
    /// Worst severity among them.
    pub worst: String,
    /// Oldest detection among them.
    pub oldest: Timestamp,
}

/// One page of the report by server: each server with what it misses
/// within the filter.
pub async fn by_server(
    conn: &mut Conn,
    q: &PatchQuery,
    sort: ServerSort,
    descending: bool,
    page: i64,
    per_page: i64,
) -> Result<Page<ServerRow>> {
    let (limit, offset) = limit_offset(page, per_page);
    // Filters on what a server is (its release, criticality, owner,
    // groups) read the counts kept on server rows; filters on which of its
    // rows count (patch attributes, state, age) aggregate those rows.
    let counts_apply = q.search.trim().is_empty()
        && !q.security_only
        && !q.known_exploited
        && q.min_severity == 0
        && q.state.is_none()
        && q.older_than.is_none();
    let mut sql = Sql::default();
    let source = if counts_apply {
        let mut on = vec!["s.open_patches > 0".to_owned()];
        let mut from = "server s".to_owned();
        if let Some(group) = q.group_id {
            let n = sql.arg(Arg::Int(group));
            from.push_str(&format!(
                " join server_group_member m on m.server_id = s.id and m.group_id = {n}"
            ));
        }
        if let Some(release) = &q.release {
            let n = sql.arg(Arg::Text(release.clone()));
            on.push(format!("s.os_id || ':' || s.os_version = {n}"));
        }
        if let Some(c) = &q.criticality {
            let n = sql.arg(Arg::Text(c.clone()));
            on.push(format!("s.criticality = {n}"));
        }
        if let Some(owner) = q.owner_id {
            let n = sql.arg(Arg::Int(owner));
            on.push(format!("s.owner_id = {n}"));
        }
        format!(
            "select s.id, s.hostname, s.os_id, s.os_version, s.criticality, s.owner_id, \
               s.open_patches as missing, s.open_security as security, s.open_kev as kev, \
               (case when s.open_critical > 0 then 5 when s.open_high > 0 then 4 \
                  when s.open_medium > 0 then 3 when s.open_low > 0 then 2 else 0 end) as worst, \
               s.oldest_open as oldest from {from} where {}",
            on.join(" and ")
        )
    } else {
        sql = Sql::of(q);
        format!(
            "select s.id, s.hostname, s.os_id, s.os_version, s.criticality, s.owner_id, \
               x.missing, x.security, x.kev, x.worst, x.oldest from \
               (select sp.server_id, count(*) as missing, \
                  cast(sum(case when f.security then 1 else 0 end) as bigint) as security, \
                  cast(sum(case when f.known_exploited then 1 else 0 end) as bigint) as kev, \
                  max(case when f.severity_rank >= 2 then f.severity_rank else 0 end) as worst, \
                  min(sp.first_seen) as oldest \
                {} group by sp.server_id) x \
             join server s on s.id = x.server_id",
            sql.open_rows()
        )
    };
    let dir = if descending { "desc" } else { "asc" };
    let order = sort.expr().replace("{dir}", dir);
    type Row = (
        i64,
        String,
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
    );
    let text = format!(
        "select r.id, r.hostname, r.os_id, r.os_version, r.criticality, coalesce(a.username, ''), \
           r.missing, r.security, r.kev, r.worst, r.oldest, count(*) over () \
         from ({source}) r left join account a on a.id = r.owner_id \
         order by {order}, r.hostname, r.id limit {} offset {}",
        sql.next(1),
        sql.next(2)
    );
    let rows: Vec<Row> = sql
        .bind(sqlx::query_as(&text))
        .bind(limit)
        .bind(offset)
        .fetch_all(&mut *conn)
        .await?;
    let total = sql
        .total(conn, &source, rows.first().map(|r| r.11), offset)
        .await?;
    Ok(Page {
        items: rows
            .into_iter()
            .map(|r| ServerRow {
                server_id: r.0,
                hostname: r.1,
                release: format!("{}:{}", r.2, r.3),
                criticality: r.4,
                owner: r.5,
                missing: r.6,
                security: r.7,
                known_exploited: r.8,
                worst: severity_of_rank(r.9).to_owned(),
                oldest: r.10,
            })
            .collect(),
        total,
    })
}

/// One server-patch row of the detailed export.
#[derive(Debug, Clone, PartialEq)]
pub struct DetailRow {
    /// Server id (with `patch_id`, the position to continue after).
    pub server_id: i64,
    /// Patch id.
    pub patch_id: i64,
    /// Host name.
    pub hostname: String,
    /// critical or standard.
    pub criticality: String,
    /// Owner's user name, or empty.
    pub owner: String,
    /// Release.
    pub release: String,
    /// Package.
    pub package: String,
    /// Version installed when it was detected.
    pub installed_version: String,
    /// Target version.
    pub version: String,
    /// Architecture.
    pub arch: String,
    /// Highest advisory severity, or empty.
    pub severity: String,
    /// Highest CVSS.
    pub cvss: Option<f64>,
    /// Fixes a known-exploited CVE.
    pub known_exploited: bool,
    /// Security origin or advisory.
    pub security: bool,
    /// Server-patch state.
    pub state: String,
    /// First detection on this server.
    pub first_seen: Timestamp,
}

/// The next `limit` server-patch rows of the filter after `(server, patch)`
/// in key order: the export walks the index instead of counting offsets.
pub async fn detail_after(
    conn: &mut Conn,
    q: &PatchQuery,
    after: (i64, i64),
    limit: i64,
) -> Result<Vec<DetailRow>> {
    let mut sql = Sql::of(q);
    sql.needs_server = true;
    // The package and versions come from the patch rows whatever the filter.
    if sql.patch.is_empty() {
        sql.patch.push("1 = 1".into());
    }
    type Row = (
        i64,
        i64,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        String,
        i64,
        i64,
        i64,
        i64,
        String,
        i64,
    );
    let (after_server, after_patch) = (sql.next(1), sql.next(2));
    // A row-value comparison: PostgreSQL then walks the covering index in
    // key order. With `a > x or (a = x and b > y)` it switched to a bitmap
    // scan and a sort once the key passed the middle of the table (230 ms
    // per batch instead of 20 at one million rows).
    let text = format!(
        "select sp.server_id, sp.patch_id, s.hostname, s.criticality, coalesce(a.username, ''), \
           p.release, p.package, coalesce(sp.installed_version, ''), p.version, p.arch, \
           f.severity_rank, f.cvss10, (case when f.known_exploited then 1 else 0 end), \
           (case when f.security then 1 else 0 end), sp.state, sp.first_seen \
         {} and s.id >= {after_server} \
           and (sp.server_id, sp.patch_id) > ({after_server}, {after_patch}) \
         order by s.id, sp.patch_id limit {}",
        sql.open_rows().replacen(
            " where ",
            " left join account a on a.id = s.owner_id where ",
            1
        ),
        sql.next(3)
    );
    let rows: Vec<Row> = sql
        .bind(sqlx::query_as(&text))
        .bind(after.0)
        .bind(after.1)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| DetailRow {
            server_id: r.0,
            patch_id: r.1,
            hostname: r.2,
            criticality: r.3,
            owner: r.4,
            release: r.5,
            package: r.6,
            installed_version: r.7,
            version: r.8,
            arch: r.9,
            severity: severity_of_rank(r.10).to_owned(),
            cvss: (r.11 >= 0).then(|| r.11 as f64 / 10.0),
            known_exploited: r.12 != 0,
            security: r.13 != 0,
            state: r.14,
            first_seen: r.15,
        })
        .collect())
}

/// The counts a morning look needs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dashboard {
    /// Open server-patch rows by severity: critical, high, medium, low,
    /// other (none, unknown or no advisory).
    pub missing_by_severity: [i64; 5],
    /// Distinct patches open, by the same severities.
    pub patches_by_severity: [i64; 5],
    /// Open server-patch rows fixing a known-exploited CVE.
    pub missing_known_exploited: i64,
    /// Servers in all.
    pub servers: i64,
    /// Servers with nothing open.
    pub servers_patched: i64,
    /// Critical patches whose oldest detection is older than the cutoff.
    pub critical_overdue_patches: i64,
    /// Server-patch rows of those.
    pub critical_overdue_rows: i64,
}

fn severity_slot(rank: i64) -> usize {
    match rank {
        5 => 0,
        4 => 1,
        3 => 2,
        2 => 3,
        _ => 4,
    }
}

/// Counts for the dashboard; "overdue" means a critical patch detected
/// before `overdue_before`.
pub async fn dashboard(conn: &mut Conn, overdue_before: Timestamp) -> Result<Dashboard> {
    let mut d = Dashboard::default();
    // Rows count by what the patch fixes on each server; a patch counts
    // once, by the worst it fixes anywhere.
    let by_rank: Vec<(i64, i64, i64)> = sqlx::query_as(
        "select severity_rank, cast(sum(open_servers) as bigint), \
           cast(sum(case when known_exploited then open_servers else 0 end) as bigint) \
         from patch_from where open_servers > 0 group by severity_rank",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (rank, rows, kev) in by_rank {
        d.missing_by_severity[severity_slot(rank)] += rows;
        d.missing_known_exploited += kev;
    }
    let patches: Vec<(i64, i64)> = sqlx::query_as(
        "select worst, count(*) from (select patch_id, max(severity_rank) as worst from patch_from \
         where open_servers > 0 group by patch_id) w group by worst",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (rank, n) in patches {
        d.patches_by_severity[severity_slot(rank)] += n;
    }
    let (servers, patched): (i64, i64) = sqlx::query_as(
        "select count(*), cast(coalesce(sum(case when open_patches = 0 then 1 else 0 end), 0) as bigint) \
         from server",
    )
    .fetch_one(&mut *conn)
    .await?;
    d.servers = servers;
    d.servers_patched = patched;
    let (n, rows): (i64, i64) = sqlx::query_as(
        "select count(distinct patch_id), cast(coalesce(sum(open_servers), 0) as bigint) from patch_from \
         where open_servers > 0 and severity_rank = 5 and oldest_open < $1",
    )
    .bind(overdue_before)
    .fetch_one(conn)
    .await?;
    d.critical_overdue_patches = n;
    d.critical_overdue_rows = rows;
    Ok(d)
}

/// One day of the trend.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Open server-patch rows: critical, high, medium, low, other.
    pub missing_by_severity: [i64; 5],
    /// Servers in all.
    pub servers: i64,
    /// Servers with nothing open.
    pub servers_patched: i64,
}

/// Whether today's counts for the trend are missing or older than five
/// minutes (the day's last snapshot stands for the day).
pub async fn snapshot_due(conn: &mut Conn, now: Timestamp) -> Result<bool> {
    let last: Option<(i64,)> =
        sqlx::query_as("select taken_at from report_snapshot where day = $1")
            .bind(now.div_euclid(86_400))
            .fetch_optional(conn)
            .await?;
    Ok(last.is_none_or(|(t,)| now - t >= 300))
}

/// Records counts (from [`dashboard`]) as today's point of the trend.
pub async fn record_snapshot(conn: &mut Conn, d: &Dashboard, now: Timestamp) -> Result<()> {
    let m = d.missing_by_severity;
    sqlx::query(
        "insert into report_snapshot (day, missing_critical, missing_high, missing_medium, missing_low, \
           missing_other, servers, servers_patched, taken_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         on conflict (day) do update set missing_critical = excluded.missing_critical, \
           missing_high = excluded.missing_high, missing_medium = excluded.missing_medium, \
           missing_low = excluded.missing_low, missing_other = excluded.missing_other, \
           servers = excluded.servers, servers_patched = excluded.servers_patched, taken_at = excluded.taken_at",
    )
    .bind(now.div_euclid(86_400))
    .bind(m[0])
    .bind(m[1])
    .bind(m[2])
    .bind(m[3])
    .bind(m[4])
    .bind(d.servers)
    .bind(d.servers_patched)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The recorded days from `since_day` on, oldest first.
pub async fn trend(conn: &mut Conn, since_day: i64) -> Result<Vec<Snapshot>> {
    type Row = (i64, i64, i64, i64, i64, i64, i64, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "select day, missing_critical, missing_high, missing_medium, missing_low, missing_other, \
           servers, servers_patched from report_snapshot where day >= $1 order by day",
    )
    .bind(since_day)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Snapshot {
            day: r.0,
            missing_by_severity: [r.1, r.2, r.3, r.4, r.5],
            servers: r.6,
            servers_patched: r.7,
        })
        .collect())
}
