package serve

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/fleet"
	"github.com/cuttle-sh/cuttle/remote"
)

// liveRun is a run in progress: its log so far, which readers can follow,
// and how to cancel it.
type liveRun struct {
	run    Run
	log    *liveLog
	cancel context.CancelCauseFunc
}

// liveLog is a run's log while it runs: written to a file (so that a
// crash keeps it) and to memory, where readers follow it. Steps on
// several workers write to it at once.
type liveLog struct {
	mu      sync.Mutex
	file    *os.File
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on each write and at the end
	done    bool
}

func newLiveLog(f *os.File) *liveLog { return &liveLog{file: f, changed: make(chan struct{})} }

func (l *liveLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(b)
	close(l.changed)
	l.changed = make(chan struct{})
	return l.file.Write(b)
}

// end marks the log complete and wakes its readers.
func (l *liveLog) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done = true
	close(l.changed)
	l.changed = make(chan struct{})
}

// Bytes returns a copy of the log so far.
func (l *liveLog) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.buf.Bytes())
}

// from returns the log from offset on, a channel closed at the next
// write, and whether the log is complete.
func (l *liveLog) from(offset int) ([]byte, <-chan struct{}, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.buf.Bytes()[min(offset, l.buf.Len()):]), l.changed, l.done
}

func (s *Server) running(id string) *liveRun {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	return s.live[id]
}

// runningRuns returns the runs in progress, oldest first.
func (s *Server) runningRuns() []*liveRun {
	s.liveMu.Lock()
	defer s.liveMu.Unlock()
	var out []*liveRun
	for _, lr := range s.live {
		out = append(out, lr)
	}
	sortRuns(out)
	return out
}

// idTag ends this process's run ids: instances sharing a store number
// their runs apart.
var idTag = func() string {
	var b [3]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}()

// newRun is a run of rb, for the occurrence at (zero: "Run now").
func (s *Server) newRun(rb *config.Runbook, at time.Time) Run {
	now := time.Now()
	id := now.UTC().Format("20060102T150405") + "-" + strconv.FormatInt(s.seq.Add(1), 10) + "-" + idTag
	return Run{ID: id, Runbook: rb.Name, Start: now, Status: StatusRunning, Scheduled: at}
}

// runOnce records a run of rb as running and runs it.
func (s *Server) runOnce(ctx context.Context, rb *config.Runbook) {
	run := s.newRun(rb, time.Time{})
	if err := s.Store.Begin(context.WithoutCancel(ctx), run); err != nil {
		zerolog.Ctx(ctx).Error().Err(err).Str("runbook", rb.Name).Msg("cannot record the run: it is not started")
		return
	}
	s.execute(ctx, rb, run)
}

// execute runs run, recorded as running, and records how it ended.
func (s *Server) execute(ctx context.Context, rb *config.Runbook, run Run) {
	log := zerolog.Ctx(ctx).With().Str("runbook", rb.Name).Logger()
	id := run.ID
	// The history is written on a context of its own, so that a run
	// cancelled by a stop is still recorded, as interrupted.
	wctx := context.WithoutCancel(ctx)
	f, err := os.OpenFile(s.Store.LogPath(id), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		run.Status = StatusFailed
		if ferr := s.Store.Finish(wctx, run, []byte(fmt.Sprintf("cannot open the run's log: %v\n", err))); ferr != nil {
			log.Error().Err(ferr).Msg("recording the run failed")
		}
		log.Error().Err(err).Msg("cannot open the run's log")
		return
	}
	defer f.Close()
	s.Metrics.Begin()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	out := newLiveLog(f)
	lr := &liveRun{run: run, log: out, cancel: cancel}
	s.liveMu.Lock()
	if s.live == nil {
		s.live = map[string]*liveRun{}
	}
	s.live[id] = lr
	s.liveMu.Unlock()
	defer func() {
		s.liveMu.Lock()
		delete(s.live, id)
		s.liveMu.Unlock()
		out.end()
	}()

	log.Info().Str("run", id).Msg("run started")
	runbook := s.runbook
	if runbook == nil {
		runbook = func(ctx context.Context, rb *config.Runbook, out io.Writer) ([]fleet.StepResult, error) {
			return s.NewRunner(out).Run(ctx, rb, nil)
		}
	}
	results, runErr := runbook(log.WithContext(ctx), rb, out)
	run.Duration = time.Since(run.Start)
	run.Status = StatusSucceeded
	for _, res := range results {
		run.Steps = append(run.Steps, stepRecord(res))
		s.Metrics.ObservePhases(res.Result.Phases)
	}
	if runErr != nil {
		run.Status = StatusFailed
		fmt.Fprintf(out, "\n%s\n", runErr)
	}
	if ctx.Err() != nil {
		run.Status = StatusInterrupted
		// Why, in the run's log: the page's Cancel, the end of the grace
		// period, or the instance losing its lease.
		fmt.Fprintf(out, "\ninterrupted: %v\n", context.Cause(ctx))
	}
	if err := s.Store.Finish(wctx, run, out.Bytes()); err != nil {
		log.Error().Err(err).Msg("recording the run failed; its log stays in the state directory")
	} else {
		os.Remove(f.Name())
	}
	if n, err := s.Store.Prune(wctx, s.Keep, time.Now()); err != nil {
		log.Error().Err(err).Msg("pruning the history failed")
	} else if n > 0 {
		log.Debug().Int("runs", n).Msg("pruned the history")
	}
	s.Metrics.Observe(run)
	log.Info().Str("run", id).Str("status", run.Status).Dur("duration", run.Duration).Msg("run finished")
}

// stepRecord is what the history keeps of a step: errors and output
// values masked with the run's masks, sensitive values not at all.
func stepRecord(res fleet.StepResult) StepRecord {
	masked := func(s string) string {
		if res.Masks != nil {
			return res.Masks.Mask(s)
		}
		return s
	}
	rec := StepRecord{Name: res.Step, Worker: res.Worker, Skipped: res.Skipped, ExitCode: res.Result.ExitCode, Duration: res.Result.Duration}
	if res.Err != nil {
		rec.Error = masked(res.Err.Error())
		var se *remote.StepError
		if errors.As(res.Err, &se) {
			rec.ExitCode = 125
		}
	}
	for _, name := range res.Result.OutputOrder {
		v := res.Result.OutputVariables[name]
		o := OutputRecord{Name: name, Sensitive: v.Sensitive || (res.Masks != nil && res.Masks.Holds([]byte(v.Value)))}
		if !o.Sensitive {
			o.Value = masked(v.Value)
		}
		rec.Outputs = append(rec.Outputs, o)
	}
	for _, a := range res.Result.Artifacts {
		rec.Artifacts = append(rec.Artifacts, ArtifactRecord{Name: a.Name, Path: a.Path, Size: a.Size, SHA256: a.SHA256})
	}
	return rec
}

func sortRuns(lrs []*liveRun) {
	sort.Slice(lrs, func(i, j int) bool { return lrs[i].run.Start.Before(lrs[j].run.Start) })
}
