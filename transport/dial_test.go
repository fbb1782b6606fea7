package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&HostKeyError{Problem: HostKeyChanged}, false},
		{&AuthError{Target: "x"}, false},
		{errors.New("x: connect: connection refused"), true},
		{errors.New("x: SSH handshake: EOF"), true},
		{configErr(errors.New("identity file /k: no such file")), false},
		{fmt.Errorf("jump host x: %w", configErr(errors.New("no known_hosts file"))), false},
	} {
		if got := retryable(tt.err); got != tt.want {
			t.Errorf("retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestDialRetriesDroppedConnections: a listener that drops the first
// connections (as sshd's MaxStartups does) is dialled again with backoff.
func TestDialRetriesDroppedConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close() // drop it before any SSH banner
		}
	}()
	addr := ln.Addr().(*net.TCPAddr)
	start := time.Now()
	_, err = Dial(context.Background(), Target{Host: "127.0.0.1", Port: addr.Port, User: "u", Password: newTestSecret(),
		KnownHostsFiles: []string{filepath.Join(t.TempDir(), "kh")}, ConnectTimeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "handshake") {
		t.Fatalf("err = %v", err)
	}
	if n := accepted.Load(); n != dialRetries+1 {
		t.Errorf("%d connection attempts, want %d", n, dialRetries+1)
	}
	t.Logf("gave up after %s", time.Since(start).Round(time.Millisecond))
}

// TestDialQueuesBeyondMaxHandshakes: past maxHandshakes in flight, a dial
// waits for a handshake to end before it even connects (issue 22: 100
// handshakes at once on 2 cores all ran past their timeout).
func TestDialQueuesBeyondMaxHandshakes(t *testing.T) {
	// Take all slots but one, so the test needs two dials, not 33.
	for range maxHandshakes - 1 {
		handshakes <- struct{}{}
	}
	waiting := make(chan struct{}, 10)
	queued = func() { waiting <- struct{}{} }
	t.Cleanup(func() {
		queued = nil
		for range maxHandshakes - 1 {
			<-handshakes
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- c // held silent: the handshake waits for a banner
		}
	}()
	tg := Target{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, User: "u", Password: newTestSecret(),
		KnownHostsFiles: []string{filepath.Join(t.TempDir(), "kh")}, ConnectTimeout: hangBound}
	ctxA, cancelA := context.WithCancel(testContext(t))
	ctxB, cancelB := context.WithCancel(testContext(t))
	defer cancelB()
	errs := make(chan error, 2)
	go func() { _, err := Dial(ctxA, tg); errs <- err }()
	a := receive(t, conns, "the first dial's connection")
	defer a.Close()
	go func() { _, err := Dial(ctxB, tg); errs <- err }()
	select {
	case b := <-conns:
		b.Close()
		t.Fatal("the second dial connected while the only free handshake slot was taken")
	case <-waiting:
	case <-time.After(hangBound):
		t.Fatal("the second dial neither queued nor connected")
	}
	cancelA() // the first handshake ends: the second goes ahead
	b := receive(t, conns, "the second dial's connection once the first ended")
	defer b.Close()
	if err := receive(t, errs, "the first dial's end"); err == nil {
		t.Error("the cancelled dial succeeded")
	}
	cancelB()
	receive(t, errs, "the second dial's end")
}
