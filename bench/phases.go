package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// phaseOrder is the order cuttle goes through a step's phases (the
// report's steps[].phases, remote.Phase*).
var phaseOrder = []string{"connect", "preflight", "bundle", "image", "packages", "start", "script", "output", "reattach", "artifacts", "cleanup"}

// phaseSamples collects the phases of cuttle's reports, in ms, per phase.
type phaseSamples map[string]values

// read adds the phases of the report's first step.
func (p phaseSamples) read(report string) error {
	b, err := os.ReadFile(report)
	if err != nil {
		return fmt.Errorf("cuttle's report: %w", err)
	}
	var r struct {
		Steps []struct {
			Phases map[string]float64 `json:"phases"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r.Steps) == 0 || len(r.Steps[0].Phases) == 0 {
		return fmt.Errorf("cuttle's report %s has no step with phases (%v)", report, err)
	}
	for name, d := range r.Steps[0].Phases {
		p[name] = append(p[name], d)
	}
	return nil
}

// String is each phase's median, in cuttle's order.
func (p phaseSamples) String() string {
	var parts []string
	for _, name := range phaseOrder {
		if v, ok := p[name]; ok {
			parts = append(parts, fmt.Sprintf("%s %.0f", name, v.median()))
		}
	}
	return strings.Join(parts, ", ")
}
