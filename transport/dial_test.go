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
