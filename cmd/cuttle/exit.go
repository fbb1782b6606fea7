package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/internal/printable"
	"github.com/cuttle-sh/cuttle/remote"
)

// Exit codes, as documented in the README.
const (
	exitOK          = 0
	exitTimeout     = 124
	exitCannotRun   = 125
	exitInterrupted = 130
)

// exitCodesHelp documents the exit codes in run's and runbook run's help,
// as docker run and ssh document theirs.
var exitCodesHelp = fmt.Sprintf(`Exit codes:
  %d    the step succeeded (every step, for a runbook)
  N    the script's own exit code when it failed, even 124, 125 or 130
       (for a runbook: the first failed step's); --report tells them apart
  %d  the step ran past --timeout
  %d  cuttle could not run the step: bad input or config, connection,
       authentication, host key, docker, image, a runbook that fails its check
  %d  interrupted (Ctrl-C, SIGTERM, SIGHUP); the container and the work
       directory are removed first`, exitOK, exitTimeout, exitCannotRun, exitInterrupted)

var (
	errInterrupted = errors.New("interrupted")
	errTimeout     = errors.New("step ran past --timeout")
)

// scriptExit is a step whose script ran and exited non-zero: the process
// exits with the same code and prints nothing more.
type scriptExit struct{ code int }

func (e scriptExit) Error() string { return fmt.Sprintf("script exited with code %d", e.code) }

func exitCode(root *cobra.Command, err error) int {
	if err == nil {
		return exitOK
	}
	var se scriptExit
	if errors.As(err, &se) {
		return se.code
	}
	fmt.Fprintf(root.ErrOrStderr(), "cuttle: %s\n", printable.Text(err.Error()))
	var stepErr *remote.StepError
	switch {
	case errors.Is(err, errTimeout):
		return exitTimeout
	case errors.Is(err, errInterrupted):
		return exitInterrupted
	case errors.As(err, &stepErr):
		return exitCannotRun
	default:
		return exitCannotRun
	}
}
