package remote

import (
	"context"
	"os"

	"github.com/cuttle-sh/cuttle/bootstrap"
	"github.com/cuttle-sh/cuttle/transport"
)

// installBundleScript moves an uploaded runner into its cache directory and
// marks it complete last. $1 bundles dir, $2 uploaded file, $3 digest.
// The rename of a whole directory is atomic; when another controller won
// the race its copy is kept and ours removed.
const installBundleScript = `set -eu
t=$(mktemp -d "$1/.tmp-XXXXXXXX")
chmod 755 "$t"
mv -f "$2" "$t/cuttle"
chmod 755 "$t/cuttle"
: > "$t/.complete"
if [ -f "$1/$3/.complete" ]; then rm -rf "$t"; exit 0; fi
rm -rf "$1/$3"
mv "$t" "$1/$3"
`

// uploadBundle puts the runner in ~/.cuttle/bundles/<digest>/. It returns
// the round trips spent.
func uploadBundle(ctx context.Context, sh Shell, b bootstrap.Bundle, facts Facts) (int, error) {
	f, err := os.Open(b.RunnerPath)
	if err != nil {
		return 0, stepErr(sh.String(), ReasonRunner, "opening step runner: %w", err)
	}
	defer f.Close()
	dir := facts.Home + "/.cuttle/bundles"
	up := dir + "/.upload-" + b.Digest[:16] + "-" + facts.Ticket
	if err := sh.Upload(ctx, up, f, 0o755); err != nil {
		return 2, stepErr(sh.String(), ReasonRunner, "uploading the step runner bundle: %w", err)
	}
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", installBundleScript, "sh", dir, up, b.Digest}}); err != nil {
		_ = sh.Run(context.WithoutCancel(ctx), &transport.Cmd{Args: []string{"rm", "-f", "--", up}})
		return 3, stepErr(sh.String(), ReasonRunner, "installing the step runner bundle: %w", err)
	}
	return 3, nil
}
