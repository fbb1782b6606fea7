package testenv

import (
	"net"
	"os"
	"sync"
)

// EngineProxy is a Docker socket for a worker that forwards to the real
// engine and can be stopped and started again. To that worker the engine
// goes away (its API connections cut, new ones refused) and comes back,
// while the real engine, shared by tests running in parallel, and its
// containers go on: what a dockerd restart with live-restore looks like
// to a client.
type EngineProxy struct {
	Path   string
	target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
}

// StartEngineProxy listens on path (any user may connect) and forwards to
// the engine socket at target.
func StartEngineProxy(path, target string) (*EngineProxy, error) {
	p := &EngineProxy{Path: path, target: target, conns: map[net.Conn]struct{}{}}
	return p, p.Start()
}

// Start listens again after Stop.
func (p *EngineProxy) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	os.Remove(p.Path)
	ln, err := net.Listen("unix", p.Path)
	if err != nil {
		return err
	}
	if err := os.Chmod(p.Path, 0o666); err != nil {
		ln.Close()
		return err
	}
	p.ln = ln
	go p.serve(ln)
	return nil
}

func (p *EngineProxy) serve(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("unix", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(c, u) {
			continue
		}
		go func() {
			go copyThenCloseWrite(u, c)
			copyThenCloseWrite(c, u)
			p.untrack(c, u)
		}()
	}
}

// track registers a forwarded pair, unless the proxy stopped meanwhile.
func (p *EngineProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *EngineProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

// Stop cuts every connection and stops listening (the socket file goes:
// clients are told nothing listens there).
func (p *EngineProxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}
