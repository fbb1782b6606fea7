package transport

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/internal/sshtest"
)

// TestKeepaliveDeath: a link whose server answers keepalives stays up for
// many intervals; once the server stops answering, the link is declared
// dead and closed, a command running on it returns ErrUnreachable (which
// is also ErrConnectionLost) instead of hanging, and so does the next one.
func TestKeepaliveDeath(t *testing.T) {
	tests := []struct {
		name string
		// running keeps a command running while the server goes silent.
		running bool
	}{
		{name: "under a running command", running: true},
		{name: "idle link", running: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			started := make(chan struct{}, 1)
			srv, tg := newWorker(t, sshtest.Config{Handler: func(e *sshtest.Exec) sshtest.Status {
				if e.Command == "block" {
					started <- struct{}{}
					<-e.Done
				}
				return sshtest.Status{}
			}})
			// Long enough that a loaded machine answers in time: the
			// link may go 3.5 intervals without a reply.
			tg.KeepAliveInterval, tg.KeepAliveMax = 250*time.Millisecond, 4
			c := dial(t, tg)

			wait(t, srv, "4 answered keepalives", func(s sshtest.Stats) bool { return s.Answered >= 4 })
			if !c.Alive() {
				t.Fatal("the link was declared dead while the server answered its keepalives")
			}
			if err := c.Run(testContext(t), &Cmd{Args: []string{"true"}}); err != nil {
				t.Fatalf("command on a live link: %v", err)
			}

			var err error
			if tt.running {
				ran := make(chan error, 1)
				go func() { ran <- c.Run(testContext(t), &Cmd{Args: []string{"block"}}) }()
				receive(t, started, "command start")
				srv.StopAnswering()
				err = receive(t, ran, "return from Run on a silent link")
			} else {
				srv.StopAnswering()
				wait(t, srv, "the client to close the silent link", func(s sshtest.Stats) bool { return s.Live == 0 })
				err = c.Run(testContext(t), &Cmd{Args: []string{"true"}})
			}
			if !errors.Is(err, ErrUnreachable) || !errors.Is(err, ErrConnectionLost) {
				t.Fatalf("err = %v, want ErrUnreachable and ErrConnectionLost", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "worker unreachable since") || !strings.Contains(msg, "no answer to keepalives") {
				t.Errorf("error %q does not say the worker stopped answering keepalives", msg)
			}
			if c.Alive() {
				t.Error("Alive() = true on a link declared dead")
			}
			st := srv.Stats()
			if st.GlobalRequests <= st.Answered {
				t.Errorf("the server left no keepalive unanswered (%d received, %d answered): the link died of something else", st.GlobalRequests, st.Answered)
			}
			wait(t, srv, "the client to close the dead link", func(s sshtest.Stats) bool { return s.Live == 0 })
		})
	}
}
