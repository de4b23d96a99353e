-- Servers, their agents, inventory and missing patches.

create table server_group (
    id bigint generated always as identity primary key,
    name text not null unique,
    -- the group new patches are tried on first (at most one)
    is_test_group boolean not null default false,
    created_at bigint not null
);

create table server (
    id bigint generated always as identity primary key,
    hostname text not null,
    -- from /etc/os-release: ID, VERSION_ID, PRETTY_NAME
    os_id text not null default '',
    os_version text not null default '',
    os_name text not null default '',
    -- deb or rpm: decides version ordering and install commands
    package_format text not null default '',
    arch text not null default '',
    kernel text not null default '',
    -- changes at every boot; a reboot counts only when this changes
    boot_id text not null default '',
    reboot_required boolean not null default false,
    reboot_required_packages text not null default '',
    owner_id bigint references account (id) on delete set null,
    -- critical servers get patches published to their owners; standard
    -- ones get them deployed in their maintenance window
    criticality text not null default 'standard' check (criticality in ('critical', 'standard')),
    -- digest of the last full report, so unchanged check-ins stay cheap
    report_digest text not null default '',
    last_check_in bigint,
    last_report_at bigint,
    created_at bigint not null
);
create index server_owner on server (owner_id);
create index server_hostname on server (hostname);

create table server_group_member (
    server_id bigint not null references server (id) on delete cascade,
    group_id bigint not null references server_group (id) on delete cascade,
    primary key (server_id, group_id)
);

-- One credential per server; only a SHA-256 of the 256-bit secret is kept.
create table agent_credential (
    server_id bigint primary key references server (id) on delete cascade,
    secret_hash text not null,
    created_at bigint not null,
    revoked_at bigint,
    last_used_at bigint
);

create table enrollment_token (
    id bigint generated always as identity primary key,
    -- SHA-256 of the token; the token itself is shown once
    token_hash text not null unique,
    label text not null default '',
    created_by bigint references account (id) on delete set null,
    created_at bigint not null,
    expires_at bigint not null,
    max_uses bigint not null,
    uses bigint not null default 0,
    revoked_at bigint
);

create table installed_package (
    server_id bigint not null references server (id) on delete cascade,
    name text not null,
    arch text not null,
    version text not null,
    source_name text,
    source_version text,
    primary key (server_id, name, arch)
);

-- One available update: release + package + target version + arch.
create table patch (
    id bigint generated always as identity primary key,
    -- os id and version, e.g. debian:12
    release text not null,
    package text not null,
    version text not null,
    arch text not null,
    origin text not null default '',
    security boolean not null default false,
    first_seen bigint not null,
    unique (release, package, version, arch)
);

-- Which server misses which patch, and where it stands.
create table server_patch (
    server_id bigint not null references server (id) on delete cascade,
    patch_id bigint not null references patch (id) on delete cascade,
    state text not null check (state in ('missing', 'published', 'queued', 'installing', 'installed', 'failed', 'superseded')),
    -- version installed when the patch was first seen missing
    installed_version text,
    first_seen bigint not null,
    updated_at bigint not null,
    primary key (server_id, patch_id)
);
create index server_patch_state on server_patch (state);
