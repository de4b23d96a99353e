-- The rollout workflow: policies, each patch's rollout with its history and
-- test installs, deployments (publish or deploy, by a policy's approval or
-- an admin), and the notifications they record.

-- What a policy covers and does, as JSON (patchport_core::rollout::Policy);
-- the first enabled policy by position that covers a patch takes it.
create table rollout_policy (
    id integer primary key autoincrement,
    name text not null unique,
    position integer not null default 0,
    enabled boolean not null default 1,
    settings text not null,
    updated_at integer not null,
    updated_by integer references account (id) on delete set null
);
insert into rollout_policy (name, position, enabled, settings, updated_at) values ('Default', 0, 1,
    '{"min_severity":"","security_only":true,"include":[],"exclude":[],"releases":[],"auto_test":true,"observation_days":7,"auto_approve":true,"publish_critical":true,"deploy_standard":true}', 0);

create table rollout (
    id integer primary key autoincrement,
    patch_id integer not null unique references patch (id) on delete cascade,
    policy_id integer references rollout_policy (id) on delete set null,
    state text not null check (state in ('new', 'testing', 'test_failed', 'observing', 'approved', 'declined')),
    -- when observation ends (observing)
    observe_until integer,
    -- admins were told the observation ended and approval waits for them
    observation_noted boolean not null default 0,
    created_at integer not null,
    updated_at integer not null
);
create index rollout_state on rollout (state, observe_until);

-- Every decision: who (an account, or the policy when actor_id is null),
-- when and why.
create table rollout_event (
    id integer primary key autoincrement,
    rollout_id integer not null references rollout (id) on delete cascade,
    from_state text,
    to_state text not null,
    actor_id integer references account (id) on delete set null,
    actor text not null,
    reason text not null default '',
    at integer not null
);
create index rollout_event_rollout on rollout_event (rollout_id, id);

-- The test install of a rollout on one test-group server.
create table rollout_test (
    rollout_id integer not null references rollout (id) on delete cascade,
    server_id integer not null references server (id) on delete cascade,
    job_id integer references job (id) on delete set null,
    primary key (rollout_id, server_id)
);

-- A publication or deployment of patches to servers.
create table deployment (
    id integer primary key autoincrement,
    kind text not null check (kind in ('publish', 'deploy')),
    rollout_id integer references rollout (id) on delete set null,
    created_by integer references account (id) on delete set null,
    -- the form's one-time key: a second submit finds the first deployment
    request_key text unique,
    not_before integer not null,
    reboot text not null check (reboot in ('none', 'after', 'at')),
    reboot_at integer,
    note text not null default '',
    created_at integer not null
);

-- One row per server and patch; a server's patches share its jobs.
create table deployment_target (
    deployment_id integer not null references deployment (id) on delete cascade,
    server_id integer not null references server (id) on delete cascade,
    patch_id integer not null references patch (id) on delete cascade,
    job_id integer references job (id) on delete set null,
    reboot_job_id integer references job (id) on delete set null,
    -- the owner was asked to schedule the reboot (deploy without reboot)
    owner_told boolean not null default 0,
    primary key (deployment_id, server_id, patch_id)
);
create index deployment_target_server on deployment_target (server_id);
create index deployment_target_job on deployment_target (job_id);

-- Who must be told what; the mail issue delivers them.
create table notification (
    id integer primary key autoincrement,
    account_id integer not null references account (id) on delete cascade,
    kind text not null,
    subject text not null,
    body text not null,
    link text not null default '',
    created_at integer not null
);
create index notification_account on notification (account_id, id);
