-- Rollback (issue 18): a job kind that returns packages to the versions a
-- server had before an install, the versions an install job found when it
-- started, and which install a rollback undoes.

alter table job drop constraint job_kind_check;
alter table job add constraint job_kind_check
    check (kind in ('install', 'rollback', 'reboot', 'refresh'));
-- install: JSON list of {name, version, arch}, the server's versions of the
-- job's packages (its last report) when the first attempt started; null
-- until then, and for jobs started before this migration
alter table job add column previous text;
-- rollback: the install job it undoes
alter table job add column rollback_of bigint references job (id) on delete set null;
create index job_rollback_of on job (rollback_of);
