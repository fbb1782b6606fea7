package serve

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Run is one run of a runbook, as the history keeps it.
type Run struct {
	ID       string        `json:"id"`
	Runbook  string        `json:"runbook"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration_ns"`
	Status   string        `json:"status"` // running, succeeded, failed, interrupted
	Steps    []StepRecord  `json:"steps"`
	// Scheduled is the occurrence a scheduled run is for; zero for a run
	// started by "Run now".
	Scheduled time.Time `json:"scheduled,omitzero"`
	// Instance is the cuttle serve that ran it (set by the store).
	Instance string `json:"instance,omitempty"`
}

// Run statuses.
const (
	StatusRunning     = "running"
	StatusSucceeded   = "succeeded"
	StatusFailed      = "failed"
	StatusInterrupted = "interrupted"
)

// StepRecord is one step on one worker within a run.
type StepRecord struct {
	Name      string           `json:"name"`
	Worker    string           `json:"worker"`
	ExitCode  int              `json:"exit_code"`
	Skipped   bool             `json:"skipped,omitempty"`
	Error     string           `json:"error,omitempty"`
	Duration  time.Duration    `json:"duration_ns,omitempty"`
	Outputs   []OutputRecord   `json:"outputs,omitempty"`
	Artifacts []ArtifactRecord `json:"artifacts,omitempty"`
}

// OutputRecord is an output variable a step set. A sensitive value is
// never kept: Value is empty and Sensitive true.
type OutputRecord struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// ArtifactRecord is a file a step sent back to the controller.
type ArtifactRecord struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// RunbookStatus is what the history says of one runbook's runs.
type RunbookStatus struct {
	LastStatus  string
	LastStart   time.Time
	LastSuccess time.Time // zero: never succeeded (within retention)
}

// ErrNoRun is returned for a run the history does not hold.
var ErrNoRun = errors.New("no such run")

// ErrFenced is returned to an instance whose lease ran out: another
// instance took it for dead and recorded its running runs as
// interrupted, so it may no longer record them.
var ErrFenced = errors.New("this instance's lease ran out: another instance recorded its running runs as interrupted")

// Claim is what Store.Claim decided for a scheduled occurrence.
type Claim int

// Claim outcomes.
const (
	Claimed Claim = iota // this instance runs it: the run is recorded as running
	Taken                // another instance handles it
	Busy                 // a run of the runbook is still going: the occurrence is skipped
)

// Store keeps the run history: runs, their steps, output variables,
// artifacts and logs. The SQLite store is the default; the interface is
// what a PostgreSQL store implements as well.
//
// Begin records a run as running. Finish records its outcome and its log
// in one transaction: a crash leaves either the running record or the
// finished one, never half of it. Runs still marked running by an
// instance that is gone (for SQLite: when the store opens; for
// PostgreSQL: once the instance's lease ran out) were cut short and are
// marked interrupted; Finish then fails with ErrFenced.
type Store interface {
	Begin(ctx context.Context, r Run) error
	// Claim decides who handles the occurrence r.Scheduled of r.Runbook,
	// once for all the instances that share the store: when Claimed, r
	// is recorded as running, as by Begin.
	Claim(ctx context.Context, r Run) (Claim, error)
	// Heartbeat renews this instance's lease and records as interrupted
	// the running runs of instances whose lease ran out. It returns
	// ErrFenced when this instance's own lease had run out.
	Heartbeat(ctx context.Context) error
	Finish(ctx context.Context, r Run, log []byte) error
	// Recent returns up to n runs, newest start first, without steps.
	Recent(ctx context.Context, n int) ([]Run, error)
	// Get returns a run with its steps, or ErrNoRun.
	Get(ctx context.Context, id string) (Run, error)
	// Log returns a finished run's log, or ErrNoRun.
	Log(ctx context.Context, id string) ([]byte, error)
	// Runbooks returns per runbook its last status and last success.
	Runbooks(ctx context.Context) (map[string]RunbookStatus, error)
	// Prune deletes finished runs (and their steps and logs) beyond the
	// retention, returning how many went.
	Prune(ctx context.Context, keep Retention, now time.Time) (int, error)
	// LogPath is the local file a running run's log is written to as well,
	// so that a crash keeps it; Finish's caller removes it.
	LogPath(id string) string
	Close() error
}

// Retention bounds the history. Zero fields do not bound it.
type Retention struct {
	Runs int           // keep at most this many finished runs
	For  time.Duration // keep runs that started within this long
}

// ParseAge reads an age such as 30d, 12h or 1d12h: Go durations plus days.
func ParseAge(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	orig := s
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q: days must be a whole number, as in 30d or 1d12h", orig)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: not an age such as 30d, 12h or 1d12h", orig)
	}
	return days + d, nil
}
