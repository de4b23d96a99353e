-- Schema parity with PostgreSQL (db/tests/schema_parity.rs): on SQLite a
-- primary key that is not an `integer primary key` accepts NULL unless it
-- is declared NOT NULL (a compatibility quirk), while PostgreSQL refuses
-- NULL in every primary key. SQLite cannot add NOT NULL to a column, so
-- the four tables keyed by text are rebuilt with the same columns, in the
-- same order, and their indexes. A row with a NULL key could never be
-- found by its key; such rows, if any, are left behind.

create table session_new (
    id text primary key not null,
    account_id integer references account (id) on delete cascade,
    data text not null,
    expires_at integer not null
);
insert into session_new (id, account_id, data, expires_at)
select id, account_id, data, expires_at from session where id is not null;
drop table session;
alter table session_new rename to session;
create index session_account on session (account_id);
create index session_expires on session (expires_at);

create table login_throttle_new (
    key text primary key not null,
    failures integer not null,
    window_start integer not null,
    blocked_until integer not null
);
insert into login_throttle_new (key, failures, window_start, blocked_until)
select key, failures, window_start, blocked_until from login_throttle where key is not null;
drop table login_throttle;
alter table login_throttle_new rename to login_throttle;

create table kev_new (
    cve text primary key not null,
    vendor text not null default '',
    product text not null default '',
    name text not null default '',
    date_added integer not null,
    due_date integer,
    ransomware text not null default '',
    content_hash text not null
);
insert into kev_new (cve, vendor, product, name, date_added, due_date, ransomware, content_hash)
select cve, vendor, product, name, date_added, due_date, ransomware, content_hash
from kev where cve is not null;
drop table kev;
alter table kev_new rename to kev;

create table known_device_new (
    token_hash text primary key not null,
    account_id integer not null references account (id) on delete cascade,
    created_at integer not null,
    last_used_at integer not null
);
insert into known_device_new (token_hash, account_id, created_at, last_used_at)
select token_hash, account_id, created_at, last_used_at from known_device where token_hash is not null;
drop table known_device;
alter table known_device_new rename to known_device;
create index known_device_account on known_device (account_id, last_used_at);
