package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/internal/shellquote"
	"github.com/cuttle-sh/cuttle/internal/sshtest"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		stdin   string
		handler sshtest.Handler
		// wantLine is the command line the server must receive.
		wantLine             string
		wantOut, wantErrText string
		wantErr              error
	}{
		{
			name: "stdout and stderr kept apart",
			args: []string{"true"},
			handler: func(e *sshtest.Exec) sshtest.Status {
				fmt.Fprint(e.Stdout, "to stdout")
				fmt.Fprint(e.Stderr, "to stderr")
				return sshtest.Status{}
			},
			wantLine: "true", wantOut: "to stdout", wantErrText: "to stderr",
		},
		{
			name:     "words quoted once, by shellquote",
			args:     []string{"printf", "%s\n", "a b", "it's", ""},
			handler:  func(*sshtest.Exec) sshtest.Status { return sshtest.Status{} },
			wantLine: "printf '%s\n' 'a b' 'it'\\''s' ''",
		},
		{
			name:  "stdin reaches the command",
			args:  []string{"cat"},
			stdin: "payload on stdin",
			handler: func(e *sshtest.Exec) sshtest.Status {
				_, _ = io.Copy(e.Stdout, e.Stdin)
				return sshtest.Status{}
			},
			wantLine: "cat", wantOut: "payload on stdin",
		},
		{
			name:     "non-zero exit is an ExitError",
			args:     []string{"false"},
			handler:  func(*sshtest.Exec) sshtest.Status { return sshtest.Status{Code: 3} },
			wantLine: "false", wantErr: &ExitError{Code: 3},
		},
		{
			name:     "killed by a signal",
			args:     []string{"sleep", "9"},
			handler:  func(*sshtest.Exec) sshtest.Status { return sshtest.Status{Signal: "KILL"} },
			wantLine: "sleep 9", wantErr: &ExitError{Code: -1, Signal: "KILL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines := make(chan string, 1)
			srv, tg := newWorker(t, sshtest.Config{Handler: func(e *sshtest.Exec) sshtest.Status {
				lines <- e.Command
				return tt.handler(e)
			}})
			c := dial(t, tg)
			var stdout, stderr bytes.Buffer
			cmd := &Cmd{Args: tt.args, Stdout: &stdout, Stderr: &stderr}
			if tt.stdin != "" {
				cmd.Stdin = strings.NewReader(tt.stdin)
			}
			err := c.Run(testContext(t), cmd)
			if diff := cmp.Diff(tt.wantErr, err, cmp.Comparer(func(a, b error) bool { return fmt.Sprint(a) == fmt.Sprint(b) })); diff != "" {
				t.Errorf("Run error (-want +got):\n%s", diff)
			}
			if tt.wantErr != nil && !strings.Contains(err.Error(), "remote command") {
				t.Errorf("error %q does not say what failed", err)
			}
			if got := <-lines; got != tt.wantLine {
				t.Errorf("server received %q, want %q", got, tt.wantLine)
			}
			if stdout.String() != tt.wantOut || stderr.String() != tt.wantErrText {
				t.Errorf("stdout %q, stderr %q; want %q, %q", stdout.String(), stderr.String(), tt.wantOut, tt.wantErrText)
			}
			if sessions, _ := c.Exchanges(); sessions != 1 || srv.Stats().Execs != 1 {
				t.Errorf("Exchanges counted %d sessions and the server %d execs, want 1 and 1", sessions, srv.Stats().Execs)
			}
		})
	}
}

// TestRunRefusesNUL: a word no shell line can carry is refused before any
// session opens.
func TestRunRefusesNUL(t *testing.T) {
	srv, tg := newWorker(t, sshtest.Config{})
	c := dial(t, tg)
	err := c.RunPrepared(testContext(t), c.Prepare(), &Cmd{Args: []string{"echo", "a\x00b"}})
	if !errors.Is(err, shellquote.ErrNUL) {
		t.Fatalf("err = %v, want shellquote.ErrNUL", err)
	}
	// The prepared session is released, and nothing ran.
	wait(t, srv, "the prepared session to close", func(s sshtest.Stats) bool { return s.Sessions == 1 && s.Open == 0 })
	if n := srv.Stats().Execs; n != 0 {
		t.Errorf("%d commands ran, want 0", n)
	}
}

// TestOutput: stdout and stderr come back apart, each bounded to 64 KiB.
func TestOutput(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 100<<10)
	_, tg := newWorker(t, sshtest.Config{Handler: func(e *sshtest.Exec) sshtest.Status {
		_, _ = e.Stdout.Write(big)
		fmt.Fprint(e.Stderr, "warning")
		return sshtest.Status{Code: 2}
	}})
	c := dial(t, tg)
	out, errb, err := c.Output(testContext(t), "big")
	var ee *ExitError
	if !errors.As(err, &ee) || ee.Code != 2 {
		t.Errorf("err = %v, want exit code 2", err)
	}
	if !bytes.Equal(out, big[:64<<10]) || string(errb) != "warning" {
		t.Errorf("stdout %d bytes, stderr %q; want the first 65536 bytes and %q", len(out), errb, "warning")
	}
}

// TestExitWithoutStatus: a channel that closes without an exit status is
// a lost connection (x/crypto's ExitMissingError), never a success or an
// exit code, whether the link then goes down or stays up.
func TestExitWithoutStatus(t *testing.T) {
	tests := []struct {
		name string
		// drop drops the TCP link once the first output arrived.
		drop      bool
		wantAlive bool
	}{
		{name: "link stays up", drop: false, wantAlive: true},
		{name: "link dropped", drop: true, wantAlive: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, tg := newWorker(t, sshtest.Config{Handler: func(e *sshtest.Exec) sshtest.Status {
				fmt.Fprint(e.Stdout, "partial\n")
				if tt.drop {
					<-e.Done
				}
				return sshtest.Status{Omit: true}
			}})
			c := dial(t, tg)
			stdout := newRecorder()
			go func() {
				<-stdout.first
				if tt.drop {
					srv.DropConnections()
				}
			}()
			err := c.Run(testContext(t), &Cmd{Args: []string{"step"}, Stdout: stdout})
			var ee *ExitError
			if !errors.Is(err, ErrConnectionLost) || errors.As(err, &ee) {
				t.Fatalf("err = %v, want ErrConnectionLost and no ExitError", err)
			}
			if !strings.Contains(err.Error(), tg.String()) {
				t.Errorf("error %q does not name the worker", err)
			}
			// What the writer received is what a caller resumes from.
			if got := stdout.String(); got != "partial\n" {
				t.Errorf("stdout %q, want %q", got, "partial\n")
			}
			if c.Alive() != tt.wantAlive {
				t.Errorf("Alive() = %v, want %v", c.Alive(), tt.wantAlive)
			}
		})
	}
}

// TestCancelMidCommand: cancelling the context returns at once with its
// error, asks the remote command to stop (SIGTERM), and nothing reaches
// the caller's writers after Run returned, although the server had sent
// more output than the client had copied.
func TestCancelMidCommand(t *testing.T) {
	signals := make(chan string, 1)
	srv, tg := newWorker(t, sshtest.Config{Handler: func(e *sshtest.Exec) sshtest.Status {
		if e.Command == "next" {
			return sshtest.Status{}
		}
		// 1 MiB: far more than the client copies before the test cancels,
		// and less than the channel's window, so none of it blocks.
		chunk := bytes.Repeat([]byte("y"), 4096)
		for range 256 {
			if _, err := e.Stdout.Write(chunk); err != nil {
				break
			}
		}
		<-e.Done
		select {
		case sig := <-e.Signals: // sent before the channel closed
			signals <- sig
		default:
			signals <- ""
		}
		return sshtest.Status{Code: 143}
	}})
	c := dial(t, tg)
	ctx, cancel := context.WithCancel(testContext(t))
	defer cancel()
	w := &lateWriter{second: make(chan struct{}), cancelled: make(chan struct{})}
	go func() {
		<-w.second
		cancel()
		close(w.cancelled)
	}()
	ran := make(chan error, 1)
	go func() {
		err := c.Run(ctx, &Cmd{Args: []string{"stream"}, Stdout: w})
		w.returned()
		ran <- err
	}()
	if err := receive(t, ran, "return from Run after cancel"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if sig := receive(t, signals, "signal"); sig != "TERM" {
		t.Errorf("the command got signal %q, want TERM", sig)
	}
	wait(t, srv, "the session to close", func(s sshtest.Stats) bool { return s.Open == 0 })
	// The connection is still good for the next command, and by the
	// time it ran the old channel had long been drained.
	if err := c.Run(testContext(t), &Cmd{Args: []string{"next"}}); err != nil {
		t.Fatalf("next command: %v", err)
	}
	if n := w.late(); n > 0 {
		t.Errorf("%d writes reached the caller's writer after Run returned", n)
	}
}

// lateWriter takes its first write, holds the second until the test
// cancelled (so the rest of the output piles up in the channel), and
// counts writes made after Run returned.
type lateWriter struct {
	mu        sync.Mutex
	writes    int
	after     int
	done      bool
	second    chan struct{}
	cancelled chan struct{}
}

func (w *lateWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.writes++
	n := w.writes
	if w.done {
		w.after++
	}
	w.mu.Unlock()
	switch {
	case n == 2:
		close(w.second)
		<-w.cancelled
	case n > 2:
		// A slow writer: output still queued when Run returns would
		// arrive afterwards, where a test can see it.
		runtime.Gosched()
	}
	return len(p), nil
}

func (w *lateWriter) returned() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
}

func (w *lateWriter) late() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.after
}
