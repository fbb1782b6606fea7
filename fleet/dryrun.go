package fleet

import (
	"fmt"
	"io"
	"strings"

	"github.com/cuttle-sh/cuttle/config"
)

// DryRun writes, for each of rb's steps in order, its plan on each worker
// it may run on (remote.Controller.DryRun: worker, image, options, mounts,
// the commands on the worker and the script), compiled as Run compiles
// it, with the run's masks applied. It reaches no worker. What only a run
// knows is said, not guessed: whether a step's condition lets it run,
// which worker of a pool run_on: one picks (every member's plan is
// shown), and the output variables of earlier steps (their templates
// show as written). It stops at the first step Run would refuse.
func (r *Runner) DryRun(w io.Writer, rb *config.Runbook, extra *Variables) error {
	vars, err := runbookVariables(rb, extra)
	if err != nil {
		return err
	}
	for i, s := range rb.Steps {
		workers, err := r.candidates(s)
		if err != nil {
			return fmt.Errorf("step %s: %w", s.Name, err)
		}
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "== step %d of %d: %s (condition: %s; %s)\n", i+1, len(rb.Steps), s.Name, orDefault(s.Condition, "success"), placement(s, workers))
		for _, worker := range workers {
			fanOut := s.Worker == "" && s.RunOn == "all" && len(workers) > 1
			st, err := r.compileStep(rb, s, worker, vars, fanOut)
			if err != nil {
				return vars.Masks().Error(fmt.Errorf("step %s on %s: %w", s.Name, worker, err))
			}
			if err := r.controller().DryRun(w, worker, r.Bundle, st, vars.Masks()); err != nil {
				return vars.Masks().Error(fmt.Errorf("step %s on %s: %w", s.Name, worker, err))
			}
		}
	}
	return nil
}

// candidates are the workers step s may run on, without reaching any.
func (r *Runner) candidates(s config.RunbookStep) ([]string, error) {
	if s.Worker != "" {
		return []string{s.Worker}, nil
	}
	return PoolMembers(r.Config, s.Pool)
}

// placement says where step s runs, for DryRun's step line.
func placement(s config.RunbookStep, workers []string) string {
	switch {
	case s.Worker != "":
		return "on " + s.Worker
	case s.RunOn == "all":
		return "on every worker of pool " + s.Pool + ": " + strings.Join(workers, ", ")
	}
	return "on one worker of pool " + s.Pool + ", the least busy reachable at run time: " + strings.Join(workers, ", ")
}
