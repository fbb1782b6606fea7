package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
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

// ErrConnectionLost is wrapped by errors from a connection that ended under
// a command: keepalives unanswered, the peer gone, the link closed.
// Reconnect dials it again.
var ErrConnectionLost = errors.New("connection lost")

// Conn is an SSH connection to one worker, safe for concurrent use: every
// command gets its own session, and SFTP shares one subsystem session.
// When the link is lost, Reconnect replaces it in place, so every holder
// of the Conn continues on the new one.
type Conn struct {
	target Target
	// hops shares jump-host connections with other Conns; nil dials
	// private ones.
	hops *HopPool

	mu     sync.Mutex
	cur    *link
	closed bool
	// redial serialises Reconnect: concurrent callers dial once.
	redial sync.Mutex

	// sessions and sftpCalls count what this connection sent the worker,
	// for the per-step figures logged at debug level.
	sessions  atomic.Int64
	sftpCalls atomic.Int64
}

// link is one authenticated SSH connection to the worker, with what hangs
// off it.
type link struct {
	client *ssh.Client
	// via is the last jump host (nil when direct); release lets go of the
	// hops this link holds.
	via     *ssh.Client
	release func()

	sftpMu sync.Mutex
	sftp   *sftp.Client

	// extra are more connections to the same worker, opened when sshd's
	// MaxSessions refuses another session on the ones there are.
	extraMu sync.Mutex
	extra   []*ssh.Client

	deadSince atomic.Pointer[time.Time]
	done      chan struct{}
	closeOnce sync.Once
}

func (c *Conn) link() *link {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cur
}

// Alive reports whether the current link is up, as far as is known.
func (c *Conn) Alive() bool {
	select {
	case <-c.link().done:
		return false
	default:
		return true
	}
}

// Reconnect dials the worker again if the current link is lost; it does
// nothing on a live link (another caller may have reconnected already).
// One attempt, with dial's own retries; callers loop with their window.
func (c *Conn) Reconnect(ctx context.Context) error {
	c.redial.Lock()
	defer c.redial.Unlock()
	if c.Alive() {
		return nil
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return fmt.Errorf("%s: connection closed", c.target)
	}
	l, err := c.dialLink(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		l.close()
		return fmt.Errorf("%s: connection closed", c.target)
	}
	c.cur = l
	return nil
}

// Exchanges returns how many sessions (commands, SFTP) were opened and how
// many SFTP calls (upload, download, realpath, lstat) were made so far.
func (c *Conn) Exchanges() (sessions, sftpCalls int64) {
	return c.sessions.Load(), c.sftpCalls.Load()
}

// newSession opens a session (for SFTP) on the first connection that
// takes one; see openOn.
func (c *Conn) newSession(l *link) (*ssh.Session, error) {
	return openOn(c, l, (*ssh.Client).NewSession)
}

// openOn opens a channel with open on the first of the link's connections
// that takes it, dialling another connection (through the same hops) when
// every one is at sshd's MaxSessions limit.
func openOn[T any](c *Conn, l *link, start func(*ssh.Client) (T, error)) (T, error) {
	var zero T
	c.sessions.Add(1)
	l.extraMu.Lock()
	clients := append([]*ssh.Client{l.client}, l.extra...)
	l.extraMu.Unlock()
	var refused error
	for _, cl := range clients {
		s, err := start(cl)
		if err == nil {
			return s, nil
		}
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) {
			return zero, err
		}
		refused = err
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultConnectTimeout)
	defer cancel()
	cl, err := dialOne(ctx, c.target, l.via)
	if err != nil {
		return zero, fmt.Errorf("every connection is at sshd's session limit (%v) and another could not be opened: %w", refused, err)
	}
	l.extraMu.Lock()
	defer l.extraMu.Unlock()
	select {
	case <-l.done:
		cl.Close()
		return zero, io.ErrClosedPipe
	default:
	}
	l.extra = append(l.extra, cl)
	return start(cl)
}

// String names the worker as user@host:port.
func (c *Conn) String() string { return c.target.String() }

// wrap adds the link's verdict to an error: lost (and since when
// keepalives went unanswered) when the link is down.
func (l *link) wrap(t Target, err error) error {
	select {
	case <-l.done:
	default:
		return fmt.Errorf("%s: %w", t, err)
	}
	if at := l.deadSince.Load(); at != nil {
		return fmt.Errorf("%s: %w since %s (no answer to keepalives): %w: %v", t, ErrUnreachable, at.UTC().Format(time.RFC3339), ErrConnectionLost, err)
	}
	return fmt.Errorf("%s: %w: %v", t, ErrConnectionLost, err)
}

// wrap is link.wrap on the current link.
func (c *Conn) wrap(err error) error { return c.link().wrap(c.target, err) }

// waitDead gives a link that is going down up to d to say so.
func (l *link) waitDead(d time.Duration) {
	select {
	case <-l.done:
	case <-time.After(d):
	}
}

// Close closes the connection and every hop behind it that no other
// connection shares.
func (c *Conn) Close() error {
	c.mu.Lock()
	c.closed = true
	l := c.cur
	c.mu.Unlock()
	return l.close()
}

// close closes the link. The network connection goes first: closing SFTP
// on a link whose peer no longer answers would wait for a reply that
// never comes.
func (l *link) close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		l.extraMu.Lock()
		for _, e := range l.extra {
			e.Close()
		}
		l.extraMu.Unlock()
		err = l.client.Close()
		if errors.Is(err, net.ErrClosed) {
			err = nil
		}
		l.release()
		l.sftpMu.Lock()
		if l.sftp != nil {
			l.sftp.Close()
		}
		l.sftpMu.Unlock()
	})
	return err
}

// watch closes the link when its connection ends and sends a keepalive
// every interval. The link is declared dead, and closed, once a keepalive
// has gone unanswered for max whole intervals (see keepalive).
func (l *link) watch(t Target) {
	go func() {
		_ = l.client.Wait()
		l.close()
	}()
	interval, max := t.KeepAliveInterval, t.KeepAliveMax
	if interval == 0 {
		interval = 15 * time.Second
	}
	if max == 0 {
		max = 3
	}
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		ka := keepalive{max: max, lastHeard: time.Now()}
		replies := make(chan error, 1)
		for {
			select {
			case <-l.done:
				return
			case err := <-replies:
				ka.reply(err, time.Now())
			case <-tick.C:
				send, dead := ka.tick()
				if dead {
					lastHeard := ka.lastHeard
					l.deadSince.Store(&lastHeard)
					l.close()
					return
				}
				if send {
					go func() {
						_, _, err := l.client.SendRequest("keepalive@openssh.com", true, nil)
						replies <- err
					}()
				}
			}
		}
	}()
}

// keepalive decides, tick by tick, when to send a keepalive and when the
// link is dead: one request is outstanding at a time, and a request still
// unanswered after max ticks (whole intervals) means the worker has been
// silent that long.
type keepalive struct {
	max       int
	pending   bool
	missed    int       // ticks since the outstanding request was sent
	lastHeard time.Time // the last reply
}

// tick is one interval passing: send a request, or declare the link dead.
func (k *keepalive) tick() (send, dead bool) {
	if !k.pending {
		k.pending, k.missed = true, 0
		return true, false
	}
	k.missed++
	return false, k.missed >= k.max
}

// reply is the answer to the outstanding request (err: none came, the
// connection ended).
func (k *keepalive) reply(err error, at time.Time) {
	k.pending = false
	if err == nil {
		k.lastHeard = at
	}
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

// SessionLimit measures how many sessions sshd lets one connection hold at
// once (its MaxSessions), trying up to upTo: it opens sessions on the
// current link, without the extra connections newSession would dial,
// until one is refused, then closes them. upTo means "at least upTo".
func (c *Conn) SessionLimit(upTo int) (int, error) {
	l := c.link()
	var opened []*ssh.Session
	defer func() {
		for _, s := range opened {
			s.Close()
		}
	}()
	for len(opened) < upTo {
		s, err := l.client.NewSession()
		if err != nil {
			var oce *ssh.OpenChannelError
			if errors.As(err, &oce) {
				return len(opened), nil
			}
			return 0, l.wrap(c.target, fmt.Errorf("opening session: %w", err))
		}
		opened = append(opened, s)
	}
	return upTo, nil
}
