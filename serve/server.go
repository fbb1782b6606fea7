package serve

import (
	"context"
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

	// runbook, when set, stands in for NewRunner(out).Run in tests;
	// graceTimer for time.After in Stop.
	runbook    func(ctx context.Context, rb *config.Runbook, out io.Writer) ([]fleet.StepResult, error)
	graceTimer func(time.Duration) <-chan time.Time

	cron    *cron.Cron
	entries map[string]cron.EntryID
	jobs    map[string]func() // by runbook: what the schedule and "Run now" call
	started time.Time
	runCtx  context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	seq     atomic.Int64
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

// Start schedules the runbooks.
func (s *Server) Start(ctx context.Context) {
	s.started = time.Now()
	s.Metrics.Started(s.started)
	s.runCtx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.entries = map[string]cron.EntryID{}
	s.cron = cron.New(cron.WithParser(Parser))
	s.jobs = map[string]func(){}
	for _, rb := range s.Runbooks {
		job := s.job(ctx, rb)
		id, _ := s.cron.AddFunc(rb.Schedule, job)
		s.entries[rb.Name], s.jobs[rb.Name] = id, job
	}
	s.cron.Start()
}

// job is what the schedule calls for rb: a run, unless the previous one
// is still going.
func (s *Server) job(ctx context.Context, rb *config.Runbook) func() {
	log := zerolog.Ctx(ctx)
	busy := &atomic.Bool{} // this runbook has a run going
	return func() {
		if !busy.CompareAndSwap(false, true) {
			s.Metrics.Skip(rb.Name)
			log.Warn().Str("runbook", rb.Name).Msg("previous run still going: this scheduled run is skipped")
			return
		}
		s.wg.Add(1)
		defer s.wg.Done()
		defer busy.Store(false)
		s.runOnce(s.runCtx, rb)
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
	select {
	case <-stopped.Done():
	case <-after(s.Grace):
		s.cancel()
	}
	s.wg.Wait()
	s.cancel()
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
