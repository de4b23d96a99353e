-- What the Patches Missing report sorts and filters on, kept on the patch
-- row so the report never aggregates a million server-patch rows to show
-- its first page.

-- From the patch's advisories (refreshed when links or KEV entries change):
-- highest severity as a rank (5 critical … 1 none, 0 no advisory), highest
-- CVSS × 10 (-1 none), whether a CVE is known exploited (0/1), advisory count.
alter table patch add column severity_rank bigint not null default 0;
alter table patch add column cvss10 bigint not null default -1;
alter table patch add column known_exploited bigint not null default 0;
alter table patch add column advisories bigint not null default 0;
-- From server_patch (kept by the trigger below): servers on which the
-- patch is open (missing, published, queued, installing, failed) and the
-- oldest detection among them.
alter table patch add column open_servers bigint not null default 0;
alter table patch add column oldest_open bigint;

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

create function patchport_is_open(state text) returns integer language sql immutable as $$
    select case when state in ('missing', 'published', 'queued', 'installing', 'failed') then 1 else 0 end
$$;

create function server_patch_open_counts() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        if patchport_is_open(new.state) = 1 then
            update patch set open_servers = open_servers + 1,
                oldest_open = least(coalesce(oldest_open, new.first_seen), new.first_seen)
            where id = new.patch_id;
        end if;
        return null;
    elsif tg_op = 'DELETE' then
        if patchport_is_open(old.state) = 1 then
            update patch set open_servers = open_servers - 1,
                oldest_open = (select min(first_seen) from server_patch
                    where patch_id = old.patch_id and state in ('missing', 'published', 'queued', 'installing', 'failed'))
            where id = old.patch_id;
        end if;
        return null;
    else
        if patchport_is_open(new.state) <> patchport_is_open(old.state) or new.first_seen <> old.first_seen then
            update patch set
                open_servers = open_servers + patchport_is_open(new.state) - patchport_is_open(old.state),
                oldest_open = (select min(first_seen) from server_patch
                    where patch_id = new.patch_id and state in ('missing', 'published', 'queued', 'installing', 'failed'))
            where id = new.patch_id;
        end if;
        return null;
    end if;
end
$$;

create trigger server_patch_open_counts after insert or delete or update of state, first_seen on server_patch
    for each row execute function server_patch_open_counts();

-- The same per server: open patches, by severity (from the patch rows),
-- security and known-exploited ones, and the oldest detection, so the
-- report by server pages through servers instead of aggregating rows.
alter table server add column open_patches bigint not null default 0;
alter table server add column open_critical bigint not null default 0;
alter table server add column open_high bigint not null default 0;
alter table server add column open_medium bigint not null default 0;
alter table server add column open_low bigint not null default 0;
alter table server add column open_security bigint not null default 0;
alter table server add column open_kev bigint not null default 0;
alter table server add column oldest_open bigint;

-- Adds `sign` (1 or -1) times one open row of `patch_id` to the server's counts.
create function server_open_add(sid bigint, pid bigint, sign integer) returns void language sql as $$
    update server set open_patches = open_patches + sign,
        open_critical = open_critical + sign * (case when p.severity_rank = 5 then 1 else 0 end),
        open_high = open_high + sign * (case when p.severity_rank = 4 then 1 else 0 end),
        open_medium = open_medium + sign * (case when p.severity_rank = 3 then 1 else 0 end),
        open_low = open_low + sign * (case when p.severity_rank = 2 then 1 else 0 end),
        open_security = open_security + sign * (case when p.security or p.advisories > 0 then 1 else 0 end),
        open_kev = open_kev + sign * (case when p.known_exploited <> 0 then 1 else 0 end)
    from patch p where p.id = pid and server.id = sid
$$;

create function server_patch_server_counts() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        if patchport_is_open(new.state) = 1 then
            perform server_open_add(new.server_id, new.patch_id, 1);
            update server set oldest_open = least(coalesce(oldest_open, new.first_seen), new.first_seen)
            where id = new.server_id;
        end if;
    elsif tg_op = 'DELETE' then
        if patchport_is_open(old.state) = 1 then
            perform server_open_add(old.server_id, old.patch_id, -1);
            update server set oldest_open = (select min(first_seen) from server_patch
                where server_id = old.server_id and state in ('missing', 'published', 'queued', 'installing', 'failed'))
            where id = old.server_id;
        end if;
    else
        if patchport_is_open(new.state) <> patchport_is_open(old.state) or new.first_seen <> old.first_seen then
            if patchport_is_open(new.state) <> patchport_is_open(old.state) then
                perform server_open_add(new.server_id, new.patch_id,
                    patchport_is_open(new.state) - patchport_is_open(old.state));
            end if;
            update server set oldest_open = (select min(first_seen) from server_patch
                where server_id = new.server_id and state in ('missing', 'published', 'queued', 'installing', 'failed'))
            where id = new.server_id;
        end if;
    end if;
    return null;
end
$$;

create trigger server_patch_server_counts after insert or delete or update of state, first_seen on server_patch
    for each row execute function server_patch_server_counts();

-- A patch whose severity, security or known exploitation changes moves in
-- the counts of every server it is open on.
create function patch_risk_server_counts() returns trigger language plpgsql as $$
begin
    if old.severity_rank <> new.severity_rank or (old.known_exploited <> 0) <> (new.known_exploited <> 0)
        or (old.security or old.advisories > 0) <> (new.security or new.advisories > 0) then
        update server set
            open_critical = open_critical - (case when old.severity_rank = 5 then 1 else 0 end)
                + (case when new.severity_rank = 5 then 1 else 0 end),
            open_high = open_high - (case when old.severity_rank = 4 then 1 else 0 end)
                + (case when new.severity_rank = 4 then 1 else 0 end),
            open_medium = open_medium - (case when old.severity_rank = 3 then 1 else 0 end)
                + (case when new.severity_rank = 3 then 1 else 0 end),
            open_low = open_low - (case when old.severity_rank = 2 then 1 else 0 end)
                + (case when new.severity_rank = 2 then 1 else 0 end),
            open_security = open_security - (case when old.security or old.advisories > 0 then 1 else 0 end)
                + (case when new.security or new.advisories > 0 then 1 else 0 end),
            open_kev = open_kev - (case when old.known_exploited <> 0 then 1 else 0 end)
                + (case when new.known_exploited <> 0 then 1 else 0 end)
        where id in (select server_id from server_patch where patch_id = new.id and state in ('missing', 'published', 'queued', 'installing', 'failed'));
    end if;
    return null;
end
$$;

create trigger patch_risk_server_counts after update of severity_rank, known_exploited, security, advisories on patch
    for each row execute function patch_risk_server_counts();

-- Daily counts for the dashboard's trend, one row per UTC day (the day's
-- last sweep wins).
create table report_snapshot (
    day bigint primary key,
    missing_critical bigint not null,
    missing_high bigint not null,
    missing_medium bigint not null,
    missing_low bigint not null,
    missing_other bigint not null,
    servers bigint not null,
    servers_patched bigint not null,
    taken_at bigint not null
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
