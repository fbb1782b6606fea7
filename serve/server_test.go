package serve

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/fleet"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/remote"
)

// events is a log writer that hands each log line's message to a channel.
type events struct {
	mu    sync.Mutex
	lines bytes.Buffer
	skips chan struct{}
}

func (e *events) Write(b []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lines.Write(b)
	if bytes.Contains(b, []byte("this scheduled run is skipped")) {
		select {
		case e.skips <- struct{}{}:
		default:
		}
	}
	return len(b), nil
}

// testServer is a Server whose runs are fake, logging to ev.
func testServer(t *testing.T, run func(ctx context.Context, rb *config.Runbook, out io.Writer) ([]fleet.StepResult, error), rbs ...*config.Runbook) (*Server, context.Context, *events) {
	t.Helper()
	ev := &events{skips: make(chan struct{}, 1)}
	ctx := zerolog.New(ev).WithContext(t.Context())
	st, err := OpenSQLite(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &Server{Runbooks: rbs, Store: st, Metrics: NewMetrics(), runbook: run}
	s.runCtx, s.cancel = context.WithCancelCause(ctx)
	t.Cleanup(func() { s.cancel(nil) })
	return s, ctx, ev
}

func TestRunRecorded(t *testing.T) {
	masks := mask.NewSet()
	masks.Add("hunter2")
	s, _, _ := testServer(t, func(_ context.Context, rb *config.Runbook, out io.Writer) ([]fleet.StepResult, error) {
		io.WriteString(out, "[build@w1] building\n")
		return []fleet.StepResult{
			{Step: "build", Worker: "w1"},
			{Step: "test", Worker: "w1", Result: remote.Result{ExitCode: 3}},
			{Step: "push", Worker: "w2", Masks: masks, Err: &remote.StepError{Reason: remote.ReasonImage, Err: errors.New("login as ci:hunter2 refused")}},
			{Step: "deploy", Skipped: true},
		}, errors.New("2 errors occurred")
	})
	rb := &config.Runbook{Name: "nightly"}
	s.runOnce(s.runCtx, rb)
	runs := recent(t, s, 10)
	if len(runs) != 1 {
		t.Fatalf("%d runs recorded", len(runs))
	}
	r := runs[0]
	if r.Runbook != "nightly" || r.Status != "failed" || r.ID == "" || r.Start.IsZero() {
		t.Errorf("run %+v", r)
	}
	want := []StepRecord{
		{Name: "build", Worker: "w1"},
		{Name: "test", Worker: "w1", ExitCode: 3},
		{Name: "push", Worker: "w2", ExitCode: 125, Error: "login as ci:******** refused"},
		{Name: "deploy", Skipped: true},
	}
	got, err := s.Store.Get(t.Context(), r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got.Steps); diff != "" {
		t.Errorf("steps (-want +got):\n%s", diff)
	}
	log, err := s.Store.Log(t.Context(), r.ID)
	if err != nil || string(log) != "[build@w1] building\n\n2 errors occurred\n" {
		t.Errorf("run log %q, %v", log, err)
	}
	if _, err := os.Stat(s.Store.LogPath(r.ID)); !os.IsNotExist(err) {
		t.Errorf("the finished run's log file is left behind: %v", err)
	}
	m := metricsText(t, s.Metrics)
	for _, line := range []string{`cuttle_runs_total{runbook="nightly",status="failed"} 1`, `cuttle_worker_steps_total{status="failed",worker="w1"} 1`,
		`cuttle_worker_steps_total{status="succeeded",worker="w1"} 1`, `cuttle_worker_steps_total{status="failed",worker="w2"} 1`,
		`cuttle_runbook_last_run_status{runbook="nightly",status="failed"} 1`, `cuttle_runbook_last_run_status{runbook="nightly",status="succeeded"} 0`,
		`cuttle_runs_running 0`} {
		if !strings.Contains(m, line+"\n") {
			t.Errorf("metrics lack %s:\n%s", line, m)
		}
	}
	if strings.Contains(m, `worker=""`) || strings.Contains(m, `cuttle_runbook_last_success_timestamp_seconds{`) {
		t.Errorf("a skipped step was counted, or a failed run counted as a success:\n%s", m)
	}

	// A clean run succeeds; a run whose context ended is interrupted.
	s.runbook = func(context.Context, *config.Runbook, io.Writer) ([]fleet.StepResult, error) { return nil, nil }
	s.runOnce(s.runCtx, rb)
	ctx, cancel := context.WithCancel(s.runCtx)
	cancel()
	s.runOnce(ctx, rb)
	runs = recent(t, s, 2)
	if runs[0].Status != "interrupted" || runs[1].Status != "succeeded" || runs[0].ID == runs[1].ID {
		t.Errorf("statuses %s (%s), %s (%s)", runs[1].Status, runs[1].ID, runs[0].Status, runs[0].ID)
	}
}

// recent returns up to n runs from s's history, newest first.
func recent(t *testing.T, s *Server, n int) []Run {
	t.Helper()
	runs, err := s.Store.Recent(t.Context(), n)
	if err != nil {
		t.Fatal(err)
	}
	return runs
}

// TestOverlappingRunSkipped calls the scheduled job directly: while a run
// of a runbook is going, the next is skipped and counted.
func TestOverlappingRunSkipped(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	calls := 0
	s, ctx, ev := testServer(t, func(context.Context, *config.Runbook, io.Writer) ([]fleet.StepResult, error) {
		calls++
		if calls == 1 {
			close(started)
			<-release
		}
		return nil, nil
	})
	rb := &config.Runbook{Name: "heartbeat"}
	other := &config.Runbook{Name: "other"}
	job, otherJob := s.job(ctx, rb), s.job(ctx, other)
	done := make(chan struct{})
	tick := time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)
	go func() { job(tick); close(done) }()
	<-started
	job(tick.Add(time.Second)) // returns at once: skipped
	select {
	case <-ev.skips:
	default:
		t.Fatalf("no skip logged:\n%s", ev.lines.String())
	}
	otherJob(tick.Add(time.Second)) // another runbook is not held up
	close(release)
	<-done
	job(tick.Add(2 * time.Second)) // the first run ended: this one runs
	job(tick.Add(2 * time.Second)) // handled already
	var runs []string
	for _, r := range recent(t, s, 10) {
		runs = append(runs, r.Runbook)
	}
	// Newest start first: the long first run started before the other.
	if got := strings.Join(runs, ","); got != "heartbeat,other,heartbeat" {
		t.Errorf("runs (newest start first): %s", got)
	}
	m := metricsText(t, s.Metrics)
	if !strings.Contains(m, "cuttle_runs_skipped_total{runbook=\"heartbeat\"} 1\n") || strings.Contains(m, `skipped_total{runbook="other"}`) {
		t.Errorf("skip count:\n%s", m)
	}
	if !strings.Contains(ev.lines.String(), `"runbook":"heartbeat"`) {
		t.Errorf("the skip's log line does not name the runbook:\n%s", ev.lines.String())
	}
}

// TestScheduleAndGrace runs a runbook on a real every-second schedule.
// Stop lets a running run finish within the grace period and cancels it
// once the grace period is over.
func TestScheduleAndGrace(t *testing.T) {
	for _, tt := range []struct {
		name      string
		graceOver bool // else the run ends by itself, within the grace period
		want      string
	}{
		{"past the grace period the run is cancelled", true, "interrupted"},
		{"within the grace period the run finishes", false, "succeeded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			started, finish := make(chan struct{}), make(chan struct{})
			var once sync.Once
			s, ctx, ev := testServer(t, func(ctx context.Context, _ *config.Runbook, _ io.Writer) ([]fleet.StepResult, error) {
				once.Do(func() { close(started) })
				select {
				case <-ctx.Done():
				case <-finish:
				}
				return nil, nil
			}, &config.Runbook{Name: "tick", Schedule: "* * * * * *"})
			// Stop's grace timer is the test's: waiting tells that Stop is
			// waiting, and graceOver ends the grace period.
			waiting, graceOver := make(chan struct{}), make(chan time.Time)
			s.Grace = time.Hour
			s.graceTimer = func(d time.Duration) <-chan time.Time {
				if d != time.Hour {
					t.Errorf("grace timer for %v, want the Grace", d)
				}
				close(waiting)
				return graceOver
			}
			s.Start(ctx)
			<-started
			<-ev.skips // the next second's run found this one going
			stopped := make(chan struct{})
			go func() { s.Stop(); close(stopped) }()
			<-waiting
			if tt.graceOver {
				close(graceOver)
			} else {
				close(finish)
			}
			<-stopped
			runs := recent(t, s, 10)
			if len(runs) != 1 || runs[0].Status != tt.want || runs[0].Runbook != "tick" {
				t.Fatalf("runs %+v, want one %s", runs, tt.want)
			}
			if s.runCtx.Err() == nil {
				t.Error("Stop left the runs' context alive")
			}
			// The history says why a run was interrupted.
			log, err := s.Store.Log(t.Context(), runs[0].ID)
			if why := "the grace period (1h0m0s) ran out"; err != nil || tt.graceOver != strings.Contains(string(log), why) {
				t.Errorf("run log %q (%v): want %q in it only past the grace period", log, err, why)
			}
		})
	}
}

// TestReload: reloading the runbooks (SIGHUP) schedules the new set in
// place of the old: a removed runbook has neither an entry nor "Run now".
func TestReload(t *testing.T) {
	s, ctx, _ := testServer(t, func(context.Context, *config.Runbook, io.Writer) ([]fleet.StepResult, error) { return nil, nil },
		&config.Runbook{Name: "old", Schedule: "0 0 1 1 *"}, &config.Runbook{Name: "kept", Schedule: "0 0 1 1 *"})
	s.Start(ctx)
	t.Cleanup(s.Stop)
	s.Reload(ctx, []*config.Runbook{{Name: "kept", Schedule: "0 0 2 1 *"}, {Name: "new", Schedule: "0 0 1 1 *"}})
	rbs, next, jobs := s.scheduled()
	var names []string
	for _, rb := range rbs {
		names = append(names, rb.Name)
	}
	if strings.Join(names, ",") != "kept,new" || jobs["old"] != nil || jobs["new"] == nil || len(next) != 2 || next["kept"].Day() != 2 {
		t.Errorf("after a reload: runbooks %v, next runs %v", names, next)
	}
	if n := len(s.cron.Entries()); n != 2 {
		t.Errorf("%d cron entries, want 2", n)
	}
}
