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

// Attach follows a running step from its ticket, from the first byte of
// its output, to its end, as the controller that started it would have:
// the output is masked (the step's sensitive values come from the
// worker's masks file, under the step's key, besides masks), service
// messages are acted on, artifacts are downloaded to artifactsDir, and the
// step is cleaned up. The heartbeat is taken over, so the worker's dead
// man's switch keeps waiting while this controller is there.
//
// When ctx ends first (Ctrl-C), it detaches and leaves the step running:
// its dead man's switch removes it once the window passes, unless a
// controller attaches again.
//
// Nothing of the step's bundle runs on the worker host before it is
// checked, when it is b (this cuttle's); a changed one is refused, not
// replaced, as the running step has it mounted.
func Attach(ctx context.Context, sh Shell, b bundle.Bundle, t Ticket, artifactsDir string, masks *mask.Set, out Output) (res Result, err error) {
	log := zerolog.Ctx(ctx).With().Str("worker", sh.String()).Str("step", t.Name).Str("container", ContainerName(t.StepID)).Logger()
	res.ID, res.WorkDir, res.Started = t.StepID, t.WorkDir, t.Started
	home, ok := strings.CutSuffix(t.WorkDir, "/.cuttle/work/"+t.StepID)
	if !ok || len(t.Key) != wire.LogKeySize || t.Window <= 0 {
		return res, stepErr(sh.String(), ReasonInput, "the ticket of step %s is not one cuttle wrote (work directory %q)", t.StepID, t.WorkDir)
	}
	plan := runPlan{StepID: t.StepID, Home: home, WorkDir: t.WorkDir, BundleDir: t.BundleDir, EngineWait: t.Window}
	var content bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", readMasksScript, "sh", t.WorkDir + "/" + wire.LogDir + "/" + wire.MasksFile}, Stdout: &content}); err != nil {
		var ee *transport.ExitError
		if errors.As(err, &ee) {
			return res, stepErr(sh.String(), ReasonWorkspace, "step %s is no longer on the worker: it ended and was cleaned up, or its dead man's switch removed it once its controller had been silent for %s", t.StepID, t.Window)
		}
		return res, stepErr(sh.String(), ReasonUnreachable, "reading step %s's masks: %v", t.StepID, err)
	}
	values, err := wire.DecryptMasks(t.Key, content.Bytes())
	if err != nil {
		return res, stepErr(sh.String(), ReasonInput, "%v", err)
	}
	if masks == nil {
		masks = mask.NewSet()
	}
	for _, v := range values {
		masks.Add(v)
	}

	if err := checkAttachBundle(ctx, sh, b, t.BundleDir); err != nil {
		return res, err
	}
	stopHeartbeat := startHeartbeat(ctx, sh, plan, t.Window, true, log)
	defer func() { stopHeartbeat() }()
	proc := newOutputProcessor(masks, out, log)
	stdout, stderr, flush := proc.writers()
	att := &attachment{}
	att.stdout.w, att.stderr.w = stdout, stderr
	log.Info().Msg("attached to the running step; its output from the start follows")
	err = followToEnd(ctx, sh, plan, t.Key, att, t.Window, func() {
		stopHeartbeat()
		stopHeartbeat = startHeartbeat(ctx, sh, plan, t.Window, true, log)
	}, false, log)
	flush()
	if ctx.Err() != nil {
		log.Warn().Dur("window", t.Window).Msg("detached: the step goes on; attach again, or its dead man's switch removes it once the window passes")
		return res, context.Cause(ctx)
	}
	reported := proc.results()
	res.OutputVariables, res.OutputOrder, res.ResultMessage = reported.vars, reported.order, reported.result
	var ee *transport.ExitError
	var se *StepError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Signal == "":
		res.ExitCode, err = ee.Code, nil
	case errors.As(err, &se) && se.Reason == ReasonUnreachable:
		return res, err // nothing can be cleaned from here
	}
	stopHeartbeat()
	stopHeartbeat = func() {}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if reqs := reported.artifacts; len(reqs) > 0 && err == nil {
		var aerr error
		res.Artifacts, res.CleanupErr, aerr = finish(cctx, sh, plan, reqs, artifactsDir, false, log)
		if aerr != nil {
			err = stepErr(sh.String(), ReasonWorkspace, "collecting artifacts: %w", aerr)
		}
	} else {
		_, res.CleanupErr = cleanup(cctx, sh, plan, false, false, false)
	}
	res.Duration = time.Since(res.Started)
	return res, err
}
