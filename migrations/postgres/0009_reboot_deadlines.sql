-- Reboot deadlines: the admins' rules (patchport_core::deadline::RebootRules
-- as JSON, one row), and each patched server's open obligation to reboot:
-- by when, how often its booking was made or moved, whether admins were
-- told it passed.

create table reboot_rules (
    id bigint primary key check (id = 1),
    settings text not null,
    updated_at bigint not null
);

create table reboot_obligation (
    server_id bigint primary key references server (id) on delete cascade,
    since bigint not null,
    severity_rank bigint not null,
    deadline_at bigint not null,
    bookings bigint not null default 0,
    escalated boolean not null default false
);
create index reboot_obligation_deadline on reboot_obligation (escalated, deadline_at);
