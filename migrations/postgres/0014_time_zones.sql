-- Time zones (issue 16): each account reads and types times in its own
-- zone (an IANA name such as Europe/Berlin); NULL means it has not chosen
-- one and reads the portal's default, kept in portal_setting under
-- 'time_zone' (UTC when unset).
alter table account add column time_zone text;
create table portal_setting (
    name text primary key not null,
    value text not null,
    updated_at bigint not null
);
