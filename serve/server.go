package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/fleet"
)

// Parser reads schedules: standard five-field cron, an optional leading
// seconds field, descriptors such as @hourly and @every 30s, and a
// CRON_TZ=Area/City prefix for time zones.
var Parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Server runs scheduled runbooks.
type Server struct {
	Config   *config.Config
	Runbooks []*config.Runbook
	Store    Store
	Metrics  *Metrics
	// Keep bounds the history; it is applied after each run.
	Keep Retention
	// Token, when set, is what every request but /healthz must present.
	Token string
	// NewRunner makes the runner for one run, writing to out.
	NewRunner func(out io.Writer) *fleet.Runner
	// Grace is how long running steps may finish after SIGTERM.
	Grace time.Duration
	// CheckWorkers, with CheckEvery, is the periodic workers check: it
	// returns per worker whether it is healthy (cuttle_worker_healthy).
	CheckWorkers func(ctx context.Context) map[string]bool
	CheckEvery   time.Duration
	// Lease, when set, is how long this instance's lease on a shared
	// store holds: Start renews it every third of it.
	Lease time.Duration

	// runbook, when set, stands in for NewRunner(out).Run in tests;
	// graceTimer for time.After in Stop.
	runbook    func(ctx context.Context, rb *config.Runbook, out io.Writer) ([]fleet.StepResult, error)
	graceTimer func(time.Duration) <-chan time.Time

	cron *cron.Cron
	// schedMu guards Runbooks, entries and jobs, which Reload replaces.
	schedMu sync.Mutex
	entries map[string]cron.EntryID
	jobs    map[string]func(time.Time) // by runbook: what the schedule and "Run now" call
	started time.Time
	runCtx  context.Context
	cancel  context.CancelCauseFunc
	wg      sync.WaitGroup
	busyMu  sync.Mutex
	busy    map[string]*atomic.Bool
	// stopBeat stops the heartbeat; beats waits for it.
	stopBeat context.CancelFunc
	beats    sync.WaitGroup
	seq      atomic.Int64
	// live holds the running runs, by id.
	liveMu sync.Mutex
	live   map[string]*liveRun
}

// LoadRunbooks reads every *.yaml and *.yml in dir that has a schedule.
func LoadRunbooks(dir string, cfg *config.Config) ([]*config.Runbook, error) {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, _ := filepath.Glob(filepath.Join(dir, pat))
		files = append(files, m...)
	}
	sort.Strings(files)
	var rbs []*config.Runbook
	for _, f := range files {
		rb, err := config.LoadRunbook(f, cfg)
		if err != nil {
			return nil, err
		}
		if rb.Schedule == "" {
			continue
		}
		if _, err := Parser.Parse(rb.Schedule); err != nil {
			return nil, fmt.Errorf("runbook %s: schedule %q: %w", f, rb.Schedule, err)
		}
		rbs = append(rbs, rb)
	}
	if len(rbs) == 0 {
		return nil, fmt.Errorf("no runbook with a schedule: in %s", dir)
	}
	return rbs, nil
}

// Start schedules the runbooks and, when Lease is set, renews this
// instance's lease every third of it.
func (s *Server) Start(ctx context.Context) {
	s.started = time.Now()
	s.Metrics.Started(s.started)
	s.runCtx, s.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	s.cron = cron.New(cron.WithParser(Parser))
	s.Reload(ctx, s.Runbooks)
	s.cron.Start()
	var hctx context.Context
	hctx, s.stopBeat = context.WithCancel(ctx)
	if s.Lease > 0 {
		s.beats.Add(1)
		go s.heartbeat(hctx)
	}
	if s.CheckWorkers != nil && s.CheckEvery > 0 {
		s.beats.Add(1)
		go s.checkWorkers(hctx)
	}
}

// checkWorkers checks the workers at once, then every CheckEvery, until
// ctx ends.
func (s *Server) checkWorkers(ctx context.Context) {
	defer s.beats.Done()
	tick := time.NewTicker(s.CheckEvery)
	defer tick.Stop()
	for {
		s.Metrics.Workers(s.CheckWorkers(ctx))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Reload schedules rbs in place of the runbooks scheduled so far (as on
// SIGHUP): runs going carry on; a runbook that is gone is no longer run,
// a new one is, a changed one runs as it now reads.
func (s *Server) Reload(ctx context.Context, rbs []*config.Runbook) {
	s.schedMu.Lock()
	defer s.schedMu.Unlock()
	for _, id := range s.entries {
		s.cron.Remove(id)
	}
	s.Runbooks, s.entries, s.jobs = rbs, map[string]cron.EntryID{}, map[string]func(time.Time){}
	for _, rb := range rbs {
		sched, _ := Parser.Parse(rb.Schedule) // LoadRunbooks checked it
		job := s.job(ctx, rb)
		var id cron.EntryID
		// The entry's Prev is the occurrence being run: what instances
		// sharing a store claim.
		id = s.cron.Schedule(aligned(sched), cron.FuncJob(func() { job(s.cron.Entry(id).Prev) }))
		s.entries[rb.Name], s.jobs[rb.Name] = id, job
	}
}

// scheduled returns the runbooks, each with its next run and its job.
func (s *Server) scheduled() ([]*config.Runbook, map[string]time.Time, map[string]func(time.Time)) {
	s.schedMu.Lock()
	defer s.schedMu.Unlock()
	next := map[string]time.Time{}
	if s.cron != nil {
		for name, id := range s.entries {
			next[name] = s.cron.Entry(id).Next
		}
	}
	return s.Runbooks, next, s.jobs
}

// busyFlag is runbook name's flag that a run of it is going here; it
// outlives reloads.
func (s *Server) busyFlag(name string) *atomic.Bool {
	s.busyMu.Lock()
	defer s.busyMu.Unlock()
	if s.busy == nil {
		s.busy = map[string]*atomic.Bool{}
	}
	if s.busy[name] == nil {
		s.busy[name] = &atomic.Bool{}
	}
	return s.busy[name]
}

// everySchedule is @every d, ticking on multiples of d (counted from
// Go's zero time), so that instances started at different times agree
// on its occurrences. cron's own starts counting at the process's start.
type everySchedule struct{ every time.Duration }

func (e everySchedule) Next(t time.Time) time.Time { return t.Truncate(e.every).Add(e.every) }

func aligned(sched cron.Schedule) cron.Schedule {
	if c, ok := sched.(cron.ConstantDelaySchedule); ok {
		return everySchedule{c.Delay}
	}
	return sched
}

// heartbeat renews the lease until ctx ends. Fenced (the others took
// this instance for dead and recorded its runs as interrupted), it
// cancels its running runs: others may be running those runbooks now.
func (s *Server) heartbeat(ctx context.Context) {
	defer s.beats.Done()
	log := zerolog.Ctx(ctx)
	tick := time.NewTicker(s.Lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := s.Store.Heartbeat(ctx)
		switch {
		case errors.Is(err, ErrFenced):
			log.Error().Err(err).Msg("cancelling this instance's running runs")
			for _, lr := range s.runningRuns() {
				lr.cancel(fmt.Errorf("this instance lost its lease (%w): another instance may take over the runbook", err))
			}
		case err != nil && ctx.Err() == nil:
			log.Error().Err(err).Msg("cannot renew this instance's lease")
		}
	}
}

// job is what the schedule calls for rb's occurrence at: a run, unless
// another instance sharing the store handles that occurrence, or a run
// of rb is still going (then it is skipped). "Run now" calls it with a
// zero time: a run, unless one is going here.
func (s *Server) job(ctx context.Context, rb *config.Runbook) func(at time.Time) {
	log := zerolog.Ctx(ctx).With().Str("runbook", rb.Name).Logger()
	busy := s.busyFlag(rb.Name)
	skip := func() {
		s.Metrics.Skip(rb.Name)
		log.Warn().Msg("previous run still going: this scheduled run is skipped")
	}
	return func(at time.Time) {
		run := s.newRun(rb, at)
		wctx := context.WithoutCancel(s.runCtx)
		if at.IsZero() {
			if !busy.CompareAndSwap(false, true) {
				skip()
				return
			}
			defer busy.Store(false)
			if err := s.Store.Begin(wctx, run); err != nil {
				log.Error().Err(err).Msg("cannot record the run: it is not started")
				return
			}
		} else {
			c, err := s.Store.Claim(wctx, run)
			switch {
			case err != nil:
				log.Error().Err(err).Msg("this scheduled run is not started")
				return
			case c == Taken:
				log.Debug().Time("at", at).Msg("another instance handles this scheduled run")
				return
			case c == Busy:
				skip()
				return
			}
			busy.Store(true)
			defer busy.Store(false)
		}
		s.wg.Add(1)
		defer s.wg.Done()
		s.execute(s.runCtx, rb, run)
	}
}

// Stop stops scheduling, lets running steps finish for the grace period,
// then cancels them (their containers and work directories are removed).
func (s *Server) Stop() {
	stopped := s.cron.Stop()
	after := s.graceTimer
	if after == nil {
		after = time.After
	}
	// Runs started by "Run now" are not cron's: the grace period covers
	// them too.
	done := make(chan struct{})
	go func() {
		<-stopped.Done()
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-after(s.Grace):
		s.cancel(fmt.Errorf("serve stopped and the grace period (%s) ran out: the steps were stopped and cleaned up", s.Grace))
	}
	s.wg.Wait()
	s.cancel(errors.New("serve stopped"))
	if s.stopBeat != nil {
		s.stopBeat()
		s.beats.Wait()
	}
}

// Listen opens addr. Beyond loopback it requires a token: the page shows
// run logs and starts and cancels runs.
func Listen(ctx context.Context, addr string, token bool) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		if !token {
			ln.Close()
			return nil, fmt.Errorf("--listen %s is not a loopback address: give a token (--token-file FILE or $CUTTLE_SERVE_TOKEN) that clients must present", addr)
		}
		zerolog.Ctx(ctx).Info().Str("listen", ln.Addr().String()).Msg("serving beyond loopback; clients need the token")
	}
	return ln, nil
}
