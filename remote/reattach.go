package remote

import (
	"context"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// reconnecter is a Shell that can dial its worker again after the link
// was lost (*transport.Conn).
type reconnecter interface {
	Reconnect(ctx context.Context) error
}

// ReasonUnreachable: the link to the worker was lost and not regained
// within the reattach window.
const ReasonUnreachable FailureReason = "unreachable"

// counted counts the bytes of one output stream the controller has
// received, which is also the offset to resume that stream's log from.
type counted struct {
	w io.Writer
	n atomic.Int64
}

func (c *counted) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(len(p)))
	return n, err
}

// attachment is the step's two output streams as the controller has
// received them.
type attachment struct {
	stdout, stderr counted
}

// decrypting turns a log's ciphertext back into the script's output.
type decrypting struct {
	s   cipher.Stream
	w   io.Writer
	buf []byte
}

func (d *decrypting) Write(p []byte) (int, error) {
	if cap(d.buf) < len(p) {
		d.buf = make([]byte, len(p))
	}
	b := d.buf[:len(p)]
	d.s.XORKeyStream(b, p)
	return d.w.Write(b)
}

// logStreams takes the follower's framed stdout: each log's ciphertext
// decrypted into its byte-counting stream.
func logStreams(so, se cipher.Stream, att *attachment) *wire.Unframer {
	return &wire.Unframer{
		Stdout: &decrypting{s: so, w: &att.stdout},
		Stderr: &decrypting{s: se, w: &att.stderr},
	}
}

// withDiagnostic adds the last line the follower printed on stderr (plain
// text: a shell that could not start it, a runner that could not read
// the logs) to its error; the error's type is kept for errors.As.
func withDiagnostic(err error, diag *tailBuffer) error {
	if err == nil || diag.String() == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, lastLine(diag.String()))
}

// followArgs sends a step's output from its logs on the worker host, from
// the given offsets.
func followArgs(p runPlan, stdoutFrom, stderrFrom int64) []string {
	return []string{p.BundleDir + "/" + bundle.RunnerFile, "step-runner", "follow",
		"--workdir", p.WorkDir, "--container", ContainerName(p.StepID),
		"--stdout-from", strconv.FormatInt(stdoutFrom, 10), "--stderr-from", strconv.FormatInt(stderrFrom, 10),
		"--engine-wait", p.EngineWait.String()}
}

// followErr explains a follower that ended before the step's end.
func followErr(sh Shell, p runPlan, err error) error {
	var ee *transport.ExitError
	switch {
	case errors.As(err, &ee) && ee.Code == wire.FollowNoExit:
		return stepErr(sh.String(), ReasonDocker, "the step's container %s ended without reporting an exit status (killed, out of memory, stopped with its engine, or removed by the dead man's switch)", ContainerName(p.StepID))
	case errors.As(err, &ee) && ee.Code == wire.FollowEngineAway:
		return stepErr(sh.String(), ReasonDocker, "the Docker engine on the worker stopped answering while the step ran and did not come back within %s: start it (systemctl start docker); the container may still be there: run cuttle gc on this worker once the engine is back", p.EngineWait)
	case errors.As(err, &ee) && ee.Code == wire.FollowFailed:
		return stepErr(sh.String(), ReasonWorkspace, "reading the step's output logs in %s/%s failed", p.WorkDir, wire.LogDir)
	case errors.As(err, &ee) && ee.Code == 126:
		// The shell found the runner but could not execute it.
		return stepErr(sh.String(), ReasonWorkspace, "the step runner in %s cannot be executed on the worker host (is ~/.cuttle on a noexec mount? cuttle workers check tells): remount it without noexec, or give the SSH user a home on another filesystem", p.BundleDir)
	}
	return stepErr(sh.String(), ReasonWorkspace, "reading the step's output: %v", err)
}

// exitErrorOf is a script's exit code as Run's commands report it.
func exitErrorOf(code int) error {
	if code == 0 {
		return nil
	}
	return &transport.ExitError{Code: code}
}

// follower streams a running step's output from its logs: the runner
// writes them, and docker attaches only stdin, so the output does not go
// through Docker's attach stream.
type follower struct {
	frames *wire.Unframer
	done   chan error
	cancel context.CancelFunc
	// running stays open while docker run is: the follower looks at the
	// container only once it closes.
	running *io.PipeWriter
	// waited: wait has returned werr.
	waited bool
	werr   error
}

func startFollower(ctx context.Context, sh Shell, p runPlan, key []byte, att *attachment) *follower {
	fctx, cancel := context.WithCancel(ctx)
	pr, pw := io.Pipe()
	f := &follower{done: make(chan error, 1), cancel: cancel, running: pw}
	so, err1 := wire.LogCipher(key, wire.StreamStdout, 0)
	se, err2 := wire.LogCipher(key, wire.StreamStderr, 0)
	f.frames = logStreams(so, se, att)
	go func() {
		if err := errors.Join(err1, err2); err != nil {
			f.done <- err
			return
		}
		diag := &tailBuffer{max: 1024}
		err := sh.Run(fctx, &transport.Cmd{
			Args:   append(followArgs(p, 0, 0), "--while-running"),
			Stdin:  pr,
			Stdout: f.frames,
			Stderr: diag,
		})
		f.done <- withDiagnostic(err, diag)
	}()
	return f
}

// wait returns once the follower has sent the whole output and the exit
// code (nil), found the container gone without an exit file (nil:
// docker's own exit code tells what happened), or failed.
//
// Call it once docker run has returned; later calls return the same.
func (f *follower) wait() error {
	if f.waited {
		return f.werr
	}
	if _, ok := f.frames.ExitCode(); ok {
		// The follower sent the step's end and waits for its session to
		// be closed: close it, in the same burst as what follows.
		f.cancel()
		<-f.done
		f.waited = true
		return nil
	}
	f.running.Close()
	err := <-f.done
	f.cancel()
	var ee *transport.ExitError
	if errors.As(err, &ee) && ee.Code == wire.FollowNoExit {
		err = nil
	}
	f.waited, f.werr = true, err
	return err
}

// exitCode is the script's exit code as the runner recorded it, once the
// follower sent it.
func (f *follower) exitCode() (int, bool) { return f.frames.ExitCode() }

// lockedWriter serialises writes from several sessions.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// reattach is what a step does when the link dropped while it ran: the
// container goes on without it. It reconnects with backoff for up to
// window, then sends the rest of the output from the worker's logs, from
// the byte it last received on each stream, so nothing is repeated or
// lost, and returns the script's exit code as an *transport.ExitError (nil
// for 0). Each lost link starts the window again. rearm restarts the
// heartbeat on the new link.
func reattach(ctx context.Context, sh Shell, p runPlan, key []byte, att *attachment, window time.Duration, rearm func(), log zerolog.Logger) error {
	return followToEnd(ctx, sh, p, key, att, window, rearm, true, log)
}

// followToEnd sends the step's output from the worker's logs, from the
// bytes att already counted, to its end, and returns the script's exit
// code as reattach does. lost says the link is down to begin with; a link
// lost on the way is dialled again within window.
func followToEnd(ctx context.Context, sh Shell, p runPlan, key []byte, att *attachment, window time.Duration, rearm func(), lost bool, log zerolog.Logger) error {
	for {
		if lost {
			rc, ok := sh.(reconnecter)
			if !ok {
				return stepErr(sh.String(), ReasonUnreachable, "the connection was lost and cannot be dialled again")
			}
			lostAt := time.Now()
			log.Warn().Dur("window", window).Msg("connection to the worker lost while the step ran; the step goes on there: reconnecting")
			if err := reconnectWithin(ctx, rc, lostAt.Add(window), log); err != nil {
				return stepErr(sh.String(), ReasonUnreachable, "the connection was lost at %s and not regained within the reattach window (%s): %v; the worker removes the step itself once its dead man's switch expires, or run cuttle gc there", lostAt.UTC().Format(time.RFC3339), window, err)
			}
			rearm()
			log.Info().Dur("after", time.Since(lostAt)).Int64("stdout_from", att.stdout.n.Load()).Int64("stderr_from", att.stderr.n.Load()).Msg("reattached to the running step; resuming its output")
		}
		outFrom, errFrom := att.stdout.n.Load(), att.stderr.n.Load()
		so, err := wire.LogCipher(key, wire.StreamStdout, outFrom)
		if err != nil {
			return err
		}
		se, err := wire.LogCipher(key, wire.StreamStderr, errFrom)
		if err != nil {
			return err
		}
		diag := &tailBuffer{max: 1024}
		frames := logStreams(so, se, att)
		err = withDiagnostic(sh.Run(ctx, &transport.Cmd{
			Args:   followArgs(p, outFrom, errFrom),
			Stdout: frames,
			Stderr: diag,
		}), diag)
		var ee *transport.ExitError
		switch {
		case err == nil:
			// A follower that ends well has sent the exit code last.
			code, ok := frames.ExitCode()
			if !ok {
				return stepErr(sh.String(), ReasonWorkspace, "the output follower ended without the step's exit code")
			}
			return exitErrorOf(code)
		case errors.Is(err, transport.ErrConnectionLost) && ctx.Err() == nil:
			lost = true
			continue
		case errors.As(err, &ee) && (ee.Code == wire.FollowNoExit || ee.Code == wire.FollowEngineAway || ee.Code == wire.FollowFailed):
			return followErr(sh, p, err)
		default:
			return err
		}
	}
}

// reconnectWithin dials again with backoff until deadline.
func reconnectWithin(ctx context.Context, rc reconnecter, deadline time.Time, log zerolog.Logger) error {
	backoff := 500 * time.Millisecond
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return errors.New("gave up")
		}
		actx, cancel := context.WithTimeout(ctx, left)
		err := rc.Reconnect(actx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		log.Debug().Err(err).Msg("reconnect failed; retrying")
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(min(backoff, max(time.Until(deadline), 0))):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("last attempt: %w", err)
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}
