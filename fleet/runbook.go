package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/packages"
	"github.com/cuttle-sh/cuttle/remote"
	"github.com/cuttle-sh/cuttle/transport"
)

// Runner runs runbooks against the config's workers.
type Runner struct {
	Config   *config.Config
	Defaults Defaults
	Bundle   bundle.Bundle
	Output   remote.Output
	// ArtifactsDir receives DIR/<step>/<name> (DIR/<step>/<worker>/<name>
	// when a step runs on several workers).
	ArtifactsDir string
	// MaxParallel bounds the steps running at once from this controller.
	MaxParallel int
	// TimeoutCause is the context cause used for a step's timeout.
	TimeoutCause error
	// ReattachWindow arms the worker-side dead man's switch (0: off).
	ReattachWindow time.Duration
	// Tickets, when set, keeps each running step's ticket (with its
	// Worker filled in) for `cuttle attach`, and returns the function
	// that drops it when the step ends.
	Tickets func(remote.Ticket) (drop func())
	// Controller is shared by the runs of one process on purpose (cuttle
	// serve): it counts the steps running on each worker for run_on: one
	// and shares bundle uploads; its Trust and Runners are the bundle
	// caches and other architectures' runners. Nil means one of the
	// Runner's own, with neither.
	Controller *remote.Controller

	ctlOnce sync.Once
	// outputMu keeps the fan-out's prefixed lines whole.
	outputMu sync.Mutex
	// Environment is the run's environment: steps whose environments
	// exclude it are skipped ("": none named).
	Environment string

	// packages acquires the run's packages on the controller, once each.
	packages packages.Store

	// dial and run stand in for the network in tests; nil means
	// transport (jump hosts shared through a HopPool) and Controller.Run.
	dial func(ctx context.Context, name string) (WorkerConn, error)
	run  func(ctx context.Context, sh remote.Shell, b bundle.Bundle, st remote.Step, out remote.Output) (remote.Result, error)
}

// StepResult is one step on one worker.
type StepResult struct {
	Step, Worker string
	Target       string // user@host:port
	Result       remote.Result
	Err          error
	Skipped      bool
	// Masks are the run's: every value masked in any step of the run.
	Masks *mask.Set
	// Attempts are every run of a step that may be retried, in order; the
	// last is also Result and Err.
	Attempts []Attempt
}

// Failed reports whether the step failed (cuttle error or non-zero exit).
func (r StepResult) Failed() bool { return !r.Skipped && (r.Err != nil || r.Result.ExitCode != 0) }

// Run runs rb's steps in order; a step with parallel_with: previous
// starts together with the step before it. A failed step makes later
// steps with condition "success" (the default) skip; "failure" steps run
// only after a failure, "always" steps always. Steps not for the run's
// Environment are skipped. It returns every step's results; the
// error gathers the failures, one per worker (a *multierror.Error), their
// text masked with every value masked in the run.
//
// Masks are run-wide: a value masked in any step stays masked in the
// output of every later step, and an output variable whose value holds a
// masked value is passed on as sensitive.
func (r *Runner) Run(ctx context.Context, rb *config.Runbook, extra *Variables) ([]StepResult, error) {
	log := zerolog.Ctx(ctx)
	defer r.packages.Close()
	vars, err := runbookVariables(rb, extra)
	if err != nil {
		return nil, err
	}
	var failures error
	dial := r.dial
	if dial == nil {
		// Workers behind one bastion share one connection to it.
		hops := &transport.HopPool{}
		defer hops.Close()
		dial = r.dialThrough(hops)
	}
	conns := NewConns(dial)
	defer conns.Close()
	maxPar := r.MaxParallel
	if maxPar <= 0 {
		maxPar = 10
	}
	run := &runbookRun{rb: rb, vars: vars, conns: conns, sem: make(chan struct{}, maxPar), pulled: &pullLedger{seen: map[string]bool{}}}
	var results []StepResult
	failed := false
	for first := 0; first < len(rb.Steps); {
		// A group: a step and those that start with it (parallel_with:
		// previous). Conditions are taken as the group starts.
		end := first + 1
		for end < len(rb.Steps) && rb.Steps[end].ParallelWith == "previous" {
			end++
		}
		stepResults := r.runGroup(ctx, run, rb.Steps[first:end], failed)
		first = end
		for _, srs := range stepResults {
			for _, sr := range srs {
				results = append(results, sr)
				if err := sr.failure(); err != nil {
					failed = true
					failures = multierror.Append(failures, vars.Masks().Error(err))
				}
				vars.setOutputs(sr, len(srs) > 1, log)
			}
		}
		if ctx.Err() != nil {
			break
		}
	}
	return results, failures
}

// dialThrough dials workers by name, through hops.
func (r *Runner) dialThrough(hops *transport.HopPool) func(ctx context.Context, name string) (WorkerConn, error) {
	return func(ctx context.Context, name string) (WorkerConn, error) {
		t, err := Resolve(r.Config, name, r.Defaults)
		if err != nil {
			return nil, err
		}
		conn, err := hops.Dial(ctx, t)
		if err != nil {
			return nil, err // not a nil *Conn in a non-nil interface
		}
		return conn, nil
	}
}

// fanOut runs one step on each of workers at once, at most cap(sem) at a
// time across the run, and returns the results in workers' order.
func (r *Runner) fanOut(ctx context.Context, sem chan struct{}, workers []string, one func(worker string) StepResult) []StepResult {
	results := make([]StepResult, len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			r.controller().MarkBusy(w, 1)
			defer r.controller().MarkBusy(w, -1)
			results[i] = one(w)
		}()
	}
	wg.Wait()
	return results
}

// setOutputs makes a step's output variables variables of the steps after
// it, as Octopus.Action[step].Output.Name (and, from a step on several
// workers, Octopus.Action[step].Output[worker].Name). Masks are checked
// again here, as the step's own output was: a step running beside it on
// another worker may have masked a value since. A value holding a masked
// value is sensitive; a name holding one is dropped.
func (v *Variables) setOutputs(sr StepResult, fanOut bool, log *zerolog.Logger) {
	for _, name := range sr.Result.OutputOrder {
		out := sr.Result.OutputVariables[name]
		if v.masks.Holds([]byte(name)) {
			log.Warn().Str("step", sr.Step).Msg("output variable dropped: its name holds a sensitive value")
			continue
		}
		sensitive := out.Sensitive || v.masks.Holds([]byte(out.Value))
		v.Set("Octopus.Action["+sr.Step+"].Output."+name, out.Value, sensitive)
		if fanOut {
			v.Set("Octopus.Action["+sr.Step+"].Output["+sr.Worker+"]."+name, out.Value, sensitive)
		}
	}
}

func shouldRun(condition string, failed bool) bool {
	switch condition {
	case "always":
		return true
	case "failure":
		return failed
	default:
		return !failed
	}
}

func runbookVariables(rb *config.Runbook, extra *Variables) (*Variables, error) {
	vars, err := variablesFromMaps(rb.Variables, rb.SensitiveVariables)
	if err != nil {
		return nil, fmt.Errorf("runbook %s: %w", rb.Name, err)
	}
	if extra != nil {
		for _, v := range extra.List() {
			vars.Set(v.Name, v.Value, v.Sensitive)
		}
	}
	return vars, nil
}

// controller is r.Controller, made on first use when unset.
func (r *Runner) controller() *remote.Controller {
	r.ctlOnce.Do(func() {
		if r.Controller == nil {
			r.Controller = remote.NewController()
		}
	})
	return r.Controller
}

// workersFor picks the step's workers: its worker, every worker of its
// pool (run_on: all), or the least busy reachable one (run_on: one; ties
// go by name).
func (r *Runner) workersFor(ctx context.Context, conns *Conns, s config.RunbookStep) ([]string, error) {
	if s.Worker != "" {
		return []string{s.Worker}, nil
	}
	members, err := PoolMembers(r.Config, s.Pool)
	if err != nil {
		return nil, err
	}
	if s.RunOn == "all" {
		return members, nil
	}
	// The least busy first: the steps this controller runs on each.
	busy := r.controller().Busy(members)
	order := append([]string(nil), members...)
	sort.SliceStable(order, func(i, j int) bool { return busy[order[i]] < busy[order[j]] })
	var errs error
	for _, m := range order {
		if _, err := conns.Get(ctx, m); err == nil {
			return []string{m}, nil
		} else {
			errs = multierror.Append(errs, fmt.Errorf("%s: %w", m, err))
		}
	}
	return nil, fmt.Errorf("no worker of pool %s is reachable: %w", s.Pool, errs)
}

// compileStep is the plan of step s of rb on worker, with the run's
// variables so far: what runOne runs and DryRun prints.
func (r *Runner) compileStep(rb *config.Runbook, s config.RunbookStep, worker string, vars *Variables, fanOut bool) (remote.Step, error) {
	vars, err := stepVariables(rb, s, vars)
	if err != nil {
		return remote.Step{}, err
	}
	st, err := BuildStep(r.Config, StepInput{Step: s, BaseDir: rb.Dir, Vars: vars, Worker: worker, ArtifactsDir: r.ArtifactsDir, ReattachWindow: r.ReattachWindow})
	if err != nil {
		return st, &remote.StepError{Worker: worker, Reason: remote.ReasonInput, Err: err}
	}
	if fanOut {
		// Artifacts of each worker apart: DIR/<step>/<worker>/<name>.
		st.ArtifactsDir = filepath.Join(st.ArtifactsDir, remote.DirName(worker))
	}
	if pool := r.Config.Workers[worker].Pool; pool != "" {
		st.Slots = r.Config.Pools[pool].MaxStepsPerWorker
	}
	return st, nil
}

func (r *Runner) runOne(ctx context.Context, conns *Conns, pulled *pullLedger, rb *config.Runbook, s config.RunbookStep, worker string, vars *Variables, fanOut bool) StepResult {
	res := StepResult{Step: s.Name, Worker: worker, Masks: vars.Masks()}
	ctx = LabelProgress(ctx, r.Config, worker)
	stepVars, err := stepVariables(rb, s, vars)
	if err != nil {
		res.Err = &remote.StepError{Worker: worker, Reason: remote.ReasonInput, Err: err}
		return res
	}
	policy, err := retryPolicyOf(s, stepVars)
	if err != nil {
		res.Err = &remote.StepError{Worker: worker, Reason: remote.ReasonInput, Err: err}
		return res
	}
	if policy.retries > 0 {
		vars = vars.Clone()
		vars.Set(RetriesVariable, strconv.Itoa(policy.retries), false)
	}
	st, err := r.compileStep(rb, s, worker, vars, fanOut)
	if err != nil {
		res.Err = err
		return res
	}
	if err := AcquirePackages(ctx, &r.packages, &st); err != nil {
		res.Err = &remote.StepError{Worker: worker, Reason: remote.ReasonInput, Err: err}
		return res
	}
	for attempt := 1; ; attempt++ {
		a := r.attempt(ctx, conns, pulled, s, st, vars.Masks(), worker, attempt, policy, interleaves(rb, s, fanOut))
		res.Target, res.Result, res.Err = a.Target, a.Result, a.Err
		if policy.retries > 0 {
			res.Attempts = append(res.Attempts, a)
		}
		if !policy.again(ctx, a, attempt) {
			return res
		}
		zerolog.Ctx(ctx).Warn().Str("step", s.Name).Str("worker", worker).Int("attempt", attempt).Int("attempts", policy.retries+1).
			Dur("retry_delay", policy.delay).Msg("attempt failed (" + vars.Masks().Mask(attemptFailure(a)) + "): running the step again in a fresh work directory")
		if !policy.wait(ctx) {
			return res
		}
	}
}

// attempt runs the step once on worker. Cleanup runs whatever happens.
func (r *Runner) attempt(ctx context.Context, conns *Conns, pulled *pullLedger, s config.RunbookStep, st remote.Step, masks *mask.Set, worker string, n int, policy retryPolicy, interleaved bool) Attempt {
	var a Attempt
	if pulled.done(worker, st.Image) && st.Pull == remote.PullAlways {
		st.Pull = remote.PullMissing // pulled earlier in this run
	}
	dialed := time.Now()
	conn, err := conns.Get(ctx, worker)
	connect := time.Since(dialed)
	if err != nil {
		a.Err = &remote.StepError{Reason: "connect", Err: err}
		return a
	}
	a.Target = conn.String()
	ctx, cancel := r.stepTimeout(ctx, s)
	defer cancel()
	out, po, pe := r.prefixedOutput(outputPrefix(s, worker, n, policy, interleaved))
	out.Masks = masks // the run's: a secret of any step is masked in every step
	zerolog.Ctx(ctx).Info().Msg(stepHeader(s, worker, n, policy))
	if r.Tickets != nil {
		var drop func()
		out.OnTicket = func(t remote.Ticket) {
			t.Worker = worker
			drop = r.Tickets(t)
		}
		defer func() {
			if drop != nil {
				drop()
			}
		}()
	}
	started := time.Now()
	run := r.run
	if run == nil {
		run = r.controller().Run
	}
	a.Result, a.Err = run(zerolog.Ctx(ctx).With().Str("worker", worker).Logger().WithContext(ctx), conn, r.Bundle, st, out)
	po.Close()
	pe.Close()
	if a.Result.Duration == 0 {
		a.Result.Duration = time.Since(started)
	}
	a.Result.AddConnect(connect) // the step waited for its connection first

	var se *remote.StepError
	if a.Err == nil || !errors.As(a.Err, &se) || se.Reason != remote.ReasonImage {
		pulled.mark(worker, st.Image)
	}
	return a
}

// stepTimeout bounds ctx by the step's timeout, if it has one.
func (r *Runner) stepTimeout(ctx context.Context, s config.RunbookStep) (context.Context, context.CancelFunc) {
	d, _ := s.TimeoutDuration()
	if d <= 0 {
		return ctx, func() {}
	}
	cause := r.TimeoutCause
	if cause == nil {
		cause = errors.New("step ran past its timeout")
	}
	return context.WithTimeoutCause(ctx, d, cause)
}

// prefixedOutput is r.Output with every line prefixed; the caller closes
// the two writers. With no prefix the output passes as it comes.
func (r *Runner) prefixedOutput(prefix string) (out remote.Output, po, pe *prefixWriter) {
	out = r.Output
	if prefix == "" {
		return out, nil, nil
	}
	po, pe = newPrefixWriter(out.Stdout, &r.outputMu, prefix), newPrefixWriter(out.Stderr, &r.outputMu, prefix)
	out.Stdout, out.Stderr = po, pe
	if out.Progress != nil && out.Progress != io.Discard {
		out.Progress = pe
	}
	return out, po, pe
}

// pullLedger remembers which images were pulled on which worker in this
// run, so an image is pulled at most once per worker however many steps
// use it.
type pullLedger struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (p *pullLedger) done(worker, image string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[worker+"\x00"+image]
}

func (p *pullLedger) mark(worker, image string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[worker+"\x00"+image] = true
}

// prefixWriter prefixes every line, so output of steps running on several
// workers at once stays readable. Lines are written whole.
type prefixWriter struct {
	lw *mask.LineWriter
}

// newPrefixWriter writes to w under mu, which all writers to w share.
func newPrefixWriter(w io.Writer, mu *sync.Mutex, prefix string) *prefixWriter {
	return &prefixWriter{lw: mask.NewLineWriter(func(line []byte, nl bool) {
		b := make([]byte, 0, len(prefix)+len(line)+1)
		b = append(append(b, prefix...), line...)
		if nl {
			b = append(b, '\n')
		}
		mu.Lock()
		w.Write(b)
		mu.Unlock()
	})}
}

func (p *prefixWriter) Write(b []byte) (int, error) { return p.lw.Write(b) }

// Close passes on a last unterminated line; a nil writer has none.
func (p *prefixWriter) Close() error {
	if p == nil {
		return nil
	}
	return p.lw.Close()
}
