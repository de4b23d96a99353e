-- Reboot deadlines: the admins' rules (patchport_core::deadline::RebootRules
-- as JSON, one row), and each patched server's open obligation to reboot:
-- by when, how often its booking was made or moved, whether admins were
-- told it passed.

create table reboot_rules (
    id integer primary key check (id = 1),
    settings text not null,
    updated_at integer not null
);

create table reboot_obligation (
    server_id integer primary key references server (id) on delete cascade,
    since integer not null,
    severity_rank integer not null,
    deadline_at integer not null,
    bookings integer not null default 0,
    escalated boolean not null default 0
);
create index reboot_obligation_deadline on reboot_obligation (escalated, deadline_at);
