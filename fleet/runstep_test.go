package fleet

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/remote"
)

func TestStepTimeout(t *testing.T) {
	errPast := errors.New("step ran past --timeout")
	tests := []struct {
		name    string
		cause   error
		timeout string
		want    string
	}{
		{"the runner's cause", errPast, "1ms", errPast.Error()},
		{"a default cause", nil, "1ms", "step ran past its timeout"},
		{"no timeout: no deadline", errPast, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFleet{do: func(ctx context.Context, _ string, _ remote.Step, _ remote.Output) (remote.Result, error) {
				if _, ok := ctx.Deadline(); !ok {
					return remote.Result{}, nil
				}
				<-ctx.Done() // as Controller.Run returns when its context ends
				return remote.Result{}, context.Cause(ctx)
			}}
			r := f.runner(testConfig())
			r.TimeoutCause = tt.cause
			rb := &config.Runbook{Name: "rb", Steps: []config.RunbookStep{
				step("slow", "w1", func(s *config.RunbookStep) { s.Timeout = tt.timeout }),
				step("next", "w1", condition("always")),
			}}
			results, err := r.Run(t.Context(), rb, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				return
			}
			if results[0].Err == nil || results[0].Err.Error() != tt.want {
				t.Fatalf("step error = %v, want %q", results[0].Err, tt.want)
			}
			if tt.cause != nil && !errors.Is(results[0].Err, tt.cause) {
				t.Errorf("step error %v is not the runner's TimeoutCause", results[0].Err)
			}
			// The timeout is the step's own: the next step still runs.
			if results[1].Skipped || results[1].Err != nil {
				t.Errorf("next step after a timeout: %+v", results[1])
			}
		})
	}
}

func TestImagePulledOncePerWorker(t *testing.T) {
	f := &fakeFleet{do: func(_ context.Context, worker string, st remote.Step, _ remote.Output) (remote.Result, error) {
		if st.Name == "badpull" {
			return remote.Result{}, &remote.StepError{Reason: remote.ReasonImage, Err: errors.New("manifest unknown")}
		}
		return remote.Result{}, nil
	}}
	other := func(s *config.RunbookStep) { s.Container.Image = "other:1" }
	always := func(s *config.RunbookStep) { s.Condition = "always" }
	rb := &config.Runbook{Name: "rb", Steps: []config.RunbookStep{
		step("first", "w1"),
		step("second", "w1"),
		step("elsewhere", "w2"),
		step("badpull", "w1", other),
		step("retry", "w1", other, always),
		step("never", "w1", always, func(s *config.RunbookStep) { s.Container.Pull = "never" }),
	}}
	f.runner(testConfig()).Run(t.Context(), rb, nil)
	got := map[string]remote.PullPolicy{}
	for _, r := range f.ran {
		got[r.Step] = r.Plan.Pull
	}
	want := map[string]remote.PullPolicy{
		"first": remote.PullAlways, "second": remote.PullMissing, "elsewhere": remote.PullAlways,
		// A pull that failed did not pull: the next step tries again.
		"badpull": remote.PullAlways, "retry": remote.PullAlways,
		"never": remote.PullNever,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pull policies (-want +got):\n%s", diff)
	}
}

func TestStepInputErrors(t *testing.T) {
	f := &fakeFleet{}
	rb := &config.Runbook{Name: "rb", Dir: t.TempDir(), Steps: []config.RunbookStep{
		step("nofile", "w1", func(s *config.RunbookStep) { s.Script = config.Script{File: "missing.sh"} }),
		step("nosecret", "w1", condition("always"), func(s *config.RunbookStep) {
			s.SensitiveVariables = map[string]string{"Key": "CUTTLE_TEST_UNSET"}
		}),
		step("unreachable", "nosuch", condition("always")),
	}}
	r := f.runner(testConfig())
	f.down = map[string]bool{"nosuch": true}
	results, err := r.Run(t.Context(), rb, nil)
	if len(f.ran) != 0 {
		t.Fatalf("steps ran: %v", f.ranSteps())
	}
	var se *remote.StepError
	if !errors.As(results[0].Err, &se) || se.Reason != remote.ReasonInput || se.Worker != "w1" || !strings.Contains(se.Error(), "missing.sh") {
		t.Errorf("missing script file: %v", results[0].Err)
	}
	if results[1].Err == nil || !strings.Contains(results[1].Err.Error(), "CUTTLE_TEST_UNSET is not set") {
		t.Errorf("unset sensitive variable: %v", results[1].Err)
	}
	if !errors.As(results[2].Err, &se) || se.Reason != "connect" {
		t.Errorf("unreachable worker: %v", results[2].Err)
	}
	if err == nil || strings.Count(err.Error(), "* step ") != 3 {
		t.Errorf("Run error lists the three failures: %v", err)
	}

	// The runbook's own sensitive variables are read before any step.
	rb.SensitiveVariables = map[string]string{"Db": "CUTTLE_TEST_UNSET"}
	if results, err := r.Run(t.Context(), rb, nil); err == nil || results != nil || !strings.Contains(err.Error(), "runbook rb: ") {
		t.Errorf("Run = %v, %v", results, err)
	}
}

func TestTicketsKeptWhileStepRuns(t *testing.T) {
	var events []string
	f := &fakeFleet{do: func(_ context.Context, _ string, st remote.Step, out remote.Output) (remote.Result, error) {
		out.OnTicket(remote.Ticket{StepID: "id-1", Name: st.Name})
		events = append(events, "step ends")
		return remote.Result{}, nil
	}}
	r := f.runner(testConfig())
	r.Tickets = func(tk remote.Ticket) func() {
		events = append(events, "keep "+tk.StepID+" on "+tk.Worker)
		return func() { events = append(events, "drop "+tk.StepID) }
	}
	if _, err := r.Run(t.Context(), &config.Runbook{Name: "rb", Steps: []config.RunbookStep{step("s", "w2")}}, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"keep id-1 on w2", "step ends", "drop id-1"}, events); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCancelStopsTheRunbook(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	f := &fakeFleet{do: func(context.Context, string, remote.Step, remote.Output) (remote.Result, error) {
		cancel()
		return remote.Result{}, context.Canceled
	}}
	rb := &config.Runbook{Name: "rb", Steps: []config.RunbookStep{step("first", "w1"), step("second", "w1", condition("always"))}}
	results, _ := f.runner(testConfig()).Run(ctx, rb, nil)
	if len(results) != 1 || len(f.ran) != 1 {
		t.Fatalf("after a cancel: %d results, ran %v", len(results), f.ranSteps())
	}
	for _, c := range f.conns {
		if !c.closed {
			t.Errorf("connection to %s left open", c.name)
		}
	}
}

func TestConnsDialOncePerWorker(t *testing.T) {
	f := &fakeFleet{down: map[string]bool{"b": true}}
	c := NewConns(f.dial)
	for range 3 {
		if _, err := c.Get(t.Context(), "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Get(t.Context(), "b"); err == nil {
			t.Fatal("b: no error")
		}
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 1}, f.dials); diff != "" {
		t.Errorf("dials (-want +got):\n%s", diff)
	}
	if err := c.Close(); err != nil || !f.conns[0].closed {
		t.Errorf("Close: %v, closed %v", err, f.conns[0].closed)
	}
}

func TestPrefixWriter(t *testing.T) {
	var b strings.Builder
	w := newPrefixWriter(&b, &sync.Mutex{}, "[s@w] ")
	for _, chunk := range []string{"one\ntw", "o\n", "\nthree"} {
		w.Write([]byte(chunk))
	}
	if got := b.String(); got != "[s@w] one\n[s@w] two\n[s@w] \n" {
		t.Errorf("before Close: %q", got)
	}
	w.Close()
	if got := b.String(); got != "[s@w] one\n[s@w] two\n[s@w] \n[s@w] three" {
		t.Errorf("after Close: %q", got)
	}
}
