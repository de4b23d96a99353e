-- Accounts, sessions, audit trail and login throttling.
-- Times are integer seconds since the Unix epoch (UTC) so that one query text
-- serves SQLite and PostgreSQL alike.

-- `user` is reserved in PostgreSQL, hence `account`.
create table account (
    id integer primary key autoincrement,
    -- normalised (lower case); what people type to sign in
    username text not null unique,
    display_name text not null default '',
    email text,
    role text not null check (role in ('admin', 'owner')),
    -- argon2id PHC string
    password_hash text not null,
    -- disabled accounts cannot sign in and lose their sessions
    disabled boolean not null default false,
    created_at integer not null,
    updated_at integer not null
);

-- tower-sessions records. account_id is lifted out of the data so that
-- "end this user's other sessions" is one indexed delete.
create table session (
    id text primary key,
    account_id integer references account (id) on delete cascade,
    data text not null,
    expires_at integer not null
);
create index session_account on session (account_id);
create index session_expires on session (expires_at);

create table audit_event (
    id integer primary key autoincrement,
    at integer not null,
    -- null for anonymous actors (failed sign-in) and the system
    actor_id integer references account (id) on delete set null,
    -- kept verbatim so the trail survives renames and deletions
    actor_name text not null,
    action text not null,
    target text not null default '',
    detail text not null default '',
    -- client address as seen by the portal
    source text not null default ''
);
create index audit_event_at on audit_event (at);

-- Failed sign-in counters, keyed by user name and by client address. Rows
-- expire by time, so nobody is locked out for good.
create table login_throttle (
    key text primary key,
    failures integer not null,
    window_start integer not null,
    blocked_until integer not null
);
