package main

import (
	"context"
	"errors"
	"fmt"
	goio "io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/bootstrap"
	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/secret"
	"github.com/cuttle-sh/cuttle/remote"
	"github.com/cuttle-sh/cuttle/transport"
)

func newRunCmd(io stdio) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run one step in a container on one worker",
		Args:  cobra.NoArgs,
	}
	f := cmd.Flags()
	f.String("worker", "", "worker: a name from the config, or ssh://user@host:port")
	f.StringArray("identity", nil, "private key file (repeatable); ssh-agent is used when SSH_AUTH_SOCK is set")
	f.String("password-env", "", "read the SSH password from this environment variable")
	f.String("known-hosts", "", "known_hosts file (default ~/.ssh/known_hosts); unknown or changed host keys are refused")
	f.String("host-key-fingerprint", "", "pin the worker's host key (SHA256:...) instead of known_hosts")
	f.String("jump", "", "jump hosts, as ssh -J: user@host:port[,user@host:port]")
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
	f.String("name", "", "step name (default: run)")
	f.String("report", "", "write a JSON report to this file")
	f.Duration("timeout", 0, "stop the step after this long (exit 124)")
	f.Duration("connect-timeout", 15*time.Second, "bound on TCP connect plus SSH handshake")
	f.Duration("keepalive", 15*time.Second, "keepalive interval; the worker is declared unreachable after 3 unanswered")
	f.Bool("keep-workspace", false, "leave the work directory on the worker for debugging")
	f.StringArray("var", nil, "a variable NAME=VALUE (repeatable)")
	f.StringArray("sensitive-var", nil, "a sensitive variable NAME=ENVVAR, its value read from the environment variable ENVVAR; masked in all output (repeatable)")
	f.String("container-options", "", "extra docker run options, split like shell words (also the variable "+ContainerOptionsVariable+")")
	f.String("artifacts", "artifacts", "where artifacts land, as DIR/<step name>/<artifact name>")
	f.Bool("verbose", false, "show the script's verbose lines (write_verbose)")
	f.Bool("allow-privileged", false, "permit container options that give the step the worker (--privileged, -v /:/host, ...)")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		fl, err := config.BindFlags(cmd.Flags())
		if err != nil {
			return err
		}
		return runStep(cmd.Context(), io, fl)
	}
	return cmd
}

// inputError is bad input detected before anything touched a worker.
func inputError(format string, a ...any) error {
	return &remote.StepError{Reason: remote.ReasonInput, Err: fmt.Errorf(format, a...)}
}

func runStep(ctx context.Context, io stdio, fl *config.Flags) error {
	log := zerolog.Ctx(ctx)
	cfg, err := config.Load(fl.String("config"))
	if err != nil {
		return inputError("%w", err)
	}
	target, err := resolveTarget(cfg, fl)
	if err != nil {
		return inputError("%w", err)
	}
	st, err := stepFromFlags(fl, target.String())
	if err != nil {
		return inputError("%w", err)
	}
	if st.Feed, err = feedFromFlags(cfg, fl, st.Image); err != nil {
		return inputError("%w", err)
	}
	bundle, err := bootstrap.Self()
	if err != nil {
		return inputError("%w", err)
	}
	if d, err := time.ParseDuration(orDefault(fl.String("timeout"), "0")); err != nil {
		return inputError("--timeout %q: %w", fl.String("timeout"), err)
	} else if d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, d, errTimeout)
		defer cancel()
	}

	rep := &report{}
	sr := stepReport{Name: st.Name, Worker: target.String(), Image: st.Image}
	defer func() {
		if p := fl.String("report"); p != "" {
			rep.Steps = append(rep.Steps, sr)
			if werr := rep.write(p); werr != nil {
				log.Error().Err(werr).Str("report", p).Msg("writing the report failed")
			}
		}
	}()

	conn, err := transport.Dial(ctx, target)
	if err != nil {
		sr.Error, sr.ExitCode = err.Error(), codeFor(err)
		if cause := context.Cause(ctx); cause != nil {
			return cause
		}
		// err names the worker (and the hop) already.
		return &remote.StepError{Reason: "connect", Err: err}
	}
	defer conn.Close()
	log.Debug().Str("worker", target.String()).Msg("connected")

	output := remote.Output{Stdout: io.Out, Stderr: io.Err, Verbose: fl.Bool("verbose") || fl.String("log-level") == "debug"}
	if fl.String("log-format") == "json" {
		output.Progress = goio.Discard // structured logs stay parseable
	}
	res, err := remote.Run(ctx, conn, bundle, st, output)
	sr.ID, sr.WorkDir, sr.ExitCode = res.ID, res.WorkDir, res.ExitCode
	sr.fill(res, st.Masks)
	if res.Image != "" {
		sr.Image = res.Image
	}
	sr.DurationMS = res.Duration.Milliseconds()
	if res.CleanupErr != nil {
		log.Warn().Err(res.CleanupErr).Msg("cleanup incomplete; run cuttle gc on this worker")
		sr.CleanupError = res.CleanupErr.Error()
	}
	switch {
	case err != nil:
		sr.Error = st.Masks.Mask(err.Error())
		sr.ExitCode = codeFor(err)
		return err
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

func stepFromFlags(fl *config.Flags, worker string) (remote.Step, error) {
	st := remote.Step{
		Name: orDefault(fl.String("name"), "run"), Image: fl.String("image"), KeepWorkspace: fl.Bool("keep-workspace"),
		ArtifactsDir: orDefault(fl.String("artifacts"), "artifacts"), AllowPrivileged: fl.Bool("allow-privileged"),
	}
	if err := imageSource(&st, fl); err != nil {
		return st, err
	}
	pull, err := remote.ParsePullPolicy(fl.String("pull"), st.Image)
	if err != nil {
		return st, err
	}
	st.Pull = pull
	vars, err := parseVariables(fl.Strings("var"), fl.Strings("sensitive-var"))
	if err != nil {
		return st, err
	}
	for name, value := range map[string]string{
		"Octopus.Action.Name": st.Name, "Octopus.Step.Name": st.Name,
		"Octopus.Machine.Name": worker, "Octopus.Action.Container.Image": st.Image,
	} {
		if _, set := vars.get(name); !set {
			vars.set(name, value, false)
		}
	}
	st.Variables, st.Masks = vars.list, vars.masks
	opts := fl.String("container-options")
	if v, ok := vars.get(ContainerOptionsVariable); ok && v.Value != "" {
		opts = strings.TrimSpace(v.Value + " " + opts)
	}
	if st.ContainerOptions, err = remote.SplitOptions(opts); err != nil {
		return st, err
	}
	script, inline := fl.String("script"), fl.String("inline")
	switch {
	case script != "" && inline != "":
		return st, errors.New("give either --script FILE or --inline TEXT, not both")
	case script != "":
		b, err := os.ReadFile(script)
		if err != nil {
			return st, fmt.Errorf("--script: %w", err)
		}
		st.Script = b
	case inline != "":
		text, err := vars.substitute(inline)
		if err != nil {
			return st, err
		}
		st.Script = []byte(text)
	default:
		return st, errors.New("no script: give --script FILE or --inline TEXT")
	}
	st.Syntax = fl.String("syntax")
	if st.Syntax == "" {
		st.Syntax = "bash"
		if filepath.Ext(script) == ".sh" && strings.HasPrefix(string(st.Script), "#!/bin/sh") {
			st.Syntax = "sh"
		}
	}
	if st.Syntax != "bash" && st.Syntax != "sh" {
		return st, fmt.Errorf("--syntax %q: want bash or sh", st.Syntax)
	}
	return st, nil
}

// imageSource reads --image, --dockerfile or --dockerfile-url (one of them).
func imageSource(st *remote.Step, fl *config.Flags) error {
	image, file, url := fl.String("image"), fl.String("dockerfile"), fl.String("dockerfile-url")
	n := 0
	for _, s := range []string{image, file, url} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of --image IMAGE, --dockerfile FILE or --dockerfile-url GITURL")
	}
	args := fl.Strings("build-arg")
	for _, a := range args {
		if k, _, ok := strings.Cut(a, "="); !ok || k == "" {
			return fmt.Errorf("--build-arg %q: want KEY=VALUE", a)
		}
	}
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("--dockerfile: %w", err)
		}
		if len(b) == 0 {
			return fmt.Errorf("--dockerfile %s is empty", file)
		}
		st.Build = &remote.Build{Dockerfile: b, Args: args}
		st.Image = "cuttle-build"
	case url != "":
		if strings.HasPrefix(url, "-") || strings.ContainsAny(url, " \t\n") {
			return fmt.Errorf("--dockerfile-url %q: want repo.git#ref:subdir", url)
		}
		st.Build = &remote.Build{GitURL: url, Args: args}
		st.Image = "cuttle-build"
	default:
		if len(args) > 0 {
			return errors.New("--build-arg needs --dockerfile or --dockerfile-url")
		}
		st.Image = image
		return remote.ValidateImage(image)
	}
	return nil
}

// feedFromFlags finds the registry credentials: --registry-username with
// --registry-password-env, or --feed NAME, or the config's feed whose
// registry is the image's.
func feedFromFlags(cfg *config.Config, fl *config.Flags, image string) (*remote.Feed, error) {
	user, pwEnv, name := fl.String("registry-username"), fl.String("registry-password-env"), fl.String("feed")
	if user != "" || pwEnv != "" {
		if user == "" || pwEnv == "" {
			return nil, errors.New("--registry-username and --registry-password-env go together")
		}
		pw, ok := os.LookupEnv(pwEnv)
		if !ok {
			return nil, fmt.Errorf("--registry-password-env %s: that environment variable is not set", pwEnv)
		}
		return &remote.Feed{Registry: remote.RegistryOf(image), Username: user, Password: secret.New(pw)}, nil
	}
	var feed config.Feed
	found := false
	if name != "" {
		if feed, found = cfg.Feeds[name]; !found {
			return nil, fmt.Errorf("--feed %s: no such feed in the config", name)
		}
	} else {
		for _, f := range cfg.Feeds {
			if f.Registry == remote.RegistryOf(image) {
				feed, found = f, true
			}
		}
	}
	if !found || feed.Username == "" {
		return nil, nil
	}
	pw, err := feed.Password()
	if err != nil {
		return nil, err
	}
	return &remote.Feed{Registry: feed.Registry, Username: feed.Username, Password: pw}, nil
}

func resolveTarget(cfg *config.Config, fl *config.Flags) (transport.Target, error) {
	name := fl.String("worker")
	if name == "" {
		return transport.Target{}, errors.New("no worker: give --worker NAME or --worker ssh://user@host:port")
	}
	var t transport.Target
	if w, ok := cfg.Workers[name]; ok {
		t = transport.Target{Host: w.Host, Port: w.Port, User: w.User}
		if w.IdentityFile != "" {
			t.IdentityFiles = []string{expandHome(w.IdentityFile)}
		}
		if w.KnownHosts != "" {
			t.KnownHostsFiles = []string{expandHome(w.KnownHosts)}
		}
		t.HostKeyFingerprint = w.HostKeyFingerprint
	} else {
		var err error
		if t, err = transport.ParseAddress(name); err != nil {
			return t, fmt.Errorf("--worker is neither a worker in the config nor an address: %w", err)
		}
	}
	if t.User == "" {
		t.User = os.Getenv("USER")
	}
	t.IdentityFiles = append(t.IdentityFiles, fl.Strings("identity")...)
	t.UseAgent = true
	if kh := fl.String("known-hosts"); kh != "" {
		t.KnownHostsFiles = []string{kh}
	}
	if len(t.KnownHostsFiles) == 0 {
		t.KnownHostsFiles = []string{expandHome("~/.ssh/known_hosts")}
	}
	if fp := fl.String("host-key-fingerprint"); fp != "" {
		t.HostKeyFingerprint = fp
	}
	if env := fl.String("password-env"); env != "" {
		pw, ok := os.LookupEnv(env)
		if !ok {
			return t, fmt.Errorf("--password-env %s: that environment variable is not set", env)
		}
		t.Password = secret.New(pw)
	}
	d, err := time.ParseDuration(orDefault(fl.String("connect-timeout"), "15s"))
	if err != nil {
		return t, fmt.Errorf("--connect-timeout: %w", err)
	}
	t.ConnectTimeout = d
	if t.KeepAliveInterval, err = time.ParseDuration(orDefault(fl.String("keepalive"), "15s")); err != nil || t.KeepAliveInterval <= 0 {
		return t, fmt.Errorf("--keepalive %q: want a positive duration such as 15s", fl.String("keepalive"))
	}
	if j := fl.String("jump"); j != "" {
		for _, hop := range strings.Split(j, ",") {
			h, err := transport.ParseAddress(hop)
			if err != nil {
				return t, fmt.Errorf("--jump: %w", err)
			}
			h.IdentityFiles, h.UseAgent, h.KnownHostsFiles, h.ConnectTimeout = t.IdentityFiles, true, t.KnownHostsFiles, d
			if h.User == "" {
				h.User = t.User
			}
			t.Jump = append(t.Jump, h)
		}
	}
	return t, nil
}

func expandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, rest)
		}
	}
	return p
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
