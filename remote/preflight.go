package remote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/cuttle-sh/cuttle/transport"
)

// preflightScript checks docker, reports facts about the worker, checks
// the cached bundle and creates a fresh work directory, all in one round
// trip. It is POSIX sh. $1 ticket prefix, $2 first counter value, $3
// bundle digest, $4 image or "", $5 external bundle digest or "", $6 the
// bundle's sums, $7 its fingerprint known to this controller or "", then
// optionally "launch" and a docker run template.
const preflightScript = bundleCheckFunc + `set -u
umask 077
d=$(command -v docker) || { echo "error=docker-missing"; exit 3; }
[ -n "${HOME:-}" ] && [ -d "$HOME" ] && [ -w "$HOME" ] || { echo "error=home"; exit 3; }
echo "home=$HOME"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "arch=$(uname -m)"
c=$HOME/.cuttle
mkdir -p "$c/work" "$c/bundles" "$c/runs" "$c/cfg" || { echo "error=mkdir"; exit 4; }
# Nothing of the bundle runs before it is checked. The same stat tells
# whether ~/.cuttle and its directories are still private to this user
# (an older cuttle or the user may have opened them).
bundle_check "$c/bundles/$3" "$6" "$7" "$c" "$c/work" "$c/bundles" "$c/runs" "$c/cfg"
[ -n "$private" ] || chmod 700 "$c" "$c/work" "$c/bundles" "$c/runs" "$c/cfg" || { echo "error=mkdir"; exit 4; }
echo "bundle=$bundle"
# An image found means an engine that answers: the docker client's version
# then comes from the last preflight that asked, unless the client changed
# since: its path, inode, size or times (docker version costs a client
# start and an engine round trip).
# On the fast path with the client's version known that way, the runner
# asks the engine about the image itself, over its socket (ask=runner):
# no client start at all before docker run.
img= v= ask= k="$d $(stat -L -c '%i %s %Y %Z' "$d" 2>/dev/null)"
if [ -n "$4" ] && [ "${8:-}" = launch ] && [ "$bundle" = present ] && [ -f "$c/docker-version" ] &&
  { IFS= read -r ck && IFS= read -r v; } < "$c/docker-version" && [ "$ck" = "$k" ] && [ -n "$v" ]; then
  ask=runner
elif [ -n "$4" ]; then
  v=
  if img=$(docker image inspect --format '{{.Id}} {{.Os}}/{{.Architecture}}' "$4" 2>/dev/null); then
    { [ -f "$c/docker-version" ] && { IFS= read -r ck && IFS= read -r v; } < "$c/docker-version" && [ "$ck" = "$k" ]; } || v=
  else img=; fi
else v=; fi
if [ -z "$v" ]; then
  if ! v=$(docker version --format '{{.Client.Version}} {{.Server.Version}}' 2>&1); then
    echo "error=docker-engine"; printf '%s\n' "$v" | tail -n 5 >&2; exit 3
  fi
  { printf '%s\n%s\n' "$k" "$v" > "$c/docker-version.$$" && mv -f "$c/docker-version.$$" "$c/docker-version"; } 2>/dev/null || :
fi
echo "docker=$v"
if [ -n "$4" ] && [ -z "$ask" ]; then echo "image=$img"; fi
# The per-run record claims the step id (noclobber) and lists what the step
# will create before anything is created; cleanup and gc remove exactly that.
n=$2
while ! (set -C; : > "$HOME/.cuttle/runs/$1-$n.json") 2>/dev/null; do
  [ -e "$HOME/.cuttle/runs/$1-$n.json" ] || { echo "error=mkdir"; exit 4; }
  n=$((n + 1))
done
id=$1-$n
w=$HOME/.cuttle/work/$id
printf '{"step":"%s","workdir":"%s","container":"cuttle-%s","docker_config":"%s","started":%s}\n' "$id" "$w" "$id" "$HOME/.cuttle/cfg/$id" "$(date +%s)" > "$HOME/.cuttle/runs/$id.json"
if ! mkdir "$w" 2>/dev/null; then rm -f "$HOME/.cuttle/runs/$id.json"; echo "error=mkdir"; exit 4; fi
# The work directory's parents are private to this user; the directory
# itself is open so that an image's non-root USER can work in it.
chmod 777 "$w"
echo "ticket=$id"
if [ -n "${5:-}" ] && [ -f "$HOME/.cuttle/bundles/$5/.complete" ]; then echo "ext_bundle=present"; fi
if command -v flock >/dev/null 2>&1; then echo "flock=yes"; mkdir -p "$HOME/.cuttle/locks"; fi
# The fast path ($8 = launch, the docker run template after it): with the
# bundle and the image in place the same command starts the step; the
# payload is already waiting on stdin.
if [ "${8:-}" = launch ] && [ "$bundle" = present ] && { [ -n "$ask" ] || [ -n "$img" ]; }; then
  d=$3 i=$4; shift 8
  if [ -n "$ask" ]; then set -- --inspect "$i" -- "$@"; else set -- --image-platform "${img#* }" -- "$@"; fi
  exec "$HOME/.cuttle/bundles/$d/cuttle" step-runner launch --home "$HOME" --id "$id" --uid "$(id -u)" --gid "$(id -g)" \
    --arch "$(uname -m)" --docker-client "${v%% *}" "$@"
fi
`

// Facts is what the preflight learnt about the worker.
type Facts struct {
	Home         string
	UID, GID     int
	Arch         string // uname -m
	DockerClient string
	DockerServer string
	Ticket       string // the step id; the work dir is Home/.cuttle/work/Ticket
	// BundlePresent: the bundle is cached and passed its check.
	BundlePresent bool
	// BundleState is what the check found: present, absent, tampered or
	// nosha (no sha256sum on the worker).
	BundleState string
	// BundleFingerprint, after a full check, is the bundle's fingerprint
	// for the controller to remember (BundleTrust).
	BundleFingerprint string
	ImageID           string // set when the image was asked about and is present
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

// bundleRef is the bundle a step needs, as the preflight checks it.
type bundleRef struct {
	Digest string
	Sums   string
	// Known is the fingerprint this controller recorded, or "".
	Known string
}

func preflight(ctx context.Context, sh Shell, ticketPrefix string, n int, b bundleRef, image, extDigest string) (Facts, error) {
	var out, errb bytes.Buffer
	err := sh.Run(ctx, &transport.Cmd{
		Args:   preflightArgs(ticketPrefix, n, b, image, extDigest, nil),
		Stdout: &out, Stderr: &errb,
	})
	return readFacts(sh, out.Bytes(), errb.Bytes(), err)
}

// preflightArgs runs preflightScript; a launch template asks for the fast
// path.
func preflightArgs(ticketPrefix string, n int, b bundleRef, image, extDigest string, launch []string) []string {
	args := []string{"sh", "-c", preflightScript, "sh", ticketPrefix, strconv.Itoa(n), b.Digest, image, extDigest, b.Sums, b.Known}
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
	f := Facts{Home: kv["home"], Arch: kv["arch"], Ticket: kv["ticket"], BundlePresent: kv["bundle"] == "present", HasFlock: kv["flock"] == "yes",
		BundleState: kv["bundle"], BundleFingerprint: kv["bundle_fp"]}
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
