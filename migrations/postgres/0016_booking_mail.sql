-- One booking mail per quiet period (issue 16): booking a reboot, moving
-- or cancelling it only marks its server here; once nothing changed for
-- PATCHPORT_BOOKING_MAIL_QUIET_SECONDS the mail worker tells the owner
-- where the booking ended, compared with what the last mail said
-- (patchport_db::mail::settle_bookings), with a calendar entry.
create table booking_notice (
    server_id bigint primary key references server (id) on delete cascade,
    -- the reboot job and time the last booking mail told; null when it
    -- told a cancellation or nothing was told yet
    told_job_id bigint references job (id) on delete set null,
    told_at bigint,
    -- the revision (SEQUENCE) of the server's calendar entry: counted up
    -- at each settled change, so calendars replace what a mail put in
    revision bigint not null default 0,
    -- the first and the last change not told yet (null when all is
    -- told): the mail goes a quiet period after the last, and at the
    -- latest five quiet periods after the first
    first_change_at bigint,
    last_change_at bigint,
    -- a change came from an admin's edit of the maintenance windows, so a
    -- cancellation says why
    windows_changed boolean not null default false
);
create index booking_notice_pending on booking_notice (last_change_at);
