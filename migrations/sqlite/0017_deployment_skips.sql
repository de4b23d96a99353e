-- What a deployment left out and why (issue 16): each server-patch (or,
-- with package NULL, a whole server) the plan did not act on, in the
-- order the plan named them, so the deployment's page can say which and
-- why long after it was made. The host and patch are kept as text: the
-- record stays true when the server is later removed.
create table deployment_skip (
    deployment_id integer not null references deployment (id) on delete cascade,
    position integer not null,
    host text not null,
    package text,
    version text,
    -- patchport_core::deploy::SkipReason::as_str
    reason text not null,
    primary key (deployment_id, position)
);
