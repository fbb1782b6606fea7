package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cuttle-sh/cuttle/fleet"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/remote"
)

// report is the JSON written by --report.
type report struct {
	Steps []stepReport `json:"steps"`
}

type stepReport struct {
	Name       string `json:"name"`
	ID         string `json:"id,omitempty"`
	Worker     string `json:"worker"`
	Image      string `json:"image"`
	ExitCode   int    `json:"exit_code"`
	DurationMS int64  `json:"duration_ms"`
	// PhasesMS is where the duration went, in milliseconds per phase
	// (remote.Phase*); they add up to at most DurationMS.
	PhasesMS        map[string]int64  `json:"phases,omitempty"`
	OutputVariables map[string]string `json:"output_variables"`
	Artifacts       []artifactReport  `json:"artifacts"`
	WorkDir         string            `json:"work_dir,omitempty"`
	Error           string            `json:"error"`
	CleanupError    string            `json:"cleanup_error,omitempty"`
	ResultMessage   string            `json:"result_message,omitempty"`
	Skipped         bool              `json:"skipped,omitempty"`
	Packages        []packageReport   `json:"packages,omitempty"`
	// What else the script reported (set_environmentstate,
	// report_kubernetes_manifest, new_octopustarget, remove_octopustarget).
	EnvironmentState    []environmentStateReport `json:"environment_state,omitempty"`
	KubernetesManifests []manifestReport         `json:"kubernetes_manifests,omitempty"`
	Targets             []targetReport           `json:"targets,omitempty"`
	// Attempts lists every run of a step with retries, the last one last.
	Attempts []attemptReport `json:"attempts,omitempty"`
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
	// Acquired is where the file was acquired: controller or worker.
	Acquired string `json:"acquired"`
}

type environmentStateReport struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	Type      string `json:"type"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

type manifestReport struct {
	Namespace string `json:"namespace,omitempty"`
	Manifest  string `json:"manifest"`
}

type targetReport struct {
	Action           string `json:"action"`
	Name             string `json:"name,omitempty"`
	TargetID         string `json:"target_id,omitempty"`
	Inputs           string `json:"inputs,omitempty"`
	Roles            string `json:"roles,omitempty"`
	WorkerPool       string `json:"worker_pool,omitempty"`
	UpdateIfExisting bool   `json:"update_if_existing,omitempty"`
	Machine          string `json:"machine,omitempty"`
}

type attemptReport struct {
	Attempt      int    `json:"attempt"`
	ID           string `json:"id,omitempty"`
	WorkDir      string `json:"work_dir,omitempty"`
	ExitCode     int    `json:"exit_code"`
	DurationMS   int64  `json:"duration_ms"`
	Error        string `json:"error,omitempty"`
	CleanupError string `json:"cleanup_error,omitempty"`
}

// recordAttempts lists a retried step's attempts, masked.
func (sr *stepReport) recordAttempts(attempts []fleet.Attempt, masks *mask.Set) {
	for i, a := range attempts {
		var one stepReport
		one.record(a.Result, a.Err, masks)
		sr.Attempts = append(sr.Attempts, attemptReport{Attempt: i + 1, ID: one.ID, WorkDir: one.WorkDir, ExitCode: one.ExitCode,
			DurationMS: one.DurationMS, Error: one.Error, CleanupError: one.CleanupError})
	}
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
	if len(res.Phases) > 0 {
		sr.PhasesMS = make(map[string]int64, len(res.Phases))
		for _, p := range res.Phases {
			sr.PhasesMS[p.Name] = p.Duration.Milliseconds()
		}
	}
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
			BytesSent: p.BytesSent, Cached: p.Cached, Delta: p.Delta, Acquired: p.Acquired})
	}
	for _, st := range res.Reported.EnvironmentState {
		v := masks.Mask(st.Value)
		if st.Sensitive {
			v = mask.Placeholder
		}
		sr.EnvironmentState = append(sr.EnvironmentState, environmentStateReport{Key: masks.Mask(st.Key), Value: v, Type: st.Type, Sensitive: st.Sensitive})
	}
	for _, m := range res.Reported.KubernetesManifests {
		sr.KubernetesManifests = append(sr.KubernetesManifests, manifestReport{Namespace: masks.Mask(m.Namespace), Manifest: masks.Mask(m.Manifest)})
	}
	for _, t := range res.Reported.Targets {
		sr.Targets = append(sr.Targets, targetReport{Action: t.Action, Name: masks.Mask(t.Name), TargetID: masks.Mask(t.TargetID),
			Inputs: masks.Mask(t.Inputs), Roles: masks.Mask(t.Roles), WorkerPool: masks.Mask(t.WorkerPool),
			UpdateIfExisting: t.UpdateIfExisting, Machine: masks.Mask(t.Machine)})
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
