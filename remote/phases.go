package remote

import (
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// The phases of a step, as Result.Phases names them. Each is wall time
// seen by the controller; together they cover the step's Duration, in
// this order, and a phase the step did not go through is absent.
const (
	// PhaseConnect is the SSH connection's set-up the step waited for
	// (its caller adds it: Result.AddConnect); about zero on a connection
	// an earlier step opened.
	PhaseConnect = "connect"
	// PhasePreflight is the preflight command; on the fast path it also
	// launches the container, and ends when the runner says it did.
	PhasePreflight = "preflight"
	// PhaseBundle sends the step runner's bundle when the worker lacks it.
	PhaseBundle = "bundle"
	// PhaseImage pulls or builds the image (and checks it was there).
	PhaseImage = "image"
	// PhasePackages is what of the packages' acquisition outlasted
	// PhaseImage (they are acquired while the image is pulled), and their
	// placement in the work directory.
	PhasePackages = "packages"
	// PhaseStart is from docker run's start (on the fast path, the
	// runner's launch) to the step's first output: the container's start,
	// plus whatever the script did before it printed. Absent when the
	// step printed nothing, or kept no logs (no reattach window): then
	// it is within PhaseScript.
	PhaseStart = "start"
	// PhaseScript lasts until docker run returned: the container ended.
	PhaseScript = "script"
	// PhaseOutput is the rest of the output after that, until the
	// follower sent the exit code (or the output was flushed).
	PhaseOutput = "output"
	// PhaseReattach is the time spent getting the step back after a lost
	// link.
	PhaseReattach = "reattach"
	// PhaseArtifacts downloads the artifacts, in the command that also
	// removes the step.
	PhaseArtifacts = "artifacts"
	// PhaseCleanup removes the container and work directory.
	PhaseCleanup = "cleanup"
)

// Phase is how long one phase of a step took.
type Phase struct {
	Name     string
	Duration time.Duration
}

// Phases are a step's phases in the order it went through them.
type Phases []Phase

// Get is the phase's duration, and whether the step went through it.
func (ps Phases) Get(name string) (time.Duration, bool) {
	for _, p := range ps {
		if p.Name == name {
			return p.Duration, true
		}
	}
	return 0, false
}

// Total is the phases' sum.
func (ps Phases) Total() time.Duration {
	var t time.Duration
	for _, p := range ps {
		t += p.Duration
	}
	return t
}

// log adds the phases to a log event, one duration field each.
func (ps Phases) log(ev *zerolog.Event) *zerolog.Event {
	d := zerolog.Dict()
	for _, p := range ps {
		d = d.Dur(p.Name, p.Duration)
	}
	return ev.Dict("phases", d)
}

// AddConnect counts the connection's set-up, d, which the step waited for
// before it started, as its first phase and in its Duration.
func (r *Result) AddConnect(d time.Duration) {
	r.Phases = append(Phases{{Name: PhaseConnect, Duration: d}}, r.Phases...)
	r.Duration += d
	if !r.Started.IsZero() {
		r.Started = r.Started.Add(-d)
	}
}

// phaseClock times an Execution's phases: each mark ends the phase that
// ran since the last one. The run's own events (first output, docker
// run's return) come from other goroutines, as times.
type phaseClock struct {
	mu     sync.Mutex
	last   time.Time
	phases Phases
	// launched: docker run started; firstOut: the step's first output
	// arrived; ran: docker run returned.
	launched, firstOut, ran time.Time
}

func (c *phaseClock) begin(t time.Time) { c.last = t }

// mark ends phase name now.
func (c *phaseClock) mark(name string) { c.markAt(name, time.Now()) }

// markAt ends phase name at t (never before the last mark); phases of
// the same name add up.
func (c *phaseClock) markAt(name string, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.last.IsZero() {
		c.last = t
	}
	d := t.Sub(c.last)
	if d < 0 {
		return
	}
	c.last = t
	for i := range c.phases {
		if c.phases[i].Name == name {
			c.phases[i].Duration += d
			return
		}
	}
	c.phases = append(c.phases, Phase{Name: name, Duration: d})
}

// event records when something of the run happened, the first time.
func (c *phaseClock) event(at *time.Time) {
	c.mu.Lock()
	if at.IsZero() {
		*at = time.Now()
	}
	c.mu.Unlock()
}

// get reads an event's time.
func (c *phaseClock) get(at *time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *at
}

// ranOut marks the run's phases once its output is whole: start until
// the first output, script until docker run returned, output until now.
func (c *phaseClock) ranOut() {
	launched, first, ran := c.get(&c.launched), c.get(&c.firstOut), c.get(&c.ran)
	if launched.IsZero() {
		return
	}
	if !first.IsZero() && (ran.IsZero() || first.Before(ran)) {
		c.markAt(PhaseStart, first)
	}
	if !ran.IsZero() {
		c.markAt(PhaseScript, ran)
	}
	c.mark(PhaseOutput)
}

// done is the phases marked, a copy.
func (c *phaseClock) done() Phases {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append(Phases(nil), c.phases...)
}

// firstWrite calls note at its first write, then passes everything to w.
type firstWrite struct {
	w    interface{ Write([]byte) (int, error) }
	once sync.Once
	note func()
}

func (f *firstWrite) Write(p []byte) (int, error) {
	if len(p) > 0 {
		f.once.Do(f.note)
	}
	return f.w.Write(p)
}
