package remote

import (
	"bytes"
	"context"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/internal/mask"
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
	// External, when set, runs the step with the user's runner
	// (Calamari) instead of cuttle's own.
	External *ExternalRunner
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
	// Packages are placed in the work directory before the step runs;
	// PackageCacheMax caps the worker's package cache (0: no cap).
	Packages        []Package
	PackageCacheMax int64
	// SubstituteInFiles are patterns (relative to the work directory) of
	// files evaluated as templates once the packages are placed.
	SubstituteInFiles []string
}

// Output is where a step's output goes.
type Output struct {
	Stdout, Stderr io.Writer
	// Masks holds the values to hide in all output: the run's, shared by
	// its steps (nil: a set of the step's own). The step adds to it (its
	// feed's password) and so does the script (sensitive output
	// variables, mask messages): it belongs to the run, not the plan.
	Masks *mask.Set
	// Verbose shows lines the script printed at the verbose level.
	Verbose bool
	// Progress receives pull and build output; nil means Stderr.
	Progress io.Writer
	// OnTicket, when set, receives the step's ticket once it runs (with a
	// reattach window): what another controller process needs to attach
	// to it (Controller.Resume). It is the run's, not the plan's: a Step
	// holds no callbacks.
	OnTicket func(Ticket)
	// Live passes on partial lines as they come (progress a tool redraws
	// with \r), not at their newline: for a terminal.
	Live bool
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
	// Phases say where Duration went, phase by phase (the Phase*
	// constants), in order; they add up to at most Duration.
	Phases Phases
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
	// Packages says how each of the step's packages reached the worker.
	Packages []PackageResult
}

// ScriptName is the script's file name in the work directory.
const ScriptName = "script.sh"

// cleanupTimeout bounds the cleanup that runs after a step, even one that
// was cancelled.
const cleanupTimeout = 60 * time.Second

// ensureImage pulls or builds the step's image as its policy says, and
// sets st.Image to what docker run must use. It returns the image's USER
// when it learnt it (known): from the preflight for an image that was
// there, from its own inspect after a pull; not after a build.
func ensureImage(ctx context.Context, sh Shell, st *Step, facts Facts, progress io.Writer) (user string, known bool, err error) {
	if err := checkPlatform(ctx, sh, st.Image, facts.ImagePlatform, facts); err != nil {
		return "", false, err
	}
	user, known = settledUser(st, facts)
	if st.Build != nil {
		if facts.ImageID != "" {
			zerolog.Ctx(ctx).Info().Str("image", st.Image).Msg("image built earlier on this worker: reusing it")
			return user, known, nil
		}
		commit := ""
		if st.Build.GitURL != "" {
			var err error
			if commit, err = resolveGitCommit(ctx, sh, st.Build.GitURL); err != nil {
				return "", false, err
			}
			st.Image = buildTag(*st.Build, commit, wire.ArchOf(facts.Arch))
		}
		return "", false, buildImage(ctx, sh, facts, *st.Build, st.Image, commit, st.Feed, progress)
	}
	switch {
	case st.Pull == PullNever && facts.ImageID == "":
		return "", false, stepErr(sh.String(), ReasonImage, "image %s is not on the worker and --pull never forbids pulling it: pull it there first (cuttle images pull) or use --pull missing", st.Image)
	case st.Pull != PullAlways && facts.ImageID != "" && st.Feed != nil && st.Feed.Username != "":
		// Present, but maybe pulled with someone else's credentials.
		return user, known, verifyAccess(ctx, sh, configDir(facts.Home, facts.Ticket), st.Image, st.Feed)
	case st.Pull != PullAlways && facts.ImageID != "":
		return user, known, nil
	}
	if err := pullImage(ctx, sh, configDir(facts.Home, facts.Ticket), st.Image, st.Feed, progress); err != nil {
		return "", false, err
	}
	// The platform of what was just pulled: an arm64-only tag on an
	// amd64 worker is named here, not as an "exec format error" later.
	// The same inspect reads its USER, for the packages.
	var out bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"docker", "image", "inspect", "--format", "{{.Os}}/{{.Architecture}} " + userFormat, "--", st.Image}, Stdout: &out}); err == nil {
		platform, user, _ := strings.Cut(strings.TrimRight(out.String(), "\n"), " ")
		return user, true, checkPlatform(ctx, sh, st.Image, platform, facts)
	}
	return "", false, nil
}

// userFormat is the image's USER in docker image inspect's --format
// (nothing for an image without a config).
const userFormat = "{{with .Config}}{{.User}}{{end}}"

// settledUser is the USER of the image the preflight found, known when
// the preflight read it and that image is the one the step runs
// (ensureImage neither pulls nor builds it again).
func settledUser(st *Step, facts Facts) (string, bool) {
	return facts.ImageUser, facts.ImageUserKnown && facts.ImageID != "" && (st.Build != nil || st.Pull != PullAlways)
}

// prepareExternal readies an external runner: its bundle, a glibc check
// of the image (Calamari is a glibc program) and the encrypted variables.
func prepareExternal(ctx context.Context, sh Shell, st *Step, facts Facts, plan *runPlan, masks *mask.Set) error {
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
	masks.Add(password)
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
func (c *Controller) runnerFor(arch string, b bundle.Bundle) bundle.Bundle {
	if c.Runners == nil || arch == "" || arch == b.Arch {
		return b
	}
	if nb, err := c.Runners.For(arch); err == nil {
		return nb
	}
	return b
}
