-- Jobs an agent runs: install exact versions, reboot, refresh.

create table job (
    id bigint generated always as identity primary key,
    server_id bigint not null references server (id) on delete cascade,
    kind text not null check (kind in ('install', 'reboot', 'refresh')),
    -- install: JSON list of {name, version, arch}
    packages text not null default '[]',
    -- queued → running → succeeded | failed; a reboot goes running →
    -- rebooting → succeeded once a new boot id is seen; a queued job whose
    -- not_after passed is expired; an admin may cancel a queued job
    state text not null check (state in ('queued', 'running', 'rebooting', 'succeeded', 'failed', 'expired', 'cancelled')),
    not_before bigint not null,
    not_after bigint not null,
    -- the current attempt; results for older attempts are refused
    attempt bigint not null default 0,
    lease_until bigint,
    -- the server's boot id when the reboot was claimed
    boot_id_before text,
    exit_code bigint,
    log text not null default '',
    -- why it failed, expired or was retried, for people
    reason text not null default '',
    created_by bigint references account (id) on delete set null,
    created_at bigint not null,
    started_at bigint,
    finished_at bigint
);
create index job_server_state on job (server_id, state);
create index job_state_lease on job (state, lease_until);

-- Credential rotation: an admin asks for it; the agent's next check-in gets
-- a new credential, whose hash waits here until the agent first uses it, so
-- a lost answer never locks the agent out.
alter table agent_credential add column rotate_requested_at bigint;
alter table agent_credential add column next_secret_hash text;

-- At most one test group.
create unique index server_group_one_test on server_group (is_test_group) where is_test_group;
