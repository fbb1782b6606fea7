package importer

import (
	"fmt"
	"io"
	"strings"
)

// ProcessReport is the migration report of one process: every action,
// and what became of the project's variables.
type ProcessReport struct {
	File   string       `json:"file"`
	Name   string       `json:"name"`
	Output string       `json:"output,omitempty"`
	Steps  []StepReport `json:"steps"`
	// Needs lists the fields the written runbook uses that this build's
	// runbook loader does not read yet (Unsupported).
	Needs []string `json:"needs,omitempty"`
	// Sensitive are the variables to provide through the environment.
	Sensitive []SensitiveReport `json:"sensitive_variables,omitempty"`
	// Prompted variables were asked for at deployment: pass them with --var.
	Prompted []string `json:"prompted_variables,omitempty"`
	// Skipped variables have scopes cuttle has no equivalent for.
	Skipped []string `json:"skipped_variables,omitempty"`
}

// StepReport is one Octopus action: converted, converted with warnings
// (each named), or not converted (with its action type and why).
type StepReport struct {
	Name       string   `json:"name"`
	ActionType string   `json:"action_type"`
	Status     string   `json:"status"`
	Warnings   []string `json:"warnings,omitempty"`
	Reason     string   `json:"reason,omitempty"`
}

// SensitiveReport is a sensitive variable and the environment variable
// that must hold its value.
type SensitiveReport struct {
	Name string `json:"name"`
	Env  string `json:"env"`
}

// Counts are a report's figures.
type Counts struct {
	Steps, Converted, Warnings, NotConverted int
	// ByType counts the actions not converted, by action type.
	ByType map[string]int
}

// Add counts r's steps into c.
func (c *Counts) Add(r ProcessReport) {
	if c.ByType == nil {
		c.ByType = map[string]int{}
	}
	for _, s := range r.Steps {
		c.Steps++
		switch s.Status {
		case StatusConverted:
			c.Converted++
		case StatusWarnings:
			c.Warnings++
		default:
			c.NotConverted++
			c.ByType[s.ActionType]++
		}
	}
}

// WriteText writes the report for people.
func (r ProcessReport) WriteText(w io.Writer) {
	out := r.Output
	if out == "" {
		out = "(no runbook: no step converted)"
	}
	fmt.Fprintf(w, "%s -> %s\n", r.File, out)
	for _, s := range r.Steps {
		switch s.Status {
		case StatusNotConverted:
			fmt.Fprintf(w, "  not converted:  %s [%s]: %s\n", s.Name, s.ActionType, s.Reason)
		case StatusWarnings:
			fmt.Fprintf(w, "  with warnings:  %s\n", s.Name)
			for _, x := range s.Warnings {
				fmt.Fprintf(w, "                  - %s\n", x)
			}
		default:
			fmt.Fprintf(w, "  converted:      %s\n", s.Name)
		}
	}
	if len(r.Needs) > 0 {
		fmt.Fprintf(w, "  needs runbook support for: %s\n", strings.Join(r.Needs, ", "))
	}
	for _, s := range r.Sensitive {
		fmt.Fprintf(w, "  sensitive variable %s: set the environment variable %s\n", s.Name, s.Env)
	}
	for _, p := range r.Prompted {
		fmt.Fprintf(w, "  prompted variable %s: pass --var %s=VALUE\n", p, p)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "  variable not imported: %s\n", s)
	}
}
