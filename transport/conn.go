package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/cuttle-sh/cuttle/internal/shellquote"
)

// Cmd is a remote command, shaped like os/exec.Cmd. Args are quoted by
// shellquote.Join; nothing else builds the line.
type Cmd struct {
	Args   []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// ExitError is a remote command that ran and exited non-zero.
type ExitError struct {
	Code   int
	Signal string
}

func (e *ExitError) Error() string {
	if e.Signal != "" {
		return fmt.Sprintf("remote command killed by signal %s", e.Signal)
	}
	return fmt.Sprintf("remote command exited with code %d", e.Code)
}

// ErrUnreachable is wrapped by errors from a connection whose keepalives
// went unanswered.
var ErrUnreachable = errors.New("worker unreachable")

// Conn is an SSH connection to one worker, safe for concurrent use: every
// command gets its own session, and SFTP shares one subsystem session.
type Conn struct {
	client *ssh.Client
	hops   []*ssh.Client
	target Target

	sftpMu sync.Mutex
	sftp   *sftp.Client

	// extra are more connections to the same worker, opened when sshd's
	// MaxSessions refuses another session on the ones there are.
	extraMu sync.Mutex
	extra   []*ssh.Client

	// sessions and sftpCalls count what this connection sent the worker,
	// for the per-step figures logged at debug level.
	sessions  atomic.Int64
	sftpCalls atomic.Int64

	deadSince atomic.Pointer[time.Time]
	done      chan struct{}
	closeOnce sync.Once
}

// Exchanges returns how many sessions (commands, SFTP) were opened and how
// many SFTP calls (upload, download, realpath, lstat) were made so far.
func (c *Conn) Exchanges() (sessions, sftpCalls int64) {
	return c.sessions.Load(), c.sftpCalls.Load()
}

// newSession opens a session on the first connection that takes one,
// dialling another connection (through the same hops) when every one is
// at sshd's MaxSessions limit.
func (c *Conn) newSession() (*ssh.Session, error) {
	c.sessions.Add(1)
	c.extraMu.Lock()
	clients := append([]*ssh.Client{c.client}, c.extra...)
	c.extraMu.Unlock()
	var refused error
	for _, cl := range clients {
		s, err := cl.NewSession()
		if err == nil {
			return s, nil
		}
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) {
			return nil, err
		}
		refused = err
	}
	var via *ssh.Client
	if len(c.hops) > 1 {
		via = c.hops[len(c.hops)-2]
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultConnectTimeout)
	defer cancel()
	cl, err := dialOne(ctx, c.target, via)
	if err != nil {
		return nil, fmt.Errorf("every connection is at sshd's session limit (%v) and another could not be opened: %w", refused, err)
	}
	select {
	case <-c.done:
		cl.Close()
		return nil, io.ErrClosedPipe
	default:
	}
	c.extraMu.Lock()
	c.extra = append(c.extra, cl)
	c.extraMu.Unlock()
	return cl.NewSession()
}

// String names the worker as user@host:port.
func (c *Conn) String() string { return c.target.String() }

// Run runs cmd and waits for it. A non-zero exit is an *ExitError. When ctx
// ends first the session is closed and ctx's error returned; the remote
// process may still be running (callers stop containers by name).
func (c *Conn) Run(ctx context.Context, cmd *Cmd) error {
	line, err := shellquote.Join(cmd.Args...)
	if err != nil {
		return err
	}
	s, err := c.newSession()
	if err != nil {
		return c.wrap(fmt.Errorf("opening session: %w", err))
	}
	defer s.Close()
	s.Stdin, s.Stdout, s.Stderr = cmd.Stdin, cmd.Stdout, cmd.Stderr
	if err := s.Start(line); err != nil {
		return c.wrap(fmt.Errorf("starting remote command: %w", err))
	}
	waited := make(chan error, 1)
	go func() { waited <- s.Wait() }()
	select {
	case err = <-waited:
	case <-ctx.Done():
		_ = s.Signal(ssh.SIGTERM)
		s.Close()
		return ctx.Err()
	case <-c.done:
		s.Close()
		return c.wrap(io.ErrUnexpectedEOF)
	}
	var ee *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ee):
		return &ExitError{Code: ee.ExitStatus(), Signal: ee.Signal()}
	case errors.As(err, &missing):
		return c.wrap(fmt.Errorf("connection lost before the remote command reported its exit status: %w", err))
	default:
		return c.wrap(err)
	}
}

// Output runs cmd and returns its stdout; stderr is captured into the error
// of a failed command.
func (c *Conn) Output(ctx context.Context, args ...string) ([]byte, []byte, error) {
	var out, errb limitedBuffer
	err := c.Run(ctx, &Cmd{Args: args, Stdout: &out, Stderr: &errb})
	return out.Bytes(), errb.Bytes(), err
}

// wrap adds the liveness verdict to an error from a dead connection.
func (c *Conn) wrap(err error) error {
	if t := c.deadSince.Load(); t != nil {
		return fmt.Errorf("%s: %w since %s (no answer to keepalives): %v", c.target, ErrUnreachable, t.UTC().Format(time.RFC3339), err)
	}
	return fmt.Errorf("%s: %w", c.target, err)
}

// Close closes the connection and every hop behind it. The network
// connection goes first: closing SFTP on a link whose peer no longer
// answers would wait for a reply that never comes.
func (c *Conn) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.done)
		c.extraMu.Lock()
		for _, e := range c.extra {
			e.Close()
		}
		c.extraMu.Unlock()
		for i := len(c.hops) - 1; i >= 0; i-- {
			if e := c.hops[i].Close(); e != nil && i == len(c.hops)-1 {
				err = e
			}
		}
		c.sftpMu.Lock()
		if c.sftp != nil {
			c.sftp.Close()
		}
		c.sftpMu.Unlock()
	})
	return err
}

// startKeepAlive sends a keepalive request every interval. The link is
// declared dead, and the connection closed, once nothing has been heard
// for max intervals while a request waits: checked on the interval's tick,
// with half an interval of slack for the reply's round trip, so a dead
// link is found within max intervals of its last reply.
func (c *Conn) startKeepAlive(t Target) {
	c.done = make(chan struct{})
	interval, max := t.KeepAliveInterval, t.KeepAliveMax
	if interval == 0 {
		interval = 15 * time.Second
	}
	if max == 0 {
		max = 3
	}
	limit := time.Duration(max)*interval - interval/2
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		lastHeard := time.Now()
		replies := make(chan error, 1)
		pending := false
		for {
			select {
			case <-c.done:
				return
			case err := <-replies:
				pending = false
				if err == nil {
					lastHeard = time.Now()
				}
			case now := <-tick.C:
				if pending {
					if now.Sub(lastHeard) >= limit {
						c.deadSince.Store(&lastHeard)
						c.Close()
						return
					}
					continue
				}
				pending = true
				go func() {
					_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
					replies <- err
				}()
			}
		}
	}()
}

// limitedBuffer keeps the first 64 KiB written to it: enough for any
// answer cuttle parses, bounded for anything else.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := 64<<10 - len(l.b); room > 0 {
		l.b = append(l.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (l *limitedBuffer) Bytes() []byte { return l.b }
