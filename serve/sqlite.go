package serve

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // the pure-Go driver "sqlite": the binary is built with CGO_ENABLED=0
)

// migrations are the history's schema, applied in order by goose. goose
// runs on any *sql.DB (modernc's SQLite here, pgx's stdlib for a
// PostgreSQL store), reads the SQL files from an embedded fs.FS, and
// records what it applied in the database itself, so a newer cuttle
// upgrades an older history on start with no separate tool.
//
//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// SQLiteStore is the SQLStore OpenSQLite returns.
type SQLiteStore = SQLStore

// OpenSQLite opens (creating, migrating) the history under dir. Runs a
// crash left running are marked interrupted, with the log they wrote; a
// runs.jsonl history from an older cuttle is imported once.
func OpenSQLite(ctx context.Context, dir string) (_ *SQLStore, err error) {
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
	s.db.DB, err = sql.Open("sqlite", path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("history %s: %w", path, err)
	}
	s.db.SetMaxOpenConns(1) // one writer; reads are short
	if err := migrate(ctx, s.db.DB, goose.DialectSQLite3, "migrations/sqlite"); err != nil {
		return nil, fmt.Errorf("history %s: %w", path, err)
	}
	// One process holds the state directory: every run still marked
	// running was cut short.
	if err := s.interrupt(ctx, "cuttle serve stopped during this run: interrupted",
		`SELECT id, runbook, start_ns, scheduled_ns, instance FROM runs WHERE status = ?`, StatusRunning); err != nil {
		return nil, fmt.Errorf("history %s: %w", path, err)
	}
	if err := s.importJSONL(ctx); err != nil {
		return nil, fmt.Errorf("importing %s: %w", filepath.Join(dir, "runs.jsonl"), err)
	}
	return s, nil
}

func migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, dir string, opts ...goose.ProviderOption) error {
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(dialect, db, sub, append(opts, goose.WithDisableGlobalRegistry(true))...)
	if err != nil {
		return fmt.Errorf("schema migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("schema migrations: %w", err)
	}
	return nil
}

// instanceName names this process in runs and leases: host, pid and a
// random suffix, so that a restarted process is a new instance.
func instanceName() string {
	host, _ := os.Hostname()
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)
}
