-- Detection per server. Whether an update fixes an advisory depends on the
-- version a server has installed, not only on the version it is offered:
-- a server that already has a fix is not fixed by its next update. Patch
-- rows stay shared by every server offered the same update; what the
-- update fixes is kept per (patch, installed version), which many servers
-- share, so the report's counts stay on small rows.

-- What kind of erratum an advisory is (bug-fix and enhancement errata are
-- not about security) and where its rating was read.
alter table advisory add column kind text not null default 'security'
    check (kind in ('security', 'bugfix', 'enhancement'));
alter table advisory add column severity_source text not null default '';

-- The offered version's source version (deb: the candidate's `Source:`),
-- which Debian and Ubuntu advisories compare; null for rpm, whose
-- advisories name binary packages.
alter table patch add column source_version text;

-- A patch as seen from one installed version: what it fixes on the
-- servers that have that version installed. `from_version` is the version
-- advisories compare (deb: the installed source version when known).
create table patch_from (
    id integer primary key autoincrement,
    patch_id integer not null references patch (id) on delete cascade,
    from_version text not null,
    -- From the advisories the update fixes from this version (kept by the
    -- matcher): highest severity of the security ones as a rank (5
    -- critical … 1 none, 0 unrated or none), highest CVSS × 10 (-1 none),
    -- whether one of their CVEs is known exploited, how many advisories.
    severity_rank integer not null default 0,
    cvss10 integer not null default -1,
    known_exploited boolean not null default 0,
    advisories integer not null default 0,
    -- A security update from this version: from a security origin, or it
    -- fixes a security advisory here (bug-fix errata do not count).
    security boolean not null default 0,
    -- Advisories, KEV entries or the patch changed since the links were
    -- computed: the matcher recomputes them.
    stale boolean not null default 1,
    -- Servers on which the patch is open from this version, and the oldest
    -- detection among them (kept by the triggers below).
    open_servers integer not null default 0,
    oldest_open integer,
    unique (patch_id, from_version)
);
create index patch_from_stale on patch_from (id) where stale;

create table patch_from_advisory (
    from_id integer not null references patch_from (id) on delete cascade,
    advisory_id integer not null references advisory (id) on delete cascade,
    primary key (from_id, advisory_id)
);
create index patch_from_advisory_advisory on patch_from_advisory (advisory_id);

alter table server_patch add column from_id integer references patch_from (id);

-- Existing rows: their installed version as advisories compare it (the
-- installed source version on deb servers), to be matched again.
insert into patch_from (patch_id, from_version)
select distinct sp.patch_id,
    coalesce(case when s.package_format = 'deb' then ip.source_version end, ip.version, sp.installed_version, '')
from server_patch sp join server s on s.id = sp.server_id join patch p on p.id = sp.patch_id
left join installed_package ip on ip.server_id = sp.server_id and ip.name = p.package and ip.arch = p.arch;

update server_patch set from_id = (
    select f.id from patch_from f join server s on s.id = server_patch.server_id
    join patch p on p.id = server_patch.patch_id
    left join installed_package ip on ip.server_id = server_patch.server_id and ip.name = p.package and ip.arch = p.arch
    where f.patch_id = server_patch.patch_id
      and f.from_version = coalesce(case when s.package_format = 'deb' then ip.source_version end,
                                    ip.version, server_patch.installed_version, ''));

-- Open rows by installed version, covering what the report reads of
-- them: a report filtered on what a patch fixes starts from the few
-- versions that qualify, a report by patch counts per version.
create index server_patch_open_from on server_patch (from_id, first_seen, server_id)
    where state in ('missing', 'published', 'queued', 'installing', 'failed');
-- The covering index by server now also gives each row's version.
drop index server_patch_open_server;
create index server_patch_open_server on server_patch (server_id, patch_id, first_seen, from_id)
    where state in ('missing', 'published', 'queued', 'installing', 'failed');

-- The patch-level counts and links give way to the per-version ones.
drop trigger server_patch_open_insert;
drop trigger server_patch_open_delete;
drop trigger server_patch_open_update;
drop trigger server_patch_server_insert;
drop trigger server_patch_server_delete;
drop trigger server_patch_server_update;
drop trigger patch_risk_server_counts;
drop table patch_advisory;
alter table patch drop column severity_rank;
alter table patch drop column cvss10;
alter table patch drop column known_exploited;
alter table patch drop column advisories;
alter table patch drop column open_servers;
alter table patch drop column oldest_open;

update patch_from set
    security = (select p.security from patch p where p.id = patch_from.patch_id),
    open_servers = (select count(*) from server_patch sp where sp.from_id = patch_from.id
        and sp.state in ('missing', 'published', 'queued', 'installing', 'failed')),
    oldest_open = (select min(sp.first_seen) from server_patch sp where sp.from_id = patch_from.id
        and sp.state in ('missing', 'published', 'queued', 'installing', 'failed'));

update server set
    open_critical = 0, open_high = 0, open_medium = 0, open_low = 0, open_kev = 0,
    open_security = (select count(*) from server_patch sp join patch_from f on f.id = sp.from_id
        where sp.server_id = server.id and sp.state in ('missing', 'published', 'queued', 'installing', 'failed')
          and f.security);

-- An open row counts in its version's row and in its server's row.
create trigger server_patch_from_insert after insert on server_patch
when new.state in ('missing', 'published', 'queued', 'installing', 'failed')
begin
    update patch_from set open_servers = open_servers + 1,
        oldest_open = min(coalesce(oldest_open, new.first_seen), new.first_seen)
    where id = new.from_id;
    update server set open_patches = open_patches + 1,
        open_critical = open_critical + coalesce((select severity_rank = 5 from patch_from where id = new.from_id), 0),
        open_high = open_high + coalesce((select severity_rank = 4 from patch_from where id = new.from_id), 0),
        open_medium = open_medium + coalesce((select severity_rank = 3 from patch_from where id = new.from_id), 0),
        open_low = open_low + coalesce((select severity_rank = 2 from patch_from where id = new.from_id), 0),
        open_security = open_security + coalesce((select security from patch_from where id = new.from_id), 0),
        open_kev = open_kev + coalesce((select known_exploited from patch_from where id = new.from_id), 0),
        oldest_open = min(coalesce(oldest_open, new.first_seen), new.first_seen)
    where id = new.server_id;
end;

create trigger server_patch_from_delete after delete on server_patch
when old.state in ('missing', 'published', 'queued', 'installing', 'failed')
begin
    update patch_from set open_servers = open_servers - 1,
        oldest_open = (select min(first_seen) from server_patch where from_id = old.from_id
            and state in ('missing', 'published', 'queued', 'installing', 'failed'))
    where id = old.from_id;
    update server set open_patches = open_patches - 1,
        open_critical = open_critical - coalesce((select severity_rank = 5 from patch_from where id = old.from_id), 0),
        open_high = open_high - coalesce((select severity_rank = 4 from patch_from where id = old.from_id), 0),
        open_medium = open_medium - coalesce((select severity_rank = 3 from patch_from where id = old.from_id), 0),
        open_low = open_low - coalesce((select severity_rank = 2 from patch_from where id = old.from_id), 0),
        open_security = open_security - coalesce((select security from patch_from where id = old.from_id), 0),
        open_kev = open_kev - coalesce((select known_exploited from patch_from where id = old.from_id), 0),
        oldest_open = (select min(first_seen) from server_patch where server_id = old.server_id
            and state in ('missing', 'published', 'queued', 'installing', 'failed'))
    where id = old.server_id;
end;

-- A row that opens, closes, moves to another installed version or changes
-- its detection time: out of the old counts, into the new.
create trigger server_patch_from_update after update of state, first_seen, from_id on server_patch
when (old.state in ('missing', 'published', 'queued', 'installing', 'failed'))
        <> (new.state in ('missing', 'published', 'queued', 'installing', 'failed'))
    or (new.state in ('missing', 'published', 'queued', 'installing', 'failed')
        and (old.from_id is not new.from_id or old.first_seen <> new.first_seen))
begin
    update patch_from set open_servers = open_servers - 1 where id = old.from_id
        and old.state in ('missing', 'published', 'queued', 'installing', 'failed');
    update patch_from set open_servers = open_servers + 1 where id = new.from_id
        and new.state in ('missing', 'published', 'queued', 'installing', 'failed');
    update patch_from set oldest_open = (select min(sp.first_seen) from server_patch sp
        where sp.from_id = patch_from.id and sp.state in ('missing', 'published', 'queued', 'installing', 'failed'))
    where id in (old.from_id, new.from_id);
    update server set
        open_patches = open_patches + (new.state in ('missing', 'published', 'queued', 'installing', 'failed'))
            - (old.state in ('missing', 'published', 'queued', 'installing', 'failed')),
        open_critical = open_critical
            + (new.state in ('missing', 'published', 'queued', 'installing', 'failed'))
                * coalesce((select severity_rank = 5 from patch_from where id = new.from_id), 0)
            - (old.state in ('missing', 'published', 'queued', 'installing', 'failed'))
                * coalesce((select severity_rank = 5 from patch_from where id = old.from_id), 0),
        open_high = open_high
            + (new.state in ('missing', 'published', 'queued', 'installing', 'failed'))
                * coalesce((select severity_rank = 4 from patch_from where id = new.from_id), 0)
            - (old.state in ('missing', 'published', 'queued', 'installing', 'failed'))
                * coalesce((select severity_rank = 4 from patch_from where id = old.from_id), 0),
        open_medium = open_medium
            + (new.state in ('missing', 'published', 'queued', 'installing', 'failed'))
                * coalesce((select severity_rank = 3 from patch_from where id = new.from_id), 0)
            - (old.state in ('missing', 'published', 'queued', 'installing', 'failed'))
                * coalesce((select severity_rank = 3 from patch_from where id = old.from_id), 0),
        open_low = open_low
            + (new.state in ('missing', 'published', 'queued', 'installing', 'failed'))
                * coalesce((select severity_rank = 2 from patch_from where id = new.from_id), 0)
            - (old.state in ('missing', 'published', 'queued', 'installing', 'failed'))
                * coalesce((select severity_rank = 2 from patch_from where id = old.from_id), 0),
        open_security = open_security
            + (new.state in ('missing', 'published', 'queued', 'installing', 'failed'))
                * coalesce((select security from patch_from where id = new.from_id), 0)
            - (old.state in ('missing', 'published', 'queued', 'installing', 'failed'))
                * coalesce((select security from patch_from where id = old.from_id), 0),
        open_kev = open_kev
            + (new.state in ('missing', 'published', 'queued', 'installing', 'failed'))
                * coalesce((select known_exploited from patch_from where id = new.from_id), 0)
            - (old.state in ('missing', 'published', 'queued', 'installing', 'failed'))
                * coalesce((select known_exploited from patch_from where id = old.from_id), 0),
        oldest_open = (select min(first_seen) from server_patch where server_id = new.server_id
            and state in ('missing', 'published', 'queued', 'installing', 'failed'))
    where id = new.server_id;
end;

-- A version whose severity, security or known exploitation changes moves
-- in the counts of every server it is open on.
create trigger patch_from_risk after update of severity_rank, known_exploited, security on patch_from
when old.severity_rank <> new.severity_rank or old.known_exploited <> new.known_exploited
    or old.security <> new.security
begin
    update server set
        open_critical = open_critical - (old.severity_rank = 5) + (new.severity_rank = 5),
        open_high = open_high - (old.severity_rank = 4) + (new.severity_rank = 4),
        open_medium = open_medium - (old.severity_rank = 3) + (new.severity_rank = 3),
        open_low = open_low - (old.severity_rank = 2) + (new.severity_rank = 2),
        open_security = open_security - old.security + new.security,
        open_kev = open_kev - old.known_exploited + new.known_exploited
    where id in (select server_id from server_patch where from_id = new.id
        and state in ('missing', 'published', 'queued', 'installing', 'failed'));
end;

-- Imports: each run with its progress and outcome, for the admins' page;
-- an OSV import writes what it read here in short transactions and
-- switches it over in one short transaction at the end, so the portal
-- keeps working while it runs and a failed import changes nothing.
create table advisory_import (
    id integer primary key autoincrement,
    -- osv or kev
    kind text not null check (kind in ('osv', 'kev')),
    -- what was imported: paths, URLs
    source text not null,
    actor text not null,
    -- running → succeeded | failed
    state text not null check (state in ('running', 'succeeded', 'failed')),
    -- reading, checking, staging, switching, matching, done
    phase text not null default 'reading',
    -- progress within the phase
    done integer not null default 0,
    total integer not null default 0,
    documents integer not null default 0,
    inserted integer not null default 0,
    updated integer not null default 0,
    unchanged integer not null default 0,
    -- server-patches matched again after the switch
    matched integer not null default 0,
    error text not null default '',
    -- things read but not used (e.g. CVSS vectors that do not parse), one per line
    warnings text not null default '',
    started_at integer not null,
    -- last sign of life (each step records its progress): a run silent
    -- for long was stopped with its process, and counts as failed
    updated_at integer not null,
    finished_at integer
);
create index advisory_import_started on advisory_import (started_at);

create table advisory_stage (
    import_id integer not null references advisory_import (id) on delete cascade,
    advisory_id text not null,
    summary text not null,
    details text not null,
    severity text not null,
    severity_source text not null,
    kind text not null,
    cvss_vector text,
    cvss_score10 integer,
    published integer,
    modified integer not null,
    withdrawn integer,
    source text not null,
    content_hash text not null,
    primary key (import_id, advisory_id)
);

create table advisory_stage_cve (
    import_id integer not null references advisory_import (id) on delete cascade,
    advisory_id text not null,
    cve text not null
);
create index advisory_stage_cve_import on advisory_stage_cve (import_id);

create table advisory_stage_affected (
    import_id integer not null references advisory_import (id) on delete cascade,
    advisory_id text not null,
    ecosystem text not null,
    package text not null,
    ranges text not null
);
create index advisory_stage_affected_import on advisory_stage_affected (import_id, package);
