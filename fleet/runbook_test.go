package fleet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/remote"
	"github.com/cuttle-sh/cuttle/transport"
)

// fakeConn is a reachable worker. It runs no command itself: the fake
// step function stands in for remote.Controller.Run.
type fakeConn struct {
	name   string
	closed bool
}

var errNoCommands = errors.New("fakeConn runs no command")

func (c *fakeConn) String() string                                   { return "deploy@" + c.name + ":22" }
func (c *fakeConn) Run(context.Context, *transport.Cmd) error        { return errNoCommands }
func (c *fakeConn) RealPath(context.Context, string) (string, error) { return "", errNoCommands }
func (c *fakeConn) Lstat(context.Context, string) (fs.FileInfo, error) {
	return nil, errNoCommands
}
func (c *fakeConn) Upload(context.Context, string, io.Reader, fs.FileMode) error {
	return errNoCommands
}
func (c *fakeConn) Download(context.Context, string, io.Writer) (int64, string, error) {
	return 0, "", errNoCommands
}
func (c *fakeConn) Close() error { c.closed = true; return nil }

// ranStep is one call of the fake step function.
type ranStep struct {
	Step, Worker string
	Plan         remote.Step
	Masks        *mask.Set // the run's, as the step got them
}

// fakeFleet dials fakeConns (failing for the workers in down) and runs
// steps with do, recording each.
type fakeFleet struct {
	mu    sync.Mutex
	down  map[string]bool
	dials map[string]int
	conns []*fakeConn
	ran   []ranStep
	do    func(ctx context.Context, worker string, st remote.Step, out remote.Output) (remote.Result, error)
	out   bytes.Buffer
}

func (f *fakeFleet) dial(_ context.Context, name string) (WorkerConn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dials == nil {
		f.dials = map[string]int{}
	}
	f.dials[name]++
	if f.down[name] {
		return nil, errors.New(name + ": connection refused")
	}
	c := &fakeConn{name: name}
	f.conns = append(f.conns, c)
	return c, nil
}

func (f *fakeFleet) run(ctx context.Context, sh remote.Shell, _ bundle.Bundle, st remote.Step, out remote.Output) (remote.Result, error) {
	worker := sh.(*fakeConn).name
	f.mu.Lock()
	f.ran = append(f.ran, ranStep{Step: st.Name, Worker: worker, Plan: st, Masks: out.Masks})
	f.mu.Unlock()
	if f.do == nil {
		return remote.Result{}, nil
	}
	return f.do(ctx, worker, st, out)
}

func (f *fakeFleet) runner(cfg *config.Config) *Runner {
	return &Runner{Config: cfg, dial: f.dial, run: f.run, ArtifactsDir: "artifacts",
		Output: remote.Output{Stdout: &f.out, Stderr: &f.out}}
}

// ranSteps lists step@worker in the order they ran.
func (f *fakeFleet) ranSteps() []string {
	var s []string
	for _, r := range f.ran {
		s = append(s, r.Step+"@"+r.Worker)
	}
	return s
}

// plan returns the plan step ran with on worker.
func (f *fakeFleet) plan(t *testing.T, step, worker string) remote.Step {
	t.Helper()
	return f.ranOn(t, step, worker).Plan
}

// ranOn is the run of step on worker.
func (f *fakeFleet) ranOn(t *testing.T, step, worker string) ranStep {
	t.Helper()
	for _, r := range f.ran {
		if r.Step == step && r.Worker == worker {
			return r
		}
	}
	t.Fatalf("step %s did not run on %s (ran: %v)", step, worker, f.ranSteps())
	return ranStep{}
}

func variable(st remote.Step, name string) (string, bool) {
	for _, v := range st.Variables {
		if v.Name == name {
			return v.Value, true
		}
	}
	return "", false
}

// testConfig has workers w1 and w2 and pool linux of a, b and c.
func testConfig() *config.Config {
	return &config.Config{
		Workers: map[string]config.Worker{
			"w1": {Host: "10.0.0.1"}, "w2": {Host: "10.0.0.2"},
			"a": {Host: "10.0.1.1", Pool: "linux"}, "b": {Host: "10.0.1.2", Pool: "linux"}, "c": {Host: "10.0.1.3", Pool: "linux"},
		},
		Pools: map[string]config.Pool{"linux": {MaxStepsPerWorker: 3}},
	}
}

func step(name, worker string, mod ...func(*config.RunbookStep)) config.RunbookStep {
	s := config.RunbookStep{Name: name, Worker: worker, Container: config.Container{Image: "alpine:3"},
		Script: config.Script{Inline: "echo " + name}}
	for _, m := range mod {
		m(&s)
	}
	return s
}

func condition(c string) func(*config.RunbookStep) {
	return func(s *config.RunbookStep) { s.Condition = c }
}

func onPool(pool, runOn string) func(*config.RunbookStep) {
	return func(s *config.RunbookStep) { s.Worker, s.Pool, s.RunOn = "", pool, runOn }
}

func TestConditions(t *testing.T) {
	tests := []struct {
		name string
		// fail maps a step to how it fails: an exit code, or -1 for a
		// cuttle error.
		fail    map[string]int
		wantRan []string
		wantErr []string
	}{
		{name: "all succeed: failure steps skip, always steps run",
			wantRan: []string{"build@w1", "deploy@w1", "notify@w1", "after@w1"}},
		{name: "a failed script skips success steps and runs failure and always steps",
			fail:    map[string]int{"build": 3},
			wantRan: []string{"build@w1", "rollback@w1", "notify@w1"},
			wantErr: []string{"step build on w1: script exited with code 3"}},
		{name: "a cuttle error counts as a failure",
			fail:    map[string]int{"deploy": -1},
			wantRan: []string{"build@w1", "deploy@w1", "rollback@w1", "notify@w1"},
			wantErr: []string{"step deploy on w1: docker said no"}},
		{name: "a failing failure step is one more failure",
			fail:    map[string]int{"build": 2, "rollback": 5},
			wantRan: []string{"build@w1", "rollback@w1", "notify@w1"},
			wantErr: []string{"step build on w1: script exited with code 2", "step rollback on w1: script exited with code 5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeFleet{do: func(_ context.Context, _ string, st remote.Step, _ remote.Output) (remote.Result, error) {
				switch code, ok := tt.fail[st.Name]; {
				case !ok:
					return remote.Result{}, nil
				case code < 0:
					return remote.Result{}, &remote.StepError{Reason: remote.ReasonDocker, Err: errors.New("docker said no")}
				default:
					return remote.Result{ExitCode: code}, nil
				}
			}}
			rb := &config.Runbook{Name: "rb", Steps: []config.RunbookStep{
				step("build", "w1"),
				step("deploy", "w1"),
				step("rollback", "w1", condition("failure")),
				step("notify", "w1", condition("always")),
				step("after", "w1", condition("success")),
			}}
			results, err := f.runner(testConfig()).Run(t.Context(), rb, nil)
			if diff := cmp.Diff(tt.wantRan, f.ranSteps()); diff != "" {
				t.Errorf("steps that ran (-want +got):\n%s", diff)
			}
			if len(results) != len(rb.Steps) {
				t.Fatalf("%d results for %d steps", len(results), len(rb.Steps))
			}
			for _, r := range results {
				ran := false
				for _, s := range tt.wantRan {
					ran = ran || s == r.Step+"@w1"
				}
				if r.Skipped == ran {
					t.Errorf("step %s: Skipped = %v", r.Step, r.Skipped)
				}
				if _, fails := tt.fail[r.Step]; r.Failed() != fails {
					t.Errorf("step %s: Failed() = %v", r.Step, r.Failed())
				}
			}
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Run: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Run: no error")
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestOutputVariablesFlowForward(t *testing.T) {
	t.Setenv("CUTTLE_TEST_TOKEN", "tok-123")
	f := &fakeFleet{do: func(_ context.Context, _ string, st remote.Step, _ remote.Output) (remote.Result, error) {
		if st.Name != "build" {
			return remote.Result{}, nil
		}
		return remote.Result{OutputOrder: []string{"Version", "Token"}, OutputVariables: map[string]remote.OutputVariable{
			"Version": {Value: "1.2.3"}, "Token": {Value: "s3cr3t-out", Sensitive: true}}}, nil
	}}
	rb := &config.Runbook{Name: "rb", Variables: map[string]string{"Environment": "staging", "Region": "eu"},
		SensitiveVariables: map[string]string{"ApiToken": "CUTTLE_TEST_TOKEN"},
		Steps: []config.RunbookStep{
			step("build", "w1"),
			step("deploy", "w1", func(s *config.RunbookStep) {
				s.Script.Inline = "deploy #{Octopus.Action[build].Output.Version} to #{Environment} in #{Region}"
				s.Variables = map[string]string{"Region": "us"}
			}),
			step("verify", "w1"),
		}}
	extra, err := ParseVariables([]string{"Environment=prod"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.runner(testConfig()).Run(t.Context(), rb, extra); err != nil {
		t.Fatal(err)
	}
	deploy := f.plan(t, "deploy", "w1")
	// Earlier outputs, --var over the runbook's variables, the step's own
	// variables over both.
	if got, want := string(deploy.Script), "deploy 1.2.3 to prod in us"; got != want {
		t.Errorf("deploy's script = %q, want %q", got, want)
	}
	if v, _ := variable(deploy, "Octopus.Action[build].Output.Token"); v != "s3cr3t-out" {
		t.Errorf("sensitive output variable = %q", v)
	}
	if got := f.ranOn(t, "deploy", "w1").Masks.Mask("token s3cr3t-out and tok-123"); got != "token ******** and ********" {
		t.Errorf("deploy masks the outputs and the runbook's secrets as %q", got)
	}
	// A step's own variables are its own.
	verify := f.plan(t, "verify", "w1")
	if v, _ := variable(verify, "Region"); v != "eu" {
		t.Errorf("verify sees Region = %q, want the runbook's eu", v)
	}
	if v, _ := variable(verify, "Octopus.Action[build].Output.Version"); v != "1.2.3" {
		t.Errorf("verify sees the build's version as %q", v)
	}
	// A step sees only what came before it.
	if _, ok := variable(f.plan(t, "build", "w1"), "Octopus.Action[build].Output.Version"); ok {
		t.Error("build sees its own output before it ran")
	}
}

func TestFanOut(t *testing.T) {
	f := &fakeFleet{do: func(_ context.Context, worker string, st remote.Step, out remote.Output) (remote.Result, error) {
		io.WriteString(out.Stdout, "hello from "+worker+"\npartial")
		if st.Name != "probe" {
			return remote.Result{}, nil
		}
		code := 0
		if worker == "b" {
			code = 4
		}
		return remote.Result{ExitCode: code, OutputOrder: []string{"Arch"}, OutputVariables: map[string]remote.OutputVariable{"Arch": {Value: "arch-" + worker}}}, nil
	}}
	rb := &config.Runbook{Name: "rb", Steps: []config.RunbookStep{
		step("probe", "", onPool("linux", "all")),
		step("report", "w1", condition("always")),
		step("next", "w1"),
	}}
	results, err := f.runner(testConfig()).Run(t.Context(), rb, nil)
	if err == nil || !strings.Contains(err.Error(), "step probe on b: script exited with code 4") || strings.Contains(err.Error(), "on a:") {
		t.Fatalf("Run error = %v, want only b's failure", err)
	}
	var got []string
	for _, r := range results {
		got = append(got, r.Step+"@"+r.Worker)
	}
	if diff := cmp.Diff([]string{"probe@a", "probe@b", "probe@c", "report@w1", "next@"}, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	for _, w := range []string{"a", "b", "c"} {
		st := f.plan(t, "probe", w)
		if want := filepath.Join("artifacts", "probe", w); st.ArtifactsDir != want {
			t.Errorf("%s: artifacts in %s, want %s", w, st.ArtifactsDir, want)
		}
		if st.Slots != 3 {
			t.Errorf("%s: Slots = %d, want the pool's max_steps_per_worker 3", w, st.Slots)
		}
		if !strings.Contains(f.out.String(), "[probe@"+w+"] hello from "+w+"\n") || !strings.Contains(f.out.String(), "[probe@"+w+"] partial") {
			t.Errorf("output of %s not prefixed whole lines:\n%s", w, f.out.String())
		}
	}
	report := f.plan(t, "report", "w1")
	for _, w := range []string{"a", "b", "c"} {
		if v, _ := variable(report, "Octopus.Action[probe].Output["+w+"].Arch"); v != "arch-"+w {
			t.Errorf("Output[%s].Arch = %q", w, v)
		}
	}
	if st := f.plan(t, "report", "w1"); st.ArtifactsDir != filepath.Join("artifacts", "report") || st.Slots != 0 {
		t.Errorf("a single-worker step: artifacts %s, slots %d", st.ArtifactsDir, st.Slots)
	}
}

func TestRunOnOne(t *testing.T) {
	t.Run("the first reachable worker by name", func(t *testing.T) {
		f := &fakeFleet{down: map[string]bool{"a": true}}
		rb := &config.Runbook{Name: "rb", Steps: []config.RunbookStep{
			step("one", "", onPool("linux", "one")),
			step("two", "", onPool("linux", "")), // run_on defaults to one
		}}
		if _, err := f.runner(testConfig()).Run(t.Context(), rb, nil); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"one@b", "two@b"}, f.ranSteps()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if f.dials["a"] != 1 || f.dials["c"] != 0 {
			t.Errorf("dials = %v: an unreachable worker is dialled once per run, and c never", f.dials)
		}
	})
	t.Run("the least busy worker", func(t *testing.T) {
		// Other runs of this process, sharing its controller.
		ctl := remote.NewController()
		ctl.MarkBusy("a", 2)
		ctl.MarkBusy("b", 1)
		f := &fakeFleet{}
		rb := &config.Runbook{Name: "rb", Steps: []config.RunbookStep{step("one", "", onPool("linux", "one"))}}
		r := f.runner(testConfig())
		r.Controller = ctl
		if _, err := r.Run(t.Context(), rb, nil); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"one@c"}, f.ranSteps()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("no worker reachable", func(t *testing.T) {
		f := &fakeFleet{down: map[string]bool{"a": true, "b": true, "c": true}}
		rb := &config.Runbook{Name: "rb", Steps: []config.RunbookStep{
			step("one", "", onPool("linux", "one")),
			step("cleanup", "w1", condition("failure")),
		}}
		results, err := f.runner(testConfig()).Run(t.Context(), rb, nil)
		if err == nil {
			t.Fatal("no error")
		}
		for _, want := range []string{"step one: no worker of pool linux is reachable", "a: a: connection refused", "b: b: connection refused", "c: c: connection refused"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if !results[0].Failed() || results[0].Err == nil {
			t.Errorf("step one: %+v", results[0])
		}
		if diff := cmp.Diff([]string{"cleanup@w1"}, f.ranSteps()); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}
