package remote

import (
	"bytes"
	"context"
	_ "embed"
	"io"
	"os"
	"sync"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/transport"
)

// placeBundle ends both install scripts: it renames the complete
// directory $t to $d/$digest. mv -T never moves into an existing directory
// and the rename replaces nothing, so a bundle a step is using is never
// removed or swapped: when another controller placed it first, its copy
// stays and ours goes. cuttle itself never leaves an incomplete directory
// at that name (it places and removes bundles by renaming), so one in the
// way is reported with the fix rather than removed under someone.
//
//go:embed scripts/place-bundle.sh
var placeBundle string

// installBundleScript moves uploaded files into a new bundle directory,
// marks it complete and places it. $1 bundles dir, $2 digest, then pairs
// of uploaded file and final name.
//
//go:embed scripts/install-bundle.sh
var installBundleScriptHead string

var installBundleScript = installBundleScriptHead + placeBundle

// bundleUploads lets concurrent steps of this process on one worker share
// one upload of a bundle instead of each sending it: on a fresh worker a
// fan-out of many steps would otherwise send the runner once per step.
var bundleUploads = struct {
	mu sync.Mutex
	m  map[string]*bundleUpload
}{m: map[string]*bundleUpload{}}

type bundleUpload struct {
	done chan struct{}
	err  error
}

// ensureBundle uploads the bundle, or waits for the upload another step
// of this process is making to the same worker (and makes its own if that
// one fails). Only uploads in flight are shared: a later step whose
// preflight finds the bundle gone (gc) uploads it again.
func ensureBundle(ctx context.Context, sh Shell, b bundle.Bundle, facts Facts) error {
	key := sh.String() + "\x00" + facts.Home + "\x00" + b.Digest
	bundleUploads.mu.Lock()
	u, inFlight := bundleUploads.m[key]
	if !inFlight {
		u = &bundleUpload{done: make(chan struct{})}
		bundleUploads.m[key] = u
	}
	bundleUploads.mu.Unlock()
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
	bundleUploads.mu.Lock()
	delete(bundleUploads.m, key)
	bundleUploads.mu.Unlock()
	close(u.done)
	return u.err
}

// uploadBundle puts the runner and helpers in ~/.cuttle/bundles/<digest>/.
func uploadBundle(ctx context.Context, sh Shell, b bundle.Bundle, facts Facts) error {
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
	}{{bundle.RunnerFile, f}}
	for _, hf := range bundle.HelperFiles() {
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
