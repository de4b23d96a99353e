-- Rollback (issue 18): a job kind that returns packages to the versions a
-- server had before an install, the versions an install job found when it
-- started, and which install a rollback undoes.
--
-- SQLite cannot change a check constraint, so `job` is rebuilt with the
-- same columns in the same order, the two new ones last (as PostgreSQL
-- adds them), by SQLite's own procedure for other schema changes: the new
-- table is created, filled, and renamed into place after the old one is
-- dropped, so the references to `job` in other tables point at it. This
-- needs foreign keys off (dropping `job` with them on would delete or
-- clear the rows of deployment_target, the mail tables and booking_notice
-- that point at it); the pragma does nothing inside the transaction sqlx
-- runs a migration in, so `Db::migrate` turns them off around the
-- migrator and checks them after. The guard below stops this file, before
-- it changes anything, wherever it runs with foreign keys on.

create temp table migration_needs_foreign_keys_off (foreign_keys integer check (foreign_keys = 0));
insert into migration_needs_foreign_keys_off select foreign_keys from pragma_foreign_keys;
drop table migration_needs_foreign_keys_off;

create table job_new (
    id integer primary key autoincrement,
    server_id integer not null references server (id) on delete cascade,
    kind text not null check (kind in ('install', 'rollback', 'reboot', 'refresh')),
    -- install, rollback: JSON list of {name, version, arch}
    packages text not null default '[]',
    -- queued → running → succeeded | failed; a reboot goes running →
    -- rebooting → succeeded once a new boot id is seen; a queued job whose
    -- not_after passed is expired; an admin may cancel a queued job
    state text not null check (state in ('queued', 'running', 'rebooting', 'succeeded', 'failed', 'expired', 'cancelled')),
    not_before integer not null,
    not_after integer not null,
    -- the current attempt; results for older attempts are refused
    attempt integer not null default 0,
    lease_until integer,
    -- the server's boot id when the reboot was claimed
    boot_id_before text,
    exit_code integer,
    log text not null default '',
    -- why it failed, expired or was retried, for people
    reason text not null default '',
    created_by integer references account (id) on delete set null,
    created_at integer not null,
    started_at integer,
    finished_at integer,
    -- install: JSON list of {name, version, arch}, the server's versions
    -- of the job's packages (its last report) when the first attempt
    -- started; null until then, and for jobs started before this migration
    previous text,
    -- rollback: the install job it undoes
    rollback_of integer references job (id) on delete set null
);

insert into job_new (id, server_id, kind, packages, state, not_before, not_after, attempt,
    lease_until, boot_id_before, exit_code, log, reason, created_by, created_at, started_at,
    finished_at)
select id, server_id, kind, packages, state, not_before, not_after, attempt,
    lease_until, boot_id_before, exit_code, log, reason, created_by, created_at, started_at,
    finished_at
from job;

drop table job;
alter table job_new rename to job;
create index job_server_state on job (server_id, state);
create index job_state_lease on job (state, lease_until);
create index job_rollback_of on job (rollback_of);
