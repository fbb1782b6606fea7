package remote

import (
	"errors"
	"fmt"
)

// FailureReason classifies why cuttle could not run a step.
type FailureReason string

// The failure reasons callers branch on.
const (
	ReasonDocker    FailureReason = "docker"    // docker missing, engine down, no permission
	ReasonImage     FailureReason = "image"     // pull failed, image absent under --pull never
	ReasonWorkspace FailureReason = "workspace" // work directory or upload failed
	ReasonRunner    FailureReason = "runner"    // bundle or runner problem
	ReasonInput     FailureReason = "input"     // bad step definition
)

// StepError is cuttle failing to run a step (as opposed to the script
// failing). It maps to exit code 125.
type StepError struct {
	Worker string
	Reason FailureReason
	Err    error
}

func (e *StepError) Error() string {
	if e.Worker == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("worker %s: %v", e.Worker, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

func stepErr(worker string, reason FailureReason, format string, a ...any) error {
	return &StepError{Worker: worker, Reason: reason, Err: fmt.Errorf(format, a...)}
}

// ErrCleanup wraps everything cleanup could not remove.
var ErrCleanup = errors.New("cleanup incomplete")
