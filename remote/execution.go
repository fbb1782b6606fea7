package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/internal/printable"
	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// Execution is one step on one worker, in phases: Start, Wait, Collect
// and Destroy (see the package doc for the contract). Run and Resume are
// compositions of them.
type Execution struct {
	ctl *Controller
	sh  Shell
	b   bundle.Bundle
	st  Step
	out Output
	log zerolog.Logger

	logKey  []byte
	payload []byte
	// prefix starts the step's id (random); bref is the bundle the
	// preflight checks.
	prefix string
	bref   bundleRef
	res    Result
	plan   runPlan
	facts  Facts
	report scriptReport

	proc       *outputProcessor
	flush      func()
	att        *attachment
	dockerTail *tailBuffer
	// dockerOut and dockerErr take what the docker client itself prints.
	dockerOut, dockerErr io.Writer
	follower             *follower
	// afterRun is sh with a session opened while the step runs, for the
	// command that cleans up after it; beatSh and followSh have sessions
	// opened with the preflight's, for the heartbeat and the follower
	// (their opening then costs no round trip of its own).
	afterRun, beatSh, followSh *prepared
	// stopHeartbeat ends the heartbeat without waiting for its session;
	// waitHeartbeat also waits (both idempotent).
	stopHeartbeat, waitHeartbeat func()

	// done is closed when the command that runs the container returned,
	// with runErr.
	done   chan struct{}
	runErr error
	// err is the first error a phase returned.
	err error
	// ran: the container's command was issued. cleaned: the work
	// directory and container are gone (or kept); started is what the
	// cleanup said of the container. resumed: built by Resume. detached:
	// Resume left the step running.
	ran, cleaned, started, resumed, detached bool

	sessions0, sftp0 int64
	// clock times the phases (Result.Phases).
	clock phaseClock
}

// fail records err as the execution's failure and returns it.
func (e *Execution) fail(err error) error {
	if err != nil && e.err == nil {
		e.err = err
	}
	return err
}

// Start validates st, prepares the worker (preflight, bundle, heartbeat,
// image, external runner) and launches the step's container. It returns
// the Execution even when it fails: the caller must Destroy it.
func (c *Controller) Start(ctx context.Context, sh Shell, b bundle.Bundle, st Step, out Output) (*Execution, error) {
	e := &Execution{ctl: c, sh: sh, b: b, st: st, out: out, stopHeartbeat: func() {}, waitHeartbeat: func() {}}
	e.log = zerolog.Ctx(ctx).With().Str("worker", sh.String()).Str("step", st.Name).Logger()
	if err := e.validate(sh.String()); err != nil {
		return e, e.fail(err)
	}
	if err := e.setup(); err != nil {
		return e, e.fail(err)
	}
	e.proc.showWaits(ctx, sh.String())
	if fastPathOK(e.st) {
		launched, err := e.launchFast(ctx)
		if err != nil || launched {
			return e, e.fail(err)
		}
	} else if err := e.preflight(ctx); err != nil {
		return e, e.fail(err)
	}
	if err := e.prepare(ctx); err != nil {
		return e, e.fail(err)
	}
	e.launch(ctx)
	return e, nil
}

// validate checks the step before anything reaches worker.
func (e *Execution) validate(worker string) error {
	st := &e.st
	switch {
	case st.Build != nil && (len(st.Build.Dockerfile) == 0) == (st.Build.GitURL == ""):
		return stepErr(worker, ReasonInput, "a build needs either a Dockerfile or a Git URL")
	case st.Build != nil && st.Build.GitURL == "":
		st.Image = buildTag(*st.Build, "", e.b.Arch)
	case st.Build == nil:
		if err := ValidateImage(st.Image); err != nil {
			return &StepError{Worker: worker, Reason: ReasonInput, Err: err}
		}
	}
	if st.Syntax != "bash" && st.Syntax != "sh" {
		return stepErr(worker, ReasonInput, "script syntax %q: want bash or sh", st.Syntax)
	}
	if e.out.Masks == nil {
		e.out.Masks = mask.NewSet()
	}
	// The step's own secrets, whoever made the plan (the run's set has
	// them already).
	for _, v := range st.Variables {
		if v.Sensitive {
			e.out.Masks.Add(v.Value)
		}
	}
	maskFeed(e.out.Masks, st.Feed)
	// Refused options stop the step before anything reaches the worker;
	// the paths cuttle mounts itself are checked once they are known.
	if err := ValidateOptions(st.ContainerOptions, st.OptionsPolicy()); err != nil {
		return &StepError{Worker: worker, Reason: ReasonInput, Err: err}
	}
	if st.External != nil {
		if err := st.External.prepare(e.ctl); err != nil {
			return stepErr(worker, ReasonInput, "%w", err)
		}
	}
	return nil
}

// setup makes the log key, the payload and the output's writers.
func (e *Execution) setup() error {
	st := &e.st
	if st.External == nil && st.ReattachWindow > 0 {
		// The runner keeps the output on the worker, under this key, for
		// reattaching after a lost link.
		e.logKey = make([]byte, wire.LogKeySize)
		if _, err := rand.Read(e.logKey); err != nil {
			return err
		}
	}
	payload, err := json.Marshal(wire.Payload{Variables: st.Variables, LogKey: e.logKey, Script: st.Script,
		FailOnErrorOutput: st.FailOnErrorOutput, Proxy: st.Proxy.payloadProxy()})
	if err != nil {
		return stepErr(e.sh.String(), ReasonInput, "variables: %w", err)
	}
	e.payload = payload
	e.res.Started = time.Now()
	e.clock.begin(e.res.Started)
	e.sessions0, e.sftp0 = exchanges(e.sh)
	if e.prefix, err = stepIDPrefix(e.res.Started); err != nil {
		return stepErr(e.sh.String(), ReasonWorkspace, "a random step id: %w", err)
	}
	// A worker whose architecture this controller recorded gets its own
	// runner's bundle from the start (Runners).
	e.b = e.ctl.runnerFor(e.ctl.Trust.arch(e.sh.String()), e.b)
	e.bref = bundleRef{Digest: e.b.Digest, Sums: e.b.Sums, Known: e.ctl.Trust.known(e.sh.String(), e.b.Digest)}
	e.proc = newOutputProcessor(e.out.Masks, e.out, e.log)
	var stdout, stderr io.Writer
	stdout, stderr, e.flush = e.proc.writers()
	e.dockerTail = &tailBuffer{max: 4096}
	// The processor's stderr takes the script's stderr and, with a log
	// key, the docker client's own messages too: from two sessions.
	stderr = &lockedWriter{w: stderr}
	e.att = &attachment{}
	e.att.stdout.w, e.att.stderr.w = stdout, io.MultiWriter(stderr, e.dockerTail)
	// The step's first output ends PhaseStart.
	first := func() { e.clock.event(&e.clock.firstOut) }
	e.att.stdout.w = &firstWrite{w: e.att.stdout.w, note: first}
	e.att.stderr.w = &firstWrite{w: e.att.stderr.w, note: first}
	// What the docker client itself prints. With a log key the script's
	// output comes from the logs through a follower (docker attaches stdin
	// only), so this is docker's own; without one it is the script's too.
	e.dockerOut, e.dockerErr = &e.att.stdout, &e.att.stderr
	if e.logKey != nil {
		e.dockerOut, e.dockerErr = io.Discard, io.MultiWriter(stderr, e.dockerTail)
	}
	return nil
}

// preflightRequest is what the preflight asks of the worker besides
// the step id's prefix and the bundle.
func (e *Execution) preflightRequest() (askImage, extDigest string) {
	st := &e.st
	if st.Pull != PullAlways || (st.Build != nil && st.Build.GitURL == "") {
		askImage = st.Image
	}
	if st.External != nil {
		extDigest = st.External.Digest
	}
	return askImage, extDigest
}

// preflight runs the full path's preflight.
func (e *Execution) preflight(ctx context.Context) error {
	askImage, extDigest := e.preflightRequest()
	f, err := preflight(ctx, e.sh, e.prefix, e.ctl.nextTicket(), e.bref, askImage, extDigest)
	e.clock.mark(PhasePreflight)
	if err != nil && ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if err != nil {
		return err
	}
	e.setPlan(f)
	return nil
}

// setPlan takes the facts the preflight found.
func (e *Execution) setPlan(f Facts) {
	st := &e.st
	e.facts = f
	e.ctl.Trust.remember(e.sh.String(), e.b.Digest, f.BundleFingerprint)
	e.res.ID, e.res.WorkDir = f.Ticket, f.WorkDir()
	e.log = e.log.With().Str("container", ContainerName(e.res.ID)).Logger()
	e.plan = runPlan{
		StepID: e.res.ID, Started: e.res.Started.UTC().Format(time.RFC3339), Home: f.Home,
		WorkDir: e.res.WorkDir, BundleDir: f.BundleDir(e.b.Digest), Image: st.Image,
		NoPull: supportsPullFlag(f.DockerClient), Script: ScriptName, Syntax: st.Syntax,
		OwnerUID: f.UID, OwnerGID: f.GID, Options: st.ContainerOptions,
		LogOnly: e.logKey != nil, EngineWait: st.ReattachWindow,
	}
	if st.Slots > 0 && f.HasFlock {
		e.plan.SlotDir, e.plan.Slots = f.Home+"/.cuttle/locks", st.Slots
	}
}

// startFollowing starts the output follower as the step starts (with a
// log key), and hands out the step's ticket for cuttle attach.
func (e *Execution) startFollowing(ctx context.Context) {
	if e.logKey == nil {
		return
	}
	e.follower = startFollower(ctx, e.followSh.orShell(e.sh), e.plan, e.logKey, e.att)
	e.followSh = nil
	if e.out.OnTicket != nil {
		e.out.OnTicket(e.Ticket())
	}
}

// Ticket is what another controller process needs to attach to the step
// (Resume); its Key is empty when the step keeps no logs.
func (e *Execution) Ticket() Ticket {
	return ticketFor(e.st, e.plan, e.logKey, e.res.Started)
}

// armHeartbeat (re)starts the heartbeat when the step has a reattach
// window.
func (e *Execution) armHeartbeat(ctx context.Context, resumed bool) {
	e.waitHeartbeat()
	e.stopHeartbeat, e.waitHeartbeat = func() {}, func() {}
	if e.st.ReattachWindow > 0 {
		e.stopHeartbeat, e.waitHeartbeat = startHeartbeat(ctx, e.beatSh.orShell(e.sh), e.plan, e.st.ReattachWindow, resumed, e.log)
	}
	e.beatSh = nil
}

// run issues the command that runs the container, in the background;
// Wait waits for it.
func (e *Execution) run(ctx context.Context, cmd *transport.Cmd) {
	e.ran = true
	e.done = make(chan struct{})
	go func() {
		defer close(e.done)
		e.runErr = e.sh.Run(ctx, cmd)
		e.clock.event(&e.clock.ran)
	}()
}

// launchFast runs the preflight that launches the step itself when
// everything is in place. It reports whether the step was launched; when
// it was not, the facts are set for the full path.
func (e *Execution) launchFast(ctx context.Context) (bool, error) {
	var launchErr error
	launched := make(chan struct{})
	ls := &launchStreams{stdout: e.dockerOut, stderr: e.dockerErr, onLaunch: func(b []byte) {
		defer close(launched)
		e.clock.event(&e.clock.launched)
		e.clock.markAt(PhasePreflight, e.clock.get(&e.clock.launched))
		f, err := readFacts(e.sh, b, nil, nil)
		if err != nil {
			launchErr = err
			return
		}
		e.setPlan(f)
		e.armHeartbeat(ctx, false)
		e.startFollowing(ctx)
	}}
	// The sessions the step needs beside the preflight's are opened with
	// it, in the same round trip: the heartbeat's, the follower's and
	// the cleanup's. The full path uses them too.
	if e.st.ReattachWindow > 0 {
		e.beatSh = prepareNext(e.sh)
	}
	if e.logKey != nil {
		e.followSh = prepareNext(e.sh)
	}
	e.afterRun = prepareNext(e.sh)
	askImage, extDigest := e.preflightRequest()
	e.run(ctx, &transport.Cmd{
		Args:  preflightArgs(e.prefix, e.ctl.nextTicket(), e.bref, askImage, extDigest, launchTemplate(e.st, e.b.Digest, e.res.Started.UTC().Format(time.RFC3339), e.logKey != nil)),
		Stdin: bytes.NewReader(e.payload), Stdout: ls, Stderr: ls.stderrWriter(),
	})
	select {
	case <-launched:
	case <-e.done:
	}
	select {
	case <-launched:
		if launchErr != nil {
			<-e.done
			return true, launchErr
		}
		e.res.Image = e.st.Image
		e.log = e.log.With().Str("image", e.st.Image).Logger()
		return true, nil
	default:
	}
	// The command ended without launching the step.
	e.ran = false
	e.clock.ran = time.Time{}
	e.clock.mark(PhasePreflight)
	if ctx.Err() != nil {
		// Interrupted or out of time (--timeout) during the preflight:
		// that is the step's outcome, not the worker's answer.
		return false, context.Cause(ctx)
	}
	f, err := readFacts(e.sh, ls.facts.Bytes(), ls.errPre.Bytes(), e.runErr)
	if err != nil {
		return false, err
	}
	e.log.Debug().Str("why", printable.String(parseKV(ls.facts.Bytes())["launch"])).Msg("fast path not taken")
	e.setPlan(f)
	return false, nil
}

// prepare does on the full path everything the fast path found in place.
func (e *Execution) prepare(ctx context.Context) error {
	st, sh, facts := &e.st, e.sh, e.facts
	if strings.ContainsAny(facts.Home, ":,") {
		return stepErr(sh.String(), ReasonWorkspace, "home directory %q contains ':' or ',', which docker's -v cannot mount", facts.Home)
	}
	if err := ValidateOptions(st.ContainerOptions, st.OptionsPolicy(e.plan.WorkDir, e.plan.BundleDir)); err != nil {
		return &StepError{Worker: sh.String(), Reason: ReasonInput, Err: err}
	}
	if got := wire.ArchOf(facts.Arch); got != e.b.Arch {
		if e.ctl.Runners == nil {
			return stepErr(sh.String(), ReasonRunner, "worker is linux/%s but the step runner is linux/%s: set CUTTLE_RUNNER to a linux/%s build of cuttle (GOARCH=%s make build)", got, e.b.Arch, got, got)
		}
		b, err := e.ctl.switchRunner(ctx, sh, got, &e.facts)
		if err != nil {
			return err
		}
		e.b, facts = b, e.facts
		e.plan.BundleDir = facts.BundleDir(b.Digest)
	}
	e.ctl.Trust.rememberArch(sh.String(), e.b.Arch)
	err := e.ctl.readyBundle(ctx, sh, e.b, facts, e.ctl.Trust, e.log)
	e.clock.mark(PhaseBundle)
	if err != nil {
		return err
	}
	// From here on the step has a heartbeat: gc keeps it while it pulls
	// or builds, and the worker removes it if this controller vanishes.
	e.armHeartbeat(ctx, false)
	if st.External != nil {
		// Calamari reads the script from the work directory; cuttle's own
		// runner gets it in the payload, which costs no round trip.
		if err := sh.Upload(ctx, e.res.WorkDir+"/"+ScriptName, bytes.NewReader(st.Script), 0o644); err != nil {
			return uploadFailed(ctx, sh, e.res.WorkDir, int64(len(st.Script)), "the script", err)
		}
	}
	progress := e.out.Progress
	if progress == nil {
		progress = e.out.Stderr
	}
	err = ensureImage(ctx, sh, st, facts, progress)
	e.clock.mark(PhaseImage)
	if err != nil {
		return err
	}
	e.plan.Image, e.res.Image = st.Image, st.Image
	e.log = e.log.With().Str("image", st.Image).Logger()
	// Packages after the image: whom they are for (its USER) is known.
	if len(st.Packages) > 0 {
		err := withPackages(ctx, sh, st, e.out.Masks, &e.res, facts, e.b, e.log)
		e.clock.mark(PhasePackages)
		if err != nil {
			return err
		}
		payload, err := json.Marshal(wire.Payload{Variables: st.Variables, LogKey: e.logKey, Script: st.Script,
			FailOnErrorOutput: st.FailOnErrorOutput, Proxy: st.Proxy.payloadProxy()})
		if err != nil {
			return stepErr(sh.String(), ReasonInput, "variables: %w", err)
		}
		e.payload = payload
	}
	if st.External != nil {
		err = prepareExternal(ctx, sh, st, facts, &e.plan, e.out.Masks)
		e.clock.mark(PhaseImage)
	}
	return err
}

// launch starts the container on the full path.
func (e *Execution) launch(ctx context.Context) {
	var stdin io.Reader
	if e.st.External == nil {
		stdin = bytes.NewReader(e.payload)
	}
	e.startFollowing(ctx)
	if e.afterRun == nil {
		e.afterRun = prepareNext(e.sh)
	}
	runArgs := dockerRunArgs(e.plan)
	if e.plan.Slots > 0 {
		runArgs = recorded(recordPath(e.plan.Home, e.plan.StepID), map[string]any{"locks": e.plan.SlotDir + "/slot-*", "shared": true}, runArgs)
	}
	e.clock.event(&e.clock.launched)
	e.run(ctx, &transport.Cmd{Args: runArgs, Stdin: stdin, Stdout: e.dockerOut, Stderr: e.dockerErr})
}
