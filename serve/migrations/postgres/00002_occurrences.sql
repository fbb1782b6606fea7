-- +goose Up
-- A scheduled run records the occurrence it is for, and every run the
-- instance that runs it.
ALTER TABLE runs ADD COLUMN scheduled_ns BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN instance TEXT NOT NULL DEFAULT '';
CREATE INDEX runs_running ON runs (status, instance);

-- occurrences holds one row per scheduled occurrence of a runbook: the
-- instance that inserts it handles it, by running it or skipping it
-- because a run of the runbook is still going.
CREATE TABLE occurrences (
	runbook  TEXT NOT NULL,
	at_ns    BIGINT NOT NULL,
	instance TEXT NOT NULL,
	outcome  TEXT NOT NULL,
	run_id   TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (runbook, at_ns)
);

-- instances holds each live cuttle serve's lease, renewed by its
-- heartbeat on the database's clock. An instance whose lease ran out is
-- dead: its running runs are marked interrupted and its row deleted,
-- which fences it (its next heartbeat and its runs' Finish fail).
CREATE TABLE instances (
	id        TEXT PRIMARY KEY,
	heartbeat TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE instances;
DROP TABLE occurrences;
DROP INDEX runs_running;
ALTER TABLE runs DROP COLUMN instance;
ALTER TABLE runs DROP COLUMN scheduled_ns;
