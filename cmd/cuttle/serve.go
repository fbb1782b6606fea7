package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/fleet"
	"github.com/cuttle-sh/cuttle/remote"
	"github.com/cuttle-sh/cuttle/serve"
)

func newServeCmd(io stdio) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the runbooks in a directory on their schedules; serve /healthz, /metrics and a status page",
		Args:  cobra.NoArgs,
	}
	f := cmd.Flags()
	connectionFlags(f)
	windowFlag(f)
	f.String("runbooks", "runbooks", "directory of runbook files (those with a schedule: run)")
	f.String("state", "", "state directory for run history and logs (default $XDG_STATE_HOME/cuttle or ~/.local/state/cuttle)")
	f.String("listen", "127.0.0.1:8080", "address of /healthz, /metrics and the status page (port 0 picks one)")
	f.Duration("grace", 5*time.Minute, "on SIGTERM, how long running steps may finish before they are stopped")
	f.String("artifacts", "artifacts", "where artifacts land")
	f.Int("keep-runs", 0, "keep at most this many finished runs (and their logs) in the history; 0 keeps all")
	f.String("token-file", "", "file holding the token that clients of the page and /metrics must present (or $CUTTLE_SERVE_TOKEN); required to --listen beyond loopback")
	f.String("keep-for", "", "keep finished runs (and their logs) this long, e.g. 30d or 12h; empty keeps all")
	f.String("database", "", "keep the history in PostgreSQL (postgres://user@host/db, password in $PGPASSWORD or ~/.pgpass), shared by several serve instances: each scheduled run runs once; default SQLite in --state")
	f.Duration("check-workers-every", 0, "run workers check on every worker this often (e.g. 5m) and export cuttle_worker_healthy; 0 does not")
	f.String("tls-cert", "", "serve the page over TLS with this certificate (PEM, leaf first, then its chain); with --tls-key")
	f.String("tls-key", "", "the --tls-cert certificate's private key (PEM)")
	f.Duration("lease", 30*time.Second, "with --database: an instance silent this long is taken for dead and its running runs recorded as interrupted")
	cmd.RunE = withFlags(func(ctx context.Context, fl *config.Flags, _ []string) error { return runServe(ctx, io, fl) })
	return cmd
}

func runServe(ctx context.Context, std stdio, fl *config.Flags) error {
	log := zerolog.Ctx(ctx)
	cfg, err := config.Load(fl.String("config"))
	if err != nil {
		return inputError("%w", err)
	}
	rbs, err := serve.LoadRunbooks(fl.String("runbooks"), cfg)
	if err != nil {
		return inputError("%w", err)
	}
	opts, err := serveFlags(fl)
	if err != nil {
		return inputError("%w", err)
	}
	newRunner, err := serveRunner(ctx, fl, cfg)
	if err != nil {
		return inputError("%w", err)
	}
	store, err := openServeStore(ctx, fl, opts)
	if err != nil {
		return inputError("%w", err)
	}
	defer store.Close()
	if _, err := store.Prune(ctx, opts.keep, time.Now()); err != nil {
		return err
	}
	metrics := serve.NewMetrics()
	last, err := store.Runbooks(ctx)
	if err != nil {
		return err
	}
	metrics.Seed(last)
	s := &serve.Server{Config: cfg, Runbooks: rbs, Store: store, Metrics: metrics, Grace: opts.grace, Keep: opts.keep,
		Token: opts.token, Lease: opts.lease, NewRunner: newRunner, CheckEvery: opts.checkEvery, CheckWorkers: healthCheck(fl, cfg)}
	ln, err := serve.Listen(ctx, fl.String("listen"), opts.token != "")
	if err != nil {
		return inputError("%w", err)
	}
	scheme := "http"
	if opts.tls != nil {
		ln, scheme = tls.NewListener(ln, opts.tls), "https"
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	s.Start(ctx)
	go reloadOnHUP(ctx, s, fl.String("runbooks"), cfg)
	fmt.Fprintf(std.Err, "cuttle serve: %d runbook(s), state in %s, listening on %s://%s\n", len(rbs), opts.state, scheme, ln.Addr())
	<-ctx.Done()
	log.Info().Dur("grace", opts.grace).Msg("stopping: running steps may finish within the grace period")
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	s.Stop()
	if errors.Is(context.Cause(ctx), errInterrupted) {
		return nil // a requested stop is a clean exit
	}
	return context.Cause(ctx)
}

// reloadOnHUP reads the runbooks directory again on each SIGHUP and
// schedules what it holds; a directory that no longer loads is logged
// and the runbooks scheduled so far stay.
func reloadOnHUP(ctx context.Context, s *serve.Server, dir string, cfg *config.Config) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	log := zerolog.Ctx(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		rbs, err := serve.LoadRunbooks(dir, cfg)
		if err != nil {
			log.Error().Err(err).Msg("SIGHUP: the runbooks stay as they were")
			continue
		}
		s.Reload(ctx, rbs)
		log.Info().Int("runbooks", len(rbs)).Str("dir", dir).Msg("SIGHUP: runbooks reloaded")
	}
}

// healthCheck is serve's periodic workers check: every worker in the
// configuration, healthy when workers check would pass it.
func healthCheck(fl *config.Flags, cfg *config.Config) func(context.Context) map[string]bool {
	return func(ctx context.Context) map[string]bool {
		out := map[string]bool{}
		d, err := defaultsFromFlags(fl)
		self, serr := bundle.Self()
		if err != nil || serr != nil {
			return out
		}
		names := slices.Sorted(maps.Keys(cfg.Workers))
		findings, errs := checkWorkers(ctx, cfg, names, d, self, 4)
		for _, n := range names {
			out[n] = errs[n] == nil && remote.Healthy(findings[n])
		}
		return out
	}
}

// serveOptions are serve's flags, checked.
type serveOptions struct {
	state, database, token string
	keep                   serve.Retention
	grace, lease           time.Duration
	checkEvery             time.Duration
	tls                    *tls.Config // nil: plain HTTP
}

func serveFlags(fl *config.Flags) (serveOptions, error) {
	o := serveOptions{state: fl.String("state"), database: fl.String("database")}
	if o.state == "" {
		if x := os.Getenv("XDG_STATE_HOME"); x != "" {
			o.state = x + "/cuttle"
		} else {
			o.state = fleet.ExpandHome("~/.local/state/cuttle")
		}
	}
	keepFor, err := serve.ParseAge(fl.String("keep-for"))
	if err != nil {
		return o, fmt.Errorf("--keep-for %w", err)
	}
	o.keep = serve.Retention{Runs: fl.Int("keep-runs"), For: keepFor}
	if o.keep.Runs < 0 {
		return o, fmt.Errorf("--keep-runs %d: give a number of runs, or 0 to keep all", o.keep.Runs)
	}
	if o.grace, err = time.ParseDuration(orDefault(fl.String("grace"), "5m")); err != nil {
		return o, fmt.Errorf("--grace: %w", err)
	}
	if o.lease, err = time.ParseDuration(orDefault(fl.String("lease"), "30s")); err != nil || o.lease <= 0 {
		return o, fmt.Errorf("--lease %q: give a positive duration such as 30s", fl.String("lease"))
	}
	if o.database == "" {
		o.lease = 0 // one instance: no leases
	}
	if o.checkEvery, err = time.ParseDuration(orDefault(fl.String("check-workers-every"), "0")); err != nil || o.checkEvery < 0 {
		return o, fmt.Errorf("--check-workers-every %q: give a duration such as 5m, or 0 for no checks", fl.String("check-workers-every"))
	}
	if o.tls, err = serve.LoadTLS(fl.String("tls-cert"), fl.String("tls-key")); err != nil {
		return o, err
	}
	o.token, err = serveToken(fl.String("token-file"))
	return o, err
}

// openServeStore opens the history: PostgreSQL with --database, else
// SQLite in the state directory.
func openServeStore(ctx context.Context, fl *config.Flags, o serveOptions) (serve.Store, error) {
	if o.database != "" {
		return serve.OpenPostgres(ctx, o.database, o.state, o.lease)
	}
	return serve.OpenSQLite(ctx, o.state)
}

// serveRunner returns what makes each run's runner. One controller for
// every run: steps of all runs count toward run_on: one's least busy
// worker and share bundle uploads.
func serveRunner(ctx context.Context, fl *config.Flags, cfg *config.Config) (func(io.Writer) *fleet.Runner, error) {
	defaults, err := defaultsFromFlags(fl)
	if err != nil {
		return nil, err
	}
	self, err := bundle.Self()
	if err != nil {
		return nil, err
	}
	window, err := reattachWindow(fl)
	if err != nil {
		return nil, err
	}
	ctl := newController()
	return func(out io.Writer) *fleet.Runner {
		return &fleet.Runner{Config: cfg, Defaults: defaults, Bundle: self,
			Output:       remote.Output{Stdout: out, Stderr: out, Progress: out},
			ArtifactsDir: orDefault(fl.String("artifacts"), "artifacts"), TimeoutCause: errTimeout,
			ReattachWindow: window, Tickets: keepTicket(zerolog.Ctx(ctx)), Controller: ctl}
	}, nil
}

// serveToken reads the page's token from --token-file, else from
// $CUTTLE_SERVE_TOKEN: never from argv, where other users could read it.
func serveToken(file string) (string, error) {
	tok, from := os.Getenv("CUTTLE_SERVE_TOKEN"), "$CUTTLE_SERVE_TOKEN"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("--token-file: %w", err)
		}
		tok, from = strings.TrimSpace(string(b)), "--token-file "+file
	}
	if tok != "" && len(tok) < 16 {
		return "", fmt.Errorf("%s: the token is %d characters; use at least 16 (openssl rand -hex 32 makes one)", from, len(tok))
	}
	return tok, nil
}
