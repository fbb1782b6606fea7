package fleet

import (
	"context"
	"sync"

	"github.com/hashicorp/go-multierror"

	"github.com/cuttle-sh/cuttle/remote"
)

// WorkerConn is a connection to a worker as a runbook uses it:
// a *transport.Conn, or a fake in tests.
type WorkerConn interface {
	remote.Shell
	Close() error
}

// Conns keeps one SSH connection per worker for a whole run: every step
// on a worker reuses it (each command is its own session).
type Conns struct {
	mu     sync.Mutex
	byName map[string]*entry
	dial   func(ctx context.Context, name string) (WorkerConn, error)
}

type entry struct {
	once sync.Once
	conn WorkerConn
	err  error
}

// NewConns dials with dial, at most once per worker name.
func NewConns(dial func(ctx context.Context, name string) (WorkerConn, error)) *Conns {
	return &Conns{byName: map[string]*entry{}, dial: dial}
}

// Get returns the worker's connection, dialling it on first use. A failed
// dial is remembered for the run: the worker is unreachable.
func (c *Conns) Get(ctx context.Context, name string) (WorkerConn, error) {
	c.mu.Lock()
	e, ok := c.byName[name]
	if !ok {
		e = &entry{}
		c.byName[name] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.conn, e.err = c.dial(ctx, name) })
	return e.conn, e.err
}

// Close closes every connection.
func (c *Conns) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var result error
	for _, e := range c.byName {
		if e.conn != nil {
			if err := e.conn.Close(); err != nil {
				result = multierror.Append(result, err)
			}
		}
	}
	return result
}
