package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/fleet"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/internal/secret"
	"github.com/cuttle-sh/cuttle/packages"
	"github.com/cuttle-sh/cuttle/remote"
	"github.com/cuttle-sh/cuttle/transport"
)

func newRunCmd(io stdio) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run one step in a container on one worker",
		Long: "Run one step: a script in a container of the image on the worker, reached over SSH;\n" +
			"the container and the work directory are removed afterwards.\n\n" + exitCodesHelp,
		Example: `  cuttle run --worker w1 --image alpine:3 --inline 'uname -a'
  cuttle run --worker ssh://deploy@10.0.0.5:22 --image python:3.12 --script deploy.sh --var Env=prod
  cuttle run --worker w1 --image alpine:3 --inline 'echo $DB' --sensitive-var DB=DB_PASSWORD --timeout 10m
  cuttle run --worker w1 --image alpine:3 --script build.sh --dry-run`,
		Args: cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("worker", "", "worker: a name from the config, or ssh://user@host:port")
	connectionFlags(f)
	windowFlag(f)
	f.String("image", "", "run inside this image")
	f.String("dockerfile", "", "build the image on the worker from this Dockerfile (no context), cached by content")
	f.String("dockerfile-url", "", "build the image on the worker from a Git URL, repo.git#ref:subdir, cached by resolved commit")
	f.StringArray("build-arg", nil, "a build argument KEY=VALUE (repeatable)")
	f.String("feed", "", "a feed from the config whose credentials pull the image")
	f.String("registry-username", "", "user name for the image's registry")
	f.String("registry-password-env", "", "read the registry password from this environment variable")
	f.String("pull", "", "pull policy: always, missing or never (default always for tags, missing for digests)")
	f.String("script", "", "the step's script file")
	f.String("inline", "", "the step's script text")
	f.String("syntax", "", "bash or sh (default from the script's extension, else bash)")
	f.String("script-parameters", "", "the script's positional parameters, read as bash reads the rest of a command line (also the variable "+fleet.ScriptParametersVariable+")")
	f.String("name", "", "step name (default: run)")
	f.String("report", "", "write a JSON report to this file")
	f.Duration("timeout", 0, "stop the step after this long (exit 124)")
	f.Bool("keep-workspace", false, "leave the work directory on the worker for debugging")
	f.StringArray("var", nil, "a variable NAME=VALUE (repeatable)")
	f.StringArray("sensitive-var", nil, "a sensitive variable NAME=ENVVAR, its value read from the environment variable ENVVAR; masked in all output (repeatable)")
	f.String("container-options", "", "extra docker run options, split like shell words (also the variable "+fleet.ContainerOptionsVariable+")")
	f.String("artifacts", "artifacts", "where artifacts land, as DIR/<step name>/<artifact name>")
	f.Bool("verbose", false, "show the script's verbose lines (write_verbose)")
	f.String("runner-bundle", "", "run the step with your own runner (Octopus's Calamari): this local directory is uploaded and cached on the worker")
	f.String("runner-command", "", "the external runner's command: {bundle}, {workdir}, {script}, {variables}, {password} are filled in")
	f.Bool("allow-privileged", false, "permit container options that give the step the worker (--privileged, -v /:/host, ...)")
	f.StringArray("package", nil, "a package NAME=SOURCE[,extract=false][,id=ID][,version=V][,feed=F][,acquisition=worker] placed in $PWD/NAME (repeatable)")
	f.StringArray("substitute-in-files", nil, "evaluate these files of the extracted packages (NAME/path, * and ** allowed) as templates with the step's variables before the script runs (repeatable)")
	f.Bool("dry-run", false, "print the step's plan (worker, image, options, mounts, the commands it would run on the worker; secrets masked) and run nothing")
	cmd.RunE = withFlags(func(ctx context.Context, fl *config.Flags, _ []string) error { return runStep(ctx, io, fl) })
	return cmd
}

// inputError is bad input detected before anything touched a worker.
func inputError(format string, a ...any) error {
	return &remote.StepError{Reason: remote.ReasonInput, Err: fmt.Errorf(format, a...)}
}

// defaultsFromFlags are the connection flags every command shares.
func defaultsFromFlags(fl *config.Flags) (fleet.Defaults, error) {
	d := fleet.Defaults{Identities: fl.Strings("identity"), KnownHosts: fl.String("known-hosts"),
		Fingerprint: fl.String("host-key-fingerprint"), Jump: fl.String("jump"), SSHConfig: fl.String("ssh-config")}
	switch v := fl.String("strict-host-key-checking"); v {
	case "", "yes":
	case "accept-new":
		d.AcceptNew = true
	default:
		return d, fmt.Errorf("--strict-host-key-checking %q: want yes or accept-new (cuttle never trusts an unverified host key)", v)
	}
	if env := fl.String("password-env"); env != "" {
		pw, ok := os.LookupEnv(env)
		if !ok {
			return d, fmt.Errorf("--password-env %s: that environment variable is not set", env)
		}
		d.Password = secret.New(pw)
	}
	var err error
	if d.ConnectTimeout, err = time.ParseDuration(orDefault(fl.String("connect-timeout"), "15s")); err != nil {
		return d, fmt.Errorf("--connect-timeout: %w", err)
	}
	if d.KeepAlive, err = time.ParseDuration(orDefault(fl.String("keepalive"), "15s")); err != nil || d.KeepAlive <= 0 {
		return d, fmt.Errorf("--keepalive %q: want a positive duration such as 15s", fl.String("keepalive"))
	}
	return d, nil
}

func runStep(ctx context.Context, io stdio, fl *config.Flags) error {
	log := zerolog.Ctx(ctx)
	worker := fl.String("worker")
	if worker == "" {
		return inputError("no worker: give --worker NAME or --worker ssh://user@host:port")
	}
	cfg, target, err := resolveWorker(fl, worker)
	if err != nil {
		return err
	}
	rs, err := runbookStepFromFlags(fl)
	if err != nil {
		return inputError("%w", err)
	}
	vars, err := fleet.ParseVariables(fl.Strings("var"), fl.Strings("sensitive-var"))
	if err != nil {
		return inputError("%w", err)
	}
	feed, err := feedFromFlags(fl, rs.Container.Image)
	if err != nil {
		return inputError("%w", err)
	}
	var external *remote.ExternalRunner
	if b, c := fl.String("runner-bundle"), fl.String("runner-command"); b != "" || c != "" {
		if b == "" || c == "" {
			return inputError("--runner-bundle and --runner-command go together")
		}
		external = &remote.ExternalRunner{BundleDir: b, Command: c}
	}
	window, err := reattachWindow(fl)
	if err != nil {
		return inputError("%w", err)
	}
	st, err := fleet.BuildStep(cfg, fleet.StepInput{Step: rs, BaseDir: ".", Vars: vars, Worker: worker, Feed: feed, External: external,
		AllowPrivileged: fl.Bool("allow-privileged"), ArtifactsDir: orDefault(fl.String("artifacts"), "artifacts"),
		KeepWorkspace: fl.Bool("keep-workspace"), ReattachWindow: window})
	if err != nil {
		return inputError("%w", err)
	}
	self, err := bundle.Self()
	if err != nil {
		return inputError("%w", err)
	}
	var store packages.Store
	defer store.Close()
	if err := fleet.AcquirePackages(ctx, &store, &st); err != nil {
		return inputError("%w", err)
	}
	if fl.Bool("dry-run") {
		if err := remote.NewController().DryRun(io.Out, worker+" ("+target.String()+")", self, st, vars.Masks()); err != nil {
			return inputError("%w", err)
		}
		return nil
	}
	if d, err := time.ParseDuration(orDefault(fl.String("timeout"), "0")); err != nil {
		return inputError("--timeout %q: %w", fl.String("timeout"), err)
	} else if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, d, errTimeout)
		defer cancel()
	}
	ctx = fleet.LabelProgress(ctx, cfg, worker)
	return oneStep(ctx, fl, target, stepReport{Name: st.Name, Worker: target.String(), Image: st.Image}, func(conn *transport.Conn) (remote.Result, error, *mask.Set) {
		drop := func() {}
		out := stepOutput(io, fl)
		out.Masks = vars.Masks()
		out.OnTicket = func(t remote.Ticket) {
			t.Worker = worker
			drop = keepTicket(log)(t)
		}
		defer func() { drop() }()
		res, err := newController().Run(ctx, conn, self, st, out)
		return res, err, out.Masks
	})
}

// resolveWorker loads the config and resolves worker (a name from it, or
// ssh://...) with the connection flags.
func resolveWorker(fl *config.Flags, worker string) (*config.Config, transport.Target, error) {
	cfg, err := config.Load(fl.String("config"))
	if err != nil {
		return nil, transport.Target{}, inputError("%w", err)
	}
	defaults, err := defaultsFromFlags(fl)
	if err != nil {
		return nil, transport.Target{}, inputError("%w", err)
	}
	target, err := fleet.Resolve(cfg, worker, defaults)
	if err != nil {
		return nil, transport.Target{}, inputError("--worker: %w", err)
	}
	return cfg, target, nil
}

// oneStep connects to target and runs do there, as run and attach both
// do: the report (--report) is written whatever happens, a cleanup that
// did not finish is warned about, and the outcome becomes the exit.
func oneStep(ctx context.Context, fl *config.Flags, target transport.Target, sr stepReport, do func(*transport.Conn) (remote.Result, error, *mask.Set)) error {
	log := zerolog.Ctx(ctx)
	rep := &report{}
	defer func() {
		if p := fl.String("report"); p != "" {
			rep.Steps = append(rep.Steps, sr)
			if werr := rep.write(p); werr != nil {
				log.Error().Err(werr).Str("report", p).Msg("writing the report failed")
			}
		}
	}()
	dialed := time.Now()
	conn, err := transport.Dial(ctx, target)
	connect := time.Since(dialed)
	if err != nil {
		sr.Error, sr.ExitCode = err.Error(), codeFor(err)
		if cause := context.Cause(ctx); cause != nil {
			// The report says what the exit code says (124, 130).
			sr.Error, sr.ExitCode = cause.Error()+": "+err.Error(), codeFor(cause)
			return cause
		}
		// err names the worker (and the hop) already.
		return &remote.StepError{Reason: "connect", Err: err}
	}
	defer conn.Close()
	log.Debug().Str("worker", target.String()).Dur("connect", connect).Msg("connected")
	res, err, masks := do(conn)
	res.AddConnect(connect)
	sr.record(res, err, masks)
	if res.CleanupErr != nil {
		log.Warn().Err(res.CleanupErr).Msg("cleanup incomplete; run cuttle gc on this worker")
	}
	switch {
	case err != nil:
		return masks.Error(err)
	case res.ExitCode != 0:
		return scriptExit{code: res.ExitCode}
	}
	return nil
}

// codeFor is the exit code an error maps to, for the report.
func codeFor(err error) int {
	switch {
	case errors.Is(err, errTimeout):
		return exitTimeout
	case errors.Is(err, errInterrupted):
		return exitInterrupted
	}
	return exitCannotRun
}

// runbookStepFromFlags reads the step from `cuttle run`'s flags into the
// same shape a runbook step has, so both are built by fleet.BuildStep.
func runbookStepFromFlags(fl *config.Flags) (config.RunbookStep, error) {
	rs := config.RunbookStep{Name: orDefault(fl.String("name"), "run"), Worker: fl.String("worker")}
	image, file, url := fl.String("image"), fl.String("dockerfile"), fl.String("dockerfile-url")
	n := 0
	for _, s := range []string{image, file, url} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return rs, errors.New("give exactly one of --image IMAGE, --dockerfile FILE or --dockerfile-url GITURL")
	}
	for _, f := range fl.Strings("package") {
		sp, err := packages.ParseFlag(f)
		if err != nil {
			return rs, err
		}
		rs.Packages = append(rs.Packages, config.PackageRef{Name: sp.Name, Source: sp.Source.String(), Extract: &sp.Extract,
			ID: sp.ID, Version: sp.Version, Feed: sp.Feed, Acquisition: string(sp.Acquisition)})
	}
	rs.Container = config.Container{Image: image, DockerfileURL: url, BuildArgs: fl.Strings("build-arg"),
		Options: fl.String("container-options"), Pull: fl.String("pull"), Feed: fl.String("feed")}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return rs, fmt.Errorf("--dockerfile: %w", err)
		}
		if len(strings.TrimSpace(string(b))) == 0 {
			return rs, fmt.Errorf("--dockerfile %s is empty", file)
		}
		rs.Container.Dockerfile = string(b)
		if !strings.Contains(rs.Container.Dockerfile, "\n") {
			rs.Container.Dockerfile += "\n"
		}
	}
	script, inline := fl.String("script"), fl.String("inline")
	switch {
	case script != "" && inline != "":
		return rs, errors.New("give either --script FILE or --inline TEXT, not both")
	case script == "" && inline == "":
		return rs, errors.New("no script: give --script FILE or --inline TEXT")
	}
	rs.Script = config.Script{Inline: inline, File: script, Syntax: fl.String("syntax")}
	rs.Parameters = fl.String("script-parameters")
	rs.SubstituteInFiles = fl.Strings("substitute-in-files")
	for _, p := range rs.SubstituteInFiles {
		if err := rs.CheckSubstitute(p); err != nil {
			return rs, err
		}
	}
	return rs, nil
}

// feedFromFlags reads --registry-username and --registry-password-env.
func feedFromFlags(fl *config.Flags, image string) (*remote.Feed, error) {
	user, pwEnv := fl.String("registry-username"), fl.String("registry-password-env")
	if user == "" && pwEnv == "" {
		return nil, nil
	}
	if user == "" || pwEnv == "" {
		return nil, errors.New("--registry-username and --registry-password-env go together")
	}
	pw, ok := os.LookupEnv(pwEnv)
	if !ok {
		return nil, fmt.Errorf("--registry-password-env %s: that environment variable is not set", pwEnv)
	}
	return &remote.Feed{Registry: remote.RegistryOf(image), Username: user, Password: secret.New(pw)}, nil
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
