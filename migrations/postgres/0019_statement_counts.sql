-- The report's counts (patch_from.open_servers and oldest_open, and the
-- server's open_* and oldest_open) kept per statement instead of per row
-- (issue 17): a first report's 50 new server-patch rows fired the row
-- trigger 50 times, each running three or four updates, which made a full
-- report on PostgreSQL about three times slower than on SQLite. Now each
-- statement that writes server_patch runs one update of the versions it
-- touched and one of the servers, from its transition tables.
--
-- PostgreSQL allows transition tables only on a trigger with one event and
-- no column list, hence three triggers (named as SQLite's row triggers);
-- the update trigger pairs old and new rows by their key and counts only
-- rows that opened, closed, moved to another installed version or changed
-- their detection time, so the workflow's moves between open states
-- (missing → published → queued → installing) write no counts at all.
drop trigger server_patch_from_counts on server_patch;
drop function server_patch_from_counts();
drop function server_from_add(bigint, bigint, integer);

-- Applies one statement's changes: each (version, server, sign) is an open
-- row that arrived (1) or left (-1). The versions' rows are locked in id
-- order first, so that statements of different transactions that share
-- versions cannot deadlock on them; oldest detection times are read again
-- from the open-rows indexes (one seek per version, the server's own rows
-- per server), as a row that left may have been the oldest.
create function server_patch_count(froms bigint[], servers bigint[], signs integer[])
returns void language plpgsql as $$
begin
    perform 1 from patch_from where id = any(froms) order by id for update;
    update patch_from f set open_servers = f.open_servers + x.n,
        oldest_open = (select min(sp.first_seen) from server_patch sp where sp.from_id = f.id
            and sp.state in ('missing', 'published', 'queued', 'installing', 'failed'))
    from (select c.from_id, sum(c.sign) as n from unnest(froms, signs) as c(from_id, sign)
          where c.from_id is not null group by c.from_id) x
    where f.id = x.from_id;
    update server s set
        open_patches = s.open_patches + x.n,
        open_critical = s.open_critical + x.critical,
        open_high = s.open_high + x.high,
        open_medium = s.open_medium + x.medium,
        open_low = s.open_low + x.low,
        open_security = s.open_security + x.sec,
        open_kev = s.open_kev + x.kev,
        oldest_open = (select min(sp.first_seen) from server_patch sp where sp.server_id = s.id
            and sp.state in ('missing', 'published', 'queued', 'installing', 'failed'))
    from (select c.server_id, sum(c.sign) as n,
              sum(c.sign * (case when f.severity_rank = 5 then 1 else 0 end)) as critical,
              sum(c.sign * (case when f.severity_rank = 4 then 1 else 0 end)) as high,
              sum(c.sign * (case when f.severity_rank = 3 then 1 else 0 end)) as medium,
              sum(c.sign * (case when f.severity_rank = 2 then 1 else 0 end)) as low,
              sum(c.sign * (case when f.security then 1 else 0 end)) as sec,
              sum(c.sign * (case when f.known_exploited then 1 else 0 end)) as kev
          from unnest(froms, servers, signs) as c(from_id, server_id, sign)
          left join patch_from f on f.id = c.from_id
          group by c.server_id) x
    where s.id = x.server_id;
end
$$;

create function server_patch_from_inserted() returns trigger language plpgsql as $$
declare
    froms bigint[];
    servers bigint[];
    signs integer[];
begin
    select array_agg(from_id), array_agg(server_id), array_agg(1)
        into froms, servers, signs
    from new_rows where patchport_is_open(state) = 1;
    if servers is not null then
        perform server_patch_count(froms, servers, signs);
    end if;
    return null;
end
$$;

create function server_patch_from_deleted() returns trigger language plpgsql as $$
declare
    froms bigint[];
    servers bigint[];
    signs integer[];
begin
    select array_agg(from_id), array_agg(server_id), array_agg(-1)
        into froms, servers, signs
    from old_rows where patchport_is_open(state) = 1;
    if servers is not null then
        perform server_patch_count(froms, servers, signs);
    end if;
    return null;
end
$$;

create function server_patch_from_updated() returns trigger language plpgsql as $$
declare
    froms bigint[];
    servers bigint[];
    signs integer[];
begin
    with changed as (
        select o.server_id, o.from_id as old_from, n.from_id as new_from,
            patchport_is_open(o.state) as was_open, patchport_is_open(n.state) as is_open
        from old_rows o join new_rows n on n.server_id = o.server_id and n.patch_id = o.patch_id
        where patchport_is_open(o.state) <> patchport_is_open(n.state)
            or (patchport_is_open(n.state) = 1
                and (o.from_id is distinct from n.from_id or o.first_seen <> n.first_seen))
    ), moves as (
        select old_from as from_id, server_id, -1 as sign from changed where was_open = 1
        union all
        select new_from, server_id, 1 from changed where is_open = 1
    )
    select array_agg(from_id), array_agg(server_id), array_agg(sign)
        into froms, servers, signs
    from moves;
    if servers is not null then
        perform server_patch_count(froms, servers, signs);
    end if;
    return null;
end
$$;

create trigger server_patch_from_insert after insert on server_patch
    referencing new table as new_rows
    for each statement execute function server_patch_from_inserted();
create trigger server_patch_from_delete after delete on server_patch
    referencing old table as old_rows
    for each statement execute function server_patch_from_deleted();
create trigger server_patch_from_update after update on server_patch
    referencing old table as old_rows new table as new_rows
    for each statement execute function server_patch_from_updated();
