package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// preparingWorker is a fakeWorker that can open sessions ahead of their
// commands, as *transport.Conn does: Prepare is recorded among the
// commands, and what runs on a prepared session is listed.
type preparingWorker struct {
	*fakeWorker
	onPrepared []string
}

func (p *preparingWorker) Prepare() *transport.Prepared {
	p.mu.Lock()
	p.commands = append(p.commands, "prepare")
	p.mu.Unlock()
	return &transport.Prepared{}
}

func (p *preparingWorker) RunPrepared(ctx context.Context, _ *transport.Prepared, cmd *transport.Cmd) error {
	kind := "cleanup"
	if len(cmd.Args) > 2 && cmd.Args[1] == "step-runner" {
		kind = cmd.Args[2]
	}
	p.mu.Lock()
	p.onPrepared = append(p.onPrepared, kind)
	p.mu.Unlock()
	return p.fakeWorker.Run(ctx, cmd)
}

// endedBy waits for the end of a fake session's command: the controller
// closing the session (ctx, true) or only its input (false). A
// controller that closes both may end the input a moment before the
// session: the end of the input is given 2 s for the close to follow.
func endedBy(ctx context.Context, stdin io.Reader) bool {
	eof := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		close(eof)
	}()
	select {
	case <-ctx.Done():
		return true
	case <-eof:
		select {
		case <-ctx.Done():
			return true
		case <-time.After(2 * time.Second):
			return false
		}
	}
}

// The heartbeat's, follower's and cleanup's sessions are opened with the
// preflight's, in its round trip, and used; at the step's end the
// controller closes the heartbeat's and the follower's sessions itself
// (a session that ends by itself costs a message in reply: at 50 ms RTT
// each was a turn the proxy counted).
func TestSessionsOpenWithThePreflight(t *testing.T) {
	var key []byte
	followerSent := make(chan struct{})
	var mu sync.Mutex
	closedByController := map[string]bool{}
	w := &preparingWorker{fakeWorker: &fakeWorker{started: "2026"}}
	w.preflightRun = func(cmd *transport.Cmd) error {
		var p wire.Payload
		b, _ := io.ReadAll(cmd.Stdin)
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("payload: %v", err)
		}
		key = p.LogKey
		io.WriteString(cmd.Stdout, factsOK+wire.LaunchLine+"\n")
		<-followerSent // docker run ends after the runner recorded the end
		return nil
	}
	w.runner = func(sub string, cmd *transport.Cmd) error {
		ctx := cmd.Stdin.(ctxReader).ctx
		switch sub {
		case "follow":
			s, _ := wire.LogCipher(key, wire.StreamStdout, 0)
			out := []byte("hi\n")
			s.XORKeyStream(out, out)
			fr := wire.NewFramer(cmd.Stdout)
			fr.Stdout().Write(out)
			fr.Exit(0)
			close(followerSent)
		case "heartbeat":
		default:
			return nil
		}
		by := endedBy(ctx, cmd.Stdin)
		mu.Lock()
		closedByController[sub] = by
		mu.Unlock()
		return nil
	}
	var stdout bytes.Buffer
	res, err := NewController().Run(t.Context(), ctxShell{w}, testBundle, Step{Name: "s", Image: "img:1", Pull: PullMissing, Script: []byte("x"), Syntax: "bash", ReattachWindow: time.Minute}, Output{Stdout: &stdout, Stderr: io.Discard})
	if err != nil || res.ExitCode != 0 || stdout.String() != "hi\n" {
		t.Fatalf("exit %d, stdout %q, err %v", res.ExitCode, stdout.String(), err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	pre := slices.Index(w.commands, "preflight")
	if n := len(slices.DeleteFunc(slices.Clone(w.commands[:max(pre, 0)]), func(c string) bool { return c != "prepare" })); n != 3 {
		t.Errorf("%d sessions opened before the preflight, want 3 (heartbeat, follower, cleanup): %q", n, w.commands)
	}
	slices.Sort(w.onPrepared)
	if want := []string{"cleanup", "follow", "heartbeat"}; !slices.Equal(w.onPrepared, want) {
		t.Errorf("on prepared sessions: %q, want %q", w.onPrepared, want)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, sub := range []string{"follow", "heartbeat"} {
		if by, ok := closedByController[sub]; !ok || !by {
			t.Errorf("the %s's session was not closed by the controller (ended: %v)", sub, ok)
		}
	}
}

// ctxShell hands each command's context to the fake through its stdin
// (ctxReader), so that a fake command can tell its session was closed.
type ctxShell struct{ *preparingWorker }

type ctxReader struct {
	io.Reader
	ctx context.Context
}

func (c ctxShell) Run(ctx context.Context, cmd *transport.Cmd) error {
	return c.preparingWorker.Run(ctx, withCtx(ctx, cmd))
}

func (c ctxShell) RunPrepared(ctx context.Context, p *transport.Prepared, cmd *transport.Cmd) error {
	return c.preparingWorker.RunPrepared(ctx, p, withCtx(ctx, cmd))
}

func withCtx(ctx context.Context, cmd *transport.Cmd) *transport.Cmd {
	c := *cmd
	in := c.Stdin
	if in == nil {
		in = bytes.NewReader(nil)
	}
	c.Stdin = ctxReader{in, ctx}
	return &c
}
