package remote

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/cuttle-sh/cuttle/transport"
)

// uploadFailed explains a failed upload of need bytes into dir: SFTP
// reports a full disk as a bare "failure", so the worker is asked how much
// room dir's filesystem has.
func uploadFailed(ctx context.Context, sh Shell, dir string, need int64, what string, err error) error {
	if ctx.Err() != nil {
		return stepErr(sh.String(), ReasonWorkspace, "uploading %s: %w", what, err)
	}
	var out strings.Builder
	if sh.Run(context.WithoutCancel(ctx), &transport.Cmd{Args: []string{"df", "-Pk", "--", dir}, Stdout: &out}) == nil {
		if free, ok := dfAvailable(out.String()); ok && free < need+(1<<20) {
			return stepErr(sh.String(), ReasonWorkspace, "uploading %s: no space left on the worker: %s has %s free and the upload needs %s; free space there (cuttle gc removes what cuttle left) (%v)", what, dir, mib(free), mib(need), err)
		}
	}
	return stepErr(sh.String(), ReasonWorkspace, "uploading %s: %w", what, err)
}

// dfAvailable reads the available bytes from `df -Pk` output.
func dfAvailable(out string) (int64, bool) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 2 {
		return 0, false
	}
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 4 {
		return 0, false
	}
	kb, err := strconv.ParseInt(f[3], 10, 64)
	return kb << 10, err == nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
