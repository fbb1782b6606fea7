//go:build linux

package agent

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"

	"github.com/cuttle-sh/cuttle/wire"
)

// Launch is the fast path's last move: the preflight found the bundle and
// the image in place, so the same command starts the step. It checks what
// the controller would have checked, fills the placeholders in template
// (a docker run argv) and execs it, after printing LaunchLine; the payload
// is already waiting on stdin. When a check fails it prints "launch=no
// REASON" and returns: the controller then takes the full path.
func Launch(f wire.LaunchFacts, template []string, stdout io.Writer) error {
	args, why := wire.FillLaunch(f, template)
	if why != "" {
		fmt.Fprintf(stdout, "launch=no %s\n", why)
		return nil
	}
	docker, err := exec.LookPath("docker")
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, wire.LaunchLine)
	return syscall.Exec(docker, args, os.Environ())
}
