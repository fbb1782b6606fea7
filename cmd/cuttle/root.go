package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/config"
)

func newRootCmd(io stdio) *cobra.Command {
	root := &cobra.Command{
		Use:           "cuttle",
		Short:         "Run deployment steps in containers on Linux workers over SSH, with no agent",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(io.In)
	root.SetOut(io.Out)
	root.SetErr(io.Err)
	pf := root.PersistentFlags()
	pf.String("config", "", "config file (default ./cuttle.yaml, then $XDG_CONFIG_HOME/cuttle/cuttle.yaml)")
	pf.String("log-format", "console", "log format: console or json")
	pf.String("log-level", "info", "log level: debug, info, warn or error")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		f, err := config.BindFlags(cmd.Flags())
		if err != nil {
			return err
		}
		log, err := newLogger(io, f.String("log-format"), f.String("log-level"))
		if err != nil {
			return err
		}
		cmd.SetContext(log.WithContext(cmd.Context()))
		return nil
	}
	root.AddCommand(newRunCmd(io), newAttachCmd(io), newRunbookCmd(io), newWorkersCmd(io), newGCCmd(io), newImagesCmd(io), newServeCmd(io), newVersionCmd(io), newSubstituteCmd(io))
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

func newVersionCmd(io stdio) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print cuttle's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := "devel"
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" {
						v = s.Value
					}
				}
			}
			fmt.Fprintf(io.Out, "cuttle %s\n", v)
			return nil
		},
	}
}
