package serve

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/rs/zerolog"
	_ "modernc.org/sqlite" // the pure-Go driver "sqlite": the binary is built with CGO_ENABLED=0
)

// migrations are the history's schema, applied in order by goose. goose
// runs on any *sql.DB (modernc's SQLite here, pgx's stdlib for a
// PostgreSQL store), reads the SQL files from an embedded fs.FS, and
// records what it applied in the database itself, so a newer cuttle
// upgrades an older history on start with no separate tool.
//
//go:embed migrations/*.sql
var migrations embed.FS

// SQLiteStore keeps the history in history.db under the state directory.
// One process at a time may use a state directory: OpenSQLite takes a
// lock on it and Close releases it.
type SQLiteStore struct {
	db      *sql.DB
	dir     string
	release func() error
}

var _ Store = (*SQLiteStore)(nil)

// OpenSQLite opens (creating, migrating) the history under dir. Runs a
// crash left running are marked interrupted, with the log they wrote; a
// runs.jsonl history from an older cuttle is imported once.
func OpenSQLite(ctx context.Context, dir string) (_ *SQLiteStore, err error) {
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	release, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &SQLiteStore{dir: dir, release: release}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	path := filepath.Join(dir, "history.db")
	// Created here so that it is 0600 (it holds run logs); SQLite gives its
	// -wal and -shm files the database's mode.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", path, err)
	}
	f.Close()
	s.db, err = sql.Open("sqlite", path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", path, err)
	}
	s.db.SetMaxOpenConns(1) // one writer; reads are short
	if err := migrate(ctx, s.db, goose.DialectSQLite3); err != nil {
		return nil, fmt.Errorf("history %s: %w", path, err)
	}
	if err := s.recover(ctx); err != nil {
		return nil, fmt.Errorf("history %s: %w", path, err)
	}
	if err := s.importJSONL(ctx); err != nil {
		return nil, fmt.Errorf("importing %s: %w", filepath.Join(dir, "runs.jsonl"), err)
	}
	return s, nil
}

func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect) error {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(dialect, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("schema migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("schema migrations: %w", err)
	}
	return nil
}

// LogPath is where a running run writes its log; Finish moves it into
// the database.
func (s *SQLiteStore) LogPath(id string) string { return filepath.Join(s.dir, "logs", id+".log") }

// Close releases the database and the state directory's lock.
func (s *SQLiteStore) Close() error {
	var err error
	if s.db != nil {
		err = s.db.Close()
	}
	if s.release != nil {
		err = errors.Join(err, s.release())
		s.release = nil
	}
	return err
}

// Begin records r as running.
func (s *SQLiteStore) Begin(ctx context.Context, r Run) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO runs (id, runbook, start_ns, status) VALUES (?, ?, ?, ?)`,
		r.ID, r.Runbook, r.Start.UnixNano(), StatusRunning)
	if err != nil {
		return fmt.Errorf("recording run %s: %w", r.ID, err)
	}
	return nil
}

// Finish records r's outcome, steps and log in one transaction.
func (s *SQLiteStore) Finish(ctx context.Context, r Run, log []byte) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording run %s: %w", r.ID, err)
	}
	defer tx.Rollback()
	if err := writeRun(ctx, tx, r, log); err != nil {
		return fmt.Errorf("recording run %s: %w", r.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording run %s: %w", r.ID, err)
	}
	return nil
}

// writeRun writes a finished run, replacing what was recorded of it.
func writeRun(ctx context.Context, tx *sql.Tx, r Run, log []byte) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO runs (id, runbook, start_ns, duration_ns, status) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET duration_ns = excluded.duration_ns, status = excluded.status`,
		r.ID, r.Runbook, r.Start.UnixNano(), int64(r.Duration), r.Status); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM steps WHERE run_id = ?`, r.ID); err != nil {
		return err
	}
	for i, st := range r.Steps {
		if _, err := tx.ExecContext(ctx, `INSERT INTO steps (run_id, idx, name, worker, exit_code, skipped, error, duration_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, i, st.Name, st.Worker, st.ExitCode, st.Skipped, st.Error, int64(st.Duration)); err != nil {
			return err
		}
		for j, o := range st.Outputs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO outputs (run_id, step_idx, idx, name, value, sensitive) VALUES (?, ?, ?, ?, ?, ?)`,
				r.ID, i, j, o.Name, o.Value, o.Sensitive); err != nil {
				return fmt.Errorf("step %s output %s: %w", st.Name, o.Name, err)
			}
		}
		for j, a := range st.Artifacts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO artifacts (run_id, step_idx, idx, name, path, size, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				r.ID, i, j, a.Name, a.Path, a.Size, a.SHA256); err != nil {
				return fmt.Errorf("step %s artifact %s: %w", st.Name, a.Name, err)
			}
		}
	}
	if log == nil {
		log = []byte{}
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO logs (run_id, text) VALUES (?, ?) ON CONFLICT (run_id) DO UPDATE SET text = excluded.text`, r.ID, log)
	return err
}

// recover marks the runs a crash left running as interrupted, keeping
// the log each had written.
func (s *SQLiteStore) recover(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, runbook, start_ns FROM runs WHERE status = ?`, StatusRunning)
	if err != nil {
		return err
	}
	var cut []Run
	for rows.Next() {
		var r Run
		var start int64
		if err := rows.Scan(&r.ID, &r.Runbook, &start); err != nil {
			rows.Close()
			return err
		}
		r.Start, r.Status = time.Unix(0, start), StatusInterrupted
		cut = append(cut, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, r := range cut {
		log, _ := os.ReadFile(s.LogPath(r.ID))
		log = append(log, "\ncuttle serve stopped during this run: interrupted\n"...)
		if err := s.Finish(ctx, r, log); err != nil {
			return err
		}
		os.Remove(s.LogPath(r.ID))
		zerolog.Ctx(ctx).Warn().Str("run", r.ID).Str("runbook", r.Runbook).Msg("a run cut short by a crash is recorded as interrupted")
	}
	return nil
}

// Recent returns up to n runs, newest start first, without their steps.
func (s *SQLiteStore) Recent(ctx context.Context, n int) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, runbook, start_ns, duration_ns, status FROM runs ORDER BY start_ns DESC, id DESC LIMIT ?`, n)
	if err != nil {
		return nil, fmt.Errorf("reading the history: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("reading the history: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanRun(row interface{ Scan(...any) error }) (Run, error) {
	var r Run
	var start, dur int64
	err := row.Scan(&r.ID, &r.Runbook, &start, &dur, &r.Status)
	r.Start, r.Duration = time.Unix(0, start), time.Duration(dur)
	return r, err
}

// Get returns run id with its steps, outputs and artifacts.
func (s *SQLiteStore) Get(ctx context.Context, id string) (Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT id, runbook, start_ns, duration_ns, status FROM runs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, fmt.Errorf("run %s: %w", id, ErrNoRun)
	}
	if err != nil {
		return Run{}, fmt.Errorf("run %s: %w", id, err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT name, worker, exit_code, skipped, error, duration_ns FROM steps WHERE run_id = ? ORDER BY idx`, id)
	if err != nil {
		return Run{}, fmt.Errorf("run %s: %w", id, err)
	}
	for rows.Next() {
		var st StepRecord
		var dur int64
		if err := rows.Scan(&st.Name, &st.Worker, &st.ExitCode, &st.Skipped, &st.Error, &dur); err != nil {
			rows.Close()
			return Run{}, fmt.Errorf("run %s: %w", id, err)
		}
		st.Duration = time.Duration(dur)
		r.Steps = append(r.Steps, st)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return Run{}, fmt.Errorf("run %s: %w", id, err)
	}
	if err := s.each(ctx, `SELECT step_idx, name, value, sensitive FROM outputs WHERE run_id = ? ORDER BY step_idx, idx`, id, func(i int, rows *sql.Rows) error {
		var o OutputRecord
		err := rows.Scan(&i, &o.Name, &o.Value, &o.Sensitive)
		if err == nil && i < len(r.Steps) {
			r.Steps[i].Outputs = append(r.Steps[i].Outputs, o)
		}
		return err
	}); err != nil {
		return Run{}, fmt.Errorf("run %s: outputs: %w", id, err)
	}
	if err := s.each(ctx, `SELECT step_idx, name, path, size, sha256 FROM artifacts WHERE run_id = ? ORDER BY step_idx, idx`, id, func(i int, rows *sql.Rows) error {
		var a ArtifactRecord
		err := rows.Scan(&i, &a.Name, &a.Path, &a.Size, &a.SHA256)
		if err == nil && i < len(r.Steps) {
			r.Steps[i].Artifacts = append(r.Steps[i].Artifacts, a)
		}
		return err
	}); err != nil {
		return Run{}, fmt.Errorf("run %s: artifacts: %w", id, err)
	}
	return r, nil
}

func (s *SQLiteStore) each(ctx context.Context, query, id string, scan func(int, *sql.Rows) error) error {
	rows, err := s.db.QueryContext(ctx, query, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(0, rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Log returns a finished run's log.
func (s *SQLiteStore) Log(ctx context.Context, id string) ([]byte, error) {
	var log []byte
	err := s.db.QueryRowContext(ctx, `SELECT text FROM logs WHERE run_id = ?`, id).Scan(&log)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("log of run %s: %w", id, ErrNoRun)
	}
	if err != nil {
		return nil, fmt.Errorf("log of run %s: %w", id, err)
	}
	return log, nil
}

// Runbooks returns per runbook the last finished run's status and start,
// and the start of its last successful run.
func (s *SQLiteStore) Runbooks(ctx context.Context) (map[string]RunbookStatus, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.runbook, r.status, r.start_ns,
		(SELECT max(start_ns) FROM runs ok WHERE ok.runbook = r.runbook AND ok.status = ?)
		FROM runs r WHERE r.start_ns = (SELECT max(start_ns) FROM runs l WHERE l.runbook = r.runbook AND l.status != ?)`,
		StatusSucceeded, StatusRunning)
	if err != nil {
		return nil, fmt.Errorf("reading the history: %w", err)
	}
	defer rows.Close()
	out := map[string]RunbookStatus{}
	for rows.Next() {
		var name, status string
		var last int64
		var ok sql.NullInt64
		if err := rows.Scan(&name, &status, &last, &ok); err != nil {
			return nil, fmt.Errorf("reading the history: %w", err)
		}
		st := RunbookStatus{LastStatus: status, LastStart: time.Unix(0, last)}
		if ok.Valid {
			st.LastSuccess = time.Unix(0, ok.Int64)
		}
		out[name] = st
	}
	return out, rows.Err()
}

// Prune deletes finished runs beyond keep; their steps, outputs,
// artifacts records and logs go with them.
func (s *SQLiteStore) Prune(ctx context.Context, keep Retention, now time.Time) (int, error) {
	var n int64
	if keep.For > 0 {
		res, err := s.db.ExecContext(ctx, `DELETE FROM runs WHERE status != ? AND start_ns < ?`, StatusRunning, now.Add(-keep.For).UnixNano())
		if err != nil {
			return 0, fmt.Errorf("pruning the history: %w", err)
		}
		d, _ := res.RowsAffected()
		n += d
	}
	if keep.Runs > 0 {
		res, err := s.db.ExecContext(ctx, `DELETE FROM runs WHERE status != ? AND id NOT IN
			(SELECT id FROM runs WHERE status != ? ORDER BY start_ns DESC, id DESC LIMIT ?)`, StatusRunning, StatusRunning, keep.Runs)
		if err != nil {
			return 0, fmt.Errorf("pruning the history: %w", err)
		}
		d, _ := res.RowsAffected()
		n += d
	}
	return int(n), nil
}
