package transport

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/internal/sshtest"
)

// blocker is a handler whose "block" commands report their start on
// started and run until release is closed (or the client goes away);
// every other command ends at once with status 0.
type blocker struct {
	started chan string
	release chan struct{}
}

func newBlocker() *blocker {
	return &blocker{started: make(chan string, 16), release: make(chan struct{})}
}

func (b *blocker) handle(e *sshtest.Exec) sshtest.Status {
	if strings.HasPrefix(e.Command, "block") {
		b.started <- e.Command
		select {
		case <-b.release:
		case <-e.Done:
		}
	}
	return sshtest.Status{}
}

// TestMaxSessionsOverflow: when sshd refuses another session on every
// connection the Conn holds, it opens one more connection to the same
// worker and runs the command there, so no command fails for the limit.
func TestMaxSessionsOverflow(t *testing.T) {
	tests := []struct {
		name        string
		maxSessions int
		commands    int
		wantConns   int
	}{
		{name: "one session per connection", maxSessions: 1, commands: 3, wantConns: 3},
		{name: "two per connection, three commands", maxSessions: 2, commands: 3, wantConns: 2},
		{name: "two per connection, five commands", maxSessions: 2, commands: 5, wantConns: 3},
		{name: "within the limit", maxSessions: 4, commands: 4, wantConns: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newBlocker()
			srv, tg := newWorker(t, sshtest.Config{MaxSessions: tt.maxSessions, Handler: b.handle})
			c := dial(t, tg)
			var wg sync.WaitGroup
			errs := make(chan error, tt.commands)
			for range tt.commands {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- c.Run(testContext(t), &Cmd{Args: []string{"block"}})
				}()
				// One at a time, so each finds the ones before it open.
				select {
				case <-b.started:
				case err := <-errs:
					t.Fatalf("a command ended before it was released: %v", err)
				case <-time.After(hangBound):
					t.Fatal("no command start")
				}
			}
			st := srv.Stats()
			if st.Accepted != tt.wantConns || st.Open != tt.commands {
				t.Errorf("%d commands running on %d connections, want %d on %d", st.Open, st.Accepted, tt.commands, tt.wantConns)
			}
			if tt.wantConns > 1 && st.Refused == 0 {
				t.Error("the server refused no session, so the limit was never met")
			}
			close(b.release)
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("a command failed: %v", err)
				}
			}
			if sessions, _ := c.Exchanges(); sessions != int64(tt.commands) {
				t.Errorf("Exchanges counted %d sessions, want %d", sessions, tt.commands)
			}
			c.Close()
			wait(t, srv, "Close to close every connection", func(s sshtest.Stats) bool { return s.Live == 0 })
		})
	}
}

// TestMaxSessionsNoMoreConnections: when the extra connection cannot be
// opened either, the error says both why a session was refused and why
// the connection failed.
func TestMaxSessionsNoMoreConnections(t *testing.T) {
	b := newBlocker()
	srv, tg := newWorker(t, sshtest.Config{MaxSessions: 1, Handler: b.handle})
	c := dial(t, tg)
	defer close(b.release)
	go func() { _ = c.Run(testContext(t), &Cmd{Args: []string{"block"}}) }()
	receive(t, b.started, "command start")
	// The next connection meets a host key that no longer matches.
	other := sshtest.NewKey(t, sshtest.Ed25519)
	if err := os.WriteFile(tg.KnownHostsFiles[0], []byte(srv.KnownHostsLine(other.Public)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := c.Run(testContext(t), &Cmd{Args: []string{"true"}})
	var hk *HostKeyError
	if !errors.As(err, &hk) || hk.Problem != HostKeyChanged {
		t.Fatalf("err = %v, want a HostKeyChanged error", err)
	}
	if !strings.Contains(err.Error(), "session limit") {
		t.Errorf("error %q does not name the session limit", err)
	}
}

// TestSessionLimit measures MaxSessions on the current connection and
// closes what it opened.
func TestSessionLimit(t *testing.T) {
	tests := []struct {
		name        string
		maxSessions int
		upTo        int
		want        int
	}{
		{name: "limit found", maxSessions: 3, upTo: 10, want: 3},
		{name: "at least upTo", maxSessions: 3, upTo: 2, want: 2},
		{name: "no limit", maxSessions: 0, upTo: 5, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, tg := newWorker(t, sshtest.Config{MaxSessions: tt.maxSessions})
			c := dial(t, tg)
			got, err := c.SessionLimit(tt.upTo)
			if err != nil || got != tt.want {
				t.Fatalf("SessionLimit(%d) = %d, %v; want %d", tt.upTo, got, err, tt.want)
			}
			wait(t, srv, "the sessions to close", func(s sshtest.Stats) bool { return s.Open == 0 })
			if st := srv.Stats(); st.Accepted != 1 {
				t.Errorf("SessionLimit opened %d connections, want 1 (it must not overflow)", st.Accepted)
			}
		})
	}
}

// TestPrepared: a prepared session carries the command when it is still
// on the current link, is released when closed unused, and is replaced by
// a fresh session when the link was replaced by Reconnect meanwhile.
func TestPrepared(t *testing.T) {
	t.Run("used on the same link", func(t *testing.T) {
		t.Parallel()
		srv, tg := newWorker(t, sshtest.Config{})
		c := dial(t, tg)
		p := c.Prepare()
		wait(t, srv, "the prepared session", func(s sshtest.Stats) bool { return s.Sessions == 1 })
		if err := c.RunPrepared(testContext(t), p, &Cmd{Args: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
		if st := srv.Stats(); st.Sessions != 1 || st.Execs != 1 {
			t.Errorf("%d sessions, %d execs; want the prepared session to carry the command (1, 1)", st.Sessions, st.Execs)
		}
	})
	t.Run("closed unused", func(t *testing.T) {
		t.Parallel()
		srv, tg := newWorker(t, sshtest.Config{})
		c := dial(t, tg)
		p := c.Prepare()
		p.Close()
		p.Close() // idempotent
		wait(t, srv, "the prepared session to close", func(s sshtest.Stats) bool { return s.Sessions == 1 && s.Open == 0 })
		// Used up: RunPrepared opens a session of its own.
		if err := c.RunPrepared(testContext(t), p, &Cmd{Args: []string{"true"}}); err != nil {
			t.Fatal(err)
		}
		if st := srv.Stats(); st.Sessions != 2 || st.Execs != 1 {
			t.Errorf("%d sessions, %d execs; want 2, 1", st.Sessions, st.Execs)
		}
	})
	t.Run("across a reconnect", func(t *testing.T) {
		t.Parallel()
		b := newBlocker()
		srv, tg := newWorker(t, sshtest.Config{Handler: b.handle})
		c := dial(t, tg)
		p := c.Prepare()
		wait(t, srv, "the prepared session", func(s sshtest.Stats) bool { return s.Sessions == 1 })
		dropUnderCommand(t, c, srv, b)
		if err := c.Reconnect(testContext(t)); err != nil {
			t.Fatalf("Reconnect: %v", err)
		}
		if !c.Alive() {
			t.Fatal("not alive after Reconnect")
		}
		if err := c.RunPrepared(testContext(t), p, &Cmd{Args: []string{"after"}}); err != nil {
			t.Fatalf("RunPrepared with a session from the old link: %v", err)
		}
		// And a session prepared on the new link is used as usual.
		wait(t, srv, "idle", func(s sshtest.Stats) bool { return s.Open == 0 })
		before := srv.Stats().Sessions
		p = c.Prepare()
		if err := c.RunPrepared(testContext(t), p, &Cmd{Args: []string{"again"}}); err != nil {
			t.Fatal(err)
		}
		if st := srv.Stats(); st.Accepted != 2 || st.Execs != 3 || st.Sessions != before+1 {
			t.Errorf("%d connections, %d execs, %d new sessions; want 2, 3, 1", st.Accepted, st.Execs, st.Sessions-before)
		}
	})
}

// dropUnderCommand drops the server's connections while a command runs
// on c, and checks that the command reports a lost connection and the
// Conn knows its link is down.
func dropUnderCommand(t *testing.T, c *Conn, srv *sshtest.Server, b *blocker) {
	t.Helper()
	ran := make(chan error, 1)
	go func() { ran <- c.Run(testContext(t), &Cmd{Args: []string{"block"}}) }()
	receive(t, b.started, "command start")
	srv.DropConnections()
	if err := receive(t, ran, "return from Run on a dropped link"); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("err = %v, want ErrConnectionLost", err)
	}
	if c.Alive() {
		t.Fatal("Alive() = true after the link dropped")
	}
}

// TestReconnect: Reconnect dials once for any number of concurrent
// callers, does nothing on a live link, and refuses a closed Conn.
func TestReconnect(t *testing.T) {
	b := newBlocker()
	srv, tg := newWorker(t, sshtest.Config{Handler: b.handle})
	c := dial(t, tg)
	if err := c.Reconnect(testContext(t)); err != nil || srv.Stats().Accepted != 1 {
		t.Fatalf("Reconnect on a live link: %v, %d connections; want nil, 1", err, srv.Stats().Accepted)
	}
	dropUnderCommand(t, c, srv, b)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Reconnect(testContext(t)); err != nil {
				t.Errorf("Reconnect: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := srv.Stats().Accepted; n != 2 {
		t.Errorf("%d connections after 4 concurrent Reconnects, want 2 (one redial)", n)
	}
	if err := c.Run(testContext(t), &Cmd{Args: []string{"true"}}); err != nil {
		t.Fatalf("Run after Reconnect: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if c.Alive() {
		t.Error("Alive() = true after Close")
	}
	if err := c.Reconnect(testContext(t)); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Reconnect after Close = %v, want a closed-connection error", err)
	}
	if err := c.Run(testContext(t), &Cmd{Args: []string{"true"}}); !errors.Is(err, ErrConnectionLost) {
		t.Errorf("Run after Close = %v, want ErrConnectionLost", err)
	}
}
