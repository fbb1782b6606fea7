package remote

import (
	"context"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/internal/printable"
	"github.com/cuttle-sh/cuttle/transport"
)

// heartbeatArgs runs the worker-side half of the dead man's switch on the
// worker host (not in the container), from the cached bundle.
func heartbeatArgs(p runPlan, window time.Duration, resumed bool) []string {
	args := []string{p.BundleDir + "/" + bundle.RunnerFile, "step-runner", "heartbeat",
		"--file", p.WorkDir + "/.cuttle-heartbeat", "--container", ContainerName(p.StepID),
		"--workdir", p.WorkDir, "--window", window.String()}
	if resumed {
		args = append(args, "--resumed")
	}
	return args
}

// startHeartbeat arms the dead man's switch: while the returned stop is
// not called, a byte goes to the worker every window/10. If this
// controller vanishes, or the link dies, the bytes stop and the worker
// removes the step itself once window has passed. A worker where it
// cannot start (e.g. ~/.cuttle on a noexec mount) runs the step without
// it, with a warning.
func startHeartbeat(ctx context.Context, sh Shell, p runPlan, window time.Duration, resumed bool, log zerolog.Logger) (stop func()) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tail := &tailBuffer{max: 512}
		err := sh.Run(context.WithoutCancel(ctx), &transport.Cmd{Args: heartbeatArgs(p, window, resumed), Stdin: pr, Stderr: tail})
		if err != nil {
			log.Warn().Err(err).Str("detail", printable.String(lastLine(tail.String()))).Msg("dead man's switch not armed on this worker")
		}
		pr.Close()
	}()
	interval := min(max(window/10, 200*time.Millisecond), 30*time.Second)
	tick := time.NewTicker(interval)
	quit := make(chan struct{})
	go func() {
		defer tick.Stop()
		for {
			select {
			case <-quit:
				return
			case <-tick.C:
				if _, err := pw.Write([]byte{'\n'}); err != nil {
					return
				}
			}
		}
	}()
	return func() {
		close(quit)
		pw.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
}
