package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/printable"
	"github.com/cuttle-sh/cuttle/internal/progress"
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
		ctx := log.WithContext(cmd.Context())
		if cmd.Name() != "serve" {
			io.term.start(io, f.String("log-format"))
		}
		if r := io.term.reporter(); r != nil {
			ctx = progress.WithReporter(ctx, r)
		}
		cmd.SetContext(ctx)
		return nil
	}
	root.AddCommand(newRunCmd(io), newAttachCmd(io), newRunbookCmd(io), newWorkersCmd(io), newGCCmd(io), newImagesCmd(io), newServeCmd(io), newVersionCmd(io), newSubstituteCmd(io), newImportCmd(io))
	addCompletions(root)
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
	// Durations carry their unit ("1.5s"), in both formats.
	zerolog.DurationFieldFormat = zerolog.DurationFormatString
	lvl, err := zerolog.ParseLevel(level)
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	switch format {
	case "json":
		return zerolog.New(io.Err).Level(lvl).With().Timestamp().Logger(), nil
	case "console":
		w := zerolog.ConsoleWriter{Out: io.term.err(io), TimeFormat: time.TimeOnly, NoColor: !isTerminal(io.Err),
			// Fields are quoted when they hold control characters; the
			// message is not, and may carry a worker's text.
			FormatPrepare: func(evt map[string]any) error {
				for _, k := range []string{zerolog.MessageFieldName, zerolog.ErrorFieldName} {
					if m, ok := evt[k].(string); ok {
						evt[k] = printable.String(m)
					}
				}
				return nil
			}}
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
	runners = "none (this cuttle cannot place a runner on any worker: use a release build or make build)"
	if p := bundle.Available().Platforms(); len(p) > 0 {
		runners = strings.Join(p, " ")
	}
	return v, commit, goVersion, runners
}

func newVersionCmd(io stdio) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print cuttle's version, commit, Go version and runner platforms",
		Args:  cobra.NoArgs,
	}
	cmd.Flags().String("output", "text", "text or json")
	cmd.RunE = func(c *cobra.Command, _ []string) error {
		v, commit, goVersion, runners := versionInfo()
		if out, _ := c.Flags().GetString("output"); out == "json" {
			enc := json.NewEncoder(io.Out)
			enc.SetIndent("", "  ")
			return enc.Encode(map[string]any{"version": v, "commit": commit, "go": goVersion,
				"runtime": runtime.GOOS + "/" + runtime.GOARCH, "runners": bundle.Available().Platforms()})
		}
		fmt.Fprintf(io.Out, "cuttle %s\ncommit: %s\ngo: %s\nruntime: %s/%s\nrunners: %s\n", v, commit, goVersion, runtime.GOOS, runtime.GOARCH, runners)
		return nil
	}
	return cmd
}
