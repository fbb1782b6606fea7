package remote

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/cuttle-sh/cuttle/internal/printable"
	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// The second half of an Execution's lifecycle: Wait, Collect, Destroy.

// Wait waits for the step to end, reattaching within the window when the
// link drops, and sets its exit code. The output is whole when it returns.
func (e *Execution) Wait(ctx context.Context) error {
	if e.resumed {
		err := e.waitResumed(ctx)
		e.clock.mark(PhaseReattach)
		return e.fail(err)
	}
	if e.done == nil {
		return e.fail(errors.New("remote: Wait without a successful Start"))
	}
	<-e.done
	err := e.runErr
	if e.follower != nil {
		e.plan.Removed = e.removedByRun(ctx)
		err = e.followed(ctx, err)
	}
	e.clock.ranOut()
	if err != nil && e.logKey != nil && ctx.Err() == nil && errors.Is(err, transport.ErrConnectionLost) {
		err = reattach(ctx, e.sh, e.plan, e.logKey, e.att, e.st.ReattachWindow, func() { e.armHeartbeat(ctx, true) }, e.log)
		e.clock.mark(PhaseReattach)
	}
	e.takeReport()
	var ee *transport.ExitError
	var se *StepError
	switch {
	case err == nil:
		e.res.ExitCode = 0
		return nil
	case ctx.Err() != nil:
		return e.fail(context.Cause(ctx))
	case errors.As(err, &se):
		return e.fail(err)
	case errors.As(err, &ee) && ee.Signal == "":
		e.res.ExitCode = ee.Code
		return nil
	default:
		return e.fail(stepErr(e.sh.String(), ReasonDocker, "docker run: %w", err))
	}
}

// removedByRun reports whether docker run --rm removed the container: its
// client waits for the removal before it returns the container's exit
// status, so a status equal to the one the runner recorded means the
// container is gone. Docker's own 125 (a failed removal among others)
// and anything else leave the removal to the cleanup.
func (e *Execution) removedByRun(ctx context.Context) bool {
	if !autoRemove(e.plan) || ctx.Err() != nil || e.follower.wait() != nil {
		return false
	}
	code, ok := e.follower.exitCode()
	if !ok || code == 125 {
		return false
	}
	var ee *transport.ExitError
	if e.runErr == nil {
		return code == 0
	}
	return errors.As(e.runErr, &ee) && ee.Signal == "" && ee.Code == code
}

// followerExit is the exit code the runner recorded, when the follower
// sent it.
func (e *Execution) followerExit() (int, bool) {
	if e.follower == nil {
		return 0, false
	}
	return e.follower.exitCode()
}

// takeReport flushes the output and takes what the script reported.
func (e *Execution) takeReport() {
	e.flush()
	e.report = e.proc.results()
	e.res.OutputVariables, e.res.OutputOrder, e.res.ResultMessage, e.res.Reported = e.report.vars, e.report.order, e.report.result, e.report.reported
}

// followed weighs the follower's end against docker run's (err).
func (e *Execution) followed(ctx context.Context, err error) error {
	// The output is whole once the follower has sent everything up to the
	// runner's exit file.
	ferr := e.follower.wait()
	code, ended := e.follower.exitCode()
	var ee *transport.ExitError
	switch {
	case ferr == nil && ended && err != nil && !errors.Is(err, transport.ErrConnectionLost) && ctx.Err() == nil:
		// The runner recorded the script's end, so its exit code stands,
		// whatever docker run's client said: it loses its engine when
		// dockerd restarts with live-restore, while the container goes on.
		if !errors.As(err, &ee) || ee.Code != code {
			e.log.Warn().Err(err).Int("exit_code", code).Msg("docker run's client failed while the step ran on (was the Docker engine restarted?); the exit code is the one the step's runner recorded")
		}
		return exitErrorOf(code)
	case err == nil && ferr != nil && !errors.Is(ferr, transport.ErrConnectionLost) && ctx.Err() == nil:
		return followErr(e.sh, e.plan, ferr)
	case err != nil && errors.As(ferr, &ee) && ee.Code == wire.FollowEngineAway && ctx.Err() == nil:
		return followErr(e.sh, e.plan, ferr) // it says more than docker run's "unexpected EOF"
	case err == nil && errors.Is(ferr, transport.ErrConnectionLost):
		return ferr // the step's end was not seen whole: reattach
	case errors.Is(ferr, transport.ErrConnectionLost) && errors.As(err, &ee) && ee.Signal != "":
		// docker run's client was killed with its session (sshd restarted
		// and took its sessions down) as the follower lost the link: the
		// container runs on, so reattach.
		return ferr
	}
	return err
}

// Collect downloads the artifacts the script asked for, which also
// removes the step (one command).
func (e *Execution) Collect(ctx context.Context) error {
	if !e.resumed && e.res.ResultMessage != "" && e.res.ExitCode != 0 {
		e.log.Error().Int("exit_code", e.res.ExitCode).Msg(printable.String(e.out.Masks.Mask(e.res.ResultMessage)))
	}
	reqs := e.report.artifacts
	if len(reqs) == 0 {
		return nil
	}
	e.stopHeartbeat()
	defer e.waitHeartbeat()
	var fsh Shell = e.sh
	if e.afterRun != nil {
		fsh = e.afterRun
	}
	fctx := ctx
	if e.resumed {
		// Attaching was asked for the step's end: its artifacts and
		// cleanup outlive ctx, as Destroy does.
		var cancel context.CancelFunc
		fctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
	}
	var aerr error
	e.res.Artifacts, e.res.CleanupErr, aerr = finish(fctx, fsh, e.plan, reqs, e.st.ArtifactsDir, e.st.KeepWorkspace, e.log)
	e.clock.mark(PhaseArtifacts)
	// The script asked for artifacts: the container ran it.
	e.cleaned, e.started = true, true
	if aerr != nil {
		if !e.resumed && ctx.Err() != nil {
			return e.fail(context.Cause(ctx))
		}
		return e.fail(stepErr(e.sh.String(), ReasonWorkspace, "collecting artifacts: %w", aerr))
	}
	return nil
}

// Destroy removes what Start created: the container and the work
// directory (unless kept), and stops the heartbeat. It is idempotent,
// safe after a failed or partial Start, and runs on a context that
// outlives ctx's cancellation, with its own time limit. It returns what
// could not be removed, as Result.CleanupErr does.
func (e *Execution) Destroy(ctx context.Context) error {
	// The cleanup does not wait for the heartbeat's session to end.
	e.stopHeartbeat()
	defer e.waitHeartbeat()
	e.beatSh.release()
	e.followSh.release()
	e.beatSh, e.followSh = nil, nil
	if e.afterRun != nil {
		defer func() { e.afterRun.release(); e.afterRun = nil }()
	}
	if e.plan.StepID == "" || e.cleaned || e.detached {
		return e.res.CleanupErr // nothing was created, or it is gone or left on purpose
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var sh Shell = e.sh
	if e.afterRun != nil {
		sh = e.afterRun
	}
	failed := e.err != nil
	// Whether the container ever started matters only to tell docker's
	// own 125-127 from the script's.
	// The runner's recorded exit code says the container ran; with --rm
	// there is no container left to ask.
	_, ranScript := e.followerExit()
	probe := e.ran && !failed && dockerCode(e.res.ExitCode) && !ranScript
	e.started, e.res.CleanupErr = cleanup(cctx, sh, e.plan, e.ran && failed, e.st.KeepWorkspace, probe)
	e.started = e.started || (ranScript && !failed)
	e.clock.mark(PhaseCleanup)
	e.cleaned = true
	return e.res.CleanupErr
}

// complete runs the phases after Start (or resume), Wait and Collect,
// unless an earlier one failed with err, then Destroy, and returns the
// step's outcome.
func (e *Execution) complete(ctx context.Context, err error) (Result, error) {
	if err == nil {
		err = e.Wait(ctx)
	}
	if err == nil {
		err = e.Collect(ctx)
	}
	e.Destroy(ctx)
	return e.outcome(err)
}

// dockerCode reports whether code may be docker run's own (125-127).
func dockerCode(code int) bool { return code >= 125 && code <= 127 }

// outcome is the step's result once destroyed: err is the phases' error,
// and an exit code that was docker's own becomes a StepError.
func (e *Execution) outcome(err error) (Result, error) {
	dockerTail := ""
	if e.dockerTail != nil {
		dockerTail = e.dockerTail.String()
	}
	switch {
	case err != nil || !e.ran:
	case !e.started && dockerCode(e.res.ExitCode):
		// docker's own failure: the container never ran the runner.
		err = stepErr(e.sh.String(), ReasonDocker, "docker run failed (exit %d): %s", e.res.ExitCode, dockerComplaint(dockerTail))
	case e.res.ExitCode == wire.ExitCodeNoShell && strings.Contains(dockerTail, wire.RunnerErrorPrefix):
		// The runner itself could not run the script.
		_, msg, _ := strings.Cut(dockerTail, wire.RunnerErrorPrefix)
		err = stepErr(e.sh.String(), ReasonImage, "image %s: %s", e.st.Image, strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0]))
	}
	e.res.Duration = time.Since(e.res.Started)
	e.res.Phases = e.clock.done()
	sessions, sftp := exchanges(e.sh)
	// On a connection shared with concurrent steps these include theirs.
	e.res.Phases.log(e.log.Debug().Int64("sessions", sessions-e.sessions0).Int64("sftp_calls", sftp-e.sftp0).Dur("duration", e.res.Duration)).Msg("step finished")
	return e.res, err
}
