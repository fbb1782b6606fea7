package importer

import (
	"fmt"
	"strings"
)

// Process is an Octopus deployment process or runbook process, read from
// OCL or REST JSON: what Convert needs, nothing of either format.
type Process struct {
	// Name is the runbook's name, or "deployment-process".
	Name string
	// File is where it was read from.
	File string
	// Runbook is true for a runbook (false: a deployment process).
	Runbook bool
	// Environments is a runbook's environment scope (empty: all).
	Environments []string
	Steps        []Step
}

// Step is one Octopus step: its run condition and its actions (one,
// or several child steps of a rolling deployment).
type Step struct {
	Name string
	// Condition is Success (default), Failure, Always or Variable;
	// ConditionExpression is the Variable condition's template.
	Condition           string
	ConditionExpression string
	// StartTrigger is StartAfterPrevious (default) or StartWithPrevious.
	StartTrigger string
	Properties   map[string]string
	Actions      []Action
}

// Action is what a step does.
type Action struct {
	Name       string
	ActionType string
	Properties map[string]string
	// WorkerPool and WorkerPoolVariable name the worker pool, directly
	// or through a variable holding its name.
	WorkerPool, WorkerPoolVariable string
	Container                      ActionContainer
	Packages                       []Package
	Environments                   []string
	ExcludedEnvironments           []string
	Channels                       []string
	TenantTags                     []string
	Disabled                       bool
}

// ActionContainer is an action's execution container.
type ActionContainer struct{ Feed, Image string }

// Package is a package an action references. Name is the reference
// ("" for the action's primary package).
type Package struct {
	Name, PackageID, Feed, AcquisitionLocation string
	Properties                                 map[string]string
}

// Variable is one value of a project variable.
type Variable struct {
	Name, Value string
	Sensitive   bool
	// Environments scopes the value (empty: unscoped).
	Environments []string
	// OtherScope names scopes cuttle has no equivalent for (roles,
	// targets, channels, tenants, processes), "" when none.
	OtherScope string
	// Prompted values were asked for when a deployment was created.
	Prompted bool
}

// Variables is a project's variable set.
type Variables struct {
	File string
	List []Variable
}

// Document is what one OCL or JSON file holds: a process, or variables.
type Document struct {
	Process   *Process
	Variables *Variables
}

// ProcessFromOCL reads an OCL body: a deployment process (top-level step
// blocks), a runbook (name and a process block) or a variables file
// (variable blocks).
func ProcessFromOCL(file string, b *Body) (Document, error) {
	if len(blocksOf(b, "variable")) > 0 {
		return Document{Variables: variablesFromOCL(file, b)}, nil
	}
	p := &Process{File: file, Name: "deployment-process"}
	steps := b
	if procs := blocksOf(b, "process"); len(procs) > 0 {
		p.Runbook = true
		p.Name = attrString(b, "name")
		if p.Name == "" {
			p.Name = "runbook"
		}
		if attrString(b, "environment_scope") == "Specified" {
			p.Environments = attrList(b, "environments")
		}
		steps = &procs[0].Body
	}
	for _, sb := range steps.Blocks {
		switch sb.Type {
		case "step":
			p.Steps = append(p.Steps, stepFromOCL(sb))
		case "process_template":
			// A Platform Hub process template: its steps live in Octopus.
			name := attrString(&sb.Body, "name")
			if name == "" && len(sb.Labels) > 0 {
				name = sb.Labels[0]
			}
			if slug := attrString(&sb.Body, "process_template_slug"); slug != "" {
				name += " (" + slug + ")"
			}
			p.Steps = append(p.Steps, Step{Name: name, Actions: []Action{{Name: name, ActionType: "process template"}}})
		}
	}
	if len(p.Steps) == 0 && len(blocksOf(b, "process")) == 0 {
		return Document{}, nil // settings, channels, schema_version: nothing to convert
	}
	return Document{Process: p}, nil
}

func stepFromOCL(sb Block) Step {
	b := &sb.Body
	s := Step{
		Name:         attrString(b, "name"),
		Condition:    attrString(b, "condition"),
		StartTrigger: attrString(b, "start_trigger"),
		Properties:   attrMap(b, "properties"),
	}
	if s.Name == "" && len(sb.Labels) > 0 {
		s.Name = sb.Labels[0]
	}
	s.ConditionExpression = s.Properties["Octopus.Step.ConditionVariableExpression"]
	for _, ab := range blocksOf(b, "action") {
		a := actionFromOCL(ab)
		if a.Name == "" {
			a.Name = s.Name
		}
		s.Actions = append(s.Actions, a)
	}
	return s
}

func actionFromOCL(ab Block) Action {
	b := &ab.Body
	a := Action{
		Name:                 attrString(b, "name"),
		ActionType:           attrString(b, "action_type"),
		Properties:           attrMap(b, "properties"),
		WorkerPool:           attrString(b, "worker_pool"),
		WorkerPoolVariable:   attrString(b, "worker_pool_variable"),
		Environments:         attrList(b, "environments"),
		ExcludedEnvironments: attrList(b, "excluded_environments"),
		Channels:             attrList(b, "channels"),
		TenantTags:           attrList(b, "tenant_tags"),
		Disabled:             attrString(b, "is_disabled") == "true",
	}
	if cb := blocksOf(b, "container"); len(cb) > 0 {
		a.Container = ActionContainer{Feed: attrString(&cb[0].Body, "feed"), Image: attrString(&cb[0].Body, "image")}
	}
	for _, pb := range blocksOf(b, "packages") {
		pk := Package{
			PackageID:           attrString(&pb.Body, "package_id"),
			Feed:                attrString(&pb.Body, "feed"),
			AcquisitionLocation: attrString(&pb.Body, "acquisition_location"),
			Properties:          attrMap(&pb.Body, "properties"),
		}
		if len(pb.Labels) > 0 {
			pk.Name = pb.Labels[0]
		}
		a.Packages = append(a.Packages, pk)
	}
	return a
}

// variablesFromOCL reads `variable "Name" { value "v" { scopes } }`
// blocks; a variable's type (or its value's) "Sensitive" marks it
// sensitive, and a sensitive value is never in the file.
func variablesFromOCL(file string, b *Body) *Variables {
	vs := &Variables{File: file}
	for _, vb := range blocksOf(b, "variable") {
		if len(vb.Labels) == 0 {
			continue
		}
		name := vb.Labels[0]
		sensitive := strings.EqualFold(attrString(&vb.Body, "type"), "Sensitive")
		values := blocksOf(&vb.Body, "value")
		if len(values) == 0 && sensitive {
			vs.List = append(vs.List, Variable{Name: name, Sensitive: true})
		}
		for _, val := range values {
			v := Variable{Name: name, Sensitive: sensitive || strings.EqualFold(attrString(&val.Body, "type"), "Sensitive")}
			if len(val.Labels) > 0 {
				v.Value = val.Labels[0]
			}
			v.Environments = attrList(&val.Body, "environment")
			var other []string
			for _, scope := range []string{"role", "machine", "channel", "tenant_tag", "action", "process"} {
				if l := attrList(&val.Body, scope); len(l) > 0 {
					other = append(other, fmt.Sprintf("%s %s", scope, strings.Join(l, ",")))
				}
			}
			v.OtherScope = strings.Join(other, "; ")
			v.Prompted = len(blocksOf(&val.Body, "prompt")) > 0
			vs.List = append(vs.List, v)
		}
	}
	return vs
}

func blocksOf(b *Body, typ string) []Block {
	var out []Block
	for _, bl := range b.Blocks {
		if bl.Type == typ {
			out = append(out, bl)
		}
	}
	return out
}

func attr(b *Body, key string) (Value, bool) {
	for _, a := range b.Attrs {
		if a.Key == key {
			return a.Value, true
		}
	}
	return Value{}, false
}

// attrString is a scalar attribute as text ("" when absent or not a
// scalar).
func attrString(b *Body, key string) string {
	v, ok := attr(b, key)
	if !ok || v.Kind == KindList || v.Kind == KindMap {
		return ""
	}
	return v.Str
}

// attrList is a list attribute's scalars; a single scalar is a list of
// one.
func attrList(b *Body, key string) []string {
	v, ok := attr(b, key)
	if !ok {
		return nil
	}
	if v.Kind == KindString {
		return []string{v.Str}
	}
	var out []string
	for _, it := range v.List {
		out = append(out, it.Str)
	}
	return out
}

// attrMap is a map attribute's scalar entries (nil when absent).
func attrMap(b *Body, key string) map[string]string {
	v, ok := attr(b, key)
	if !ok || v.Kind != KindMap {
		return nil
	}
	m := make(map[string]string, len(v.Map))
	for _, e := range v.Map {
		if e.Value.Kind == KindList {
			var items []string
			for _, it := range e.Value.List {
				items = append(items, it.Str)
			}
			m[e.Key] = strings.Join(items, ",")
			continue
		}
		m[e.Key] = e.Value.Str
	}
	return m
}
