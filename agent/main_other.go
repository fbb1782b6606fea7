//go:build !linux

package agent

import (
	"context"
	"fmt"
	"runtime"
)

var subcommands = map[string]struct{}{}

// Main runs `cuttle step-runner`: the worker side runs only on Linux (in
// the step's container and on the worker host), so elsewhere it refuses.
func Main(_ context.Context, _ []string, std Stdio) int {
	fmt.Fprintf(std.Err, "cuttle: step-runner runs only on Linux workers, not on %s\n", runtime.GOOS)
	return exitCannotRun
}
