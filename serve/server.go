package serve

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
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
	for _, rb := range s.Runbooks {
		id, _ := s.cron.AddFunc(rb.Schedule, s.job(ctx, rb))
		s.entries[rb.Name] = id
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

// Handler serves /healthz, /metrics, / and /runs/<id>/log.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("/metrics", s.Metrics.Handler())
	mux.HandleFunc("/runs/{id}/log", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		log, err := s.Store.Log(r.Context(), id)
		if lr := s.running(id); lr != nil {
			log, err = lr.log.Bytes(), nil
		}
		if errors.Is(err, ErrNoRun) {
			http.NotFound(w, r)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(log)
	})
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		type rbView struct{ Name, Schedule, Next string }
		var rbs []rbView
		for _, rb := range s.Runbooks {
			next := s.cron.Entry(s.entries[rb.Name]).Next
			rbs = append(rbs, rbView{rb.Name, rb.Schedule, next.Format(time.RFC3339)})
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		runs, _ := s.Store.Recent(r.Context(), 50)
		page.Execute(w, map[string]any{"Runbooks": rbs, "Runs": runs})
	})
	return mux
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>cuttle serve</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}.failed{color:#b00}.succeeded{color:#070}</style></head>
<body><h1>cuttle serve</h1>
<h2>Runbooks</h2>
<table><tr><th>runbook</th><th>schedule</th><th>next run</th></tr>
{{range .Runbooks}}<tr><td>{{.Name}}</td><td><code>{{.Schedule}}</code></td><td>{{.Next}}</td></tr>{{end}}
</table>
<h2>Recent runs</h2>
<table><tr><th>run</th><th>runbook</th><th>start</th><th>duration</th><th>status</th><th>steps</th><th>log</th></tr>
{{range .Runs}}<tr><td>{{.ID}}</td><td>{{.Runbook}}</td><td>{{.Start.Format "2006-01-02 15:04:05"}}</td><td>{{.Duration}}</td><td class="{{.Status}}">{{.Status}}</td>
<td>{{range .Steps}}{{.Name}}{{if .Worker}}@{{.Worker}}{{end}}={{if .Skipped}}skipped{{else}}{{.ExitCode}}{{end}} {{end}}</td><td><a href="/runs/{{.ID}}/log">log</a></td></tr>{{end}}
</table></body></html>
`))

// Listen opens addr, warning when it is not a loopback address: the page
// shows run logs.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
		zerolog.Ctx(ctx).Warn().Str("listen", ln.Addr().String()).Msg("serving run logs on a non-loopback address")
	}
	return ln, nil
}
