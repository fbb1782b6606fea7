package remote

import (
	"bytes"
	"context"
	"io"
	"os"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/internal/progress"
	"github.com/cuttle-sh/cuttle/transport"
)

// placeBundle ends both install scripts: it renames the complete
// directory $t to $d/$digest. mv -T never moves into an existing directory
// and the rename replaces nothing, so a bundle a step is using is never
// removed or swapped: when another controller placed it first, its copy
// stays and ours goes. cuttle itself never leaves an incomplete directory
// at that name (it places and removes bundles by renaming), so one in the
// way is reported with the fix rather than removed under someone. $t may
// be read-only: it is made writable before it is removed.
const placeBundle = `i=0
until mv -T "$t" "$d/$digest" 2>/dev/null; do
  if [ -f "$d/$digest/.complete" ]; then chmod u+w "$t"; rm -rf "$t"; exit 0; fi
  i=$((i+1))
  if [ $i -ge 3 ]; then
    chmod u+w "$t"; rm -rf "$t"
    echo "an incomplete bundle directory is in the way: $d/$digest (not left by this cuttle); remove it (rm -rf $d/$digest) and run the step again" >&2
    exit 1
  fi
done
`

// bundleCheckFunc defines the shell functions that check a cached bundle
// before anything of it runs (in the preflight, by gc, and before a bad
// copy is replaced).
//
// bundle_fingerprint DIR SUMS [DIR...] sets $fp to one line naming, for
// each file SUMS lists, its inode, size, change time and mode. The kernel
// sets a file's change time to the current time on every write, rename,
// chmod or utime; no one can set it back short of changing the clock or
// writing the raw disk, both root's. The same stat (one exec, the check's
// whole cost) looks at the absolute directories after SUMS: $private is
// set when every one of them is 0700.
//
// bundle_check DIR SUMS KNOWN [DIR...] sets $bundle: "absent" when DIR is
// not a complete bundle; "present" when its files are those SUMS lists
// (sha256sum -c lines), which the fingerprint KNOWN (recorded by this
// controller after a full check) proves at the cost of one stat; without
// it each file is hashed and "bundle_fp=FP" printed for the controller to
// record; "tampered" when a file differs or is missing; "nosha" when the
// worker has no sha256sum to hash with. $private is as above, and unset
// when the bundle is absent (nothing was looked at). Their own variables
// start with "_" (sh has no local variables).
const bundleCheckFunc = `bundle_fingerprint() {
  _d=$1 _s=$2; shift 2
  set -f
  _n= _i=0
  for _w in $_s; do _i=$((_i + 1)); [ $((_i % 2)) -eq 1 ] || _n="$_n $_w"; done
  _l=$(cd "$_d" 2>/dev/null && stat -L -c '%n %i %s %z %a' $_n "$@" 2>/dev/null) || :
  _o=$IFS; IFS='
'
  fp= private=1
  for _w in $_l; do
    case $_w in
      /*) case $_w in *" 700") ;; *) private= ;; esac ;;
      *) fp="$fp|$_w" ;;
    esac
  done
  IFS=$_o
  set +f
}
bundle_check() {
  bundle=absent private=
  [ -f "$1/.complete" ] || return 0
  _cd=$1 _cs=$2 _ck=$3; shift 3
  bundle_fingerprint "$_cd" "$_cs" "$@"
  if [ -n "$fp" ] && [ "$fp" = "$_ck" ]; then bundle=present; return 0; fi
  if ! command -v sha256sum >/dev/null 2>&1; then bundle=nosha; return 0; fi
  if (cd "$_cd" && printf '%s' "$_cs" | sha256sum -c) >/dev/null 2>&1; then
    bundle=present
    [ -z "$fp" ] || echo "bundle_fp=$fp"
  else
    bundle=tampered
  fi
}
`

// installBundleScript moves uploaded files into a new bundle directory,
// marks it complete, makes it read-only (the runner and the directory
// 0555, the rest 0444: an image's non-root USER must still read and run
// them) and places it; when this copy was placed it prints its
// fingerprint. $1 bundles dir, $2 digest, $3 the bundle's sums, then
// pairs of uploaded file and final name.
const installBundleScript = `set -eu
d=$1; digest=$2; sums=$3; shift 3
t=$(mktemp -d "$d/.tmp-XXXXXXXX")
while [ $# -ge 2 ]; do mv -f "$1" "$t/$2"; shift 2; done
: > "$t/.complete"
chmod 444 "$t"/* "$t/.complete"
chmod 555 "$t/` + bundle.RunnerFile + `" "$t"
` + placeBundle + bundleCheckFunc + `bundle_fingerprint "$d/$digest" "$sums"
[ -z "$fp" ] || echo "bundle_fp=$fp"
`

// replaceBundleScript removes a cached bundle that failed its check, if
// it still fails (another controller may have replaced it meanwhile),
// by renaming it away first, as gc does. $1 bundle dir, $2 sums.
const replaceBundleScript = bundleCheckFunc + `d=$1
bundle_check "$d" "$2" ""
[ "$bundle" = tampered ] || exit 0
t=${d%/*}/.tmp-bad-$$-${d##*/}
mv -T "$d" "$t" || exit 1
chmod -R u+w "$t"; rm -rf "$t"
`

// bundleUpload is an upload in flight: Controller.uploads lets concurrent
// steps of this process on one worker share one upload of a bundle
// instead of each sending it: on a fresh worker a fan-out of many steps
// would otherwise send the runner once per step.
type bundleUpload struct {
	done chan struct{}
	fp   string
	err  error
}

// ensureBundle uploads the bundle, or waits for the upload another step
// of this process is making to the same worker (and makes its own if that
// one fails). Only uploads in flight are shared: a later step whose
// preflight finds the bundle gone (gc) uploads it again. It returns the
// placed bundle's fingerprint when this upload placed it.
func (c *Controller) ensureBundle(ctx context.Context, sh Shell, b bundle.Bundle, facts Facts) (fingerprint string, err error) {
	key := sh.String() + "\x00" + facts.Home + "\x00" + b.Digest
	c.uploadsMu.Lock()
	u, inFlight := c.uploads[key]
	if !inFlight {
		u = &bundleUpload{done: make(chan struct{})}
		c.uploads[key] = u
	}
	c.uploadsMu.Unlock()
	if inFlight {
		select {
		case <-u.done:
			if u.err == nil {
				return u.fp, nil
			}
			return uploadBundle(ctx, sh, b, facts)
		case <-ctx.Done():
			return "", context.Cause(ctx)
		}
	}
	u.fp, u.err = uploadBundle(ctx, sh, b, facts)
	c.uploadsMu.Lock()
	delete(c.uploads, key)
	c.uploadsMu.Unlock()
	close(u.done)
	return u.fp, u.err
}

// uploadBundle puts the runner and helpers in ~/.cuttle/bundles/<digest>/.
func uploadBundle(ctx context.Context, sh Shell, b bundle.Bundle, facts Facts) (fingerprint string, err error) {
	f, err := os.Open(b.RunnerPath)
	if err != nil {
		return "", stepErr(sh.String(), ReasonRunner, "opening step runner: %w", err)
	}
	defer f.Close()
	bar := progress.From(ctx).Transfer(sh.String(), "uploading the step runner", bundleSize(f))
	defer bar.Done()
	dir := facts.Home + "/.cuttle/bundles"
	prefix := dir + "/.upload-" + b.Digest[:16] + "-" + facts.Ticket + "-"
	files := []struct {
		name string
		r    io.Reader
	}{{bundle.RunnerFile, progress.Reader(bar, f)}}
	for _, hf := range bundle.HelperFiles() {
		files = append(files, struct {
			name string
			r    io.Reader
		}{hf.Name, bytes.NewReader(hf.Data)})
	}
	args := []string{"sh", "-c", installBundleScript, "sh", dir, b.Digest, b.Sums}
	var uploaded []string
	for _, file := range files {
		up := prefix + file.name
		if err := sh.Upload(ctx, up, file.r, 0o755); err != nil {
			removeUploads(ctx, sh, uploaded)
			return "", uploadFailed(ctx, sh, dir, bundleSize(f), "the step runner bundle", err)
		}
		uploaded = append(uploaded, up)
		args = append(args, up, file.name)
	}
	tail := &tailBuffer{max: 1024}
	var out bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: args, Stdout: &out, Stderr: tail}); err != nil {
		removeUploads(ctx, sh, uploaded)
		return "", stepErr(sh.String(), ReasonRunner, "installing the step runner bundle: %w: %s", err, lastLine(tail.String()))
	}
	return parseKV(out.Bytes())["bundle_fp"], nil
}

// readyBundle makes the step's bundle usable after the preflight's check:
// a copy that failed it is replaced, a missing one uploaded.
func (c *Controller) readyBundle(ctx context.Context, sh Shell, b bundle.Bundle, facts Facts, trust *BundleTrust, log zerolog.Logger) error {
	switch facts.BundleState {
	case "present":
		return nil
	case "nosha":
		return stepErr(sh.String(), ReasonRunner, "the worker has no sha256sum to check cuttle's cached bundle with: install coreutils")
	case "tampered":
		if err := replaceBundle(ctx, sh, b, facts.BundleDir(b.Digest), log); err != nil {
			return err
		}
	}
	fp, err := c.ensureBundle(ctx, sh, b, facts)
	trust.remember(sh.String(), b.Digest, fp)
	if err != nil && ctx.Err() != nil {
		return context.Cause(ctx) // a timeout or Ctrl-C during the upload is what ended the step
	}
	return err
}

// replaceBundle removes the cached bundle at dir, which failed its check,
// and warns naming the worker and the path: a step must never run what
// someone changed there.
func replaceBundle(ctx context.Context, sh Shell, b bundle.Bundle, dir string, log zerolog.Logger) error {
	log.Warn().Str("path", dir).Msgf("worker %s: the cached bundle %s does not match its digest (a file in it was changed): replacing it", sh.String(), dir)
	tail := &tailBuffer{max: 1024}
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", replaceBundleScript, "sh", dir, b.Sums}, Stderr: tail}); err != nil {
		return stepErr(sh.String(), ReasonRunner, "removing the modified bundle %s: %w: %s", dir, err, lastLine(tail.String()))
	}
	return nil
}

func removeUploads(ctx context.Context, sh Shell, paths []string) {
	if len(paths) > 0 {
		_ = sh.Run(context.WithoutCancel(ctx), &transport.Cmd{Args: append([]string{"rm", "-f", "--"}, paths...)})
	}
}

// bundleSize is about what the bundle takes on the worker: the runner
// (helpers are a few KiB).
func bundleSize(f *os.File) int64 {
	if fi, err := f.Stat(); err == nil {
		return fi.Size()
	}
	return 0
}

// switchRunner is the bundle for a worker of architecture arch, found by
// the preflight to differ from the one it checked: that bundle is checked
// here instead (one more command, on this controller's first step on the
// worker only: BundleTrust then remembers the architecture), and facts
// say what the check found, for readyBundle.
func (c *Controller) switchRunner(ctx context.Context, sh Shell, arch string, facts *Facts) (bundle.Bundle, error) {
	b, err := c.Runners.For(arch)
	if err != nil {
		return b, stepErr(sh.String(), ReasonRunner, "worker is linux/%s: %w", arch, err)
	}
	var out bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", checkBundleScript, "sh", facts.BundleDir(b.Digest), b.Sums}, Stdout: &out}); err != nil {
		return b, stepErr(sh.String(), ReasonUnreachable, "checking the linux/%s bundle: %w", arch, err)
	}
	kv := parseKV(out.Bytes())
	facts.BundleState, facts.BundleFingerprint = kv["bundle"], kv["bundle_fp"]
	facts.BundlePresent = facts.BundleState == "present"
	c.Trust.remember(sh.String(), b.Digest, facts.BundleFingerprint)
	return b, nil
}
