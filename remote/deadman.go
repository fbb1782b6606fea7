package remote

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
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
//
// stop ends the heartbeat's input and returns at once: the worker's side
// does nothing more once its input ends, so the commands that follow need
// not wait for it (a round trip). wait returns once its session is over
// (at most 5 s).
func startHeartbeat(ctx context.Context, sh Shell, p runPlan, window time.Duration, resumed bool, log zerolog.Logger) (stop, wait func()) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	var stopped atomic.Bool
	// Stopping closes its session from this side: the worker's side ends
	// as its input does, and a session that ended by itself would need a
	// message in reply (a round trip's worth of turns).
	hctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(done)
		tail := &tailBuffer{max: 512}
		err := sh.Run(hctx, &transport.Cmd{Args: heartbeatArgs(p, window, resumed), Stdin: pr, Stderr: tail})
		if err != nil && !stopped.Load() {
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
	var once sync.Once
	stop = func() {
		once.Do(func() {
			stopped.Store(true)
			close(quit)
			pw.Close()
			cancel()
		})
	}
	wait = func() {
		stop()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	return stop, wait
}
