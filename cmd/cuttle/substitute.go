package main

import (
	"context"
	"errors"
	"fmt"
	goio "io"

	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/fleet"
	"github.com/cuttle-sh/cuttle/octostache"
)

func newSubstituteCmd(io stdio) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "substitute",
		Short: "Evaluate an Octopus template (#{Name}, #{if}, #{each}, filters) read on stdin, as an inline script would see it",
		Args:  cobra.NoArgs,
	}
	f := cmd.Flags()
	f.StringArray("var", nil, "a variable NAME=VALUE (repeatable)")
	f.StringArray("sensitive-var", nil, "a sensitive variable NAME=ENVVAR (repeatable); a template that uses one is refused, as in scripts")
	f.String("runbook", "", "take the variables and sensitive_variables of this runbook first (needs the config its workers come from)")
	cmd.RunE = withFlags(func(ctx context.Context, fl *config.Flags, _ []string) error {
		return substitute(io, fl)
	})
	return cmd
}

func substitute(io stdio, fl *config.Flags) error {
	vars, err := fleet.ParseVariables(fl.Strings("var"), fl.Strings("sensitive-var"))
	if err != nil {
		return inputError("%w", err)
	}
	if file := fl.String("runbook"); file != "" {
		cfg, err := config.Load(fl.String("config"))
		if err != nil {
			return inputError("%w", err)
		}
		rb, err := config.LoadRunbook(file, cfg)
		if err != nil {
			return inputError("%w", err)
		}
		if vars, err = fleet.RunbookVariables(rb, vars); err != nil {
			return inputError("%w", err)
		}
	}
	tpl, err := goio.ReadAll(io.In)
	if err != nil {
		return inputError("reading the template from stdin: %w", err)
	}
	r, err := vars.Template().Render(string(tpl), octostache.Options{RefuseSensitive: true})
	var serr *octostache.SensitiveError
	switch {
	case errors.As(err, &serr):
		return inputError("%w: scripts may not hold secrets; read it at run time with $(get_octopusvariable %q)", err, serr.Name)
	case err != nil:
		return inputError("%w", err)
	}
	if _, err := goio.WriteString(io.Out, r.Text); err != nil {
		return err
	}
	if len(r.Unresolved) > 0 {
		fmt.Fprintf(io.Err, "cuttle: left as written: %v\n", &octostache.UnresolvedError{Tokens: r.Unresolved})
	}
	return nil
}
