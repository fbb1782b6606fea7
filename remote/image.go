package remote

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/internal/progress"
	"github.com/cuttle-sh/cuttle/internal/secret"
	"github.com/cuttle-sh/cuttle/transport"
)

// Feed is a registry and the credentials to log in to it.
type Feed struct {
	Registry string
	Username string
	Password secret.Value
}

// Build says how to build the step's image on the worker instead of
// pulling it: an inline Dockerfile, or a Git URL in Docker's
// "repo.git#ref:subdir" form.
type Build struct {
	Dockerfile []byte
	GitURL     string
	Args       []string // KEY=VALUE build arguments
}

// BuildRepo is the repository of images cuttle builds.
const BuildRepo = "cuttle-build"

// exitLoginFailed is what the pull and build scripts exit with when
// docker login fails, to tell it from a failed pull.
const exitLoginFailed = 80

// RegistryOf returns the registry host of an image reference, as docker
// reads it: the first component when it has a '.' or ':' or is localhost.
func RegistryOf(image string) string {
	first, _, found := strings.Cut(image, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return first
	}
	return "docker.io"
}

// loginScript logs in (when $2 is set) into a private DOCKER_CONFIG, $1,
// runs the rest of its arguments with that config, and removes it again,
// whatever the command did: the credentials exist only while the pull or
// build runs, outside every mount. The password comes on stdin only.
// $1 config dir, $2 registry, $3 user.
const loginScript = `set -u
cfg=$1 registry=$2 user=$3; shift 3
[ -n "$registry" ] || exec "$@"
trap 'rm -rf "$cfg"' EXIT
trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM
umask 077
mkdir -p "$cfg" || exit 80
if ! out=$(docker --config "$cfg" login --username "$user" --password-stdin "$registry" 2>&1); then
  printf '%s\n' "$out" | tail -n 3 >&2
  exit 80
fi
DOCKER_CONFIG=$cfg "$@"
`

// withLogin wraps args (a command that may run docker) in loginScript
// when feed has credentials; the password goes on the returned stdin.
func withLogin(cfg string, feed *Feed, args ...string) ([]string, io.Reader) {
	registry, user := "", ""
	var stdin io.Reader
	if feed != nil && feed.Username != "" {
		registry, user = feed.Registry, feed.Username
		stdin = strings.NewReader(feed.Password.Reveal())
	}
	return append([]string{"sh", "-c", loginScript, "sh", cfg, registry, user}, args...), stdin
}

// maskFeed adds the feed's password to the step's masks, and the form
// docker writes into its config.json ("auth": base64 of user:password),
// which masking the password alone would not catch.
func maskFeed(m *mask.Set, feed *Feed) {
	if feed == nil || feed.Username == "" || feed.Password.Reveal() == "" {
		return
	}
	m.Add(feed.Password.Reveal())
	m.Add(base64.StdEncoding.EncodeToString([]byte(feed.Username + ":" + feed.Password.Reveal())))
}

func loginError(worker string, feed *Feed, stderr string) error {
	return stepErr(worker, ReasonImage, "registry login failed for %s as %s: %s", feed.Registry, feed.Username, lastLine(stderr))
}

// dockerFailed is a docker command that ran and failed for a reason
// other than the registry login; Msg is the last line docker printed.
type dockerFailed struct {
	Msg string
	Err error
}

func (d *dockerFailed) Error() string { return d.Msg }

// dockerLoggedIn runs a docker command with the feed's private config in
// cfg (logging in first when the feed has credentials, removing it
// after). It returns nil, the context's cause, the "registry login
// failed" error, or a *dockerFailed.
func dockerLoggedIn(ctx context.Context, sh Shell, cfg string, feed *Feed, stdout, stderr io.Writer, command ...string) error {
	args, stdin := withLogin(cfg, feed, command...)
	tail := &tailBuffer{max: 2048}
	err := sh.Run(ctx, &transport.Cmd{Args: args, Stdin: stdin, Stdout: stdout, Stderr: io.MultiWriter(stderr, tail)})
	var ee *transport.ExitError
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return context.Cause(ctx)
	case errors.As(err, &ee) && ee.Code == exitLoginFailed:
		return loginError(sh.String(), feed, tail.String())
	}
	return &dockerFailed{Msg: lastLine(tail.String()), Err: err}
}

// pullImage pulls with the feed's credentials, if any.
func pullImage(ctx context.Context, sh Shell, cfg, image string, feed *Feed, out io.Writer) error {
	out, end := progress.Docker(progress.From(ctx), sh.String(), "pulling "+image+": layers", out)
	err := dockerLoggedIn(ctx, sh, cfg, feed, out, out, dockerPullArgs(image)...)
	end()
	var df *dockerFailed
	if errors.As(err, &df) {
		return stepErr(sh.String(), ReasonImage, "docker pull %s failed: %s", image, df.Msg)
	}
	return err
}

// verifyAccess asks the image's registry, with the step's credentials,
// for the image's manifest, so that a private image cached on the worker
// (pulled earlier for another team) is reused only by steps that may read
// it. Loopback registries are plain HTTP, as the engine allows.
func verifyAccess(ctx context.Context, sh Shell, cfg, image string, feed *Feed) error {
	args := []string{"docker", "manifest", "inspect"}
	if host := RegistryOf(image); strings.HasPrefix(host, "127.") || strings.HasPrefix(host, "localhost") {
		args = append(args, "--insecure")
	}
	err := dockerLoggedIn(ctx, sh, cfg, feed, io.Discard, io.Discard, append(args, "--", image)...)
	var df *dockerFailed
	if errors.As(err, &df) {
		return stepErr(sh.String(), ReasonImage, "%s as %s cannot read %s (%s): the copy cached on the worker is not reused without access", feed.Registry, feed.Username, image, df.Msg)
	}
	return err
}

// buildTag names a build by everything that determines its result.
func buildTag(b Build, commit, arch string) string {
	h := sha256.New()
	if b.GitURL != "" {
		repo, _, subdir := splitGitURL(b.GitURL)
		fmt.Fprintf(h, "git\x00%s\x00%s\x00%s\x00", repo, commit, subdir)
	} else {
		fmt.Fprintf(h, "dockerfile\x00%d\x00", len(b.Dockerfile))
		h.Write(b.Dockerfile)
	}
	for _, a := range b.Args {
		fmt.Fprintf(h, "arg\x00%s\x00", a)
	}
	fmt.Fprintf(h, "platform\x00linux/%s", arch)
	return BuildRepo + "/" + hex.EncodeToString(h.Sum(nil))
}

// splitGitURL reads Docker's "repo#ref:subdir" syntax.
func splitGitURL(u string) (repo, ref, subdir string) {
	repo, frag, _ := strings.Cut(u, "#")
	ref, subdir, _ = strings.Cut(frag, ":")
	return repo, ref, subdir
}

// resolveGitCommit asks the worker's git for the commit ref names.
func resolveGitCommit(ctx context.Context, sh Shell, gitURL string) (string, error) {
	repo, ref, _ := splitGitURL(gitURL)
	if ref == "" {
		ref = "HEAD"
	}
	if len(ref) == 40 && strings.Trim(ref, "0123456789abcdef") == "" {
		return ref, nil
	}
	var out, errb bytes.Buffer
	err := sh.Run(ctx, &transport.Cmd{Args: []string{"git", "ls-remote", "--", repo, ref}, Stdout: &out, Stderr: &errb})
	if err != nil {
		if ctx.Err() != nil {
			return "", context.Cause(ctx)
		}
		var ee *transport.ExitError
		if errors.As(err, &ee) && ee.Code == 127 {
			return "", stepErr(sh.String(), ReasonImage, "building from a Git URL needs git on the worker: install it (apt-get install git)")
		}
		return "", stepErr(sh.String(), ReasonImage, "git ls-remote %s %s: %s", repo, ref, lastLine(errb.String()))
	}
	for _, line := range strings.Split(out.String(), "\n") {
		sha, name, ok := strings.Cut(line, "\t")
		if ok && (name == ref || name == "refs/heads/"+ref || name == "refs/tags/"+ref || name == "refs/tags/"+ref+"^{}") {
			return sha, nil
		}
	}
	return "", stepErr(sh.String(), ReasonImage, "git ref %q not found in %s", ref, repo)
}

// buildScript builds $1 unless it exists; it runs under flock so that
// concurrent steps needing the same build build it once. $1 tag, $2 mode
// (dockerfile|git), $3 Dockerfile path or Git URL, then build args.
const buildScript = `set -u
tag=$1 mode=$2 src=$3; shift 3
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "cuttle: reusing $tag" >&2
  exit 0
fi
if [ "$mode" = git ]; then
  exec docker build -t "$tag" --label io.cuttle.build=git "$@" "$src" >&2
fi
exec docker build -t "$tag" --label io.cuttle.build=dockerfile "$@" - < "$src" >&2
`

// lockScript runs its arguments under the flock $1, saying so on stderr
// when it has to wait for another step's build first.
const lockScript = `lock=$1; shift
flock -n -E 253 "$lock" "$@"; rc=$?
[ "$rc" -ne 253 ] && exit "$rc"
echo "cuttle: waiting for the build lock (another step is building this image)" >&2
exec flock "$lock" "$@"
`

func buildImage(ctx context.Context, sh Shell, facts Facts, b Build, tag, commit string, feed *Feed, out io.Writer) error {
	mode, src := "dockerfile", facts.WorkDir()+"/Dockerfile"
	if b.GitURL != "" {
		mode = "git"
		repo, _, subdir := splitGitURL(b.GitURL)
		// Build exactly the commit the tag was computed from.
		src = repo + "#" + commit
		if subdir != "" {
			src += ":" + subdir
		}
	} else {
		if err := sh.Upload(ctx, src, bytes.NewReader(b.Dockerfile), 0o644); err != nil {
			return stepErr(sh.String(), ReasonWorkspace, "uploading the Dockerfile: %w", err)
		}
	}
	inner := []string{"sh", "-c", buildScript, "sh", tag, mode, src}
	for _, a := range b.Args {
		inner = append(inner, "--build-arg", a)
	}
	entry := map[string]any{"built_image": tag, "shared": true}
	if facts.HasFlock {
		lock := facts.Home + "/.cuttle/locks/build-" + strings.TrimPrefix(tag, BuildRepo+"/")[:32] + ".lock"
		inner = append([]string{"sh", "-c", lockScript, "sh", lock}, inner...)
		entry["lock"] = lock
	}
	// Built images and their locks are caches shared by later steps:
	// listed in the record, kept by cleanup, aged out by gc.
	inner = recorded(recordPath(facts.Home, facts.Ticket), entry, inner)
	// A private base image: the build runs logged in, with a private
	// config that goes when it ends.
	args, stdin := withLogin(configDir(facts.Home, facts.Ticket), feed, inner...)
	tail := &tailBuffer{max: 2048}
	out, end := progress.Docker(progress.From(ctx), sh.String(), "building "+describeBuild(b)+": steps", out)
	err := sh.Run(ctx, &transport.Cmd{Args: args, Stdin: stdin, Stdout: out, Stderr: io.MultiWriter(out, tail)})
	end()
	if err != nil {
		var ee *transport.ExitError
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if stdin != nil && errors.As(err, &ee) && ee.Code == exitLoginFailed {
			return loginError(sh.String(), feed, tail.String())
		}
		return stepErr(sh.String(), ReasonImage, "docker build of %s failed: %s", describeBuild(b), lastLine(tail.String()))
	}
	return nil
}

func describeBuild(b Build) string {
	if b.GitURL != "" {
		return b.GitURL
	}
	return "the inline Dockerfile"
}

// PullOnly pulls image on the worker outside any step, logging in with
// feed into a private config in a temporary directory under
// ~/.cuttle/cfg that is removed afterwards.
func PullOnly(ctx context.Context, sh Shell, image string, feed *Feed) error {
	var dir bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", `umask 077; mkdir -p "$HOME/.cuttle/cfg" && mktemp -d "$HOME/.cuttle/cfg/pull-XXXXXXXX"`}, Stdout: &dir}); err != nil {
		return fmt.Errorf("creating a private docker config directory: %w", err)
	}
	cfg := strings.TrimSpace(dir.String())
	defer sh.Run(context.WithoutCancel(ctx), &transport.Cmd{Args: []string{"rm", "-rf", "--", cfg}})
	return pullImage(ctx, sh, cfg, image, feed, io.Discard)
}

// dockerComplaint is what the docker client said was wrong, from the end
// of its stderr: its last line that is not usage boilerplate, so a bad
// option reads "unknown flag: --memroy", not "Run 'docker run --help' for
// more information".
func dockerComplaint(stderr string) string {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		switch {
		case l == "", strings.HasPrefix(l, "Usage:"), strings.HasPrefix(l, "Run 'docker"), strings.HasPrefix(l, "See 'docker"):
			continue
		}
		return l
	}
	return lastLine(stderr)
}
