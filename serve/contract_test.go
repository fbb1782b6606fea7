package serve

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func openPostgres(t *testing.T, dsn string, lease time.Duration) *SQLStore {
	t.Helper()
	s, err := OpenPostgres(t.Context(), dsn, t.TempDir(), lease)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eachStore runs a contract test against SQLite and PostgreSQL: open
// opens one more store on the same history.
func eachStore(t *testing.T, test func(t *testing.T, fresh func() *SQLStore)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		test(t, func() *SQLStore { return openStore(t, dir) })
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := postgresDSN(t)
		test(t, func() *SQLStore { return openPostgres(t, dsn, time.Hour) })
	})
}

// TestClaimOnce: of the claims of one occurrence, one runs it; a claim
// while a run of the runbook is going is skipped, once; another
// runbook's occurrence at the same time is its own.
func TestClaimOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, fresh func() *SQLStore) {
		a := fresh()
		b := a
		if a.db.pg {
			b = fresh() // a second instance
		}
		at := start.Add(time.Minute)
		claim := func(s *SQLStore, id, rb string, at time.Time) Claim {
			t.Helper()
			c, err := s.Claim(t.Context(), Run{ID: id, Runbook: rb, Start: at, Scheduled: at})
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		if c := claim(a, "a1", "rb", at); c != Claimed {
			t.Fatalf("first claim: %v", c)
		}
		if c := claim(b, "b1", "rb", at); c != Taken {
			t.Fatalf("second claim of the same occurrence: %v", c)
		}
		if c := claim(b, "b2", "rb", at.Add(time.Second)); c != Busy {
			t.Fatalf("claim while a1 runs: %v", c)
		}
		if c := claim(a, "a2", "rb", at.Add(time.Second)); c != Taken {
			t.Fatalf("claim of the skipped occurrence: %v", c)
		}
		if c := claim(b, "b3", "other", at); c != Claimed {
			t.Fatalf("another runbook at the same time: %v", c)
		}
		if err := a.Finish(t.Context(), Run{ID: "a1", Runbook: "rb", Start: at, Scheduled: at, Status: StatusSucceeded}, nil); err != nil {
			t.Fatal(err)
		}
		if c := claim(b, "b4", "rb", at.Add(2*time.Second)); c != Claimed {
			t.Fatalf("claim once a1 ended: %v", c)
		}
		r, err := b.Get(t.Context(), "a1")
		if err != nil || !r.Scheduled.Equal(at) || r.Instance != a.instance || r.Status != StatusSucceeded {
			t.Errorf("a1 recorded as %+v, %v", r, err)
		}
		if _, err := b.Get(t.Context(), "b1"); !errors.Is(err, ErrNoRun) {
			t.Errorf("the lost claim recorded a run: %v", err)
		}
	})
}

// TestPostgresLeaseRunsOut: a sweeper whose lease is shorter than the
// time since another instance's heartbeat takes it for dead: its
// running run is recorded as interrupted, and the dead instance, fenced,
// can neither finish that run nor claim occurrences until it heartbeats
// again.
func TestPostgresLeaseRunsOut(t *testing.T) {
	dsn := postgresDSN(t)
	dead := openPostgres(t, dsn, time.Hour)
	at := start
	if c, err := dead.Claim(t.Context(), Run{ID: "d1", Runbook: "rb", Start: at, Scheduled: at}); err != nil || c != Claimed {
		t.Fatalf("claim: %v, %v", c, err)
	}
	os.WriteFile(dead.LogPath("d1"), []byte("step one\n"), 0o600)
	alive := openPostgres(t, dsn, time.Hour)
	if err := alive.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	if r, _ := alive.Get(t.Context(), "d1"); r.Status != StatusRunning {
		t.Fatalf("within the lease, d1 is %s", r.Status)
	}
	// A nanosecond's lease: every earlier heartbeat has run out.
	alive.lease = time.Nanosecond
	if err := alive.Heartbeat(t.Context()); err != nil {
		t.Fatal(err)
	}
	r, err := alive.Get(t.Context(), "d1")
	if err != nil || r.Status != StatusInterrupted || r.Instance != dead.instance {
		t.Fatalf("d1 after the lease: %+v, %v", r, err)
	}
	if log, _ := alive.Log(t.Context(), "d1"); !strings.Contains(string(log), "stopped renewing its lease") {
		t.Errorf("d1's log: %q", log)
	}
	if err := dead.Finish(t.Context(), Run{ID: "d1", Runbook: "rb", Start: at, Status: StatusSucceeded}, []byte("done")); !errors.Is(err, ErrFenced) {
		t.Errorf("the fenced instance finished d1: %v", err)
	}
	if _, err := dead.Claim(t.Context(), Run{ID: "d2", Runbook: "rb", Start: at, Scheduled: at.Add(time.Second)}); !errors.Is(err, ErrFenced) {
		t.Errorf("the fenced instance claimed: %v", err)
	}
	if err := dead.Heartbeat(t.Context()); !errors.Is(err, ErrFenced) {
		t.Errorf("the fenced instance's heartbeat: %v", err)
	}
	if c, err := dead.Claim(t.Context(), Run{ID: "d3", Runbook: "rb", Start: at, Scheduled: at.Add(2 * time.Second)}); err != nil || c != Claimed {
		t.Errorf("registered again, it claims: %v, %v", c, err)
	}
	if r, _ := alive.Get(t.Context(), "d1"); r.Status != StatusInterrupted {
		t.Errorf("d1 became %s", r.Status)
	}
}

// TestPostgresPasswordRefused: a password in --database would be in
// argv, which every user on the machine can read.
func TestPostgresPasswordRefused(t *testing.T) {
	for _, dsn := range []string{"postgres://cuttle:hunter2@db/cuttle", "host=db user=cuttle password=hunter2"} {
		_, err := OpenPostgres(t.Context(), dsn, t.TempDir(), time.Second)
		if err == nil || !strings.Contains(err.Error(), "$PGPASSWORD") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: %v", dsn, err)
		}
	}
}
