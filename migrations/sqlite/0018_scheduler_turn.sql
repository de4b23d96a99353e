-- Whose turn it is to run the scheduler (issue 17): with several portal
-- instances on one database, each instance's timer asks for the turn and
-- only the one that finds it due runs the scheduler's pass, so the pass
-- runs once per interval across instances, not once per instance.
create table scheduler_turn (
    name text not null primary key,
    -- Unix seconds from which the next turn may be taken.
    due_at integer not null,
    -- The instance that took the last turn (for people reading the table).
    holder text not null,
    taken_at integer not null
);
