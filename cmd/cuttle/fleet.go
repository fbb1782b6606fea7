package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/fleet"
	"github.com/cuttle-sh/cuttle/remote"
	"github.com/cuttle-sh/cuttle/transport"
)

// fleetSetup loads the config, the connection defaults and the selection.
func fleetSetup(fl *config.Flags, names []string) (*config.Config, fleet.Defaults, []string, error) {
	cfg, err := config.Load(fl.String("config"))
	if err != nil {
		return nil, fleet.Defaults{}, nil, inputError("%w", err)
	}
	d, err := defaultsFromFlags(fl)
	if err != nil {
		return nil, d, nil, inputError("%w", err)
	}
	sel, err := fleet.Selection(cfg, names, fl.String("pool"))
	if err != nil {
		return nil, d, nil, inputError("%w", err)
	}
	return cfg, d, sel, nil
}

func newWorkersCmd(io stdio) *cobra.Command {
	cmd := &cobra.Command{Use: "workers", Short: "Inspect workers"}
	check := &cobra.Command{
		Use:   "check [NAME...]",
		Short: "Check reachability, host key, auth, docker, arch, disk, clock and more on each worker; names the fix",
	}
	f := check.Flags()
	connectionFlags(f)
	f.String("pool", "", "check every worker of this pool")
	f.String("output", "table", "table or json")
	f.Int("steps", 4, "steps expected at once on a worker outside a pool with max_steps_per_worker, for the sshd session check")
	check.RunE = withFlags(func(ctx context.Context, fl *config.Flags, args []string) error {
		cfg, d, names, err := fleetSetup(fl, args)
		if err != nil {
			return err
		}
		self, err := bundle.Self()
		if err != nil {
			return inputError("%w", err)
		}
		findings, errs := checkWorkers(ctx, cfg, names, d, self, fl.Int("steps"))
		type workerResult struct {
			Worker   string           `json:"worker"`
			Healthy  bool             `json:"healthy"`
			Error    string           `json:"error,omitempty"`
			Findings []remote.Finding `json:"findings"`
		}
		var results []workerResult
		healthy := true
		for _, n := range names {
			r := workerResult{Worker: n, Findings: findings[n]}
			if err := errs[n]; err != nil {
				r.Error = err.Error()
				r.Findings = append(r.Findings, remote.Finding{Check: "connect", Status: "fail", Detail: err.Error()})
			}
			r.Healthy = r.Error == "" && remote.Healthy(r.Findings)
			healthy = healthy && r.Healthy
			results = append(results, r)
		}
		if fl.String("output") == "json" {
			enc := json.NewEncoder(io.Out)
			enc.SetIndent("", "  ")
			enc.Encode(results)
		} else {
			tw := tabwriter.NewWriter(io.Out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WORKER\tCHECK\tSTATUS\tDETAIL\tFIX")
			for _, r := range results {
				for _, f := range r.Findings {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Worker, f.Check, f.Status, f.Detail, f.Fix)
				}
			}
			tw.Flush()
		}
		if !healthy {
			return scriptExit{code: 1}
		}
		return nil
	})
	cmd.AddCommand(check)
	return cmd
}

// checkWorkers runs workers check's checks on the named workers, steps
// being the steps expected at once on a worker outside a pool with
// max_steps_per_worker; it returns each worker's findings and error.
func checkWorkers(ctx context.Context, cfg *config.Config, names []string, d fleet.Defaults, self bundle.Bundle, steps int) (map[string][]remote.Finding, map[string]error) {
	var mu sync.Mutex
	findings := map[string][]remote.Finding{}
	errs := fleet.ForEach(ctx, cfg, names, d, 20, func(ctx context.Context, name string, conn *transport.Conn) error {
		f, err := remote.Doctor(ctx, conn, self, time.Now(), bundle.Available().Platforms()...)
		if err == nil {
			steps := steps
			if pool := workerPool(cfg, name); pool != "" && cfg.Pools[pool].MaxStepsPerWorker > 0 {
				steps = cfg.Pools[pool].MaxStepsPerWorker
			}
			if n, serr := conn.SessionLimit(steps * remote.SessionsPerStep); serr == nil {
				f = append(f, remote.SessionsFinding(n, steps))
			}
		}
		mu.Lock()
		findings[name] = f
		mu.Unlock()
		return err
	})
	return findings, errs
}

func newGCCmd(io stdio) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gc [--worker W|--pool P]",
		Short: "Remove what cuttle left on workers: stopped containers, old work directories, stale bundles and builds",
		Args:  cobra.NoArgs,
	}
	f := cmd.Flags()
	connectionFlags(f)
	f.StringArray("worker", nil, "a worker (repeatable)")
	f.String("pool", "", "every worker of this pool")
	f.Duration("older-than", 24*time.Hour, "remove only what is older than this; running steps are never touched")
	f.Bool("dry-run", false, "list what would be removed, and what is kept and why, removing nothing")
	f.String("output", "text", "text, or json: one object per worker")
	cmd.RunE = withFlags(func(ctx context.Context, fl *config.Flags, _ []string) error {
		cfg, d, names, err := fleetSetup(fl, fl.Strings("worker"))
		if err != nil {
			return err
		}
		age, err := time.ParseDuration(orDefault(fl.String("older-than"), "24h"))
		if err != nil {
			return inputError("--older-than: %w", err)
		}
		self, _ := bundle.Self()
		var mu sync.Mutex
		lines := map[string][]string{}
		dry := fl.Bool("dry-run")
		errs := fleet.ForEach(ctx, cfg, names, d, 20, func(ctx context.Context, name string, conn *transport.Conn) error {
			if dry {
				p, err := remote.GCPlanOn(ctx, conn, age, self.Digest)
				mu.Lock()
				defer mu.Unlock()
				lines[name] = p.Lines()
				return err
			}
			removed, failed, kept, err := remote.GC(ctx, conn, age, self)
			mu.Lock()
			defer mu.Unlock()
			for _, r := range removed {
				lines[name] = append(lines[name], "removed "+r)
			}
			for _, k := range kept {
				lines[name] = append(lines[name], "kept "+k)
			}
			for _, f := range failed {
				lines[name] = append(lines[name], "FAILED "+f)
			}
			if err == nil && len(failed) > 0 {
				err = fmt.Errorf("could not remove %d item(s)", len(failed))
			}
			return err
		})
		if failed := printPerWorker(io, fl.String("output"), names, lines, errs); failed {
			return scriptExit{code: 1}
		}
		return nil
	})
	return cmd
}

// printPerWorker prints each worker's result lines and error: "NAME:
// LINE" text, or with --output json an array of {worker, results, error}.
// It says whether any worker failed.
func printPerWorker(io stdio, format string, names []string, lines map[string][]string, errs map[string]error) (failed bool) {
	type entry struct {
		Worker  string   `json:"worker"`
		Results []string `json:"results"`
		Error   string   `json:"error,omitempty"`
	}
	var all []entry
	for _, n := range names {
		e := entry{Worker: n, Results: lines[n]}
		if e.Results == nil {
			e.Results = []string{}
		}
		if errs[n] != nil {
			e.Error, failed = errs[n].Error(), true
		}
		all = append(all, e)
	}
	if format == "json" {
		enc := json.NewEncoder(io.Out)
		enc.SetIndent("", "  ")
		_ = enc.Encode(all)
		return failed
	}
	for _, e := range all {
		for _, l := range e.Results {
			fmt.Fprintf(io.Out, "%s: %s\n", e.Worker, l)
		}
		if e.Error != "" {
			fmt.Fprintf(io.Out, "%s: error: %s\n", e.Worker, e.Error)
		}
	}
	return failed
}

func newImagesCmd(io stdio) *cobra.Command {
	cmd := &cobra.Command{Use: "images", Short: "Manage images on workers"}
	pull := &cobra.Command{
		Use:   "pull IMAGE...",
		Short: "Pull images on every worker of a pool in parallel, so the first deployment is fast",
		Args:  cobra.MinimumNArgs(1),
	}
	f := pull.Flags()
	connectionFlags(f)
	f.String("pool", "", "the pool whose workers pull (default: every worker)")
	f.String("feed", "", "a feed from the config whose credentials pull the images")
	f.String("output", "text", "text, or json: one object per worker")
	pull.RunE = withFlags(func(ctx context.Context, fl *config.Flags, images []string) error {
		cfg, d, names, err := fleetSetup(fl, nil)
		if err != nil {
			return err
		}
		for _, img := range images {
			if err := remote.ValidateImage(img); err != nil {
				return inputError("%w", err)
			}
		}
		var mu sync.Mutex
		done := map[string][]string{}
		errs := fleet.ForEach(ctx, cfg, names, d, 20, func(ctx context.Context, name string, conn *transport.Conn) error {
			for _, img := range images {
				rs := config.RunbookStep{Name: "pull", Container: config.Container{Image: img, Feed: fl.String("feed")}, Script: config.Script{Inline: "true"}}
				vars, _ := fleet.ParseVariables(nil, nil)
				st, err := fleet.BuildStep(cfg, fleet.StepInput{Step: rs, Vars: vars, Worker: name})
				if err != nil {
					return err
				}
				start := time.Now()
				if err := remote.PullOnly(ctx, conn, img, st.Feed); err != nil {
					return fmt.Errorf("%s: %w", img, err)
				}
				mu.Lock()
				done[name] = append(done[name], fmt.Sprintf("%s (%s)", img, time.Since(start).Round(time.Millisecond)))
				mu.Unlock()
			}
			return nil
		})
		failed := false
		keys := make([]string, 0, len(errs))
		for n := range errs {
			keys = append(keys, n)
		}
		sort.Strings(keys)
		if fl.String("output") == "json" {
			lines := map[string][]string{}
			for n, d := range done {
				for _, p := range d {
					lines[n] = append(lines[n], "pulled "+p)
				}
			}
			if printPerWorker(io, "json", keys, lines, errs) {
				return scriptExit{code: exitCannotRun}
			}
			return nil
		}
		for _, n := range keys {
			if errs[n] != nil {
				failed = true
				fmt.Fprintf(io.Out, "%s: FAILED: %v\n", n, errs[n])
			} else {
				fmt.Fprintf(io.Out, "%s: pulled %s\n", n, strings.Join(done[n], ", "))
			}
		}
		if failed {
			return scriptExit{code: exitCannotRun}
		}
		return nil
	})
	cmd.AddCommand(pull)
	return cmd
}

// workerPool is the pool a configured worker belongs to ("" for none or
// for a worker given as a URL).
func workerPool(cfg *config.Config, name string) string {
	if cfg == nil {
		return ""
	}
	return cfg.Workers[name].Pool
}
