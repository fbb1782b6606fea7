package main

import (
	"context"
	"errors"
	"fmt"
	goio "io"
	"time"

	"github.com/hashicorp/go-multierror"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/fleet"
	"github.com/cuttle-sh/cuttle/remote"
)

// connectionFlags are shared by every command that reaches workers.
func connectionFlags(f *pflag.FlagSet) {
	f.StringArray("identity", nil, "private key file (repeatable); ssh-agent is used when SSH_AUTH_SOCK is set")
	f.String("password-env", "", "read the SSH password from this environment variable")
	f.String("known-hosts", "", "known_hosts file (default ~/.ssh/known_hosts); unknown or changed host keys are refused")
	f.String("host-key-fingerprint", "", "pin the worker's host key (SHA256:...) instead of known_hosts")
	f.String("jump", "", "jump hosts, as ssh -J: user@host:port[,user@host:port] or worker names")
	f.Duration("connect-timeout", 15*time.Second, "bound on TCP connect plus SSH handshake")
	f.Duration("keepalive", 15*time.Second, "keepalive interval; the worker is declared unreachable after 3 unanswered")
	f.String("ssh-config", "", "OpenSSH client config for Host aliases, ProxyJump, IdentityFile... (default ~/.ssh/config; none to ignore)")
	f.String("strict-host-key-checking", "yes", "yes, or accept-new to record the key of a host not yet in known_hosts (a changed key is still refused)")
}

// windowFlag is --reattach-window, for the commands that run steps.
func windowFlag(f *pflag.FlagSet) {
	f.Duration("reattach-window", 5*time.Minute, "a step outlives a lost link this long: the controller reconnects and resumes its output within it, and the worker removes the step itself once its controller has been silent that long (dead man's switch); 0 turns both off")
	// The window's first name, from when it armed only the dead man's switch.
	f.SetNormalizeFunc(func(_ *pflag.FlagSet, name string) pflag.NormalizedName {
		if name == "dead-man-window" {
			name = "reattach-window"
		}
		return pflag.NormalizedName(name)
	})
}

func newRunbookCmd(io stdio) *cobra.Command {
	cmd := &cobra.Command{Use: "runbook", Short: "Run runbooks: ordered steps across workers and pools"}
	run := &cobra.Command{
		Use:   "run FILE.yaml",
		Short: "Run a runbook's steps in order; output variables flow forward",
		Args:  cobra.ExactArgs(1),
	}
	f := run.Flags()
	connectionFlags(f)
	windowFlag(f)
	f.StringArray("var", nil, "a variable NAME=VALUE (repeatable)")
	f.StringArray("sensitive-var", nil, "a sensitive variable NAME=ENVVAR (repeatable)")
	f.String("artifacts", "artifacts", "where artifacts land")
	f.String("report", "", "write a JSON report of every step on every worker")
	f.Int("max-parallel", 10, "steps running at once from this controller")
	f.Bool("verbose", false, "show the scripts' verbose lines")
	f.Bool("dry-run", false, "print each step's plan on each worker it may run on (image, options, mounts, the commands it would run on the worker; secrets masked) and run nothing")
	f.String("environment", "", "the environment to run in: steps not for it are skipped, its environment_variables apply")
	run.RunE = withFlags(func(ctx context.Context, fl *config.Flags, args []string) error {
		return runRunbook(ctx, io, fl, args[0])
	})
	check := &cobra.Command{
		Use:   "check FILE.yaml",
		Short: "Check a runbook without running it: every problem at once, exit 125 if any",
		Args:  cobra.ExactArgs(1),
	}
	check.Flags().String("ssh-config", "", "OpenSSH client config whose Host aliases count as workers (default ~/.ssh/config; none to ignore)")
	check.Flags().String("output", "text", "text, or json: {runbook, ok, steps, error}")
	check.RunE = withFlags(func(ctx context.Context, fl *config.Flags, args []string) error {
		asJSON, err := jsonOutput(fl)
		if err != nil {
			return err
		}
		_, rb, err := loadRunbook(fl, args[0])
		if asJSON {
			res := struct {
				Runbook string `json:"runbook"`
				OK      bool   `json:"ok"`
				Steps   int    `json:"steps"`
				Error   string `json:"error,omitempty"`
			}{Runbook: args[0], OK: err == nil}
			if err != nil {
				res.Error = err.Error()
			} else {
				res.Steps = len(rb.Steps)
			}
			if werr := writeJSON(io.Out, res); werr != nil {
				return werr
			}
			return err
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(io.Out, "runbook %s: %d steps, ok\n", args[0], len(rb.Steps))
		return nil
	})
	cmd.AddCommand(run, check)
	return cmd
}

// loadRunbook reads the config and the runbook, and checks the runbook
// whole before anything runs: its shape, its files and images, and that
// each worker it names exists.
func loadRunbook(fl *config.Flags, file string) (*config.Config, *config.Runbook, error) {
	cfg, err := config.Load(fl.String("config"))
	if err != nil {
		return nil, nil, inputError("%w", err)
	}
	rb, err := config.LoadRunbook(file, cfg)
	if err != nil {
		return nil, nil, inputError("%w", err)
	}
	known, _ := fleet.Candidates(cfg, fl.String("ssh-config"))
	if err := rb.CheckWorkers(cfg, known); err != nil {
		return nil, nil, inputError("%w", err)
	}
	return cfg, rb, nil
}

func runRunbook(ctx context.Context, io stdio, fl *config.Flags, file string) error {
	cfg, rb, err := loadRunbook(fl, file)
	if err != nil {
		return err
	}
	if err := rb.ForEnvironment(fl.String("environment")); err != nil {
		return inputError("runbook %s: %w", file, err)
	}
	defaults, err := defaultsFromFlags(fl)
	if err != nil {
		return inputError("%w", err)
	}
	extra, err := fleet.ParseVariables(fl.Strings("var"), fl.Strings("sensitive-var"))
	if err != nil {
		return inputError("%w", err)
	}
	self, err := bundle.Self()
	if err != nil {
		return inputError("%w", err)
	}
	window, err := reattachWindow(fl)
	if err != nil {
		return inputError("%w", err)
	}
	r := &fleet.Runner{Config: cfg, Defaults: defaults, Bundle: self, Output: stepOutput(io, fl),
		ArtifactsDir: orDefault(fl.String("artifacts"), "artifacts"), MaxParallel: fl.Int("max-parallel"), TimeoutCause: errTimeout,
		ReattachWindow: window, Tickets: keepTicket(zerolog.Ctx(ctx)), Controller: newController(), Environment: fl.String("environment")}
	if fl.Bool("dry-run") {
		if err := r.DryRun(io.Out, rb, extra); err != nil {
			return inputError("%w", err)
		}
		return nil
	}
	results, runErr := r.Run(ctx, rb, extra)
	rep := &report{}
	code := exitOK
	for _, res := range results {
		sr := stepReport{Name: res.Step, Worker: res.Worker, Skipped: res.Skipped}
		if res.Target != "" {
			sr.Worker = res.Worker + " (" + res.Target + ")"
		}
		if !res.Skipped {
			sr.record(res.Result, res.Err, res.Masks)
			sr.recordAttempts(res.Attempts, res.Masks)
		}
		if res.Failed() && code == exitOK {
			code = sr.ExitCode
		}
		rep.Steps = append(rep.Steps, sr)
	}
	if fl.String("log-format") != "json" {
		// With JSON logs stderr holds JSON only; the report has the same.
		writeRecap(io.Err, rep.Steps)
	}
	if p := fl.String("report"); p != "" {
		if err := rep.write(p); err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Msg("writing the report failed")
		}
	}
	if cause := context.Cause(ctx); errors.Is(cause, errInterrupted) {
		return cause
	}
	if runErr != nil {
		// One line per failure, each masked with the run's masks.
		var failures *multierror.Error
		if errors.As(runErr, &failures) {
			for _, err := range failures.Errors {
				zerolog.Ctx(ctx).Error().Err(err).Msg("runbook step failed")
			}
		} else {
			zerolog.Ctx(ctx).Error().Err(runErr).Msg("runbook failed")
		}
		if code == exitOK {
			code = exitCannotRun
		}
		return scriptExit{code: code}
	}
	return nil
}

// reattachWindow reads --reattach-window.
func reattachWindow(fl *config.Flags) (time.Duration, error) {
	v := orDefault(fl.String("reattach-window"), "5m")
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("--reattach-window %q: want a duration such as 5m, or 0 to turn reattaching and the dead man's switch off", v)
	}
	return d, nil
}

// stepOutput is where steps' output goes for run and runbook run: the
// script's stdout and stderr, verbose lines with --verbose or debug logs,
// and pull/build progress on stderr unless logs are JSON.
func stepOutput(io stdio, fl *config.Flags) remote.Output {
	out := remote.Output{Stdout: io.term.out(io), Stderr: io.term.err(io), Verbose: fl.Bool("verbose") || fl.String("log-level") == "debug",
		Live: isTerminal(io.Out) || isTerminal(io.Err)}
	if fl.String("log-format") == "json" {
		out.Progress = goio.Discard // structured logs stay parseable
	}
	return out
}
