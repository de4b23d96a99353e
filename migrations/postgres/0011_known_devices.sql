-- Browsers that signed in to an account before: a random token in a
-- long-lived cookie, of which only its SHA-256 is kept. A correct password
-- from a known device is not held up by the failures others cause for the
-- account's name or the shared address.
create table known_device (
    token_hash text primary key,
    account_id bigint not null references account (id) on delete cascade,
    created_at bigint not null,
    last_used_at bigint not null
);
create index known_device_account on known_device (account_id, last_used_at);
