package remote

import (
	"bytes"
	"context"
	"io"
	"os"

	"github.com/cuttle-sh/cuttle/bootstrap"
	"github.com/cuttle-sh/cuttle/transport"
)

// placeBundle ends both install scripts: it renames the complete
// directory $t to $d/$digest. mv -T never moves into an existing directory
// and the rename replaces nothing, so a bundle a step is using is never
// removed or swapped: when another controller placed it first, its copy
// stays and ours goes. cuttle itself never leaves an incomplete directory
// at that name (it places and removes bundles by renaming), so one in the
// way is reported with the fix rather than removed under someone.
const placeBundle = `i=0
until mv -T "$t" "$d/$digest" 2>/dev/null; do
  if [ -f "$d/$digest/.complete" ]; then rm -rf "$t"; exit 0; fi
  i=$((i+1))
  if [ $i -ge 3 ]; then
    rm -rf "$t"
    echo "an incomplete bundle directory is in the way: $d/$digest (not left by this cuttle); remove it (rm -rf $d/$digest) and run the step again" >&2
    exit 1
  fi
done
`

// installBundleScript moves uploaded files into a new bundle directory,
// marks it complete and places it. $1 bundles dir, $2 digest, then pairs
// of uploaded file and final name.
const installBundleScript = `set -eu
d=$1; digest=$2; shift 2
t=$(mktemp -d "$d/.tmp-XXXXXXXX")
chmod 755 "$t"
while [ $# -ge 2 ]; do mv -f "$1" "$t/$2"; chmod 755 "$t/$2"; shift 2; done
: > "$t/.complete"
` + placeBundle

// bundleUpload is an upload in flight: Controller.uploads lets concurrent
// steps of this process on one worker share one upload of a bundle
// instead of each sending it: on a fresh worker a fan-out of many steps
// would otherwise send the runner once per step.
type bundleUpload struct {
	done chan struct{}
	err  error
}

// ensureBundle uploads the bundle, or waits for the upload another step
// of this process is making to the same worker (and makes its own if that
// one fails). Only uploads in flight are shared: a later step whose
// preflight finds the bundle gone (gc) uploads it again.
func (c *Controller) ensureBundle(ctx context.Context, sh Shell, b bootstrap.Bundle, facts Facts) error {
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
				return nil
			}
			return uploadBundle(ctx, sh, b, facts)
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	u.err = uploadBundle(ctx, sh, b, facts)
	c.uploadsMu.Lock()
	delete(c.uploads, key)
	c.uploadsMu.Unlock()
	close(u.done)
	return u.err
}

// uploadBundle puts the runner and helpers in ~/.cuttle/bundles/<digest>/.
func uploadBundle(ctx context.Context, sh Shell, b bootstrap.Bundle, facts Facts) error {
	f, err := os.Open(b.RunnerPath)
	if err != nil {
		return stepErr(sh.String(), ReasonRunner, "opening step runner: %w", err)
	}
	defer f.Close()
	dir := facts.Home + "/.cuttle/bundles"
	prefix := dir + "/.upload-" + b.Digest[:16] + "-" + facts.Ticket + "-"
	files := []struct {
		name string
		r    io.Reader
	}{{bootstrap.RunnerFile, f}}
	for _, hf := range bootstrap.HelperFiles() {
		files = append(files, struct {
			name string
			r    io.Reader
		}{hf.Name, bytes.NewReader(hf.Data)})
	}
	args := []string{"sh", "-c", installBundleScript, "sh", dir, b.Digest}
	var uploaded []string
	for _, file := range files {
		up := prefix + file.name
		if err := sh.Upload(ctx, up, file.r, 0o755); err != nil {
			removeUploads(ctx, sh, uploaded)
			return uploadFailed(ctx, sh, dir, bundleSize(f), "the step runner bundle", err)
		}
		uploaded = append(uploaded, up)
		args = append(args, up, file.name)
	}
	tail := &tailBuffer{max: 1024}
	if err := sh.Run(ctx, &transport.Cmd{Args: args, Stderr: tail}); err != nil {
		removeUploads(ctx, sh, uploaded)
		return stepErr(sh.String(), ReasonRunner, "installing the step runner bundle: %w: %s", err, lastLine(tail.String()))
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
