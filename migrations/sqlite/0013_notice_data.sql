-- Typed notices (patchport_core::notice): a notification and its mail keep
-- the notice's facts as JSON (its kind included), so the words can be made
-- again from the templates. Rows written before this keep '{}' and their
-- stored subject and body.
alter table notification add column data text not null default '{}';
alter table mail add column data text not null default '{}';
