package testenv

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestLatencyProxyCountsTurns drives a server that answers only once it
// has a whole request, so where the proxy sees server bytes is fixed: a
// request that reaches the server in two pieces is still one turn, and a
// greeting from the server before the first request adds none.
func TestLatencyProxyCountsTurns(t *testing.T) {
	const reqLen, exchanges = 10, 3
	firstHalf := make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("hello"))
		buf := make([]byte, reqLen)
		for {
			if _, err := io.ReadFull(c, buf[:reqLen/2]); err != nil {
				return
			}
			firstHalf <- struct{}{}
			if _, err := io.ReadFull(c, buf[reqLen/2:]); err != nil {
				return
			}
			c.Write([]byte("ok"))
		}
	}()
	p, err := StartLatencyProxy(ln.Addr().String(), time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	greeting := make([]byte, 5)
	if _, err := io.ReadFull(c, greeting); err != nil {
		t.Fatal(err)
	}
	answer := make([]byte, 2)
	for range exchanges {
		c.Write(make([]byte, reqLen/2))
		<-firstHalf // the proxy has forwarded it: the second half is a chunk of its own
		c.Write(make([]byte, reqLen-reqLen/2))
		if _, err := io.ReadFull(c, answer); err != nil {
			t.Fatal(err)
		}
	}
	if got := p.Turns(); got != exchanges {
		t.Fatalf("Turns() = %d after %d request/answer exchanges, want %d", got, exchanges, exchanges)
	}
}
