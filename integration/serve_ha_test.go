//go:build integration

package integration

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// TestServeTwoInstances: two cuttle serve processes share a PostgreSQL
// history and a runbook scheduled every 4 seconds: longer than a run
// takes here (about 2 s, most of it docker run), so that ticks are not
// skipped for a run still going, and the claim of each tick is what
// keeps the two from both running it. One is killed with SIGKILL while it runs a tick. Counted
// in the database afterwards: every tick from the first to the last was
// handled exactly once (run, or skipped because a run was going), no tick
// ran twice, the killed instance's run is recorded as interrupted once
// its lease ran out, and the survivor ran the ticks after that.
func TestServeTwoInstances(t *testing.T) {
	t.Parallel()
	pg, err := testenv.StartPostgres()
	if err != nil {
		testenv.SkipNoPostgres(t, err)
	}
	t.Cleanup(pg.Stop)
	dsn := pg.DSN(pg.NewDatabase(t))
	db, err := sql.Open("pgx", dsn+"&password="+pg.Password)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	const every = 4 * time.Second
	cfg, rbDir := serveFiles(t, "tick", "@every 4s", "echo tick; sleep 0.5")
	start := func() *os.Process {
		cmd, _ := startServeEnv(t, []string{"PGPASSWORD=" + pg.Password}, "--config", cfg, "--runbooks", rbDir, "--state", t.TempDir(),
			"--database", dsn, "--lease", "2s", "--grace", "30s", "--reattach-window", "5s")
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd.Process
	}
	a, b := start(), start()
	instance := func(p *os.Process) string { return fmt.Sprintf("%%-%d-%%", p.Pid) }

	// poll runs query until it returns a row, within a deadline: the
	// processes are outside the test.
	poll := func(what, query string, args ...any) string {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for {
			var got string
			if err := db.QueryRow(query, args...).Scan(&got); err == nil {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within 90s", what)
			}
			time.Sleep(100 * time.Millisecond) // polling outside processes, bounded by the deadline
		}
	}
	poll("run finished by instance b", `SELECT id FROM runs WHERE instance LIKE $1 AND status = 'succeeded' LIMIT 1`, instance(b))
	killed := poll("run going on instance a", `SELECT id FROM runs WHERE instance LIKE $1 AND status = 'running' LIMIT 1`, instance(a))
	a.Signal(syscall.SIGKILL)
	poll("interrupted record of a's run", `SELECT id FROM runs WHERE id = $1 AND status = 'interrupted'`, killed)
	var cut int64
	db.QueryRow(`SELECT scheduled_ns FROM runs WHERE id = $1`, killed).Scan(&cut)
	// Two more ticks run by the survivor.
	poll("two runs after the takeover", `SELECT count(*)::text FROM runs WHERE instance LIKE $1 AND scheduled_ns > $2 AND status = 'succeeded' HAVING count(*) >= 2`, instance(b), cut)
	b.Signal(syscall.SIGTERM)

	rows, err := db.Query(`SELECT o.at_ns, o.outcome, o.run_id, (SELECT count(*) FROM runs r WHERE r.scheduled_ns = o.at_ns) FROM occurrences o ORDER BY o.at_ns`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ticks, ran, skipped int
	var prev int64
	for rows.Next() {
		var at int64
		var outcome, runID string
		var runs int
		if err := rows.Scan(&at, &outcome, &runID, &runs); err != nil {
			t.Fatal(err)
		}
		ticks++
		if prev != 0 && at-prev != int64(every) {
			t.Errorf("ticks %v then %v: a tick is missing", time.Unix(0, prev), time.Unix(0, at))
		}
		prev = at
		switch {
		case outcome == "ran" && runs == 1:
			ran++
		case outcome == "skipped" && runs == 0:
			skipped++
		default:
			t.Errorf("tick %v: %s (%q) with %d runs", time.Unix(0, at), outcome, runID, runs)
		}
	}
	var dup int
	db.QueryRow(`SELECT count(*) FROM (SELECT scheduled_ns FROM runs WHERE scheduled_ns != 0 GROUP BY scheduled_ns HAVING count(*) > 1) d`).Scan(&dup)
	if dup != 0 {
		t.Errorf("%d ticks ran more than once", dup)
	}
	var log []byte
	db.QueryRow(`SELECT text FROM logs WHERE run_id = $1`, killed).Scan(&log)
	if !strings.Contains(string(log), "stopped renewing its lease") {
		t.Errorf("the killed run's log: %q", log)
	}
	var avg float64
	db.QueryRow(`SELECT avg(duration_ns) / 1e9 FROM runs WHERE status = 'succeeded'`).Scan(&avg)
	t.Logf("%d ticks: %d ran (%.1fs on average), %d skipped (a run was going); the killed instance's run %s is interrupted", ticks, ran, avg, skipped, killed)
}
