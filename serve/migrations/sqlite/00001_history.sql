-- +goose Up
CREATE TABLE runs (
	id          TEXT PRIMARY KEY,
	runbook     TEXT NOT NULL,
	start_ns    INTEGER NOT NULL,
	duration_ns INTEGER NOT NULL DEFAULT 0,
	status      TEXT NOT NULL
);
CREATE INDEX runs_by_start ON runs (start_ns);
CREATE INDEX runs_by_runbook ON runs (runbook, status, start_ns);

CREATE TABLE steps (
	run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	idx         INTEGER NOT NULL,
	name        TEXT NOT NULL,
	worker      TEXT NOT NULL,
	exit_code   INTEGER NOT NULL,
	skipped     INTEGER NOT NULL,
	error       TEXT NOT NULL,
	duration_ns INTEGER NOT NULL,
	PRIMARY KEY (run_id, idx)
);

CREATE TABLE outputs (
	run_id    TEXT NOT NULL,
	step_idx  INTEGER NOT NULL,
	idx       INTEGER NOT NULL,
	name      TEXT NOT NULL,
	value     TEXT NOT NULL,
	sensitive INTEGER NOT NULL,
	PRIMARY KEY (run_id, step_idx, name),
	FOREIGN KEY (run_id, step_idx) REFERENCES steps (run_id, idx) ON DELETE CASCADE
);

CREATE TABLE artifacts (
	run_id   TEXT NOT NULL,
	step_idx INTEGER NOT NULL,
	idx      INTEGER NOT NULL,
	name     TEXT NOT NULL,
	path     TEXT NOT NULL,
	size     INTEGER NOT NULL,
	sha256   TEXT NOT NULL,
	PRIMARY KEY (run_id, step_idx, idx),
	FOREIGN KEY (run_id, step_idx) REFERENCES steps (run_id, idx) ON DELETE CASCADE
);

CREATE TABLE logs (
	run_id TEXT PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
	text   BLOB NOT NULL
);

-- meta holds one-time facts, such as that runs.jsonl was imported.
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);

-- +goose Down
DROP TABLE meta;
DROP TABLE logs;
DROP TABLE artifacts;
DROP TABLE outputs;
DROP TABLE steps;
DROP TABLE runs;
