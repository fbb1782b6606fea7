package wire

import (
	"fmt"
	"strconv"
	"strings"
)

// Placeholders in a launch template, filled in on the worker by Launch.
const (
	PlaceholderHome = "@@HOME@@"
	PlaceholderID   = "@@ID@@"
	PlaceholderUID  = "@@UID@@"
	PlaceholderGID  = "@@GID@@"
)

// LaunchFacts is what the preflight learnt, handed to Launch.
type LaunchFacts struct {
	Home, ID, UID, GID string
	Arch               string // uname -m
	ImagePlatform      string // os/arch of the present image
	DockerClient       string
}

// LaunchLine starts the step's own output once Launch has decided to run
// it; before it, everything on stdout is the preflight's.
const LaunchLine = "launch=yes"

// FillLaunch checks the facts and fills template's placeholders; a
// non-empty reason says why the step must take the full path instead.
func FillLaunch(f LaunchFacts, template []string) (args []string, reason string) {
	switch {
	case f.ImagePlatform != "linux/"+ArchOf(f.Arch):
		return nil, fmt.Sprintf("image platform %s on linux/%s", f.ImagePlatform, ArchOf(f.Arch))
	case strings.ContainsAny(f.Home, ":,"):
		return nil, "home directory unusable in docker -v"
	case len(template) == 0 || template[0] != "docker":
		return nil, "the template is not a docker command"
	}
	r := strings.NewReplacer(PlaceholderHome, f.Home, PlaceholderID, f.ID, PlaceholderUID, f.UID, PlaceholderGID, f.GID)
	args = make([]string, 0, len(template))
	for i := 0; i < len(template); i++ {
		if template[i] == "--pull" && i+1 < len(template) && !SupportsPullFlag(f.DockerClient) {
			i++ // an old client: cuttle has applied the pull policy itself
			continue
		}
		args = append(args, r.Replace(template[i]))
	}
	return args, ""
}

// SupportsPullFlag reports whether a docker client version knows
// `docker run --pull` (added in 20.10).
func SupportsPullFlag(clientVersion string) bool {
	maj, rest, _ := strings.Cut(clientVersion, ".")
	min, _, _ := strings.Cut(rest, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if err1 != nil || err2 != nil {
		return false
	}
	return a > 20 || (a == 20 && b >= 10)
}

// ArchOf maps `uname -m` output to Go's architecture names.
func ArchOf(unameM string) string {
	switch unameM {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	default:
		return unameM
	}
}
