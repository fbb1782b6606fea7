package fleet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/remote"
)

// Attempt is one run of a step on one worker.
type Attempt struct {
	Target string // user@host:port
	Result remote.Result
	Err    error
}

// Failed reports whether the attempt failed.
func (a Attempt) Failed() bool { return a.Err != nil || a.Result.ExitCode != 0 }

// retryPolicy is how often a failed step runs again, and after how long.
type retryPolicy struct {
	retries int
	delay   time.Duration
}

// retryPolicyOf reads the step's retries: and retry_delay:, or, without
// retries:, Octopus's Octopus.Action.AutoRetry.MaximumCount variable.
func retryPolicyOf(s config.RunbookStep, vars *Variables) (retryPolicy, error) {
	p := retryPolicy{retries: s.Retries}
	if p.retries == 0 {
		if v, ok := vars.Get(RetriesVariable); ok && strings.TrimSpace(v.Value) != "" {
			n, err := strconv.Atoi(strings.TrimSpace(v.Value))
			if err != nil || n < 0 {
				return p, fmt.Errorf("variable %s = %q: want a number of retries (0 or more)", RetriesVariable, v.Value)
			}
			p.retries = n
		}
	}
	var err error
	if p.delay, err = s.RetryDelayDuration(); err != nil {
		return p, fmt.Errorf("retry_delay %q: want a duration such as 30s", s.RetryDelay)
	}
	return p, nil
}

// again reports whether attempt n, which ended as a, is followed by
// another: it failed, retries remain, and neither the run was stopped nor
// the step's input was at fault (running it again would not help).
func (p retryPolicy) again(ctx context.Context, a Attempt, n int) bool {
	var se *remote.StepError
	switch {
	case !a.Failed(), n > p.retries, ctx.Err() != nil:
		return false
	case errors.As(a.Err, &se) && se.Reason == remote.ReasonInput:
		return false
	}
	return true
}

// wait waits the delay between attempts; false when ctx ended first.
func (p retryPolicy) wait(ctx context.Context) bool {
	if p.delay <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(p.delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// attemptFailure says how a failed attempt ended, for the log.
func attemptFailure(a Attempt) string {
	if a.Err != nil {
		return a.Err.Error()
	}
	return "exit code " + strconv.Itoa(a.Result.ExitCode)
}

// stepVariables are the variables a step sees: those in scope (runbook,
// command line, earlier outputs), then the step's own.
func stepVariables(rb *config.Runbook, s config.RunbookStep, vars *Variables) (*Variables, error) {
	if len(s.Variables) == 0 && len(s.SensitiveVariables) == 0 {
		return vars.Clone(), nil
	}
	own, err := variablesFromMaps(s.Variables, s.SensitiveVariables)
	if err != nil {
		return nil, fmt.Errorf("runbook %s: %w", rb.Name, err)
	}
	v := vars.Clone()
	for _, x := range own.List() {
		v.Set(x.Name, x.Value, x.Sensitive)
	}
	return v, nil
}

// resolveWhere evaluates the step's worker and pool, which may be
// templates, and checks a pool named that way.
func resolveWhere(cfg *config.Config, s config.RunbookStep, vars *Variables) (config.RunbookStep, error) {
	var err error
	if s.Worker, err = field(vars, "worker", s.Worker); err != nil {
		return s, err
	}
	if s.Pool, err = field(vars, "pool", s.Pool); err != nil {
		return s, err
	}
	if s.Pool != "" {
		if _, ok := cfg.Pools[s.Pool]; !ok {
			return s, fmt.Errorf("pool %q is not defined in the config", s.Pool)
		}
	}
	return s, nil
}
