package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Runbook is a runbook file: ordered steps and, optionally, a schedule.
// It is read with yaml directly (not viper), so that variable names keep
// their case, and unknown keys are errors.
type Runbook struct {
	Name               string            `yaml:"name"`
	Schedule           string            `yaml:"schedule"`
	Variables          map[string]string `yaml:"variables"`
	SensitiveVariables map[string]string `yaml:"sensitive_variables"`
	// Environments limits the runbook to these environments (runbook run
	// --environment); EnvironmentVariables are values for one environment,
	// taking over the runbook's variables of the same name there.
	Environments         []string                     `yaml:"environments"`
	EnvironmentVariables map[string]map[string]string `yaml:"environment_variables"`
	Steps                []RunbookStep                `yaml:"steps"`
	// File is where it was read from; Dir is that file's directory.
	File string `yaml:"-"`
	Dir  string `yaml:"-"`
}

// RunbookStep is one step of a runbook.
type RunbookStep struct {
	Name               string            `yaml:"name"`
	Worker             string            `yaml:"worker"`
	Pool               string            `yaml:"pool"`
	RunOn              string            `yaml:"run_on"`
	Container          Container         `yaml:"container"`
	Script             Script            `yaml:"script"`
	Variables          map[string]string `yaml:"variables"`
	SensitiveVariables map[string]string `yaml:"sensitive_variables"`
	Condition          string            `yaml:"condition"`
	Timeout            string            `yaml:"timeout"`
	Packages           []PackageRef      `yaml:"packages"`
	// SubstituteInFiles are files of the extracted packages, as patterns
	// relative to the work directory (web/config/*.json, web/**/*.config),
	// evaluated as templates with the step's variables before the script
	// runs (Octopus's "Substitute Variables in Templates").
	SubstituteInFiles []string `yaml:"substitute_in_files"`
	// Parameters are the script's positional parameters, read as bash
	// reads the rest of a command line (Octopus.Action.Script.ScriptParameters).
	Parameters string `yaml:"parameters"`
	// Retries reruns a failed step up to this many times, each attempt in
	// a fresh work directory (Octopus.Action.AutoRetry.MaximumCount);
	// RetryDelay is the wait between attempts.
	Retries    int    `yaml:"retries"`
	RetryDelay string `yaml:"retry_delay"`
	// Environments and ExcludedEnvironments filter the step by the run's
	// --environment: a step they exclude is skipped, as in Octopus.
	Environments         []string `yaml:"environments"`
	ExcludedEnvironments []string `yaml:"excluded_environments"`
	// ParallelWith "previous" starts the step together with the step
	// before it (Octopus's StartWithPrevious).
	ParallelWith string `yaml:"parallel_with"`
}

// RunsIn reports whether the step runs in environment env ("" when the
// run names none, which only steps without a filter accept).
func (s RunbookStep) RunsIn(env string) bool {
	for _, e := range s.ExcludedEnvironments {
		if strings.EqualFold(e, env) {
			return false
		}
	}
	if len(s.Environments) == 0 {
		return env != "" || len(s.ExcludedEnvironments) == 0
	}
	for _, e := range s.Environments {
		if strings.EqualFold(e, env) {
			return true
		}
	}
	return false
}

// ForEnvironment checks that the runbook may run in env and puts env's
// environment_variables over its variables. With no env, a runbook or
// step limited to environments is refused: name one with --environment.
func (rb *Runbook) ForEnvironment(env string) error {
	filtered := len(rb.Environments) > 0
	for _, s := range rb.Steps {
		filtered = filtered || len(s.Environments) > 0 || len(s.ExcludedEnvironments) > 0
	}
	if env == "" {
		if filtered {
			return errors.New("its runbook or steps are limited to environments: name one with --environment")
		}
		return nil
	}
	if len(rb.Environments) > 0 && !slices.ContainsFunc(rb.Environments, func(e string) bool { return strings.EqualFold(e, env) }) {
		return fmt.Errorf("environment %q: the runbook runs only in %s", env, strings.Join(rb.Environments, ", "))
	}
	if rb.Variables == nil {
		rb.Variables = map[string]string{}
	}
	if _, ok := rb.Variables["Octopus.Environment.Name"]; !ok {
		rb.Variables["Octopus.Environment.Name"] = env
	}
	for e, vars := range rb.EnvironmentVariables {
		if !strings.EqualFold(e, env) {
			continue
		}
		for k, v := range vars {
			rb.Variables[k] = v
		}
	}
	return nil
}

// PackageRef is a package a step references (package packages parses
// and checks it).
type PackageRef struct {
	Name   string `yaml:"name"`
	Source string `yaml:"source"`
	// Extract defaults to true.
	Extract *bool  `yaml:"extract"`
	ID      string `yaml:"id"`
	Version string `yaml:"version"`
	Feed    string `yaml:"feed"`
	// Acquisition is where an https or oci source is downloaded:
	// controller (the default: then sent to the worker) or worker (the
	// worker downloads it itself). Empty takes the feed's.
	Acquisition string `yaml:"acquisition"`
	// CAFile is a PEM file of CA certificates the worker trusts for this
	// source (acquisition: worker), relative to the runbook.
	CAFile string `yaml:"ca_file"`
}

// Container says which image a step runs in.
type Container struct {
	Image         string   `yaml:"image"`
	Feed          string   `yaml:"feed"`
	Dockerfile    string   `yaml:"dockerfile"`
	DockerfileURL string   `yaml:"dockerfile_url"`
	BuildArgs     []string `yaml:"build_args"`
	Options       string   `yaml:"options"`
	Pull          string   `yaml:"pull"`
}

// Script is a step's script: inline text, a file beside the runbook, or
// (with Package) a file inside one of the step's packages, run with
// Parameters as Octopus's "script file inside a package" is.
type Script struct {
	Inline     string `yaml:"inline"`
	File       string `yaml:"file"`
	Syntax     string `yaml:"syntax"`
	Package    string `yaml:"package"`
	Parameters string `yaml:"parameters"`
}

// TimeoutDuration parses Timeout ("" is no timeout).
func (s RunbookStep) TimeoutDuration() (time.Duration, error) {
	if s.Timeout == "" {
		return 0, nil
	}
	return time.ParseDuration(s.Timeout)
}

// RetryDelayDuration parses RetryDelay ("" is no wait).
func (s RunbookStep) RetryDelayDuration() (time.Duration, error) {
	if s.RetryDelay == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s.RetryDelay)
	if err == nil && d < 0 {
		err = errors.New("negative")
	}
	return d, err
}

// IsTemplate reports whether a runbook field holds an Octopus template
// (#{...}): it is checked once evaluated, when the step runs.
func IsTemplate(s string) bool { return strings.Contains(s, "#{") }

// LoadRunbook reads and validates a runbook file against cfg.
func LoadRunbook(file string, cfg *Config) (*Runbook, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("runbook: %w", err)
	}
	if err := refuseGrants(b); err != nil {
		return nil, fmt.Errorf("runbook %s: %w", file, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var rb Runbook
	if err := dec.Decode(&rb); err != nil {
		return nil, fmt.Errorf("runbook %s: %w", file, err)
	}
	rb.File, rb.Dir = file, filepath.Dir(file)
	if rb.Name == "" {
		rb.Name = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
	}
	if err := rb.validate(cfg); err != nil {
		return nil, fmt.Errorf("runbook %s: %w", file, err)
	}
	return &rb, nil
}

// grantKeys are cuttle.yaml's grants (Grants). A runbook is the step
// author's file: it cannot grant its own steps anything.
var grantKeys = map[string]bool{"allow_privileged": true, "allowed_mounts": true, "allowed_devices": true}

// refuseGrants names any grant key in the runbook, at its top, in a step
// or in a step's container, with where the operator sets it instead.
func refuseGrants(b []byte) error {
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return nil // the decoder reports what is wrong
	}
	var found []string
	look := func(n *yaml.Node, at string) {
		for i := 0; n != nil && n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
			if grantKeys[n.Content[i].Value] {
				found = append(found, at+n.Content[i].Value)
			}
		}
	}
	root := doc.Content[0]
	look(root, "")
	if steps := mappingValue(root, "steps"); steps != nil && steps.Kind == yaml.SequenceNode {
		for i, s := range steps.Content {
			look(s, fmt.Sprintf("steps[%d].", i))
			look(mappingValue(s, "container"), fmt.Sprintf("steps[%d].container.", i))
		}
	}
	if len(found) == 0 {
		return nil
	}
	return fmt.Errorf("%s: a runbook cannot grant its steps privileges; the worker's operator sets allow_privileged, allowed_mounts and allowed_devices for the worker or its pool in cuttle.yaml (or runs cuttle run --allow-privileged)", strings.Join(found, ", "))
}

// mappingValue is the value of key in mapping n, or nil.
func mappingValue(n *yaml.Node, key string) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// stepProblem records a problem with step i (s) of a runbook.
type stepProblem func(i int, s RunbookStep, format string, a ...any)

func (rb *Runbook) validate(cfg *Config) error {
	var problems Problems
	bad := func(i int, s RunbookStep, format string, a ...any) {
		problems = append(problems, Problem{Step: i, Name: s.Name, Message: fmt.Sprintf(format, a...)})
	}
	if len(rb.Steps) == 0 {
		return errors.New("no steps")
	}
	names := map[string]bool{}
	for i, s := range rb.Steps {
		if s.Name == "" {
			bad(i, s, "name is required")
		} else if names[strings.ToLower(s.Name)] {
			bad(i, s, "step names must be unique (output variables are named after them)")
		}
		names[strings.ToLower(s.Name)] = true
		checkPlacement(cfg, i, s, bad)
		checkContainerAndScript(cfg, i, s, bad)
		checkFlow(i, s, bad)
	}
	rb.checkReferences(bad)
	if len(problems) > 0 {
		return problems
	}
	return nil
}

// checkPlacement checks where step i runs: a worker, or a pool of the
// config and how many of its workers.
func checkPlacement(cfg *Config, i int, s RunbookStep, bad stepProblem) {
	switch {
	case (s.Worker == "") == (s.Pool == ""):
		bad(i, s, "give exactly one of worker or pool")
	case s.Pool != "" && !IsTemplate(s.Pool):
		if _, ok := cfg.Pools[s.Pool]; !ok {
			bad(i, s, "pool %q is not defined in the config", s.Pool)
		}
	}
	switch s.RunOn {
	case "", "one", "all":
	default:
		bad(i, s, "run_on %q: want one or all", s.RunOn)
	}
	if s.RunOn != "" && s.Pool == "" {
		bad(i, s, "run_on needs a pool")
	}
}

// checkContainerAndScript checks what step i runs: one image source, a
// feed of the config, one script source.
func checkContainerAndScript(cfg *Config, i int, s RunbookStep, bad stepProblem) {
	n := 0
	for _, v := range []string{s.Container.Image, s.Container.Dockerfile, s.Container.DockerfileURL} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		bad(i, s, "container needs exactly one of image, dockerfile or dockerfile_url")
	}
	if s.Container.Feed != "" {
		if _, ok := cfg.Feeds[s.Container.Feed]; !ok {
			bad(i, s, "feed %q is not defined in the config", s.Container.Feed)
		}
	}
	if (s.Script.Inline == "") == (s.Script.File == "") {
		bad(i, s, "script needs exactly one of inline or file (with package: a file inside that package)")
	}
	if s.Script.Package == "" && s.Script.Parameters != "" {
		bad(i, s, "script parameters go with a script file inside a package (script.package)")
	}
}

// checkFlow checks when and how often step i runs: its condition, its
// parallel group, its timeout and its retries.
func checkFlow(i int, s RunbookStep, bad stepProblem) {
	switch s.Condition {
	case "", "success", "failure", "always":
	default:
		bad(i, s, "condition %q: want success, failure or always", s.Condition)
	}
	switch {
	case s.ParallelWith == "":
	case s.ParallelWith != "previous":
		bad(i, s, "parallel_with %q: want previous", s.ParallelWith)
	case i == 0:
		bad(i, s, "parallel_with: previous: the first step has no previous step")
	}
	if _, err := s.TimeoutDuration(); err != nil {
		bad(i, s, "timeout %q: %v", s.Timeout, err)
	}
	if s.Retries < 0 {
		bad(i, s, "retries %d: want 0 or more", s.Retries)
	}
	if _, err := s.RetryDelayDuration(); err != nil {
		bad(i, s, "retry_delay %q: want a duration such as 30s", s.RetryDelay)
	} else if s.RetryDelay != "" && s.Retries == 0 {
		bad(i, s, "retry_delay needs retries")
	}
}
