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
    id bigint generated always as identity primary key,
    patch_id bigint not null references patch (id) on delete cascade,
    from_version text not null,
    -- From the advisories the update fixes from this version (kept by the
    -- matcher): highest severity of the security ones as a rank (5
    -- critical … 1 none, 0 unrated or none), highest CVSS × 10 (-1 none),
    -- whether one of their CVEs is known exploited, how many advisories.
    severity_rank bigint not null default 0,
    cvss10 bigint not null default -1,
    known_exploited boolean not null default false,
    advisories bigint not null default 0,
    -- A security update from this version: from a security origin, or it
    -- fixes a security advisory here (bug-fix errata do not count).
    security boolean not null default false,
    -- Advisories, KEV entries or the patch changed since the links were
    -- computed: the matcher recomputes them.
    stale boolean not null default true,
    -- Servers on which the patch is open from this version, and the oldest
    -- detection among them (kept by the triggers below).
    open_servers bigint not null default 0,
    oldest_open bigint,
    unique (patch_id, from_version)
)
-- The triggers update these rows at every check-in; room in each page
-- lets PostgreSQL update them in place (no indexed column changes).
with (fillfactor = 70);
create index patch_from_stale on patch_from (id) where stale;

create table patch_from_advisory (
    from_id bigint not null references patch_from (id) on delete cascade,
    advisory_id bigint not null references advisory (id) on delete cascade,
    primary key (from_id, advisory_id)
);
create index patch_from_advisory_advisory on patch_from_advisory (advisory_id);

alter table server_patch add column from_id bigint references patch_from (id);

-- Existing rows: their installed version as advisories compare it (the
-- installed source version on deb servers), to be matched again.
create temporary table patchport_from_backfill on commit drop as
select sp.server_id, sp.patch_id,
    coalesce(case when s.package_format = 'deb' then ip.source_version end, ip.version, sp.installed_version, '')
        as from_version
from server_patch sp join server s on s.id = sp.server_id join patch p on p.id = sp.patch_id
left join installed_package ip on ip.server_id = sp.server_id and ip.name = p.package and ip.arch = p.arch;

insert into patch_from (patch_id, from_version)
select distinct patch_id, from_version from patchport_from_backfill;

update server_patch sp set from_id = f.id
from patchport_from_backfill b join patch_from f on f.patch_id = b.patch_id and f.from_version = b.from_version
where b.server_id = sp.server_id and b.patch_id = sp.patch_id;

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
drop trigger server_patch_open_counts on server_patch;
drop trigger server_patch_server_counts on server_patch;
drop trigger patch_risk_server_counts on patch;
drop function server_patch_open_counts();
drop function server_patch_server_counts();
drop function patch_risk_server_counts();
drop function server_open_add(bigint, bigint, integer);
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

-- Adds `sign` (1 or -1) times one open row of version `fid` to a server's counts.
create function server_from_add(sid bigint, fid bigint, sign integer) returns void language sql as $$
    update server set
        open_critical = open_critical + sign * (case when f.severity_rank = 5 then 1 else 0 end),
        open_high = open_high + sign * (case when f.severity_rank = 4 then 1 else 0 end),
        open_medium = open_medium + sign * (case when f.severity_rank = 3 then 1 else 0 end),
        open_low = open_low + sign * (case when f.severity_rank = 2 then 1 else 0 end),
        open_security = open_security + sign * (case when f.security then 1 else 0 end),
        open_kev = open_kev + sign * (case when f.known_exploited then 1 else 0 end)
    from patch_from f where f.id = fid and server.id = sid
$$;

-- An open row counts in its version's row and in its server's row; a row
-- that opens, closes, moves to another installed version or changes its
-- detection time leaves the old counts for the new.
create function server_patch_from_counts() returns trigger language plpgsql as $$
declare
    was_open integer := 0;
    is_open integer := 0;
begin
    if tg_op <> 'INSERT' then
        was_open := patchport_is_open(old.state);
    end if;
    if tg_op <> 'DELETE' then
        is_open := patchport_is_open(new.state);
    end if;
    if tg_op = 'UPDATE' and was_open = is_open
        and (is_open = 0 or (old.from_id is not distinct from new.from_id and old.first_seen = new.first_seen)) then
        return null;
    end if;
    if was_open = 1 then
        update patch_from set open_servers = open_servers - 1,
            oldest_open = (select min(first_seen) from server_patch where from_id = old.from_id
                and state in ('missing', 'published', 'queued', 'installing', 'failed'))
        where id = old.from_id;
        perform server_from_add(old.server_id, old.from_id, -1);
    end if;
    if is_open = 1 then
        update patch_from set open_servers = open_servers + 1,
            oldest_open = (select min(first_seen) from server_patch where from_id = new.from_id
                and state in ('missing', 'published', 'queued', 'installing', 'failed'))
        where id = new.from_id;
        perform server_from_add(new.server_id, new.from_id, 1);
    end if;
    if tg_op = 'DELETE' then
        update server set open_patches = open_patches - was_open,
            oldest_open = (select min(first_seen) from server_patch where server_id = old.server_id
                and state in ('missing', 'published', 'queued', 'installing', 'failed'))
        where id = old.server_id;
    elsif tg_op = 'INSERT' then
        update server set open_patches = open_patches + 1,
            oldest_open = least(coalesce(oldest_open, new.first_seen), new.first_seen)
        where id = new.server_id;
    else
        update server set open_patches = open_patches + is_open - was_open,
            oldest_open = (select min(first_seen) from server_patch where server_id = new.server_id
                and state in ('missing', 'published', 'queued', 'installing', 'failed'))
        where id = new.server_id;
    end if;
    return null;
end
$$;

create trigger server_patch_from_counts after insert or delete or update of state, first_seen, from_id
    on server_patch for each row execute function server_patch_from_counts();

-- A version whose severity, security or known exploitation changes moves
-- in the counts of every server it is open on.
create function patch_from_risk() returns trigger language plpgsql as $$
begin
    if old.severity_rank <> new.severity_rank or old.known_exploited <> new.known_exploited
        or old.security <> new.security then
        update server set
            open_critical = open_critical - (case when old.severity_rank = 5 then 1 else 0 end)
                + (case when new.severity_rank = 5 then 1 else 0 end),
            open_high = open_high - (case when old.severity_rank = 4 then 1 else 0 end)
                + (case when new.severity_rank = 4 then 1 else 0 end),
            open_medium = open_medium - (case when old.severity_rank = 3 then 1 else 0 end)
                + (case when new.severity_rank = 3 then 1 else 0 end),
            open_low = open_low - (case when old.severity_rank = 2 then 1 else 0 end)
                + (case when new.severity_rank = 2 then 1 else 0 end),
            open_security = open_security - (case when old.security then 1 else 0 end)
                + (case when new.security then 1 else 0 end),
            open_kev = open_kev - (case when old.known_exploited then 1 else 0 end)
                + (case when new.known_exploited then 1 else 0 end)
        where id in (select server_id from server_patch where from_id = new.id
            and state in ('missing', 'published', 'queued', 'installing', 'failed'));
    end if;
    return null;
end
$$;

create trigger patch_from_risk after update of severity_rank, known_exploited, security on patch_from
    for each row execute function patch_from_risk();

-- Imports: each run with its progress and outcome, for the admins' page;
-- an OSV import writes what it read here in short transactions and
-- switches it over in one short transaction at the end, so the portal
-- keeps working while it runs and a failed import changes nothing.
create table advisory_import (
    id bigint generated always as identity primary key,
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
    done bigint not null default 0,
    total bigint not null default 0,
    documents bigint not null default 0,
    inserted bigint not null default 0,
    updated bigint not null default 0,
    unchanged bigint not null default 0,
    -- server-patches matched again after the switch
    matched bigint not null default 0,
    error text not null default '',
    -- things read but not used (e.g. CVSS vectors that do not parse), one per line
    warnings text not null default '',
    started_at bigint not null,
    -- last sign of life (each step records its progress): a run silent
    -- for long was stopped with its process, and counts as failed
    updated_at bigint not null,
    finished_at bigint
);
create index advisory_import_started on advisory_import (started_at);

create table advisory_stage (
    import_id bigint not null references advisory_import (id) on delete cascade,
    advisory_id text not null,
    summary text not null,
    details text not null,
    severity text not null,
    severity_source text not null,
    kind text not null,
    cvss_vector text,
    cvss_score10 bigint,
    published bigint,
    modified bigint not null,
    withdrawn bigint,
    source text not null,
    content_hash text not null,
    primary key (import_id, advisory_id)
);

create table advisory_stage_cve (
    import_id bigint not null references advisory_import (id) on delete cascade,
    advisory_id text not null,
    cve text not null
);
create index advisory_stage_cve_import on advisory_stage_cve (import_id);

create table advisory_stage_affected (
    import_id bigint not null references advisory_import (id) on delete cascade,
    advisory_id text not null,
    ecosystem text not null,
    package text not null,
    ranges text not null
);
create index advisory_stage_affected_import on advisory_stage_affected (import_id, package);
