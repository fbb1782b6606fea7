package transport

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/cuttle-sh/cuttle/internal/sshtest"
)

// TestJumpHosts: a worker is reached through one or two jump hosts, each
// checked and authenticated on its own, and Close closes every hop.
func TestJumpHosts(t *testing.T) {
	tests := []struct {
		name string
		hops int
	}{
		{name: "one hop", hops: 1},
		{name: "two hops", hops: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			worker, tg := newWorker(t, sshtest.Config{})
			var hops []*sshtest.Server
			for range tt.hops {
				hop, ht := newWorker(t, sshtest.Config{Forwarding: true})
				hops = append(hops, hop)
				tg.Jump = append(tg.Jump, ht)
			}
			c := dial(t, tg)
			if err := c.Run(testContext(t), &Cmd{Args: []string{"true"}}); err != nil {
				t.Fatalf("Run through %d hops: %v", tt.hops, err)
			}
			for i, h := range hops {
				if st := h.Stats(); st.Accepted != 1 || st.Forwards != 1 || st.Execs != 0 {
					t.Errorf("hop %d: %d connections, %d forwards, %d commands; want 1, 1, 0", i, st.Accepted, st.Forwards, st.Execs)
				}
			}
			if st := worker.Stats(); st.Execs != 1 {
				t.Errorf("the worker ran %d commands, want 1", st.Execs)
			}
			c.Close()
			for _, h := range append(hops, worker) {
				wait(t, h, "Close to close every hop", func(s sshtest.Stats) bool { return s.Live == 0 })
			}
		})
	}
}

// TestJumpHostRefusals: a hop that will not forward, or whose host key is
// not trusted, fails the dial with an error that says so.
func TestJumpHostRefusals(t *testing.T) {
	t.Run("forwarding refused", func(t *testing.T) {
		t.Parallel()
		worker, tg := newWorker(t, sshtest.Config{})
		hop, ht := newWorker(t, sshtest.Config{Forwarding: false})
		tg.Jump = []Target{ht}
		_, err := Dial(testContext(t), tg)
		var oce *ssh.OpenChannelError
		if !errors.As(err, &oce) || !strings.Contains(err.Error(), "connect") {
			t.Fatalf("err = %v, want a refused connect", err)
		}
		if hop.Stats().RefusedForwards == 0 || worker.Stats().Accepted != 0 {
			t.Errorf("hop refused %d forwards, worker saw %d connections; want >0, 0", hop.Stats().RefusedForwards, worker.Stats().Accepted)
		}
	})
	t.Run("hop host key unknown", func(t *testing.T) {
		t.Parallel()
		worker, tg := newWorker(t, sshtest.Config{})
		_, ht := newWorker(t, sshtest.Config{Forwarding: true})
		if err := os.WriteFile(ht.KnownHostsFiles[0], nil, 0o600); err != nil {
			t.Fatal(err)
		}
		tg.Jump = []Target{ht}
		_, err := (&HopPool{}).Dial(testContext(t), tg)
		var hk *HostKeyError
		if !errors.As(err, &hk) || hk.Problem != HostKeyUnknown || !strings.Contains(err.Error(), "jump host "+ht.String()) {
			t.Fatalf("err = %v, want the jump host's key unknown", err)
		}
		if worker.Stats().Accepted != 0 {
			t.Error("the worker was reached past an untrusted hop")
		}
	})
}

// TestHopPool: workers behind one bastion share one connection to it,
// which outlives their Conns until the pool closes; when the bastion
// refuses another channel on it, a worker crosses on a private one.
func TestHopPool(t *testing.T) {
	tests := []struct {
		name        string
		maxForwards int
		// wantHopConns is how many connections the bastion sees.
		wantHopConns int
		// wantLeft is how many stay open after both Conns closed.
		wantLeft int
	}{
		{name: "shared", maxForwards: 0, wantHopConns: 1, wantLeft: 1},
		{name: "bastion refuses a second channel", maxForwards: 1, wantHopConns: 2, wantLeft: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bastion, bt := newWorker(t, sshtest.Config{Forwarding: true, MaxForwards: tt.maxForwards})
			pool := &HopPool{}
			t.Cleanup(pool.Close)
			var conns []*Conn
			for range 2 {
				_, tg := newWorker(t, sshtest.Config{})
				tg.Jump = []Target{bt}
				c, err := pool.Dial(testContext(t), tg)
				if err != nil {
					t.Fatalf("Dial through the pool: %v", err)
				}
				conns = append(conns, c)
				if err := c.Run(testContext(t), &Cmd{Args: []string{"true"}}); err != nil {
					t.Fatal(err)
				}
			}
			if st := bastion.Stats(); st.Accepted != tt.wantHopConns || st.Forwards != 2 {
				t.Errorf("bastion: %d connections, %d forwards; want %d, 2", st.Accepted, st.Forwards, tt.wantHopConns)
			}
			for _, c := range conns {
				c.Close()
			}
			wait(t, bastion, "private hops to close", func(s sshtest.Stats) bool { return s.Live == tt.wantLeft && s.Open == 0 })
			pool.Close()
			wait(t, bastion, "the pool to close the shared hop", func(s sshtest.Stats) bool { return s.Live == 0 })
		})
	}
}

// TestHopPoolReconnect: a worker whose link dropped is dialled again
// through the shared hop, which stayed up.
func TestHopPoolReconnect(t *testing.T) {
	bastion, bt := newWorker(t, sshtest.Config{Forwarding: true})
	pool := &HopPool{}
	t.Cleanup(pool.Close)
	b := newBlocker()
	worker, tg := newWorker(t, sshtest.Config{Handler: b.handle})
	tg.Jump = []Target{bt}
	c, err := pool.Dial(testContext(t), tg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	dropUnderCommand(t, c, worker, b)
	if err := c.Reconnect(testContext(t)); err != nil {
		t.Fatalf("Reconnect: %v", err)
	}
	if err := c.Run(testContext(t), &Cmd{Args: []string{"true"}}); err != nil {
		t.Fatal(err)
	}
	if st := bastion.Stats(); st.Accepted != 1 || st.Forwards != 2 {
		t.Errorf("bastion: %d connections, %d forwards; want 1 (shared), 2", st.Accepted, st.Forwards)
	}
}
