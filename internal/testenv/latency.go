package testenv

import (
	"io"
	"net"
	"time"
)

// LatencyProxy forwards connections from a loopback port to target,
// delaying every chunk by Delay in each direction (a round trip costs
// 2*Delay), for benchmarks on a machine whose kernel has no netem.
type LatencyProxy struct {
	Addr  string
	Port  int
	Delay time.Duration
	ln    net.Listener
}

// StartLatencyProxy listens on 127.0.0.1 (a port the kernel picks).
func StartLatencyProxy(target string, delay time.Duration) (*LatencyProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &LatencyProxy{Addr: ln.Addr().String(), Port: ln.Addr().(*net.TCPAddr).Port, Delay: delay, ln: ln}
	go forward(ln, "tcp", target, func(dst io.WriteCloser, src io.Reader) { delayCopy(dst, src, delay) })
	return p, nil
}

type chunk struct {
	due  time.Time
	data []byte
}

// delayCopy copies src to dst, each chunk delivered delay after it was
// read, in order.
func delayCopy(dst io.WriteCloser, src io.Reader, delay time.Duration) {
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
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
