package fleet

import (
	"context"
	"fmt"
	"sync"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/config"
)

// runbookRun is what the steps of one Run share.
type runbookRun struct {
	rb     *config.Runbook
	vars   *Variables
	conns  *Conns
	sem    chan struct{} // bounds the steps running at once
	pulled *pullLedger
}

// runGroup runs a group of steps that start together, each on its
// workers, and returns each step's results once all have ended. A step
// not for the run's environment, or whose condition (after failedBefore)
// says so, is skipped.
func (r *Runner) runGroup(ctx context.Context, run *runbookRun, group []config.RunbookStep, failedBefore bool) [][]StepResult {
	log := zerolog.Ctx(ctx)
	stepResults := make([][]StepResult, len(group))
	var wg sync.WaitGroup
	for g, s := range group {
		if !s.RunsIn(r.Environment) {
			log.Info().Str("step", s.Name).Str("environment", r.Environment).Msg("step skipped: not for this environment")
			stepResults[g] = []StepResult{{Step: s.Name, Skipped: true}}
			continue
		}
		if !shouldRun(s.Condition, failedBefore) {
			log.Info().Str("step", s.Name).Str("condition", orDefault(s.Condition, "success")).Msg("step skipped")
			stepResults[g] = []StepResult{{Step: s.Name, Skipped: true}}
			continue
		}
		stepVars, err := stepVariables(run.rb, s, run.vars)
		if err == nil {
			s, err = resolveWhere(r.Config, s, stepVars)
		}
		var workers []string
		if err == nil {
			workers, err = r.workersFor(ctx, run.conns, s)
		}
		if err != nil {
			stepResults[g] = []StepResult{{Step: s.Name, Err: err, Masks: run.vars.Masks()}}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			stepResults[g] = r.fanOut(ctx, run.sem, workers, func(w string) StepResult {
				return r.runOne(ctx, run.conns, run.pulled, run.rb, s, w, run.vars, len(workers) > 1)
			})
		}()
	}
	wg.Wait()
	return stepResults
}

// failure is the run's error for a failed step result (unmasked), nil
// for one that did not fail.
func (sr StepResult) failure() error {
	switch {
	case !sr.Failed():
		return nil
	case sr.Worker == "":
		return fmt.Errorf("step %s: %w", sr.Step, sr.Err)
	case sr.Err != nil:
		return fmt.Errorf("step %s on %s: %w", sr.Step, sr.Worker, sr.Err)
	default:
		return fmt.Errorf("step %s on %s: script exited with code %d", sr.Step, sr.Worker, sr.Result.ExitCode)
	}
}
