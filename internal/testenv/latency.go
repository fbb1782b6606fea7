package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// LatencyProxy forwards connections from a loopback port to target,
// delaying every chunk by Delay in each direction (a round trip costs
// 2*Delay), for benchmarks on a machine whose kernel has no netem.
//
// It also counts turns: a turn is a burst of client-to-server traffic
// that follows traffic from the server on the same connection (the first
// client bytes of a connection are a turn too). A client that waits for
// each answer before it sends again pays one round trip per turn; bytes
// it pipelines behind others do not add turns. Turns off the critical
// path (a keepalive, a heartbeat answered while nothing waits for it)
// are counted as well, so the count is an upper bound on the round
// trips a client waited for.
type LatencyProxy struct {
	Addr  string
	Port  int
	Delay time.Duration
	ln    net.Listener
	turns atomic.Int64

	mu   sync.Mutex
	idle *sync.Cond // signalled when open reaches 0
	open int
}

// StartLatencyProxy listens on 127.0.0.1 (a port the kernel picks).
func StartLatencyProxy(target string, delay time.Duration) (*LatencyProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &LatencyProxy{Addr: ln.Addr().String(), Port: ln.Addr().(*net.TCPAddr).Port, Delay: delay, ln: ln}
	p.idle = sync.NewCond(&p.mu)
	go p.serve(target)
	return p, nil
}

// Turns is the number of turns counted so far over every connection;
// the difference across one run is that run's count (after WaitIdle,
// so the run's last bytes are in it).
func (p *LatencyProxy) Turns() int64 { return p.turns.Load() }

// WaitIdle returns once every connection through the proxy has ended in
// both directions.
func (p *LatencyProxy) WaitIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.open > 0 {
		p.idle.Wait()
	}
}

// opened counts a connection in (+1) or out (-1).
func (p *LatencyProxy) opened(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.open += n; p.open == 0 {
		p.idle.Broadcast()
	}
}

func (p *LatencyProxy) serve(target string) {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.opened(1)
		go func() {
			defer p.opened(-1)
			defer c.Close()
			u, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer u.Close()
			d := &direction{turns: &p.turns}
			go delayCopy(u, c, p.Delay, func() { d.saw(true) })
			delayCopy(c, u, p.Delay, func() { d.saw(false) })
		}()
	}
}

// direction remembers which way a connection's last bytes went.
type direction struct {
	mu         sync.Mutex
	seen       bool
	lastClient bool
	turns      *atomic.Int64
}

// saw records a chunk read from the client (fromClient) or the server.
func (d *direction) saw(fromClient bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if fromClient && (!d.seen || !d.lastClient) {
		d.turns.Add(1)
	}
	d.seen, d.lastClient = true, fromClient
}

type chunk struct {
	due  time.Time
	data []byte
}

// delayCopy copies src to dst, each chunk delivered delay after it was
// read, in order; read is called as each chunk arrives.
func delayCopy(dst io.WriteCloser, src io.Reader, delay time.Duration, read func()) {
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				read()
				q <- chunk{time.Now().Add(delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.data); err != nil {
			break
		}
	}
	closeWrite(dst)
}

// Close stops accepting connections.
func (p *LatencyProxy) Close() error { return p.ln.Close() }
