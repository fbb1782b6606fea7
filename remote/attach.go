package remote

import (
	"bytes"
	"context"
	"errors"
	"path"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// Ticket is what a controller needs to attach to a running step that
// another controller process started (one that was killed, or whose
// machine rebooted): the step's place on the worker and its log key.
// `cuttle run` keeps it in its state directory (mode 0600) while the step
// runs and removes it when the step ends; the worker holds only
// ciphertext, so the key alone, or the logs alone, reveal nothing.
type Ticket struct {
	// Worker is how the worker was named to `cuttle run` (filled in by
	// the command line).
	Worker    string        `json:"worker"`
	Name      string        `json:"name"`
	StepID    string        `json:"step_id"`
	WorkDir   string        `json:"work_dir"`
	BundleDir string        `json:"bundle_dir"`
	Key       []byte        `json:"key"`
	Window    time.Duration `json:"window"`
	Started   time.Time     `json:"started"`
	// ArtifactsDir is where the step's artifacts would have landed.
	ArtifactsDir string `json:"artifacts_dir"`
	// ControllerHost and ControllerPID name the process that started the
	// step (filled in by the command line), so attach can tell a live
	// controller from a dead one.
	ControllerHost string `json:"controller_host"`
	ControllerPID  int    `json:"controller_pid"`
}

// ticketFor is the ticket of a step whose plan is set.
func ticketFor(st Step, p runPlan, key []byte, started time.Time) Ticket {
	return Ticket{Name: st.Name, StepID: p.StepID, WorkDir: p.WorkDir, BundleDir: p.BundleDir, Key: key, Window: st.ReattachWindow, Started: started, ArtifactsDir: st.ArtifactsDir}
}

// checkAttachBundle checks the bundle at dir by a full hash when it is
// b; another cuttle's bundle cannot be checked here, and runs as it is.
func checkAttachBundle(ctx context.Context, sh Shell, b bundle.Bundle, dir string) error {
	if b.Sums == "" || path.Base(dir) != b.Digest {
		return nil
	}
	var out bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", checkBundleScript, "sh", dir, b.Sums}, Stdout: &out}); err != nil {
		return stepErr(sh.String(), ReasonUnreachable, "checking the bundle %s: %v", dir, err)
	}
	switch parseKV(out.Bytes())["bundle"] {
	case "present":
		return nil
	case "nosha":
		return stepErr(sh.String(), ReasonRunner, "the worker has no sha256sum to check cuttle's cached bundle with: install coreutils")
	}
	return stepErr(sh.String(), ReasonRunner, "the cached bundle %s the step runs from does not match its digest (a file in it was changed): attach runs nothing of it; the step is left to its dead man's switch, and the next step replaces the bundle", dir)
}

// readMasksScript prints a step's masks file, $1. The step's container
// writes its work directory as root: what it planted there (a symlink to
// a file of the SSH user's, or to /dev/zero) is not read. Exit 1: no
// such file.
const readMasksScript = `d=${1%/*}
if [ -L "$d" ] || [ -L "$1" ] || [ ! -f "$1" ]; then exit 1; fi
exec head -c 67108864 -- "$1"
`

// Resume follows a running step from its ticket, from the first byte of
// its output, to its end, as the controller that started it would have:
// the output is masked (the step's sensitive values come from the
// worker's masks file, under the step's key, besides masks), service
// messages are acted on, artifacts are downloaded to artifactsDir, and the
// step is cleaned up. The heartbeat is taken over, so the worker's dead
// man's switch keeps waiting while this controller is there. It is Run's
// Wait, Collect and Destroy on an Execution made from the ticket.
//
// When ctx ends first (Ctrl-C), it detaches and leaves the step running:
// its dead man's switch removes it once the window passes, unless a
// controller attaches again.
//
// Nothing of the step's bundle runs on the worker host before it is
// checked, when it is b (this cuttle's); a changed one is refused, not
// replaced, as the running step has it mounted.
func (c *Controller) Resume(ctx context.Context, sh Shell, b bundle.Bundle, t Ticket, artifactsDir string, masks *mask.Set, out Output) (Result, error) {
	e, err := c.resume(ctx, sh, b, t, artifactsDir, masks, out)
	return e.complete(ctx, err)
}

// resume makes the Execution of a running step from its ticket and takes
// over its heartbeat. Destroy it.
func (c *Controller) resume(ctx context.Context, sh Shell, b bundle.Bundle, t Ticket, artifactsDir string, masks *mask.Set, out Output) (*Execution, error) {
	if masks == nil {
		masks = mask.NewSet()
	}
	out.Masks = masks
	e := &Execution{ctl: c, sh: sh, out: out, resumed: true, logKey: t.Key, stopHeartbeat: func() {}, waitHeartbeat: func() {},
		st: Step{Name: t.Name, ReattachWindow: t.Window, ArtifactsDir: artifactsDir}}
	e.log = zerolog.Ctx(ctx).With().Str("worker", sh.String()).Str("step", t.Name).Str("container", ContainerName(t.StepID)).Logger()
	e.res.ID, e.res.WorkDir, e.res.Started = t.StepID, t.WorkDir, t.Started
	e.clock.begin(time.Now()) // the phases are this controller's part
	e.sessions0, e.sftp0 = exchanges(sh)
	home, ok := strings.CutSuffix(t.WorkDir, "/.cuttle/work/"+t.StepID)
	if !ok || len(t.Key) != wire.LogKeySize || t.Window <= 0 {
		return e, e.fail(stepErr(sh.String(), ReasonInput, "the ticket of step %s is not one cuttle wrote (work directory %q)", t.StepID, t.WorkDir))
	}
	var content bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", readMasksScript, "sh", t.WorkDir + "/" + wire.LogDir + "/" + wire.MasksFile}, Stdout: &content}); err != nil {
		var ee *transport.ExitError
		if errors.As(err, &ee) {
			return e, e.fail(stepErr(sh.String(), ReasonWorkspace, "step %s is no longer on the worker: it ended and was cleaned up, or its dead man's switch removed it once its controller had been silent for %s", t.StepID, t.Window))
		}
		return e, e.fail(stepErr(sh.String(), ReasonUnreachable, "reading step %s's masks: %v", t.StepID, err))
	}
	values, err := wire.DecryptMasks(t.Key, content.Bytes())
	if err != nil {
		return e, e.fail(stepErr(sh.String(), ReasonInput, "%v", err))
	}
	for _, v := range values {
		masks.Add(v)
	}
	if err := checkAttachBundle(ctx, sh, b, t.BundleDir); err != nil {
		return e, e.fail(err)
	}
	// The plan is set only now: Destroy leaves a step it could not read,
	// or whose bundle is not what it was.
	e.plan = runPlan{StepID: t.StepID, Home: home, WorkDir: t.WorkDir, BundleDir: t.BundleDir, EngineWait: t.Window}
	e.armHeartbeat(ctx, true)
	e.proc = newOutputProcessor(masks, out, e.log)
	e.att = &attachment{}
	e.att.stdout.w, e.att.stderr.w, e.flush = e.proc.writers()
	e.log.Info().Msg("attached to the running step; its output from the start follows")
	return e, nil
}

// waitResumed is Wait for a resumed step: it follows the logs to the end.
// When ctx ends first, or the worker cannot be reached, the step is left
// as it is.
func (e *Execution) waitResumed(ctx context.Context) error {
	err := followToEnd(ctx, e.sh, e.plan, e.logKey, e.att, e.st.ReattachWindow, func() { e.armHeartbeat(ctx, true) }, false, e.log)
	e.flush()
	if ctx.Err() != nil {
		e.detached = true
		e.log.Warn().Dur("window", e.st.ReattachWindow).Msg("detached: the step goes on; attach again, or its dead man's switch removes it once the window passes")
		return context.Cause(ctx)
	}
	e.takeReport()
	var ee *transport.ExitError
	var se *StepError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Signal == "":
		e.res.ExitCode, err = ee.Code, nil
	case errors.As(err, &se) && se.Reason == ReasonUnreachable:
		e.detached = true // nothing can be cleaned from here
	}
	return err
}
