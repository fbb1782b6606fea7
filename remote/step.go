package remote

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/internal/printable"
	"github.com/cuttle-sh/cuttle/octopus"
	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// Step is one step to run on one worker: a plan, as data.
type Step struct {
	Name string
	// Image is pulled per Pull, unless Build is set: then the image is
	// built on the worker and Image is ignored.
	Image string
	Build *Build
	// Feed holds the registry credentials for pulling (or for a build's
	// base image).
	Feed   *Feed
	Pull   PullPolicy
	Script []byte
	// Syntax is bash or sh.
	Syntax string
	// KeepWorkspace leaves the work directory for debugging.
	KeepWorkspace bool
	// Variables reach the script through get_octopusvariable; they travel
	// on the container's stdin only.
	Variables []wire.Variable
	// ContainerOptions are extra docker run options, already split.
	ContainerOptions []string
	// AllowPrivileged permits options that give the step the worker. It
	// comes from the operator only: cuttle.yaml or --allow-privileged.
	AllowPrivileged bool
	// AllowedMounts and AllowedDevices are the host paths the operator
	// lets the step's options bind-mount or use (cuttle.yaml).
	AllowedMounts  []MountGrant
	AllowedDevices []DeviceGrant
	// WorkerName is the worker's name in cuttle.yaml, for messages.
	WorkerName string
	// ArtifactsDir is the directory artifacts land in, as <name>.
	ArtifactsDir string
	// Masks holds the values to hide in all output; the script may add
	// more (sensitive output variables, mask messages).
	Masks *mask.Set
	// External, when set, runs the step with the user's runner
	// (Calamari) instead of cuttle's own.
	External *ExternalRunner
	// OnTicket, when set, receives the step's ticket once it runs (with a
	// reattach window): what another controller process needs to attach
	// to it (Attach).
	OnTicket func(Ticket)
	// ReattachWindow, when above zero, arms the dead man's switch: if this
	// controller is silent that long, the worker removes the step itself.
	ReattachWindow time.Duration
	// Slots, when above zero, is how many steps may run on the worker at
	// once, counted on the worker itself (flock) so that it holds across
	// controllers.
	Slots int
	// FailOnErrorOutput fails a script that exits 0 after writing to
	// stderr (Octopus.Action.FailScriptOnErrorOutput).
	FailOnErrorOutput bool
	// Proxy is the worker's proxy setting (nil: none configured).
	Proxy *Proxy
	// BundleTrust, when set, lets a cached bundle this controller hashed
	// before be checked by its fingerprint (nil: hashed at every step).
	BundleTrust *BundleTrust
	// Runners, when set, has the runners for other worker architectures:
	// a worker whose `uname -m` differs from the bundle given to Run gets
	// the bundle of its own (and BundleTrust remembers its architecture).
	Runners *bundle.Runners
}

// Output is where a step's output goes.
type Output struct {
	Stdout, Stderr io.Writer
	// Verbose shows lines the script printed at the verbose level.
	Verbose bool
	// Progress receives pull and build output; nil means Stderr.
	Progress io.Writer
}

// Result is what became of a step that cuttle managed to run.
type Result struct {
	ID      string
	WorkDir string
	// Image is the image the step ran in (for builds, the build's tag).
	Image    string
	ExitCode int
	Started  time.Time
	Duration time.Duration
	// CleanupErr lists what could not be removed afterwards; the step's
	// own result stands.
	CleanupErr error
	// OutputVariables are what the script set, in the order first set.
	OutputVariables map[string]OutputVariable
	OutputOrder     []string
	Artifacts       []Artifact
	// ResultMessage is what fail_step said.
	ResultMessage string
	// Reported is what else the script reported (environment state,
	// manifests, targets).
	Reported Reported
}

// ScriptName is the script's file name in the work directory.
const ScriptName = "script.sh"

var ticketCounter atomic.Int64

// cleanupTimeout bounds the cleanup that runs after a step, even one that
// was cancelled.
const cleanupTimeout = 60 * time.Second

// Run runs st on the worker behind sh. It returns a *StepError when cuttle
// could not run the step, ctx's cause when ctx ended first, and otherwise
// a Result whose ExitCode is the script's. Cleanup always runs.
func Run(ctx context.Context, sh Shell, b bundle.Bundle, st Step, out Output) (res Result, err error) {
	log := zerolog.Ctx(ctx).With().Str("worker", sh.String()).Str("step", st.Name).Logger()
	switch {
	case st.Build != nil && (len(st.Build.Dockerfile) == 0) == (st.Build.GitURL == ""):
		return res, stepErr(sh.String(), ReasonInput, "a build needs either a Dockerfile or a Git URL")
	case st.Build != nil && st.Build.GitURL == "":
		st.Image = buildTag(*st.Build, "", b.Arch)
	case st.Build == nil:
		if err := ValidateImage(st.Image); err != nil {
			return res, &StepError{Worker: sh.String(), Reason: ReasonInput, Err: err}
		}
	}
	if st.Syntax != "bash" && st.Syntax != "sh" {
		return res, stepErr(sh.String(), ReasonInput, "script syntax %q: want bash or sh", st.Syntax)
	}
	if st.Masks == nil {
		st.Masks = mask.NewSet()
	}
	maskFeed(st.Masks, st.Feed)
	// Refused options stop the step before anything reaches the worker;
	// the paths cuttle mounts itself are checked once they are known.
	if err := ValidateOptions(st.ContainerOptions, st.OptionsPolicy()); err != nil {
		return res, &StepError{Worker: sh.String(), Reason: ReasonInput, Err: err}
	}
	var logKey []byte
	if st.External == nil && st.ReattachWindow > 0 {
		// The runner keeps the output on the worker, under this key, for
		// reattaching after a lost link.
		logKey = make([]byte, wire.LogKeySize)
		if _, err := rand.Read(logKey); err != nil {
			return res, err
		}
	}
	payload, err := json.Marshal(wire.Payload{Variables: st.Variables, LogKey: logKey, Script: st.Script,
		FailOnErrorOutput: st.FailOnErrorOutput, Proxy: st.Proxy.payloadProxy()})
	if err != nil {
		return res, stepErr(sh.String(), ReasonInput, "variables: %w", err)
	}
	res.Started = time.Now()
	sessions0, sftp0 := exchanges(sh)
	prefix, err := stepIDPrefix(res.Started)
	if err != nil {
		return res, stepErr(sh.String(), ReasonWorkspace, "a random step id: %w", err)
	}
	askImage := ""
	if st.Pull != PullAlways || (st.Build != nil && st.Build.GitURL == "") {
		askImage = st.Image
	}
	extDigest := ""
	if st.External != nil {
		if err := st.External.Prepare(); err != nil {
			return res, stepErr(sh.String(), ReasonInput, "%w", err)
		}
		extDigest = st.External.Digest
	}
	proc := newOutputProcessor(st.Masks, out, log)
	stdout, stderr, flush := proc.writers()
	dockerTail := &tailBuffer{max: 4096}
	// The processor's stderr takes the script's stderr and, with a log
	// key, the docker client's own messages too: from two sessions.
	stderr = &lockedWriter{w: stderr}
	att := &attachment{}
	att.stdout.w, att.stderr.w = stdout, io.MultiWriter(stderr, dockerTail)
	// What the docker client itself prints. With a log key the script's
	// output comes from the logs through a follower (docker attaches stdin
	// only), so this is docker's own; without one it is the script's too.
	var dockerOut, dockerErr io.Writer = &att.stdout, &att.stderr
	if logKey != nil {
		dockerOut, dockerErr = io.Discard, io.MultiWriter(stderr, dockerTail)
	}
	var following *follower

	var plan runPlan
	var facts Facts
	b = st.runnerFor(sh.String(), st.BundleTrust.arch(sh.String()), b)
	bref := bundleRef{Digest: b.Digest, Sums: b.Sums, Known: st.BundleTrust.known(sh.String(), b.Digest)}
	setPlan := func(f Facts) {
		facts = f
		st.BundleTrust.remember(sh.String(), b.Digest, f.BundleFingerprint)
		res.ID, res.WorkDir = facts.Ticket, facts.WorkDir()
		log = log.With().Str("container", ContainerName(res.ID)).Logger()
		plan = runPlan{
			StepID: res.ID, Started: res.Started.UTC().Format(time.RFC3339), Home: facts.Home,
			WorkDir: res.WorkDir, BundleDir: facts.BundleDir(b.Digest), Image: st.Image,
			NoPull: supportsPullFlag(facts.DockerClient), Script: ScriptName, Syntax: st.Syntax,
			OwnerUID: facts.UID, OwnerGID: facts.GID, Options: st.ContainerOptions,
			LogOnly: logKey != nil, EngineWait: st.ReattachWindow,
		}
		if st.Slots > 0 && facts.HasFlock {
			plan.SlotDir, plan.Slots = facts.Home+"/.cuttle/locks", st.Slots
		}
	}
	var runStarted, launched bool
	// afterRun is sh with a session opened while the step runs, for the
	// command that cleans up after it.
	var afterRun *prepared
	// finished: cleanup already ran, in the command that collected the
	// artifacts; started is what it said of the container.
	var finished, started bool
	stopHeartbeat := func() {}
	defer func() {
		stopHeartbeat()
		if plan.StepID == "" {
			return // the preflight failed: nothing was created
		}
		cleanSh := Shell(sh)
		if afterRun != nil {
			cleanSh = afterRun
			defer afterRun.release()
		}
		if !finished {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
			defer cancel()
			// Whether the container ever started matters only to tell
			// docker's own 125-127 from the script's.
			probe := runStarted && err == nil && res.ExitCode >= 125 && res.ExitCode <= 127
			started, res.CleanupErr = cleanup(cctx, cleanSh, plan, runStarted && err != nil, st.KeepWorkspace, probe)
		}
		switch {
		case err != nil || !runStarted:
		case !started && res.ExitCode >= 125 && res.ExitCode <= 127:
			// docker's own failure: the container never ran the runner.
			err = stepErr(sh.String(), ReasonDocker, "docker run failed (exit %d): %s", res.ExitCode, lastLine(dockerTail.String()))
		case res.ExitCode == wire.ExitCodeNoShell && strings.Contains(dockerTail.String(), wire.RunnerErrorPrefix):
			// The runner itself could not run the script.
			_, msg, _ := strings.Cut(dockerTail.String(), wire.RunnerErrorPrefix)
			err = stepErr(sh.String(), ReasonImage, "image %s: %s", st.Image, strings.TrimSpace(strings.SplitN(msg, "\n", 2)[0]))
		}
		res.Duration = time.Since(res.Started)
		sessions, sftp := exchanges(sh)
		// On a connection shared with concurrent steps these include theirs.
		log.Debug().Int64("sessions", sessions-sessions0).Int64("sftp_calls", sftp-sftp0).Dur("duration", res.Duration).Msg("step finished")
	}()

	// startFollowing starts the output follower as the step starts (with
	// a log key), and hands out the step's ticket for cuttle attach.
	startFollowing := func() {
		if logKey == nil {
			return
		}
		following = startFollower(ctx, sh, plan, logKey, att)
		if st.OnTicket != nil {
			st.OnTicket(ticketFor(st, plan, logKey, res.Started))
		}
	}
	ticket := int(ticketCounter.Add(1))
	if fastPathOK(st) {
		var launchErr error
		ls := &launchStreams{stdout: dockerOut, stderr: dockerErr, onLaunch: func(b []byte) {
			f, err := readFacts(sh, b, nil, nil)
			if err != nil {
				launchErr = err
				return
			}
			setPlan(f)
			if st.ReattachWindow > 0 {
				stopHeartbeat = startHeartbeat(ctx, sh, plan, st.ReattachWindow, false, log)
			}
			startFollowing()
			afterRun = prepareNext(sh)
		}}
		runStarted = true
		err = sh.Run(ctx, &transport.Cmd{
			Args:  preflightArgs(prefix, ticket, bref, askImage, extDigest, launchTemplate(st, b.Digest, res.Started.UTC().Format(time.RFC3339), logKey != nil)),
			Stdin: bytes.NewReader(payload), Stdout: ls, Stderr: ls.stderrWriter(),
		})
		launched = ls.launched
		if launchErr != nil {
			return res, launchErr
		}
		if !launched {
			runStarted = false
			f, ferr := readFacts(sh, ls.facts.Bytes(), ls.errPre.Bytes(), err)
			if ferr != nil {
				return res, ferr
			}
			log.Debug().Str("why", printable.String(parseKV(ls.facts.Bytes())["launch"])).Msg("fast path not taken")
			setPlan(f)
		}
	} else {
		f, ferr := preflight(ctx, sh, prefix, ticket, bref, askImage, extDigest)
		if ferr != nil {
			return res, ferr
		}
		setPlan(f)
	}
	if !launched {
		// The full path: everything the fast path found in place, done here.
		if strings.ContainsAny(facts.Home, ":,") {
			return res, stepErr(sh.String(), ReasonWorkspace, "home directory %q contains ':' or ',', which docker's -v cannot mount", facts.Home)
		}
		if err := ValidateOptions(st.ContainerOptions, st.OptionsPolicy(plan.WorkDir, plan.BundleDir)); err != nil {
			return res, &StepError{Worker: sh.String(), Reason: ReasonInput, Err: err}
		}
		if got := wire.ArchOf(facts.Arch); got != b.Arch {
			if st.Runners == nil {
				return res, stepErr(sh.String(), ReasonRunner, "worker is linux/%s but the step runner is linux/%s: set CUTTLE_RUNNER to a linux/%s build of cuttle (GOARCH=%s make build)", got, b.Arch, got, got)
			}
			if b, err = switchRunner(ctx, sh, &st, got, &facts); err != nil {
				return res, err
			}
			plan.BundleDir = facts.BundleDir(b.Digest)
		}
		st.BundleTrust.rememberArch(sh.String(), b.Arch)
		if err := readyBundle(ctx, sh, b, facts, st.BundleTrust, log); err != nil {
			return res, err
		}
		if st.ReattachWindow > 0 {
			// From here on the step has a heartbeat: gc keeps it while it
			// pulls or builds, and the worker removes it if this controller
			// vanishes.
			stopHeartbeat = startHeartbeat(ctx, sh, plan, st.ReattachWindow, false, log)
		}
		if st.External != nil {
			// Calamari reads the script from the work directory; cuttle's own
			// runner gets it in the payload, which costs no round trip.
			if err := sh.Upload(ctx, res.WorkDir+"/"+ScriptName, bytes.NewReader(st.Script), 0o644); err != nil {
				return res, uploadFailed(ctx, sh, res.WorkDir, int64(len(st.Script)), "the script", err)
			}
		}
		progress := out.Progress
		if progress == nil {
			progress = out.Stderr
		}
		if err := ensureImage(ctx, sh, &st, facts, progress); err != nil {
			return res, err
		}
		plan.Image, res.Image = st.Image, st.Image
		log = log.With().Str("image", st.Image).Logger()

		var stdin io.Reader = bytes.NewReader(payload)
		if st.External != nil {
			if err := prepareExternal(ctx, sh, &st, facts, &plan); err != nil {
				return res, err
			}
			stdin = nil
		}

		runStarted = true
		startFollowing()
		afterRun = prepareNext(sh)
		runArgs := dockerRunArgs(plan)
		if plan.Slots > 0 {
			runArgs = recorded(recordPath(plan.Home, plan.StepID), map[string]any{"locks": plan.SlotDir + "/slot-*", "shared": true}, runArgs)
		}
		err = sh.Run(ctx, &transport.Cmd{
			Args:   runArgs,
			Stdin:  stdin,
			Stdout: dockerOut,
			Stderr: dockerErr,
		})
	} else {
		res.Image = st.Image
		log = log.With().Str("image", st.Image).Logger()
	}
	if following != nil {
		// The output is whole once the follower has sent everything up
		// to the runner's exit file.
		ferr := following.wait()
		code, ended := following.exitCode()
		var ee *transport.ExitError
		switch {
		case ferr == nil && ended && err != nil && !errors.Is(err, transport.ErrConnectionLost) && ctx.Err() == nil:
			// The runner recorded the script's end, so its exit code
			// stands, whatever docker run's client said: it loses its
			// engine when dockerd restarts with live-restore, while the
			// container goes on.
			if !errors.As(err, &ee) || ee.Code != code {
				log.Warn().Err(err).Int("exit_code", code).Msg("docker run's client failed while the step ran on (was the Docker engine restarted?); the exit code is the one the step's runner recorded")
			}
			err = exitErrorOf(code)
		case err == nil && ferr != nil && !errors.Is(ferr, transport.ErrConnectionLost) && ctx.Err() == nil:
			err = followErr(sh, plan, ferr)
		case err != nil && errors.As(ferr, &ee) && ee.Code == wire.FollowEngineAway && ctx.Err() == nil:
			err = followErr(sh, plan, ferr) // it says more than docker run's "unexpected EOF"
		case err == nil && errors.Is(ferr, transport.ErrConnectionLost):
			err = ferr // the step's end was not seen whole: reattach
		}
	}
	if err != nil && logKey != nil && ctx.Err() == nil && errors.Is(err, transport.ErrConnectionLost) {
		err = reattach(ctx, sh, plan, logKey, att, st.ReattachWindow, func() {
			stopHeartbeat()
			stopHeartbeat = startHeartbeat(ctx, sh, plan, st.ReattachWindow, true, log)
		}, log)
	}
	flush()
	reported := proc.results()
	res.OutputVariables, res.OutputOrder, res.ResultMessage, res.Reported = reported.vars, reported.order, reported.result, reported.reported
	var ee *transport.ExitError
	var se *StepError
	switch {
	case err == nil:
		res.ExitCode = 0
	case ctx.Err() != nil:
		return res, context.Cause(ctx)
	case errors.As(err, &se):
		return res, err
	case errors.As(err, &ee) && ee.Signal == "":
		res.ExitCode = ee.Code
		err = nil
	default:
		return res, stepErr(sh.String(), ReasonDocker, "docker run: %w", err)
	}
	if res.ResultMessage != "" && res.ExitCode != 0 {
		log.Error().Int("exit_code", res.ExitCode).Msg(printable.String(st.Masks.Mask(res.ResultMessage)))
	}
	if reqs := reported.artifacts; len(reqs) > 0 {
		stopHeartbeat()
		stopHeartbeat = func() {}
		var aerr error
		var fsh Shell = sh
		if afterRun != nil {
			fsh = afterRun
		}
		res.Artifacts, res.CleanupErr, aerr = finish(ctx, fsh, plan, reqs, st.ArtifactsDir, st.KeepWorkspace, log)
		// The script asked for artifacts: the container ran it.
		finished, started = true, true
		if aerr != nil {
			if ctx.Err() != nil {
				return res, context.Cause(ctx)
			}
			return res, stepErr(sh.String(), ReasonWorkspace, "collecting artifacts: %w", aerr)
		}
	}
	return res, nil
}

// ensureImage pulls or builds the step's image as its policy says, and
// sets st.Image to what docker run must use.
func ensureImage(ctx context.Context, sh Shell, st *Step, facts Facts, progress io.Writer) error {
	if facts.ImagePlatform != "" && facts.ImagePlatform != "linux/"+wire.ArchOf(facts.Arch) {
		return stepErr(sh.String(), ReasonImage, "image %s is %s but the worker is linux/%s: use an image built for the worker's platform (or a multi-platform tag)", st.Image, facts.ImagePlatform, wire.ArchOf(facts.Arch))
	}
	if st.Build != nil {
		if facts.ImageID != "" {
			zerolog.Ctx(ctx).Info().Str("image", st.Image).Msg("image built earlier on this worker: reusing it")
			return nil
		}
		commit := ""
		if st.Build.GitURL != "" {
			var err error
			if commit, err = resolveGitCommit(ctx, sh, st.Build.GitURL); err != nil {
				return err
			}
			st.Image = buildTag(*st.Build, commit, wire.ArchOf(facts.Arch))
		}
		return buildImage(ctx, sh, facts, *st.Build, st.Image, commit, st.Feed, progress)
	}
	switch {
	case st.Pull == PullNever && facts.ImageID == "":
		return stepErr(sh.String(), ReasonImage, "image %s is not on the worker and --pull never forbids pulling it: pull it there first (cuttle images pull) or use --pull missing", st.Image)
	case st.Pull != PullAlways && facts.ImageID != "" && st.Feed != nil && st.Feed.Username != "":
		// Present, but maybe pulled with someone else's credentials.
		return verifyAccess(ctx, sh, configDir(facts.Home, facts.Ticket), st.Image, st.Feed)
	case st.Pull != PullAlways && facts.ImageID != "":
		return nil
	}
	if err := pullImage(ctx, sh, configDir(facts.Home, facts.Ticket), st.Image, st.Feed, progress); err != nil {
		return err
	}
	// The platform of what was just pulled: an arm64-only tag on an
	// amd64 worker is named here, not as an "exec format error" later.
	var out bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"docker", "image", "inspect", "--format", "{{.Os}}/{{.Architecture}}", "--", st.Image}, Stdout: &out}); err == nil {
		if got, want := strings.TrimSpace(out.String()), "linux/"+wire.ArchOf(facts.Arch); got != want {
			return stepErr(sh.String(), ReasonImage, "image %s is %s but the worker is %s: use an image built for the worker's platform (or a multi-platform tag)", st.Image, got, want)
		}
	}
	return nil
}

// prepareExternal readies an external runner: its bundle, a glibc check
// of the image (Calamari is a glibc program) and the encrypted variables.
func prepareExternal(ctx context.Context, sh Shell, st *Step, facts Facts, plan *runPlan) error {
	e := st.External
	if !facts.ExternalBundlePresent {
		if _, err := uploadExternal(ctx, sh, e, facts); err != nil {
			return err
		}
	}
	var libc bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: detectLibcArgs(*plan), Stdout: &libc}); err != nil {
		return stepErr(sh.String(), ReasonImage, "probing image %s for its C library: %v", st.Image, err)
	}
	if got := strings.TrimSpace(libc.String()); got != "glibc" {
		what := "musl"
		if got != "musl" {
			what = "no C library"
		}
		return stepErr(sh.String(), ReasonImage, "image %s has %s, but the external runner (Calamari) needs glibc: use a glibc-based image (Debian, Ubuntu), or drop the external runner: cuttle's own runner is static and needs nothing from the image", st.Image, what)
	}
	password := octopus.RandomPassword()
	st.Masks.Add(password)
	enc, err := octopus.EncryptCalamariVariables(st.Variables, password)
	if err != nil {
		return stepErr(sh.String(), ReasonInput, "encrypting variables: %w", err)
	}
	varsFile := facts.WorkDir() + "/variables.json.enc"
	if err := sh.Upload(ctx, varsFile, bytes.NewReader(enc), 0o644); err != nil {
		return stepErr(sh.String(), ReasonWorkspace, "uploading variables: %w", err)
	}
	plan.ExternalDir = facts.BundleDir(e.Digest)
	plan.Command, err = externalCommand(e.Command, map[string]string{
		"bundle": plan.ExternalDir, "workdir": facts.WorkDir(), "script": facts.WorkDir() + "/" + ScriptName,
		"variables": varsFile, "password": password,
	})
	if err != nil {
		return stepErr(sh.String(), ReasonInput, "runner command: %w", err)
	}
	return nil
}

// exchanges reads a connection's counters when it keeps them.
func exchanges(sh Shell) (sessions, sftpCalls int64) {
	if c, ok := sh.(interface{ Exchanges() (int64, int64) }); ok {
		return c.Exchanges()
	}
	return 0, 0
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return "no message"
	}
	return s
}

// runnerFor is the bundle for a worker whose architecture this controller
// recorded (arch), when Runners has it; else b.
func (st *Step) runnerFor(worker, arch string, b bundle.Bundle) bundle.Bundle {
	if st.Runners == nil || arch == "" || arch == b.Arch {
		return b
	}
	if nb, err := st.Runners.For(arch); err == nil {
		return nb
	}
	return b
}
