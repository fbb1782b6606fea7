package remote

import (
	_ "embed"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/wire"
)

// Labels put on everything cuttle creates, so gc can find it.
const (
	LabelStep    = "io.cuttle.step"
	LabelStarted = "io.cuttle.started"
	// LabelHome is the SSH user's home: gc run as one user leaves other
	// users' steps alone on a shared engine.
	LabelHome = "io.cuttle.home"
)

// PullPolicy says when the image is pulled before a step.
type PullPolicy string

// The pull policies.
const (
	PullAlways  PullPolicy = "always"
	PullMissing PullPolicy = "missing"
	PullNever   PullPolicy = "never"
)

// ParsePullPolicy reads a --pull value; "" picks the default for image:
// always for tags, missing for digests (a digest cannot change).
func ParsePullPolicy(s, image string) (PullPolicy, error) {
	switch PullPolicy(s) {
	case PullAlways, PullMissing, PullNever:
		return PullPolicy(s), nil
	case "":
		if strings.Contains(image, "@sha256:") {
			return PullMissing, nil
		}
		return PullAlways, nil
	}
	return "", fmt.Errorf("pull policy %q: want always, missing or never", s)
}

// imageRef is deliberately narrower than Docker's grammar: it must not
// start with '-' (it would be read as an option) and holds no spaces or
// shell metacharacters, although quoting would make those harmless too.
var imageRef = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._/:@-]*$`)

// ValidateImage checks an image reference before it reaches the worker.
func ValidateImage(image string) error {
	if image == "" {
		return fmt.Errorf("no image: give --image NAME[:TAG] (or a runbook step's container.image)")
	}
	if !imageRef.MatchString(image) || len(image) > 512 {
		return fmt.Errorf("image %q is not a valid image reference (want [registry/]name[:tag][@sha256:digest])", image)
	}
	return nil
}

// ContainerName is the name of a step's container.
func ContainerName(stepID string) string { return "cuttle-" + stepID }

// runPlan is everything docker run needs; dockerRunArgs turns it into argv.
type runPlan struct {
	StepID    string
	Started   string // RFC 3339, UTC
	Home      string
	WorkDir   string
	BundleDir string
	Image     string
	// NoPull adds --pull never: cuttle has already applied the policy.
	NoPull   bool
	Script   string
	Syntax   string
	OwnerUID int
	OwnerGID int
	// Options are the user's extra options, validated.
	Options []string
	// Slots > 0 runs the container only while holding one of Slots locks
	// under SlotDir on the worker.
	SlotDir string
	Slots   int
	// LogOnly attaches stdin alone: the runner writes the output to its
	// logs, which the controller follows.
	LogOnly bool
	// EngineWait is how long the output follower waits for a Docker
	// engine that stopped answering (the reattach window).
	EngineWait time.Duration
	// Command, when set, replaces cuttle's runner (an external runner
	// such as Calamari, whose bundle is mounted from ExternalDir).
	Command     []string
	ExternalDir string
	// Removed: docker run --rm (autoRemove) removed the container as the
	// step ended, so the cleanup need not.
	Removed bool
}

// autoRemove reports whether docker run removes p's container itself
// (--rm): cuttle's own runner with its output in logs, and no user
// options, which could conflict (--restart) or need the container after.
func autoRemove(p runPlan) bool { return p.LogOnly && len(p.Command) == 0 && len(p.Options) == 0 }

// slotScript runs its arguments while holding one of $2 slot locks in $1,
// waiting for a free one. flock releases the slot when the command ends,
// even if the controller dies.
//
//go:embed scripts/slot.sh
var slotScript string

// dockerRunArgs builds the docker run argv. It is pure, and golden-tested.
func dockerRunArgs(p runPlan) []string {
	args := []string{"docker", "run"}
	if len(p.Command) == 0 {
		args = append(args, "-i") // the runner's variables come on stdin
		if p.LogOnly {
			args = append(args, "-a", "stdin")
		}
	}
	args = append(args,
		"--name", ContainerName(p.StepID),
		"--label", LabelStep+"="+p.StepID,
		"--label", LabelStarted+"="+p.Started,
		"--label", LabelHome+"="+p.Home,
		// Output reaches cuttle through the attach; a log file would keep
		// unmasked secrets on the worker's disk.
		"--log-driver", "none",
		// A lost link kills the docker client; the step must go on (a
		// controller reattaches), so the client's signals stay its own.
		"--sig-proxy=false",
		"--entrypoint", "",
		"-v", p.WorkDir+":"+p.WorkDir,
		"-v", p.BundleDir+":"+p.BundleDir+":ro",
		"-w", p.WorkDir,
	)
	if p.ExternalDir != "" {
		args = append(args, "-v", p.ExternalDir+":"+p.ExternalDir+":ro")
	}
	if p.NoPull {
		args = append(args, "--pull", "never")
	}
	if autoRemove(p) {
		// The cleanup still removes it when the step was interrupted.
		args = append(args, "--rm")
	}
	args = append(args, p.Options...)
	args = append(args, "--", p.Image)
	if len(p.Command) > 0 {
		args = append(args, p.Command...)
	} else {
		args = append(args, runnerArgs(p)...)
	}
	if p.Slots > 0 {
		args = append([]string{"sh", "-c", slotScript, "sh", p.SlotDir, strconv.Itoa(p.Slots)}, args...)
	}
	return args
}

func runnerArgs(p runPlan) []string {
	return []string{
		p.BundleDir + "/" + bundle.RunnerFile, "step-runner", "run",
		"--workdir", p.WorkDir,
		"--script", p.Script,
		"--syntax", p.Syntax,
		"--owner", strconv.Itoa(p.OwnerUID) + ":" + strconv.Itoa(p.OwnerGID),
	}
}

// dockerPullArgs pulls image.
func dockerPullArgs(image string) []string { return []string{"docker", "pull", "--", image} }

// removeTreeArgs empties a work directory as root inside a throwaway
// container, for files the step left that the SSH user cannot remove.
func removeTreeArgs(p runPlan) []string {
	args := []string{"docker", "run", "--rm", "--user", "0:0", "--network", "none",
		"--label", LabelStep + "=" + p.StepID,
		"--entrypoint", "",
		"-v", p.WorkDir + ":" + p.WorkDir,
		"-v", p.BundleDir + ":" + p.BundleDir + ":ro",
	}
	if p.NoPull {
		args = append(args, "--pull", "never")
	}
	return append(args, "--", p.Image,
		p.BundleDir+"/"+bundle.RunnerFile, "step-runner", "remove-contents", p.WorkDir)
}

// supportsPullFlag reports whether a docker client version knows
// `docker run --pull` (added in 20.10).
func supportsPullFlag(clientVersion string) bool { return wire.SupportsPullFlag(clientVersion) }
