package serve

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// SQLStore keeps the history in SQL: SQLite under the state directory
// (OpenSQLite) or PostgreSQL, shared by several instances
// (OpenPostgres). Running runs' logs are written under the state
// directory's logs/ as well, so that a crash keeps them.
type SQLStore struct {
	db       conn
	dir      string
	release  func() error
	instance string        // this process, as runs and leases name it
	lease    time.Duration // PostgreSQL: how long an instance's heartbeat holds
}

var _ Store = (*SQLStore)(nil)

// conn is a database whose queries are written with ? placeholders,
// rewritten to $1, $2... for PostgreSQL.
type conn struct {
	*sql.DB
	pg bool
}

// txn is a transaction on a conn.
type txn struct {
	*sql.Tx
	pg bool
}

func rebind(pg bool, q string) string {
	if !pg {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (c conn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return c.DB.ExecContext(ctx, rebind(c.pg, q), args...)
}

func (c conn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return c.DB.QueryContext(ctx, rebind(c.pg, q), args...)
}

func (c conn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return c.DB.QueryRowContext(ctx, rebind(c.pg, q), args...)
}

func (c conn) BeginTx(ctx context.Context, opts *sql.TxOptions) (txn, error) {
	tx, err := c.DB.BeginTx(ctx, opts)
	return txn{tx, c.pg}, err
}

func (t txn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, rebind(t.pg, q), args...)
}

func (t txn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, rebind(t.pg, q), args...)
}

// LogPath is where a running run writes its log; Finish moves it into
// the database.
func (s *SQLStore) LogPath(id string) string { return filepath.Join(s.dir, "logs", id+".log") }

// Close releases the database and the state directory's lock.
func (s *SQLStore) Close() error {
	var err error
	if s.db.DB != nil {
		if s.db.pg { // a clean stop: no run of ours is going
			s.db.ExecContext(context.Background(), `DELETE FROM instances WHERE id = ?`, s.instance)
		}
		err = s.db.Close()
	}
	if s.release != nil {
		err = errors.Join(err, s.release())
		s.release = nil
	}
	return err
}

// Begin records r as running.
func (s *SQLStore) Begin(ctx context.Context, r Run) error {
	if err := begin(ctx, s.db, r, s.instance); err != nil {
		return fmt.Errorf("recording run %s: %w", r.ID, err)
	}
	return nil
}

func begin(ctx context.Context, db interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, r Run, instance string) error {
	_, err := db.ExecContext(ctx, `INSERT INTO runs (id, runbook, start_ns, status, scheduled_ns, instance) VALUES (?, ?, ?, ?, ?, ?)`,
		r.ID, r.Runbook, r.Start.UnixNano(), StatusRunning, unixNano(r.Scheduled), instance)
	return err
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Claim decides, in one transaction, who handles the occurrence
// r.Scheduled of r.Runbook: the instance whose insert of the occurrence
// lands first. On PostgreSQL an advisory lock on the runbook orders the
// claims of one runbook, so that two instances claiming consecutive
// occurrences cannot both find no run going; SQLite's write transactions
// are serial already.
func (s *SQLStore) Claim(ctx context.Context, r Run) (Claim, error) {
	c, err := s.claim(ctx, r)
	if err != nil {
		return c, fmt.Errorf("claiming %s's run of %s: %w", r.Runbook, r.Scheduled.UTC().Format(time.RFC3339), err)
	}
	return c, nil
}

func (s *SQLStore) claim(ctx context.Context, r Run) (Claim, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	if err := s.leaseHeld(ctx, tx); err != nil {
		return 0, err
	}
	if s.db.pg {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('cuttle runbook ' || ?))`, r.Runbook); err != nil {
			return 0, err
		}
	}
	var going int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM runs WHERE runbook = ? AND status = ?`, r.Runbook, StatusRunning).Scan(&going); err != nil {
		return 0, err
	}
	outcome, runID, c := "ran", r.ID, Claimed
	if going > 0 {
		outcome, runID, c = "skipped", "", Busy
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO occurrences (runbook, at_ns, instance, outcome, run_id) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		r.Runbook, r.Scheduled.UnixNano(), s.instance, outcome, runID)
	if err != nil {
		return 0, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return Taken, err
	}
	if c == Claimed {
		if err := begin(ctx, tx, r, s.instance); err != nil {
			return 0, err
		}
	}
	return c, tx.Commit()
}

// Finish records r's outcome, steps and log in one transaction.
func (s *SQLStore) Finish(ctx context.Context, r Run, log []byte) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("recording run %s: %w", r.ID, err)
	}
	defer tx.Rollback()
	if r.Instance == "" {
		r.Instance = s.instance
	}
	if err := writeRun(ctx, tx, r, log); err != nil {
		return fmt.Errorf("recording run %s: %w", r.ID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("recording run %s: %w", r.ID, err)
	}
	return nil
}

// writeRun writes a finished run, replacing the record of it running.
// A run already recorded as finished (by another instance that took this
// one for dead) is not overwritten: ErrFenced.
func writeRun(ctx context.Context, tx txn, r Run, log []byte) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO runs (id, runbook, start_ns, duration_ns, status, scheduled_ns, instance) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET duration_ns = excluded.duration_ns, status = excluded.status WHERE runs.status = ?`,
		r.ID, r.Runbook, r.Start.UnixNano(), int64(r.Duration), r.Status, unixNano(r.Scheduled), r.Instance, StatusRunning)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return errors.Join(ErrFenced, err)
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
	_, err = tx.ExecContext(ctx, `INSERT INTO logs (run_id, text) VALUES (?, ?) ON CONFLICT (run_id) DO UPDATE SET text = excluded.text`, r.ID, log)
	return err
}

// interrupt records as interrupted the runs that query (with args)
// selects as id, runbook, start_ns, scheduled_ns, instance: runs whose
// instance is gone. Each keeps the log it wrote, when that is on this
// machine. Another instance interrupting the same run first is no error.
func (s *SQLStore) interrupt(ctx context.Context, why, query string, args ...any) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	var cut []Run
	for rows.Next() {
		var r Run
		var start, sched int64
		if err := rows.Scan(&r.ID, &r.Runbook, &start, &sched, &r.Instance); err != nil {
			rows.Close()
			return err
		}
		r.Start, r.Status = time.Unix(0, start), StatusInterrupted
		if sched != 0 {
			r.Scheduled = time.Unix(0, sched)
		}
		cut = append(cut, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, r := range cut {
		log, _ := os.ReadFile(s.LogPath(r.ID))
		log = append(log, "\n"+why+"\n"...)
		if err := s.Finish(ctx, r, log); errors.Is(err, ErrFenced) {
			continue
		} else if err != nil {
			return err
		}
		os.Remove(s.LogPath(r.ID))
		zerolog.Ctx(ctx).Warn().Str("run", r.ID).Str("runbook", r.Runbook).Str("instance", r.Instance).Msg("a run cut short is recorded as interrupted")
	}
	return nil
}

// Recent returns up to n runs, newest start first, without their steps.
func (s *SQLStore) Recent(ctx context.Context, n int) ([]Run, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, runbook, start_ns, duration_ns, status, scheduled_ns, instance FROM runs ORDER BY start_ns DESC, id DESC LIMIT ?`, n)
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
	var start, dur, sched int64
	err := row.Scan(&r.ID, &r.Runbook, &start, &dur, &r.Status, &sched, &r.Instance)
	r.Start, r.Duration = time.Unix(0, start), time.Duration(dur)
	if sched != 0 {
		r.Scheduled = time.Unix(0, sched)
	}
	return r, err
}

// Get returns run id with its steps, outputs and artifacts.
func (s *SQLStore) Get(ctx context.Context, id string) (Run, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT id, runbook, start_ns, duration_ns, status, scheduled_ns, instance FROM runs WHERE id = ?`, id))
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

func (s *SQLStore) each(ctx context.Context, query, id string, scan func(int, *sql.Rows) error) error {
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
func (s *SQLStore) Log(ctx context.Context, id string) ([]byte, error) {
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
func (s *SQLStore) Runbooks(ctx context.Context) (map[string]RunbookStatus, error) {
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
func (s *SQLStore) Prune(ctx context.Context, keep Retention, now time.Time) (int, error) {
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
	// An occurrence only needs to outlive the instances' attempts to
	// claim it, which come within moments of its time.
	if _, err := s.db.ExecContext(ctx, `DELETE FROM occurrences WHERE at_ns < ?`, now.Add(-occurrenceKept).UnixNano()); err != nil {
		return 0, fmt.Errorf("pruning the history: %w", err)
	}
	return int(n), nil
}

// occurrenceKept is how long a claimed occurrence is remembered.
const occurrenceKept = 24 * time.Hour
