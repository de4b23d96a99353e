-- Mail: an outbox written in the same transaction as its cause and sent by
-- a worker; per-user opt-outs; single-use hashed tokens for invitations and
-- password resets; booked reboots, for reminders and outcome mails.

create table mail (
    id integer primary key autoincrement,
    -- null for mail to an address without an account yet (none today)
    account_id integer references account (id) on delete set null,
    recipient text not null,
    kind text not null,
    subject text not null,
    body text not null,
    -- path under the configured public URL; the worker makes it absolute
    link text not null default '',
    -- a link that holds a secret (invitation, reset): hidden on the outbox
    -- page and removed once sent
    secret_link boolean not null default 0,
    -- queued → sent, or dead after a permanent failure or too many tries
    state text not null default 'queued' check (state in ('queued', 'sent', 'dead')),
    attempts integer not null default 0,
    -- when the worker may next try (also its lease while sending)
    next_attempt_at integer not null,
    last_error text not null default '',
    created_at integer not null,
    sent_at integer
);
create index mail_due on mail (state, next_attempt_at);
create index mail_account on mail (account_id, id);

-- Kinds of mail an account does not want (everything is on by default).
create table mail_opt_out (
    account_id integer not null references account (id) on delete cascade,
    kind text not null,
    primary key (account_id, kind)
);

-- Invitation and password-reset links: only the SHA-256 of the token is
-- kept; a token works once and until it expires.
create table account_token (
    id integer primary key autoincrement,
    account_id integer not null references account (id) on delete cascade,
    purpose text not null check (purpose in ('invite', 'reset')),
    token_hash text not null unique,
    expires_at integer not null,
    used_at integer,
    created_at integer not null
);
create index account_token_account on account_token (account_id);

-- A reboot an owner (or admin) booked into a window: which reminders went
-- out and whether the outcome was told.
create table reboot_booking (
    job_id integer primary key references job (id) on delete cascade,
    server_id integer not null references server (id) on delete cascade,
    at integer not null,
    reminded_day boolean not null default 0,
    reminded_hour boolean not null default 0,
    outcome_told boolean not null default 0,
    created_at integer not null
);
create index reboot_booking_open on reboot_booking (outcome_told, at);
