package remote

import (
	"bytes"
	"context"
	"io"
	"os"

	"github.com/cuttle-sh/cuttle/bootstrap"
	"github.com/cuttle-sh/cuttle/transport"
)

// installBundleScript moves uploaded files into a new bundle directory and
// marks it complete last. $1 bundles dir, $2 digest, then pairs of
// uploaded file and final name. The rename of a whole directory is atomic;
// when another controller won the race its copy is kept and ours removed.
const installBundleScript = `set -eu
d=$1; digest=$2; shift 2
t=$(mktemp -d "$d/.tmp-XXXXXXXX")
chmod 755 "$t"
while [ $# -ge 2 ]; do mv -f "$1" "$t/$2"; chmod 755 "$t/$2"; shift 2; done
: > "$t/.complete"
if [ -f "$d/$digest/.complete" ]; then rm -rf "$t"; exit 0; fi
rm -rf "$d/$digest"
mv "$t" "$d/$digest"
`

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
	if err := sh.Run(ctx, &transport.Cmd{Args: args}); err != nil {
		removeUploads(ctx, sh, uploaded)
		return stepErr(sh.String(), ReasonRunner, "installing the step runner bundle: %w", err)
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
