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
func openOn[T any](c *Conn, l *link, open func(*ssh.Client) (T, error)) (T, error) {
	var zero T
	c.sessions.Add(1)
	l.extraMu.Lock()
	clients := append([]*ssh.Client{l.client}, l.extra...)
	l.extraMu.Unlock()
	var refused error
	for _, cl := range clients {
		s, err := open(cl)
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
	return open(cl)
}

// String names the worker as user@host:port.
func (c *Conn) String() string { return c.target.String() }

// Run runs cmd and waits for it. A non-zero exit is an *ExitError. When ctx
// ends first the session is closed and ctx's error returned; the remote
// process may still be running (callers stop containers by name).
func (c *Conn) Run(ctx context.Context, cmd *Cmd) error {
	return c.RunPrepared(ctx, nil, cmd)
}

// Prepared is a session opened ahead of the command that will use it, so
// that command does not wait for the channel to open: cuttle opens the
// one for a step's cleanup while the step runs.
type Prepared struct {
	l     *link
	x     *execChannel
	err   error
	ready chan struct{}
	used  bool
}

// Prepare opens a session in the background for RunPrepared.
func (c *Conn) Prepare() *Prepared {
	p := &Prepared{l: c.link(), ready: make(chan struct{})}
	go func() {
		defer close(p.ready)
		p.x, p.err = openOn(c, p.l, openExec)
	}()
	return p
}

// Close releases a prepared session that was not used.
func (p *Prepared) Close() {
	if p == nil || p.used {
		return
	}
	p.used = true
	go func() {
		<-p.ready
		if p.x != nil {
			p.x.ch.Close()
		}
	}()
}

// RunPrepared is Run on p's session when it opened on the current link,
// and on a new one otherwise (p may be nil). p is used up either way.
func (c *Conn) RunPrepared(ctx context.Context, p *Prepared, cmd *Cmd) error {
	line, err := shellquote.Join(cmd.Args...)
	if err != nil {
		p.Close()
		return err
	}
	l := c.link()
	x, err := c.session(l, p)
	if err != nil {
		return err
	}
	defer x.ch.Close()
	gated, shut := gateWriters(cmd)
	defer shut()
	waited, err := x.start(line, gated)
	if err != nil {
		return l.wrap(c.target, fmt.Errorf("starting remote command: %w", err))
	}
	var st exitStatus
	select {
	case st = <-waited:
	case <-ctx.Done():
		x.signal(string(ssh.SIGTERM))
		x.ch.Close()
		return ctx.Err()
	case <-l.done:
		x.ch.Close()
		// Let the output copies finish: what cmd's writers received is
		// exactly what a caller resumes from.
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
		}
		return l.wrap(c.target, io.ErrUnexpectedEOF)
	}
	return c.statusErr(l, st)
}

// session is p's session when it is ready on l, else a new one on l (p's
// is closed).
func (c *Conn) session(l *link, p *Prepared) (*execChannel, error) {
	if p != nil && !p.used {
		p.used = true
		<-p.ready
		if p.err == nil && p.l == l {
			return p.x, nil
		}
		if p.x != nil {
			p.x.ch.Close()
		}
	}
	x, err := openOn(c, l, openExec)
	if err != nil {
		return nil, l.wrap(c.target, fmt.Errorf("opening session: %w", err))
	}
	return x, nil
}

// gateWriters is cmd with its writers behind gates that shut closes: Run
// may return before the output copies end (ctx ended, link lost), and
// from then on they must not touch cmd's writers, which the caller owns
// again.
func gateWriters(cmd *Cmd) (*Cmd, func()) {
	gated := *cmd
	var gates []*gate
	for _, w := range []*io.Writer{&gated.Stdout, &gated.Stderr} {
		if *w != nil {
			g := &gate{w: *w}
			gates = append(gates, g)
			*w = g
		}
	}
	return &gated, func() {
		for _, g := range gates {
			g.shut()
		}
	}
}

// statusErr is the error a remote command's exit status st on l means.
func (c *Conn) statusErr(l *link, st exitStatus) error {
	switch {
	case st.missing:
		// The channel closed without a status (x/crypto's
		// ExitMissingError): the link went, or is going. Should it stay
		// up, the command's end is as unknown as after a lost link, and
		// callers resume the same way.
		l.waitDead(time.Second)
		noStatus := errors.New("the session closed before the remote command reported its exit status")
		select {
		case <-l.done:
			return l.wrap(c.target, noStatus)
		default:
			return fmt.Errorf("%s: %w: %v", c.target, ErrConnectionLost, noStatus)
		}
	case st.signal != "":
		return &ExitError{Code: -1, Signal: st.signal}
	case st.code != 0:
		return &ExitError{Code: st.code}
	case st.copyErr != nil:
		return l.wrap(c.target, st.copyErr)
	}
	return nil
}

// gate passes writes on until it is shut; shut waits for a write in
// progress, and later writes are dropped.
type gate struct {
	mu     sync.Mutex
	w      io.Writer
	closed bool
}

func (g *gate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (g *gate) shut() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// execChannel is a session channel that runs one command. It is used
// instead of ssh.Session to send "exec" without waiting for sshd's reply:
// the command's output and exit status answer it anyway, and each command
// saves the round trip the reply costs.
type execChannel struct {
	ch   ssh.Channel
	reqs <-chan *ssh.Request
}

type exitStatus struct {
	code    int
	signal  string
	missing bool
	copyErr error
}

func openExec(cl *ssh.Client) (*execChannel, error) {
	ch, reqs, err := cl.OpenChannel("session", nil)
	if err != nil {
		return nil, err
	}
	return &execChannel{ch: ch, reqs: reqs}, nil
}

// start sends the command and copies its streams; the returned channel
// delivers the exit status once the output is all written out.
func (x *execChannel) start(line string, cmd *Cmd) (<-chan exitStatus, error) {
	if _, err := x.ch.SendRequest("exec", false, ssh.Marshal(struct{ Command string }{line})); err != nil {
		return nil, err
	}
	status := make(chan exitStatus, 1)
	go func() {
		st := exitStatus{missing: true}
		for r := range x.reqs { // closed when the channel closes
			switch r.Type {
			case "exit-status":
				var m struct{ Status uint32 }
				if ssh.Unmarshal(r.Payload, &m) == nil {
					st = exitStatus{code: int(m.Status)}
				}
			case "exit-signal":
				var m struct {
					Signal     string
					CoreDumped bool
					Error      string
					Lang       string
				}
				if ssh.Unmarshal(r.Payload, &m) == nil {
					st = exitStatus{signal: m.Signal, code: -1}
				}
			}
			if r.WantReply {
				_ = r.Reply(false, nil)
			}
		}
		status <- st
	}()
	if cmd.Stdin != nil {
		go func() {
			_, _ = io.Copy(x.ch, cmd.Stdin)
			_ = x.ch.CloseWrite()
		}()
	} else {
		_ = x.ch.CloseWrite()
	}
	stdout, stderr := cmd.Stdout, cmd.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	copied := make(chan error, 2)
	go func() { _, err := io.Copy(stdout, x.ch); copied <- err }()
	go func() { _, err := io.Copy(stderr, x.ch.Stderr()); copied <- err }()
	done := make(chan exitStatus, 1)
	go func() {
		var copyErr error
		for range 2 {
			if err := <-copied; err != nil && copyErr == nil {
				copyErr = err
			}
		}
		st := <-status
		if copyErr != nil && !st.missing {
			st.copyErr = copyErr
		}
		done <- st
	}()
	return done, nil
}

func (x *execChannel) signal(sig string) {
	_, _ = x.ch.SendRequest("signal", false, ssh.Marshal(struct{ Signal string }{sig}))
}

// Output runs cmd and returns its stdout; stderr is captured into the error
// of a failed command.
func (c *Conn) Output(ctx context.Context, args ...string) ([]byte, []byte, error) {
	var out, errb limitedBuffer
	err := c.Run(ctx, &Cmd{Args: args, Stdout: &out, Stderr: &errb})
	return out.Bytes(), errb.Bytes(), err
}

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
	var open []*ssh.Session
	defer func() {
		for _, s := range open {
			s.Close()
		}
	}()
	for len(open) < upTo {
		s, err := l.client.NewSession()
		if err != nil {
			var oce *ssh.OpenChannelError
			if errors.As(err, &oce) {
				return len(open), nil
			}
			return 0, l.wrap(c.target, fmt.Errorf("opening session: %w", err))
		}
		open = append(open, s)
	}
	return upTo, nil
}
