package agent

import "io"

// Stdio is the process's standard streams, injectable for tests.
type Stdio struct {
	In       io.Reader
	Out, Err io.Writer
}

// exitCannotRun is the exit code of the step runner's own failures (bad
// arguments, a file it cannot write), as for the controller's.
const exitCannotRun = 125
