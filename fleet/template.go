package fleet

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/octostache"
	"github.com/cuttle-sh/cuttle/wire"
)

// Octopus's names for what a step's variables can switch on.
const (
	// ScriptParametersVariable holds the script's positional parameters.
	ScriptParametersVariable = "Octopus.Action.Script.ScriptParameters"
	// FailOnErrorOutputVariable, when True, fails a script that wrote to
	// stderr even though it exited 0.
	FailOnErrorOutputVariable = "Octopus.Action.FailScriptOnErrorOutput"
	// RetriesVariable is how many times a failed step is run again.
	RetriesVariable = "Octopus.Action.AutoRetry.MaximumCount"
)

// variablesFromMaps reads a runbook's (or a step's) variables: names as
// written, whatever they contain ('=' included), in name order; sensitive
// values come from the environment variables named.
func variablesFromMaps(plain, sensitive map[string]string) (*Variables, error) {
	v := &Variables{masks: mask.NewSet()}
	for _, name := range sortedNames(plain) {
		v.set(name, plain[name], false)
	}
	for _, name := range sortedNames(sensitive) {
		if name == "" || sensitive[name] == "" {
			return nil, fmt.Errorf("sensitive_variables: %q: want NAME: ENVVAR (the value is read from the environment variable ENVVAR)", name)
		}
		if err := v.setFromEnv(name, sensitive[name]); err != nil {
			return nil, fmt.Errorf("sensitive_variables %w", err)
		}
	}
	return v, nil
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// field evaluates a runbook field as an Octopus template, as Octopus does
// with a step's settings. What it names must be set, and it must not read
// a sensitive variable: fields end up in command lines on the worker
// (docker run, ps) where a secret must not go.
func field(vars *Variables, name, text string) (string, error) {
	if !config.IsTemplate(text) {
		return text, nil
	}
	r, err := vars.Template().Render(text, octostache.Options{RefuseSensitive: true})
	var serr *octostache.SensitiveError
	switch {
	case errors.As(err, &serr):
		return "", fmt.Errorf("%s refers to sensitive variable #{%s}: it would be written into command lines on the worker (docker run, ps); use a variable that is not sensitive", name, serr.Name)
	case err != nil:
		return "", fmt.Errorf("%s %q: %w", name, text, err)
	case len(r.Unresolved) > 0:
		return "", fmt.Errorf("%s %q: %s could not be evaluated: set the variables it names (the runbook's or the step's variables:, or --var)", name, text, strings.Join(r.Unresolved, ", "))
	}
	return r.Text, nil
}

// evaluated returns the variables with their values evaluated as
// templates, as Octopus hands them to a script (#{A} in B's value reads
// A). A value may use a sensitive variable: it travels only on the
// runner's stdin, and the secret within it stays masked. A value that
// cannot be evaluated (a loop) is passed as written.
func (v *Variables) evaluated() []wire.Variable {
	out := append([]wire.Variable(nil), v.list...)
	var t *octostache.Variables
	for i, x := range out {
		if x.Sensitive || !config.IsTemplate(x.Value) {
			continue
		}
		if t == nil {
			t = v.Template()
		}
		r, err := t.Render(x.Value, octostache.Options{Lenient: true})
		switch {
		case err != nil:
		case r.Null:
			out[i].Value = ""
		default:
			out[i].Value = r.Text
		}
	}
	return out
}
