-- Maintenance windows: recurring periods in a named time zone
-- (patchport_core::window::Window as JSON), assigned to groups and to single
-- servers. A server's windows are its own and those of its groups.

create table maintenance_window (
    id bigint generated always as identity primary key,
    name text not null unique,
    settings text not null,
    created_at bigint not null
);

create table maintenance_window_group (
    window_id bigint not null references maintenance_window (id) on delete cascade,
    group_id bigint not null references server_group (id) on delete cascade,
    primary key (window_id, group_id)
);
create index maintenance_window_group_group on maintenance_window_group (group_id);

create table maintenance_window_server (
    window_id bigint not null references maintenance_window (id) on delete cascade,
    server_id bigint not null references server (id) on delete cascade,
    primary key (window_id, server_id)
);
create index maintenance_window_server_server on maintenance_window_server (server_id);
