package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cuttle-sh/cuttle/internal/shellquote"
)

// Running a remote command on a Conn: sessions (prepared ahead or not),
// the exec channel, gated writers and the exit status.

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
