package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// report is the JSON written by --report.
type report struct {
	Steps []stepReport `json:"steps"`
}

type stepReport struct {
	Name            string            `json:"name"`
	ID              string            `json:"id,omitempty"`
	Worker          string            `json:"worker"`
	Image           string            `json:"image"`
	ExitCode        int               `json:"exit_code"`
	DurationMS      int64             `json:"duration_ms"`
	OutputVariables map[string]string `json:"output_variables"`
	Artifacts       []artifactReport  `json:"artifacts"`
	WorkDir         string            `json:"work_dir,omitempty"`
	Error           string            `json:"error"`
	CleanupError    string            `json:"cleanup_error,omitempty"`
}

type artifactReport struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// write replaces path atomically: readers never see half a report.
func (r *report) write(path string) error {
	for i := range r.Steps {
		if r.Steps[i].OutputVariables == nil {
			r.Steps[i].OutputVariables = map[string]string{}
		}
		if r.Steps[i].Artifacts == nil {
			r.Steps[i].Artifacts = []artifactReport{}
		}
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("report %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}
