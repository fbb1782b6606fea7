package serve

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Run is one run of a runbook, as the history keeps it.
type Run struct {
	ID       string        `json:"id"`
	Runbook  string        `json:"runbook"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Status   string        `json:"status"` // succeeded, failed, interrupted
	Steps    []StepRecord  `json:"steps"`
}

// StepRecord is one step on one worker within a run.
type StepRecord struct {
	Name     string `json:"name"`
	Worker   string `json:"worker"`
	ExitCode int    `json:"exit_code"`
	Skipped  bool   `json:"skipped,omitempty"`
	Error    string `json:"error,omitempty"`
}

// History is an append-only JSON-lines file of finished runs, plus one log
// file per run, under a state directory. Each record is written with one
// write and synced, so a crash loses at most the run in progress.
type History struct {
	dir  string
	mu   sync.Mutex
	runs []Run
}

// OpenHistory loads the history under dir, creating it if needed.
func OpenHistory(dir string) (*History, error) {
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", dir, err)
	}
	h := &History{dir: dir}
	f, err := os.Open(filepath.Join(dir, "runs.jsonl"))
	if os.IsNotExist(err) {
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var r Run
		if json.Unmarshal(sc.Bytes(), &r) == nil {
			h.runs = append(h.runs, r)
		}
	}
	return h, nil
}

// LogPath is where run id's output goes.
func (h *History) LogPath(id string) string { return filepath.Join(h.dir, "logs", id+".log") }

// Append records a finished run.
func (h *History) Append(r Run) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	f, err := os.OpenFile(filepath.Join(h.dir, "runs.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	h.runs = append(h.runs, r)
	return nil
}

// Recent returns up to n runs, newest first.
func (h *History) Recent(n int) []Run {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Run
	for i := len(h.runs) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, h.runs[i])
	}
	return out
}

// Get returns the run with id.
func (h *History) Get(id string) (Run, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.runs {
		if r.ID == id {
			return r, true
		}
	}
	return Run{}, false
}
