package fleet

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/octostache"
	"github.com/cuttle-sh/cuttle/wire"
)

// Variables are a step's variables, with the set of values to mask.
type Variables struct {
	list  []wire.Variable
	masks *mask.Set
}

// Clone copies v's variables, so a step can add its own. The set of masks
// is shared, not copied: a value masked in one step (one of its sensitive
// variables, or a value its script masked) stays masked in every other
// step of the run, in its output, report and logs.
func (v *Variables) Clone() *Variables {
	return &Variables{list: append([]wire.Variable(nil), v.list...), masks: v.masks}
}

// List returns the variables.
func (v *Variables) List() []wire.Variable { return v.list }

// Masks returns the set of sensitive values.
func (v *Variables) Masks() *mask.Set { return v.masks }

// ContainerOptionsVariable is Octopus's name for extra docker run options.
const ContainerOptionsVariable = "Octopus.Action.Container.Options"

// ParseVariables reads NAME=VALUE pairs and NAME=ENVVAR pairs whose
// value comes from the environment (sensitive, masked).
func ParseVariables(plain, sensitive []string) (*Variables, error) {
	v := &Variables{masks: mask.NewSet()}
	for _, kv := range plain {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("--var %q: want NAME=VALUE", kv)
		}
		v.set(name, value, false)
	}
	for _, kv := range sensitive {
		name, env, ok := strings.Cut(kv, "=")
		if !ok || name == "" || env == "" {
			return nil, fmt.Errorf("--sensitive-var %q: want NAME=ENVVAR (the value is read from the environment variable ENVVAR, never from the command line)", kv)
		}
		if err := v.setFromEnv(name, env); err != nil {
			return nil, fmt.Errorf("--sensitive-var %w", err)
		}
	}
	return v, nil
}

// setFromEnv sets sensitive variable name from environment variable env.
func (v *Variables) setFromEnv(name, env string) error {
	value, ok := os.LookupEnv(env)
	if !ok {
		return fmt.Errorf("%s: environment variable %s is not set", name, env)
	}
	v.Set(name, value, true)
	return nil
}

// Set adds or replaces a variable; names compare case-insensitively, as
// in Octopus. A sensitive value is masked from then on.
func (v *Variables) Set(name, value string, sensitive bool) {
	v.set(name, value, sensitive)
	if sensitive {
		v.masks.Add(value)
	}
}

func (v *Variables) set(name, value string, sensitive bool) {
	for i := range v.list {
		if strings.EqualFold(v.list[i].Name, name) {
			v.list[i] = wire.Variable{Name: name, Value: value, Sensitive: sensitive}
			return
		}
	}
	v.list = append(v.list, wire.Variable{Name: name, Value: value, Sensitive: sensitive})
}

// Get looks a variable up by name, case-insensitively.
func (v *Variables) Get(name string) (wire.Variable, bool) {
	for _, x := range v.list {
		if strings.EqualFold(x.Name, name) {
			return x, true
		}
	}
	return wire.Variable{}, false
}

// Template returns the variables for the template engine, sensitive ones
// marked so.
func (v *Variables) Template() *octostache.Variables {
	t := octostache.NewVariables()
	for _, x := range v.list {
		t.Put(x.Name, x.Value, x.Sensitive)
	}
	return t
}

// RunbookVariables are a runbook's variables and sensitive variables, then
// extra (the command line's) over them.
func RunbookVariables(rb *config.Runbook, extra *Variables) (*Variables, error) {
	return runbookVariables(rb, extra)
}

// Substitute evaluates an inline script as an Octopus template (#{Name},
// #{if}, #{each}, filters...), as Octopus does before it runs a script. A
// #{ that is not a valid expression is kept as text and unknown names are
// left as they are, as in Octopus. A sensitive variable is refused: the
// script is a file on the worker's disk.
func (v *Variables) Substitute(script string) (string, error) {
	r, err := v.Template().Render(script, octostache.Options{Lenient: true, RefuseSensitive: true})
	if serr := (*octostache.SensitiveError)(nil); errors.As(err, &serr) {
		return "", fmt.Errorf("the script refers to sensitive variable #{%s}: substituting it would write the secret into the script file on the worker; read it at run time with $(get_octopusvariable %q)", serr.Name, serr.Name)
	}
	if err != nil {
		return "", fmt.Errorf("inline script: %w", err)
	}
	return r.Text, nil
}
