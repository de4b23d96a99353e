-- What the Patches Missing report sorts and filters on, kept on the patch
-- row so the report never aggregates a million server-patch rows to show
-- its first page.

-- From the patch's advisories (refreshed when links or KEV entries change):
-- highest severity as a rank (5 critical … 1 none, 0 no advisory), highest
-- CVSS × 10 (-1 none), whether a CVE is known exploited, advisory count.
alter table patch add column severity_rank integer not null default 0;
alter table patch add column cvss10 integer not null default -1;
alter table patch add column known_exploited integer not null default 0;
alter table patch add column advisories integer not null default 0;
-- From server_patch (kept by the triggers below): servers on which the
-- patch is open (missing, published, queued, installing, failed) and the
-- oldest detection among them.
alter table patch add column open_servers integer not null default 0;
alter table patch add column oldest_open integer;

-- Open rows by patch, oldest first: the trigger's minimum is one seek, and
-- a report filtered on patch attributes reads the chosen patches' rows
-- without touching the table.
create index server_patch_open on server_patch (patch_id, first_seen, server_id)
    where state in ('missing', 'published', 'queued', 'installing', 'failed');
-- Open rows by server, covering what the report reads, so a report
-- narrowed to some servers (critical ones, an owner's, a group's) reads
-- only their rows and never the table.
create index server_patch_open_server on server_patch (server_id, patch_id, first_seen)
    where state in ('missing', 'published', 'queued', 'installing', 'failed');
-- Members of a group.
create index server_group_member_group on server_group_member (group_id, server_id);

create trigger server_patch_open_insert after insert on server_patch
when new.state in ('missing', 'published', 'queued', 'installing', 'failed')
begin
    update patch set open_servers = open_servers + 1,
        oldest_open = min(coalesce(oldest_open, new.first_seen), new.first_seen)
    where id = new.patch_id;
end;

create trigger server_patch_open_delete after delete on server_patch
when old.state in ('missing', 'published', 'queued', 'installing', 'failed')
begin
    update patch set open_servers = open_servers - 1,
        oldest_open = (select min(first_seen) from server_patch
            where patch_id = old.patch_id and state in ('missing', 'published', 'queued', 'installing', 'failed'))
    where id = old.patch_id;
end;

create trigger server_patch_open_update after update of state, first_seen on server_patch
when (old.state in ('missing', 'published', 'queued', 'installing', 'failed'))
        <> (new.state in ('missing', 'published', 'queued', 'installing', 'failed'))
    or old.first_seen <> new.first_seen
begin
    update patch set
        open_servers = open_servers
            + (new.state in ('missing', 'published', 'queued', 'installing', 'failed'))
            - (old.state in ('missing', 'published', 'queued', 'installing', 'failed')),
        oldest_open = (select min(first_seen) from server_patch
            where patch_id = new.patch_id and state in ('missing', 'published', 'queued', 'installing', 'failed'))
    where id = new.patch_id;
end;

-- The same per server: open patches, by severity (from the patch rows),
-- security and known-exploited ones, and the oldest detection, so the
-- report by server pages through servers instead of aggregating rows.
alter table server add column open_patches integer not null default 0;
alter table server add column open_critical integer not null default 0;
alter table server add column open_high integer not null default 0;
alter table server add column open_medium integer not null default 0;
alter table server add column open_low integer not null default 0;
alter table server add column open_security integer not null default 0;
alter table server add column open_kev integer not null default 0;
alter table server add column oldest_open integer;

create trigger server_patch_server_insert after insert on server_patch
when new.state in ('missing', 'published', 'queued', 'installing', 'failed')
begin
    update server set open_patches = open_patches + 1,
        open_critical = open_critical + (select severity_rank = 5 from patch where id = new.patch_id),
        open_high = open_high + (select severity_rank = 4 from patch where id = new.patch_id),
        open_medium = open_medium + (select severity_rank = 3 from patch where id = new.patch_id),
        open_low = open_low + (select severity_rank = 2 from patch where id = new.patch_id),
        open_security = open_security + (select (security or advisories > 0) from patch where id = new.patch_id),
        open_kev = open_kev + (select known_exploited <> 0 from patch where id = new.patch_id),
        oldest_open = min(coalesce(oldest_open, new.first_seen), new.first_seen)
    where id = new.server_id;
end;

create trigger server_patch_server_delete after delete on server_patch
when old.state in ('missing', 'published', 'queued', 'installing', 'failed')
begin
    update server set open_patches = open_patches - 1,
        open_critical = open_critical - (select severity_rank = 5 from patch where id = old.patch_id),
        open_high = open_high - (select severity_rank = 4 from patch where id = old.patch_id),
        open_medium = open_medium - (select severity_rank = 3 from patch where id = old.patch_id),
        open_low = open_low - (select severity_rank = 2 from patch where id = old.patch_id),
        open_security = open_security - (select (security or advisories > 0) from patch where id = old.patch_id),
        open_kev = open_kev - (select known_exploited <> 0 from patch where id = old.patch_id),
        oldest_open = (select min(first_seen) from server_patch
            where server_id = old.server_id and state in ('missing', 'published', 'queued', 'installing', 'failed'))
    where id = old.server_id;
end;

create trigger server_patch_server_update after update of state, first_seen on server_patch
when (old.state in ('missing', 'published', 'queued', 'installing', 'failed')) <> (new.state in ('missing', 'published', 'queued', 'installing', 'failed')) or old.first_seen <> new.first_seen
begin
    update server set
        open_patches = open_patches + (new.state in ('missing', 'published', 'queued', 'installing', 'failed')) - (old.state in ('missing', 'published', 'queued', 'installing', 'failed')),
        open_critical = open_critical + ((new.state in ('missing', 'published', 'queued', 'installing', 'failed')) - (old.state in ('missing', 'published', 'queued', 'installing', 'failed')))
            * (select severity_rank = 5 from patch where id = new.patch_id),
        open_high = open_high + ((new.state in ('missing', 'published', 'queued', 'installing', 'failed')) - (old.state in ('missing', 'published', 'queued', 'installing', 'failed')))
            * (select severity_rank = 4 from patch where id = new.patch_id),
        open_medium = open_medium + ((new.state in ('missing', 'published', 'queued', 'installing', 'failed')) - (old.state in ('missing', 'published', 'queued', 'installing', 'failed')))
            * (select severity_rank = 3 from patch where id = new.patch_id),
        open_low = open_low + ((new.state in ('missing', 'published', 'queued', 'installing', 'failed')) - (old.state in ('missing', 'published', 'queued', 'installing', 'failed')))
            * (select severity_rank = 2 from patch where id = new.patch_id),
        open_security = open_security + ((new.state in ('missing', 'published', 'queued', 'installing', 'failed')) - (old.state in ('missing', 'published', 'queued', 'installing', 'failed')))
            * (select (security or advisories > 0) from patch where id = new.patch_id),
        open_kev = open_kev + ((new.state in ('missing', 'published', 'queued', 'installing', 'failed')) - (old.state in ('missing', 'published', 'queued', 'installing', 'failed')))
            * (select known_exploited <> 0 from patch where id = new.patch_id),
        oldest_open = (select min(first_seen) from server_patch
            where server_id = new.server_id and state in ('missing', 'published', 'queued', 'installing', 'failed'))
    where id = new.server_id;
end;

-- A patch whose severity, security or known exploitation changes moves in
-- the counts of every server it is open on.
create trigger patch_risk_server_counts after update of severity_rank, known_exploited, security, advisories on patch
when old.severity_rank <> new.severity_rank or (old.known_exploited <> 0) <> (new.known_exploited <> 0)
    or (old.security or old.advisories > 0) <> (new.security or new.advisories > 0)
begin
    update server set
        open_critical = open_critical - (old.severity_rank = 5) + (new.severity_rank = 5),
        open_high = open_high - (old.severity_rank = 4) + (new.severity_rank = 4),
        open_medium = open_medium - (old.severity_rank = 3) + (new.severity_rank = 3),
        open_low = open_low - (old.severity_rank = 2) + (new.severity_rank = 2),
        open_security = open_security - (old.security or old.advisories > 0) + (new.security or new.advisories > 0),
        open_kev = open_kev - (old.known_exploited <> 0) + (new.known_exploited <> 0)
    where id in (select server_id from server_patch where patch_id = new.id and state in ('missing', 'published', 'queued', 'installing', 'failed'));
end;

-- Daily counts for the dashboard's trend, one row per UTC day (the day's
-- last sweep wins).
create table report_snapshot (
    day integer primary key,
    missing_critical integer not null,
    missing_high integer not null,
    missing_medium integer not null,
    missing_low integer not null,
    missing_other integer not null,
    servers integer not null,
    servers_patched integer not null,
    taken_at integer not null
);

update patch set
    severity_rank = coalesce((select max(case a.severity when 'critical' then 5 when 'high' then 4
        when 'medium' then 3 when 'low' then 2 when 'none' then 1 else 0 end)
        from patch_advisory pa join advisory a on a.id = pa.advisory_id where pa.patch_id = patch.id), 0),
    cvss10 = coalesce((select max(a.cvss_score10) from patch_advisory pa join advisory a on a.id = pa.advisory_id
        where pa.patch_id = patch.id), -1),
    known_exploited = (case when exists (select 1 from patch_advisory pa join advisory_cve c on c.advisory_id = pa.advisory_id
        join kev k on k.cve = c.cve where pa.patch_id = patch.id) then 1 else 0 end),
    advisories = (select count(*) from patch_advisory pa where pa.patch_id = patch.id),
    open_servers = (select count(*) from server_patch sp where sp.patch_id = patch.id
        and sp.state in ('missing', 'published', 'queued', 'installing', 'failed')),
    oldest_open = (select min(first_seen) from server_patch sp where sp.patch_id = patch.id
        and sp.state in ('missing', 'published', 'queued', 'installing', 'failed'));

update server set
    open_patches = (select count(*) from server_patch sp where sp.server_id = server.id and sp.state in ('missing', 'published', 'queued', 'installing', 'failed')),
    open_critical = (select count(*) from server_patch sp join patch p on p.id = sp.patch_id
        where sp.server_id = server.id and sp.state in ('missing', 'published', 'queued', 'installing', 'failed') and p.severity_rank = 5),
    open_high = (select count(*) from server_patch sp join patch p on p.id = sp.patch_id
        where sp.server_id = server.id and sp.state in ('missing', 'published', 'queued', 'installing', 'failed') and p.severity_rank = 4),
    open_medium = (select count(*) from server_patch sp join patch p on p.id = sp.patch_id
        where sp.server_id = server.id and sp.state in ('missing', 'published', 'queued', 'installing', 'failed') and p.severity_rank = 3),
    open_low = (select count(*) from server_patch sp join patch p on p.id = sp.patch_id
        where sp.server_id = server.id and sp.state in ('missing', 'published', 'queued', 'installing', 'failed') and p.severity_rank = 2),
    open_security = (select count(*) from server_patch sp join patch p on p.id = sp.patch_id
        where sp.server_id = server.id and sp.state in ('missing', 'published', 'queued', 'installing', 'failed') and (p.security or p.advisories > 0)),
    open_kev = (select count(*) from server_patch sp join patch p on p.id = sp.patch_id
        where sp.server_id = server.id and sp.state in ('missing', 'published', 'queued', 'installing', 'failed') and p.known_exploited <> 0),
    oldest_open = (select min(first_seen) from server_patch sp where sp.server_id = server.id and sp.state in ('missing', 'published', 'queued', 'installing', 'failed'));
