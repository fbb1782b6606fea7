package fleet

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/remote"
)

func parallelWithPrevious(s *config.RunbookStep) { s.ParallelWith = "previous" }

// TestParallelWithPrevious: a step with parallel_with: previous runs while
// the step before it is still running, and the next step waits for both.
func TestParallelWithPrevious(t *testing.T) {
	webStarted := make(chan struct{})
	f := &fakeFleet{do: func(ctx context.Context, _ string, st remote.Step, _ remote.Output) (remote.Result, error) {
		switch st.Name {
		case "web":
			close(webStarted)
		case "db":
			// db returns only once web has started beside it. The timer
			// only keeps a sequential runner from hanging the test.
			select {
			case <-webStarted:
			case <-time.After(30 * time.Second):
				return remote.Result{ExitCode: 1}, errors.New("web did not start while db ran")
			}
		}
		return remote.Result{}, nil
	}}
	rb := &config.Runbook{Name: "rb", Steps: []config.RunbookStep{
		step("db", "w1"),
		step("web", "w2", parallelWithPrevious),
		step("smoke", "w1"),
	}}
	results, err := f.runner(testConfig()).Run(t.Context(), rb, nil)
	if err != nil {
		t.Fatal(err)
	}
	ran := f.ranSteps()
	if len(ran) != 3 || ran[2] != "smoke@w1" {
		t.Errorf("smoke must run last, after both: %v", ran)
	}
	var names []string
	for _, r := range results {
		names = append(names, r.Step)
	}
	if d := cmp.Diff([]string{"db", "web", "smoke"}, names); d != "" {
		t.Errorf("results in runbook order (-want +got):\n%s", d)
	}
}

// TestParallelConditions: the steps of a group see the failures from
// before the group, not each other's.
func TestParallelConditions(t *testing.T) {
	f := &fakeFleet{do: func(_ context.Context, _ string, st remote.Step, _ remote.Output) (remote.Result, error) {
		if st.Name == "a" {
			return remote.Result{ExitCode: 2}, nil
		}
		return remote.Result{}, nil
	}}
	rb := &config.Runbook{Name: "rb", Steps: []config.RunbookStep{
		step("a", "w1"),
		step("b", "w2", parallelWithPrevious),
		step("c", "w1"),
		step("d", "w1", condition("failure")),
	}}
	_, err := f.runner(testConfig()).Run(t.Context(), rb, nil)
	if err == nil {
		t.Fatal("a failed: want an error")
	}
	got := map[string]bool{}
	for _, r := range f.ranSteps() {
		got[r] = true
	}
	if d := cmp.Diff(map[string]bool{"a@w1": true, "b@w2": true, "d@w1": true}, got); d != "" {
		t.Errorf("steps that ran (-want +got):\n%s", d)
	}
}

func TestEnvironmentSkips(t *testing.T) {
	only := func(envs ...string) func(*config.RunbookStep) {
		return func(s *config.RunbookStep) { s.Environments = envs }
	}
	except := func(envs ...string) func(*config.RunbookStep) {
		return func(s *config.RunbookStep) { s.ExcludedEnvironments = envs }
	}
	f := &fakeFleet{}
	rb := &config.Runbook{Name: "rb", Steps: []config.RunbookStep{
		step("everywhere", "w1"),
		step("staging-only", "w1", only("staging")),
		step("prod-only", "w1", only("Production")),
		step("not-prod", "w1", except("production")),
	}}
	r := f.runner(testConfig())
	r.Environment = "production"
	results, err := r.Run(t.Context(), rb, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"everywhere@w1", "prod-only@w1"}, f.ranSteps()); d != "" {
		t.Errorf("steps that ran (-want +got):\n%s", d)
	}
	skipped := map[string]bool{}
	for _, res := range results {
		skipped[res.Step] = res.Skipped
	}
	if d := cmp.Diff(map[string]bool{"everywhere": false, "staging-only": true, "prod-only": false, "not-prod": true}, skipped); d != "" {
		t.Errorf("skipped (-want +got):\n%s", d)
	}
}
