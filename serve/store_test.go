package serve

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func openStore(t *testing.T, dir string) *SQLiteStore {
	t.Helper()
	s, err := OpenSQLite(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var start = time.Date(2026, 12, 1, 19, 14, 45, 0, time.UTC)

func finish(t *testing.T, s Store, r Run, log string) {
	t.Helper()
	if err := s.Begin(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if err := s.Finish(t.Context(), r, []byte(log)); err != nil {
		t.Fatal(err)
	}
}

func TestStoreSurvivesRestart(t *testing.T) {
	eachStore(t, func(t *testing.T, fresh func() *SQLStore) {
		s := fresh()
		dir := s.dir
		runs := []Run{
			{ID: "r1", Runbook: "heartbeat", Start: start, Duration: 1500 * time.Millisecond, Status: StatusSucceeded,
				Steps: []StepRecord{{Name: "probe", Worker: "w1", Duration: time.Second,
					Outputs:   []OutputRecord{{Name: "Version", Value: "1.2"}, {Name: "Token", Sensitive: true}},
					Artifacts: []ArtifactRecord{{Name: "report.txt", Path: "artifacts/r1/report.txt", Size: 12, SHA256: "ab"}}},
					{Name: "notify", Skipped: true}}},
			{ID: "r2", Runbook: "flaky", Start: start.Add(time.Minute), Duration: time.Second, Status: StatusFailed,
				Steps: []StepRecord{{Name: "flaky", Worker: "w1", ExitCode: 2, Error: "boom"}}},
			{ID: "r3", Runbook: "heartbeat", Start: start.Add(2 * time.Minute), Status: StatusInterrupted},
		}
		for _, r := range runs {
			finish(t, s, r, "log of "+r.ID)
		}
		s.Close()
		for _, p := range []struct {
			path string
			mode os.FileMode
		}{{filepath.Join(dir, "history.db"), 0o600}, {filepath.Join(dir, "logs"), 0o700 | os.ModeDir}} {
			if s.db.pg && p.mode == 0o600 {
				continue // no file
			}
			if fi, err := os.Stat(p.path); err != nil || fi.Mode() != p.mode {
				t.Errorf("%s: %v, %v; want mode %v", p.path, fi.Mode(), err, p.mode)
			}
		}

		s = fresh()
		got, err := s.Recent(t.Context(), 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, r := range got {
			ids = append(ids, r.ID)
			if !r.Start.Equal(runs[r.ID[1]-'1'].Start) {
				t.Errorf("%s started %v", r.ID, r.Start)
			}
		}
		if strings.Join(ids, ",") != "r3,r2,r1" {
			t.Errorf("Recent = %v, want newest start first", ids)
		}
		r1, err := s.Get(t.Context(), "r1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(runs[0].Steps, r1.Steps); diff != "" || r1.Duration != runs[0].Duration || r1.Status != StatusSucceeded {
			t.Errorf("Get(r1) %+v (-want +got steps):\n%s", r1, diff)
		}
		if log, err := s.Log(t.Context(), "r2"); err != nil || string(log) != "log of r2" {
			t.Errorf("Log(r2) = %q, %v", log, err)
		}
		for _, id := range []string{"nosuch", ""} {
			if _, err := s.Get(t.Context(), id); !errors.Is(err, ErrNoRun) {
				t.Errorf("Get(%q): %v", id, err)
			}
			if _, err := s.Log(t.Context(), id); !errors.Is(err, ErrNoRun) {
				t.Errorf("Log(%q): %v", id, err)
			}
		}
		rbs, err := s.Runbooks(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]RunbookStatus{
			"heartbeat": {LastStatus: StatusInterrupted, LastStart: runs[2].Start, LastSuccess: runs[0].Start},
			"flaky":     {LastStatus: StatusFailed, LastStart: runs[1].Start},
		}
		if diff := cmp.Diff(want, rbs); diff != "" {
			t.Errorf("Runbooks (-want +got):\n%s", diff)
		}
	})
}

// TestFinishIsAtomic: a run whose record fails half-way (its second
// output has the first's name) is not half recorded: it stays running.
func TestFinishIsAtomic(t *testing.T) {
	eachStore(t, func(t *testing.T, fresh func() *SQLStore) {
		s := fresh()
		r := Run{ID: "r1", Runbook: "rb", Start: start, Status: StatusRunning}
		if err := s.Begin(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		r.Status = StatusSucceeded
		r.Steps = []StepRecord{{Name: "a", Worker: "w1"}, {Name: "b", Worker: "w1", Outputs: []OutputRecord{{Name: "X"}, {Name: "X"}}}}
		err := s.Finish(t.Context(), r, []byte("log"))
		if err == nil || !strings.Contains(err.Error(), "run r1: step b output X") {
			t.Fatalf("Finish with a duplicate output: %v", err)
		}
		got, err := s.Get(t.Context(), "r1")
		if err != nil || got.Status != StatusRunning || len(got.Steps) != 0 {
			t.Errorf("after a failed Finish: %+v, %v", got, err)
		}
		if _, err := s.Log(t.Context(), "r1"); !errors.Is(err, ErrNoRun) {
			t.Errorf("a log was recorded: %v", err)
		}
	})
}

// TestCrashedRunInterrupted: a run a crash left running is recorded as
// interrupted on the next start, with the log it had written.
func TestCrashedRunInterrupted(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	if err := s.Begin(t.Context(), Run{ID: "r1", Runbook: "rb", Start: start}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(s.LogPath("r1"), []byte("step one\n"), 0o600)
	s.Close() // as a crash would leave it

	s = openStore(t, dir)
	r, err := s.Get(t.Context(), "r1")
	if err != nil || r.Status != StatusInterrupted {
		t.Fatalf("the cut run: %+v, %v", r, err)
	}
	if log, _ := s.Log(t.Context(), "r1"); !strings.HasPrefix(string(log), "step one\n") || !strings.Contains(string(log), "interrupted") {
		t.Errorf("its log: %q", log)
	}
	if _, err := os.Stat(s.LogPath("r1")); !os.IsNotExist(err) {
		t.Errorf("its log file is left: %v", err)
	}
}

// TestImportJSONLOnce: runs.jsonl from an older cuttle is imported on the
// first start, with its logs, and never again.
func TestImportJSONLOnce(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "logs"), 0o700)
	jsonl := `{"id":"old1","runbook":"heartbeat","start":"2026-12-01T19:14:45Z","duration_ns":1500000000,"status":"succeeded","steps":[{"name":"probe","worker":"w1","exit_code":0}]}
{"id":"old2","runbook":"flaky","start":"2026-12-01T19:15:45Z","duration_ns":1000000000,"status":"failed","steps":[{"name":"flaky","worker":"w1","exit_code":2,"error":"boom"}]}
{"id":"old3","runbook":"cut`
	os.WriteFile(filepath.Join(dir, "runs.jsonl"), []byte(jsonl), 0o600)
	os.WriteFile(filepath.Join(dir, "logs", "old2.log"), []byte("[flaky@w1] about to fail\n"), 0o600)

	s := openStore(t, dir)
	runs, _ := s.Recent(t.Context(), 10)
	if len(runs) != 2 || runs[0].ID != "old2" || runs[1].ID != "old1" || runs[1].Duration != 1500*time.Millisecond {
		t.Fatalf("imported %+v", runs)
	}
	r, _ := s.Get(t.Context(), "old2")
	if diff := cmp.Diff([]StepRecord{{Name: "flaky", Worker: "w1", ExitCode: 2, Error: "boom"}}, r.Steps); diff != "" {
		t.Errorf("old2's steps (-want +got):\n%s", diff)
	}
	if log, err := s.Log(t.Context(), "old2"); err != nil || string(log) != "[flaky@w1] about to fail\n" {
		t.Errorf("old2's log %q, %v", log, err)
	}
	// Pruned and restarted: the old file is not read again.
	if n, err := s.Prune(t.Context(), Retention{Runs: 1}, start); err != nil || n != 1 {
		t.Fatalf("Prune: %d, %v", n, err)
	}
	s.Close()
	s = openStore(t, dir)
	if runs, _ := s.Recent(t.Context(), 10); len(runs) != 1 {
		t.Errorf("after a restart, %d runs: runs.jsonl was imported again", len(runs))
	}
}

func TestPrune(t *testing.T) {
	eachStore(t, func(t *testing.T, fresh func() *SQLStore) {
		s := fresh()
		now := start.Add(40 * 24 * time.Hour)
		for i, age := range []time.Duration{35 * 24 * time.Hour, 31 * 24 * time.Hour, 29 * 24 * time.Hour, 3 * time.Hour, time.Hour} {
			finish(t, s, Run{ID: "r" + string(rune('1'+i)), Runbook: "rb", Start: now.Add(-age), Status: StatusSucceeded,
				Steps: []StepRecord{{Name: "s", Outputs: []OutputRecord{{Name: "V", Value: "x"}}}}}, "log")
		}
		// A running run is never pruned, however old.
		if err := s.Begin(t.Context(), Run{ID: "r0", Runbook: "rb", Start: now.Add(-50 * 24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		ids := func() string {
			runs, _ := s.Recent(t.Context(), 10)
			var out []string
			for _, r := range runs {
				out = append(out, r.ID)
			}
			return strings.Join(out, ",")
		}
		if n, err := s.Prune(t.Context(), Retention{}, now); err != nil || n != 0 || ids() != "r5,r4,r3,r2,r1,r0" {
			t.Errorf("no retention pruned %d (%v): %s", n, err, ids())
		}
		if n, err := s.Prune(t.Context(), Retention{For: 30 * 24 * time.Hour}, now); err != nil || n != 2 || ids() != "r5,r4,r3,r0" {
			t.Errorf("--keep-for 30d pruned %d (%v): %s", n, err, ids())
		}
		if n, err := s.Prune(t.Context(), Retention{Runs: 2}, now); err != nil || n != 1 || ids() != "r5,r4,r0" {
			t.Errorf("--keep-runs 2 pruned %d (%v): %s", n, err, ids())
		}
		// Logs, steps and outputs went with their runs.
		for table, want := range map[string]int{"logs": 2, "steps": 2, "outputs": 2} {
			var n int
			if err := s.db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil || n != want {
				t.Errorf("%s: %d rows (%v), want %d", table, n, err, want)
			}
		}
	})
}

func TestParseAge(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"", 0, false}, {"30d", 30 * 24 * time.Hour, false}, {"12h", 12 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false}, {"xd", 0, true}, {"-1d", 0, true}, {"1d-2h", 0, true}, {"soon", 0, true},
	} {
		got, err := ParseAge(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseAge(%q) = %v, %v", tt.in, got, err)
		}
	}
}

// TestStateDirLocked: a second store on one state directory is refused
// while the first is open, also by another process, and allowed once
// that process is killed.
func TestStateDirLocked(t *testing.T) {
	if os.Getenv("CUTTLE_TEST_HOLD_STATE") != "" {
		s, err := OpenSQLite(context.Background(), os.Getenv("CUTTLE_TEST_HOLD_STATE"))
		if err != nil {
			os.Stdout.WriteString("error " + err.Error() + "\n")
			os.Exit(1)
		}
		defer s.Close()
		os.Stdout.WriteString("holding\n")
		os.Stdin.Read(make([]byte, 1)) // until killed
		os.Exit(0)
	}
	dir := t.TempDir()
	s := openStore(t, dir)
	_, err := OpenSQLite(t.Context(), dir)
	if err == nil || !strings.Contains(err.Error(), "state directory "+dir+" is in use by another cuttle serve (pid ") || !strings.Contains(err.Error(), "--state") {
		t.Fatalf("a second store on one directory: %v", err)
	}
	s.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestStateDirLocked$")
	cmd.Env = append(os.Environ(), "CUTTLE_TEST_HOLD_STATE="+dir)
	stdin, _ := cmd.StdinPipe()
	defer stdin.Close()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if line, _ := bufio.NewReader(out).ReadString('\n'); line != "holding\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the other process: %q", line)
	}
	if _, err := OpenSQLite(t.Context(), dir); err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Errorf("while another process holds it: %v", err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	openStore(t, dir) // the kernel released the dead process's lock
}
