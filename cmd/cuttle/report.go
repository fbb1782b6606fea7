package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/remote"
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
	ResultMessage   string            `json:"result_message,omitempty"`
	Skipped         bool              `json:"skipped,omitempty"`
	Packages        []packageReport   `json:"packages,omitempty"`
}

// packageReport says how one of the step's packages reached the worker.
type packageReport struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	Version   string `json:"version"`
	SHA256    string `json:"sha256"`
	BytesSent int64  `json:"bytes_sent"`
	Cached    bool   `json:"cached"`
	Delta     bool   `json:"delta"`
}

type artifactReport struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// record fills the step's report from its result and error, masked.
func (sr *stepReport) record(res remote.Result, err error, masks *mask.Set) {
	sr.ID, sr.WorkDir, sr.ExitCode = res.ID, res.WorkDir, res.ExitCode
	sr.DurationMS = res.Duration.Milliseconds()
	if res.Image != "" {
		sr.Image = res.Image
	}
	if res.CleanupErr != nil {
		sr.CleanupError = masks.Mask(res.CleanupErr.Error())
	}
	if err != nil {
		sr.Error = masks.Mask(err.Error())
		sr.ExitCode = codeFor(err)
	}
	sr.fill(res, masks)
}

// fill copies what the script reported into the step's report, masked:
// values, and the names the script chose too.
func (sr *stepReport) fill(res remote.Result, masks *mask.Set) {
	if len(res.OutputVariables) > 0 {
		sr.OutputVariables = map[string]string{}
		for name, v := range res.OutputVariables {
			if v.Sensitive {
				sr.OutputVariables[masks.Mask(name)] = mask.Placeholder
			} else {
				sr.OutputVariables[masks.Mask(name)] = masks.Mask(v.Value)
			}
		}
	}
	for _, a := range res.Artifacts {
		sr.Artifacts = append(sr.Artifacts, artifactReport{Name: masks.Mask(a.Name), Path: masks.Mask(a.Path), Size: a.Size, SHA256: a.SHA256})
	}
	sr.ResultMessage = masks.Mask(res.ResultMessage)
	for _, p := range res.Packages {
		sr.Packages = append(sr.Packages, packageReport{Name: p.Name, ID: p.ID, Version: p.Version, SHA256: p.SHA256,
			BytesSent: p.BytesSent, Cached: p.Cached, Delta: p.Delta})
	}
}

// write replaces path atomically: readers never see half a report.
func (r *report) write(path string) error {
	if r.Steps == nil {
		r.Steps = []stepReport{} // a run that ended before its first step
	}
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
