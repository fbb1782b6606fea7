package remote

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"strconv"
	"strings"

	"github.com/cuttle-sh/cuttle/transport"
)

// preflightScript checks docker, reports facts about the worker and creates
// a fresh work directory, all in one round trip. It is POSIX sh.
// $1 ticket prefix, $2 first counter value, $3 bundle digest, $4 image or "".
//
//go:embed scripts/preflight.sh
var preflightScript string

// Facts is what the preflight learnt about the worker.
type Facts struct {
	Home          string
	UID, GID      int
	Arch          string // uname -m
	DockerClient  string
	DockerServer  string
	Ticket        string // the step id; the work dir is Home/.cuttle/work/Ticket
	BundlePresent bool
	ImageID       string // set when the image was asked about and is present
	// ImagePlatform is the present image's os/arch.
	ImagePlatform string
	HasFlock      bool
	// ExternalBundlePresent: the external runner's bundle is cached.
	ExternalBundlePresent bool
}

// WorkDir is the step's work directory.
func (f Facts) WorkDir() string { return f.Home + "/.cuttle/work/" + f.Ticket }

// BundleDir is where the bundle with digest lives.
func (f Facts) BundleDir(digest string) string { return f.Home + "/.cuttle/bundles/" + digest }

func preflight(ctx context.Context, sh Shell, ticketPrefix string, n int, digest, image, extDigest string) (Facts, error) {
	var out, errb bytes.Buffer
	err := sh.Run(ctx, &transport.Cmd{
		Args:   preflightArgs(ticketPrefix, n, digest, image, extDigest, nil),
		Stdout: &out, Stderr: &errb,
	})
	return readFacts(sh, out.Bytes(), errb.Bytes(), err)
}

// preflightArgs runs preflightScript; a launch template asks for the fast
// path.
func preflightArgs(ticketPrefix string, n int, digest, image, extDigest string, launch []string) []string {
	args := []string{"sh", "-c", preflightScript, "sh", ticketPrefix, strconv.Itoa(n), digest, image, extDigest}
	if len(launch) > 0 {
		args = append(append(args, "launch"), launch...)
	}
	return args
}

// readFacts reads the preflight's answer.
func readFacts(sh Shell, out, errb []byte, err error) (Facts, error) {
	kv := parseKV(out)
	if err != nil {
		var ee *transport.ExitError
		if !errors.As(err, &ee) {
			return Facts{}, stepErr(sh.String(), ReasonWorkspace, "preflight: %w", err)
		}
		return Facts{}, explainPreflight(sh.String(), kv["error"], strings.TrimSpace(string(errb)), ee)
	}
	f := Facts{Home: kv["home"], Arch: kv["arch"], Ticket: kv["ticket"], BundlePresent: kv["bundle"] == "present", HasFlock: kv["flock"] == "yes"}
	f.ImageID, f.ImagePlatform, _ = strings.Cut(kv["image"], " ")
	f.ExternalBundlePresent = kv["ext_bundle"] == "present"
	f.UID, _ = strconv.Atoi(kv["uid"])
	f.GID, _ = strconv.Atoi(kv["gid"])
	f.DockerClient, f.DockerServer, _ = strings.Cut(kv["docker"], " ")
	if f.Home == "" || f.Ticket == "" || !strings.HasPrefix(f.Home, "/") {
		return Facts{}, stepErr(sh.String(), ReasonWorkspace, "preflight gave no usable home or work directory (is the login shell POSIX-compatible?); output: %q", truncate(string(out), 200))
	}
	return f, nil
}

func explainPreflight(worker, code, stderr string, ee *transport.ExitError) error {
	switch {
	case code == "docker-missing":
		return stepErr(worker, ReasonDocker, "docker is not installed (no docker on the SSH user's PATH): install it (Debian: apt-get install docker.io) or add its directory to PATH in the user's ~/.profile")
	case code == "docker-engine" && strings.Contains(stderr, "permission denied"):
		return stepErr(worker, ReasonDocker, "the SSH user may not use the Docker engine (permission denied on the docker socket): add the user to the docker group (usermod -aG docker USER) and reconnect")
	case code == "docker-engine":
		return stepErr(worker, ReasonDocker, "the Docker engine does not answer: start it (systemctl start docker); docker said: %s", truncate(stderr, 300))
	case code == "home":
		return stepErr(worker, ReasonWorkspace, "the SSH user has no writable home directory ($HOME): cuttle keeps its work directories under ~/.cuttle")
	case code == "mkdir":
		return stepErr(worker, ReasonWorkspace, "could not create a work directory under ~/.cuttle/work (disk full or permissions?): %s", truncate(stderr, 300))
	default:
		return stepErr(worker, ReasonWorkspace, "preflight failed (%v); is the login shell POSIX-compatible? stderr: %s", ee, truncate(stderr, 300))
	}
}

func parseKV(b []byte) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	return kv
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
