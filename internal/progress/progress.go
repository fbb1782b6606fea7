// Package progress shows long work (uploads, image pulls and builds,
// waits for a slot or a lock) as bars on a terminal. Code that does the
// work reports to a Reporter taken from its context; with none there (not
// a terminal, JSON logs, tests) every call does nothing.
package progress

import (
	"context"
	"io"
)

// Reporter starts one bar per piece of long work.
type Reporter interface {
	// Transfer is size bytes going to worker (size 0 when not known).
	Transfer(worker, what string, size int64) Tracker
	// Count is a count of things done on worker: docker's layers or
	// build steps. Its total is learnt as the work goes.
	Count(worker, what string) Tracker
	// Wait is a wait, shown with its elapsed time until Done.
	Wait(worker, why string) Tracker
}

// Tracker is one bar. Done ends it, whether the work succeeded or not;
// a Tracker may be used from one goroutine at a time.
type Tracker interface {
	Add(n int64)
	SetCurrent(n int64)
	SetTotal(n int64)
	Done()
}

type ctxKey struct{}

// WithReporter returns ctx carrying r.
func WithReporter(ctx context.Context, r Reporter) context.Context {
	return context.WithValue(ctx, ctxKey{}, r)
}

// From returns ctx's Reporter, or one that shows nothing.
func From(ctx context.Context) Reporter {
	if r, ok := ctx.Value(ctxKey{}).(Reporter); ok && r != nil {
		return r
	}
	return nop{}
}

// On reports whether ctx carries a Reporter that shows something.
func On(ctx context.Context) bool {
	r, ok := ctx.Value(ctxKey{}).(Reporter)
	return ok && r != nil
}

type nop struct{}

func (nop) Transfer(string, string, int64) Tracker { return nop{} }
func (nop) Count(string, string) Tracker           { return nop{} }
func (nop) Wait(string, string) Tracker            { return nop{} }
func (nop) Add(int64)                              {}
func (nop) SetCurrent(int64)                       {}
func (nop) SetTotal(int64)                         {}
func (nop) Done()                                  {}

// Reader counts what is read from r on t.
func Reader(t Tracker, r io.Reader) io.Reader {
	if _, off := t.(nop); off {
		return r
	}
	return &countingReader{r: r, t: t}
}

type countingReader struct {
	r io.Reader
	t Tracker
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.t.Add(int64(n))
	}
	return n, err
}
