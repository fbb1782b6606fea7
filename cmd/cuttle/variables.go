package main

import (
	"fmt"
	"os"
	"regexp"
	"strings"

	"github.com/cuttle-sh/cuttle/bootstrap"
	"github.com/cuttle-sh/cuttle/internal/mask"
)

// variables are a step's variables as given on the command line.
type variables struct {
	list  []bootstrap.Variable
	masks *mask.Set
}

// ContainerOptionsVariable is Octopus's name for extra docker run options.
const ContainerOptionsVariable = "Octopus.Action.Container.Options"

func parseVariables(plain, sensitive []string) (*variables, error) {
	v := &variables{masks: mask.NewSet()}
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
		value, ok := os.LookupEnv(env)
		if !ok {
			return nil, fmt.Errorf("--sensitive-var %s: environment variable %s is not set", name, env)
		}
		v.set(name, value, true)
		v.masks.Add(value)
	}
	return v, nil
}

// set adds or replaces a variable; names compare case-insensitively, as
// in Octopus.
func (v *variables) set(name, value string, sensitive bool) {
	for i := range v.list {
		if strings.EqualFold(v.list[i].Name, name) {
			v.list[i] = bootstrap.Variable{Name: name, Value: value, Sensitive: sensitive}
			return
		}
	}
	v.list = append(v.list, bootstrap.Variable{Name: name, Value: value, Sensitive: sensitive})
}

func (v *variables) get(name string) (bootstrap.Variable, bool) {
	for _, x := range v.list {
		if strings.EqualFold(x.Name, name) {
			return x, true
		}
	}
	return bootstrap.Variable{}, false
}

var substitution = regexp.MustCompile(`#\{([^{}\r\n]+)\}`)

// substitute replaces #{Name} in an inline script, as Octopus does. A
// sensitive variable is refused: the script is a file on the worker's disk.
// Unknown names are left as they are, as Octopus leaves them.
func (v *variables) substitute(script string) (string, error) {
	var err error
	out := substitution.ReplaceAllStringFunc(script, func(m string) string {
		name := strings.TrimSpace(m[2 : len(m)-1])
		x, ok := v.get(name)
		if !ok {
			return m
		}
		if x.Sensitive && err == nil {
			err = fmt.Errorf("the script refers to sensitive variable #{%s}: substituting it would write the secret into the script file on the worker; read it at run time with $(get_octopusvariable %q)", name, name)
		}
		return x.Value
	})
	return out, err
}
