package serve

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx": pure Go
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

// OpenPostgres opens (migrating) the history in the PostgreSQL database
// at dsn, which several cuttle serve instances share. Each holds a lease
// renewed by Heartbeat; once an instance's lease ran out, the others
// record its running runs as interrupted. dir is this instance's state
// directory, where running runs' logs are written as well.
//
// dsn must hold no password (argv is public on the machine): pgx reads
// it from $PGPASSWORD or ~/.pgpass.
func OpenPostgres(ctx context.Context, dsn, dir string, lease time.Duration) (_ *SQLStore, err error) {
	inURL := false
	if u, err := url.Parse(dsn); err == nil {
		_, inURL = u.User.Password()
	}
	if inURL || strings.Contains(dsn, "password=") {
		return nil, errors.New("--database: the URL holds a password, which other users could read in the process list; give it in $PGPASSWORD or ~/.pgpass instead")
	}
	if lease <= 0 {
		return nil, fmt.Errorf("--lease %v: give a positive duration such as 30s", lease)
	}
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	release, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &SQLStore{dir: dir, release: release, instance: instanceName(), lease: lease}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.db.pg = true
	s.db.DB, err = sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("--database: %w", err)
	}
	if err := s.db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("--database: %w", err)
	}
	if err := migratePostgres(ctx, s.db.DB); err != nil {
		return nil, fmt.Errorf("--database: %w", err)
	}
	if err := s.Heartbeat(context.WithValue(ctx, firstHeartbeat{}, true)); err != nil {
		return nil, fmt.Errorf("--database: %w", err)
	}
	return s, nil
}

// migratePostgres migrates under a session advisory lock, so that
// instances starting together migrate one after the other.
func migratePostgres(ctx context.Context, db *sql.DB) error {
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return fmt.Errorf("schema migrations: %w", err)
	}
	return migrate(ctx, db, goose.DialectPostgres, "migrations/postgres", goose.WithSessionLocker(locker))
}

// Heartbeat renews this instance's lease on the database's clock, then
// records as interrupted the running runs of every instance whose lease
// ran out, and forgets those instances: that fences them. It returns
// ErrFenced when this instance had been forgotten so (it registers
// again). SQLite, held by one process, has no leases.
func (s *SQLStore) Heartbeat(ctx context.Context) error {
	if !s.db.pg {
		return nil
	}
	res, err := s.db.ExecContext(ctx, `UPDATE instances SET heartbeat = now() WHERE id = ?`, s.instance)
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if n == 0 {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO instances (id, heartbeat) VALUES (?, now())`, s.instance); err != nil {
			return fmt.Errorf("heartbeat: %w", err)
		}
	}
	lease := s.lease.Microseconds()
	if err := s.interrupt(ctx, "the cuttle serve instance running this run stopped renewing its lease: interrupted",
		`SELECT id, runbook, start_ns, scheduled_ns, instance FROM runs WHERE status = ? AND instance NOT IN
			(SELECT id FROM instances WHERE heartbeat >= now() - ?::bigint * interval '1 microsecond')`, StatusRunning, lease); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM instances WHERE heartbeat < now() - ?::bigint * interval '1 microsecond'`, lease); err != nil {
		return fmt.Errorf("heartbeat: %w", err)
	}
	if n == 0 && ctx.Value(firstHeartbeat{}) == nil {
		return ErrFenced
	}
	return nil
}

type firstHeartbeat struct{}

// leaseHeld fails with ErrFenced unless this instance's lease holds:
// a claim by an instance the others took for dead would run twice.
func (s *SQLStore) leaseHeld(ctx context.Context, tx txn) error {
	if !s.db.pg {
		return nil
	}
	var ok bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM instances WHERE id = ? AND heartbeat >= now() - ?::bigint * interval '1 microsecond')`,
		s.instance, s.lease.Microseconds()).Scan(&ok)
	if err == nil && !ok {
		err = ErrFenced
	}
	return err
}

// Instance names this instance in runs and leases.
func (s *SQLStore) Instance() string { return s.instance }
