package main

import (
	"context"
	"fmt"
	goio "io"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/bootstrap"
	"github.com/cuttle-sh/cuttle/config"
)

func newRootCmd(io stdio) *cobra.Command {
	root := &cobra.Command{
		Use:           "cuttle",
		Short:         "Run deployment steps in containers on Linux workers over SSH, with no agent",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	v, commit, _, _ := versionInfo()
	root.Version = v + " (" + commit + ")"
	root.SetVersionTemplate("cuttle {{.Version}}\n")
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	pf := root.PersistentFlags()
	pf.String("config", "", "config file (default ./cuttle.yaml, then $XDG_CONFIG_HOME/cuttle/cuttle.yaml)")
	pf.String("log-format", "console", "log format: console or json")
	pf.String("log-level", "info", "log level: debug, info, warn or error")
	pf.CountP("verbose-log", "v", "more detail in cuttle's own log: -v is --log-level debug (repeatable, as ssh -v)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		f, err := config.BindFlags(cmd.Flags())
		if err != nil {
			return err
		}
		level := f.String("log-level")
		if n, _ := cmd.Flags().GetCount("verbose-log"); n > 0 {
			level = "debug"
		}
		log, err := newLogger(io, f.String("log-format"), level)
		if err != nil {
			return err
		}
		log.Debug().Str("version", root.Version).Str("command", cmd.CommandPath()).Msg("cuttle starting")
		cmd.SetContext(log.WithContext(cmd.Context()))
		return nil
	}
	root.AddCommand(newRunCmd(io), newAttachCmd(io), newRunbookCmd(io), newWorkersCmd(io), newGCCmd(io), newImagesCmd(io), newServeCmd(io), newVersionCmd(io), newStepRunnerCmd(), newSubstituteCmd(io))
	return root
}

// withFlags is a command's RunE: it binds the flags (with their CUTTLE_*
// environment fallbacks) and calls fn.
func withFlags(fn func(ctx context.Context, fl *config.Flags, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		fl, err := config.BindFlags(cmd.Flags())
		if err != nil {
			return err
		}
		return fn(cmd.Context(), fl, args)
	}
}

func newLogger(io stdio, format, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	switch format {
	case "json":
		return zerolog.New(io.Err).Level(lvl).With().Timestamp().Logger(), nil
	case "console":
		w := zerolog.ConsoleWriter{Out: io.Err, TimeFormat: time.TimeOnly, NoColor: !isTerminal(io.Err)}
		return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
	}
	return zerolog.Logger{}, fmt.Errorf("--log-format %q: want console or json", format)
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// version is stamped by make build (-ldflags -X main.version=...); a go
// install of a tagged module gets it from the build info instead.
var version = ""

// versionInfo describes this build: version, commit, Go, and the runner
// platforms it can put on workers (the binary itself is the runner).
func versionInfo() (v, commit, goVersion, runners string) {
	v, commit, goVersion = version, "unknown", runtime.Version()
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if dirty {
			commit += "-dirty"
		}
	}
	if v == "" {
		v = "devel"
	}
	runners = "none (this controller cannot place its own runner: build one for linux, see the README)"
	if runtime.GOOS == "linux" {
		runners = "linux/" + runtime.GOARCH
	}
	return v, commit, goVersion, runners
}

func newVersionCmd(io stdio) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print cuttle's version, commit, Go version and runner platforms",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v, commit, goVersion, runners := versionInfo()
			fmt.Fprintf(io.Out, "cuttle %s\ncommit: %s\ngo: %s\nruntime: %s/%s\nrunners: %s\n", v, commit, goVersion, runtime.GOOS, runtime.GOARCH, runners)
			return nil
		},
	}
}

// newStepRunnerCmd is the runner side of cuttle: the same binary, run
// inside the step's container. Hidden: users never call it.
func newStepRunnerCmd() *cobra.Command {
	var spec bootstrap.RunnerSpec
	var owner, removeContents string
	var b64, b64d, detectLibc, heartbeat, watchdog, follow, resumed, pack, launch bool
	var lf bootstrap.LaunchFacts
	var hbFile, container string
	var stdoutFrom, stderrFrom int64
	var whileRunning bool
	var engineWait time.Duration
	var window time.Duration
	cmd := &cobra.Command{
		Use:    "step-runner",
		Hidden: true,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && !pack && !launch {
				return fmt.Errorf("unexpected arguments %q", args)
			}
			return nil
		},
		// No logger, no config: this runs inside the container.
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil },
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case pack:
				return bootstrap.Pack(spec.WorkDir, args, cmd.OutOrStdout())
			case launch:
				return bootstrap.Launch(lf, args, cmd.OutOrStdout())
			case removeContents != "":
				return bootstrap.RemoveContents(removeContents)
			case heartbeat:
				return bootstrap.Heartbeat(cmd.InOrStdin(), hbFile, container, spec.WorkDir, window, !resumed)
			case follow:
				var started chan struct{}
				if whileRunning {
					// The controller closes stdin when its docker run ends.
					started = make(chan struct{})
					go func() {
						goio.Copy(goio.Discard, cmd.InOrStdin())
						close(started)
					}()
				}
				// Both logs go framed on stdout; stderr stays for plain diagnostics.
				fr := bootstrap.NewFramer(cmd.OutOrStdout())
				fs := bootstrap.FollowSpec{WorkDir: spec.WorkDir, Container: container, StdoutFrom: stdoutFrom, StderrFrom: stderrFrom, Started: started, EngineWait: engineWait}
				if code := bootstrap.Follow(fs, fr); code != 0 {
					return scriptExit{code: code}
				}
				return nil
			case watchdog:
				bootstrap.Watchdog(hbFile, container, spec.WorkDir, window)
				return nil
			case detectLibc:
				fmt.Fprintln(cmd.OutOrStdout(), bootstrap.DetectLibc())
				return nil
			case b64 || b64d:
				return bootstrap.Base64(cmd.InOrStdin(), cmd.OutOrStdout(), b64d)
			}
			spec.OwnerUID, spec.OwnerGID = -1, -1
			if owner != "" {
				u, g, ok := strings.Cut(owner, ":")
				uid, err1 := strconv.Atoi(u)
				gid, err2 := strconv.Atoi(g)
				if !ok || err1 != nil || err2 != nil {
					return fmt.Errorf("--owner %q: want UID:GID", owner)
				}
				spec.OwnerUID, spec.OwnerGID = uid, gid
			}
			code := bootstrap.Run(cmd.Context(), spec, cmd.InOrStdin())
			if code != 0 {
				return scriptExit{code: code}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&spec.WorkDir, "workdir", "", "work directory")
	f.StringVar(&spec.Script, "script", "", "script file name in the work directory")
	f.StringVar(&spec.Syntax, "syntax", "bash", "bash or sh")
	f.StringVar(&owner, "owner", "", "UID:GID to hand the work directory to")
	f.StringVar(&removeContents, "remove-contents", "", "remove everything inside this directory and exit")
	f.BoolVar(&b64, "base64", false, "base64-encode stdin to stdout (for the helpers)")
	f.BoolVar(&b64d, "base64-decode", false, "base64-decode stdin to stdout (for the helpers)")
	f.BoolVar(&detectLibc, "detect-libc", false, "print the image's C library: glibc, musl or none")
	f.BoolVar(&heartbeat, "heartbeat", false, "dead man's switch: touch --heartbeat-file per byte on stdin, after starting the watchdog")
	f.BoolVar(&watchdog, "watchdog", false, "dead man's switch: remove --container and --workdir once --heartbeat-file is older than --window")
	f.BoolVar(&launch, "launch", false, "fill in and exec the docker run given after -- (the preflight's fast path, on the worker host)")
	f.StringVar(&lf.Home, "home", "", "with --launch: the SSH user's home")
	f.StringVar(&lf.ID, "id", "", "with --launch: the step id")
	f.StringVar(&lf.UID, "uid", "", "with --launch: the SSH user's uid")
	f.StringVar(&lf.GID, "gid", "", "with --launch: the SSH user's gid")
	f.StringVar(&lf.Arch, "arch", "", "with --launch: uname -m")
	f.StringVar(&lf.ImagePlatform, "image-platform", "", "with --launch: the image's os/arch")
	f.StringVar(&lf.DockerClient, "docker-client", "", "with --launch: the docker client's version")
	f.BoolVar(&pack, "pack-artifacts", false, "send the files named after -- from --workdir as an artifact stream (on the worker host, after the step)")
	f.BoolVar(&resumed, "resumed", false, "with --heartbeat: the watchdog already runs (a controller reattached)")
	f.BoolVar(&follow, "follow", false, "send the step's output logs in --workdir from the given offsets until the runner's exit file appears (a controller reattached)")
	f.Int64Var(&stdoutFrom, "stdout-from", 0, "with --follow: stdout log offset")
	f.BoolVar(&whileRunning, "while-running", false, "with --follow: the step's docker run is still in progress; look at the container only once stdin closes")
	f.Int64Var(&stderrFrom, "stderr-from", 0, "with --follow: stderr log offset")
	f.DurationVar(&engineWait, "engine-wait", 5*time.Minute, "with --follow: how long a Docker engine that does not answer is waited for (0: no limit)")
	f.StringVar(&hbFile, "heartbeat-file", "", "the heartbeat file")
	f.StringVar(&container, "container", "", "the step's container")
	f.DurationVar(&window, "window", 5*time.Minute, "how long the controller may be silent")
	return cmd
}
