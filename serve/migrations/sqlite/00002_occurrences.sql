-- +goose Up
-- A scheduled run records the occurrence it is for, and every run the
-- instance that runs it.
ALTER TABLE runs ADD COLUMN scheduled_ns INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN instance TEXT NOT NULL DEFAULT '';

-- occurrences holds one row per scheduled occurrence of a runbook: the
-- instance that inserts it handles it, by running it or skipping it
-- because a run of the runbook is still going.
CREATE TABLE occurrences (
	runbook  TEXT NOT NULL,
	at_ns    INTEGER NOT NULL,
	instance TEXT NOT NULL,
	outcome  TEXT NOT NULL,
	run_id   TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (runbook, at_ns)
);

-- +goose Down
DROP TABLE occurrences;
ALTER TABLE runs DROP COLUMN instance;
ALTER TABLE runs DROP COLUMN scheduled_ns;
