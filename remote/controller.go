package remote

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/cuttle-sh/cuttle/bundle"
)

// Controller is what one controller process shares between the steps it
// runs: the preflight's ticket counter, the bundle uploads in flight, the
// external runners' digests and how many steps run on each worker. Make
// one per process (NewController) and share it on purpose: `cuttle serve`
// hands the same one to every run. Its methods are safe for concurrent
// use.
type Controller struct {
	// Trust remembers the cached bundles this controller checked, and
	// each worker's architecture (nil: each step hashes its bundle).
	// Runners has the runners for workers of other architectures than
	// the bundle a step is given (nil: that bundle's only). Both are
	// caches of the process, not of a step's plan; set them before use.
	Trust   *BundleTrust
	Runners *bundle.Runners

	tickets atomic.Int64

	uploadsMu sync.Mutex
	uploads   map[string]*bundleUpload

	digestsMu sync.Mutex
	digests   map[string]cachedDigest

	busyMu sync.Mutex
	busy   map[string]int
}

// NewController makes a Controller.
func NewController() *Controller {
	return &Controller{uploads: map[string]*bundleUpload{}, digests: map[string]cachedDigest{}, busy: map[string]int{}}
}

// nextTicket numbers this process's preflights.
func (c *Controller) nextTicket() int { return int(c.tickets.Add(1)) }

// MarkBusy counts delta more steps running on worker.
func (c *Controller) MarkBusy(worker string, delta int) {
	c.busyMu.Lock()
	c.busy[worker] += delta
	c.busyMu.Unlock()
}

// Busy is how many steps of this controller run on each of workers.
func (c *Controller) Busy(workers []string) map[string]int {
	c.busyMu.Lock()
	defer c.busyMu.Unlock()
	n := make(map[string]int, len(workers))
	for _, w := range workers {
		n[w] = c.busy[w]
	}
	return n
}

// Run runs st on the worker behind sh. It returns a *StepError when cuttle
// could not run the step, ctx's cause when ctx ended first, and otherwise
// a Result whose ExitCode is the script's. Destroy always runs.
func (c *Controller) Run(ctx context.Context, sh Shell, b bundle.Bundle, st Step, out Output) (Result, error) {
	e, err := c.Start(ctx, sh, b, st, out)
	return e.complete(ctx, err)
}
