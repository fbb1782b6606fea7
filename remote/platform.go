package remote

import (
	"bytes"
	"context"
	"strings"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// qemuNames are the binfmt_misc entries (as qemu-user-static and
// tonistiigi/binfmt register them) that run each image architecture on
// a worker of another.
var qemuNames = map[string]string{
	"amd64": "qemu-x86_64", "arm64": "qemu-aarch64", "arm": "qemu-arm", "386": "qemu-i386",
	"ppc64le": "qemu-ppc64le", "s390x": "qemu-s390x", "riscv64": "qemu-riscv64",
}

// binfmtScript prints the state of the binfmt_misc entry $1: "enabled"
// or "disabled" and its flags line, or "missing".
const binfmtScript = `f=/proc/sys/fs/binfmt_misc/$1
if [ -r "$f" ]; then head -n1 "$f"; grep '^flags:' "$f"; else echo missing; fi`

// checkPlatform accepts an image of another platform than the worker's
// when the worker's kernel runs it through an emulator registered with
// binfmt_misc with the F flag (loaded at registration, so it works inside
// containers). The step's runner needs nothing of the sort: it is the
// worker's own static binary, run natively by the worker's kernel in any
// image; only the image's programs (the shell, the script's tools) are
// emulated. Otherwise it names the fix.
func checkPlatform(ctx context.Context, sh Shell, image, platform string, facts Facts) error {
	worker := "linux/" + wire.ArchOf(facts.Arch)
	if platform == "" || platform == worker {
		return nil
	}
	goos, arch, _ := strings.Cut(platform, "/")
	arch, _, _ = strings.Cut(arch, "/") // arm/v7 is arm
	fix := "use an image built for the worker's platform (or a multi-platform tag)"
	name, ok := qemuNames[arch]
	if goos != "linux" || !ok {
		return stepErr(sh.String(), ReasonImage, "image %s is %s but the worker is %s: %s", image, platform, worker, fix)
	}
	var out bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", binfmtScript, "sh", name}, Stdout: &out}); err != nil {
		return stepErr(sh.String(), ReasonImage, "image %s is %s but the worker is %s, and checking the worker's emulators failed: %v", image, platform, worker, err)
	}
	state, flags, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	switch {
	case state == "missing":
		return stepErr(sh.String(), ReasonImage, "image %s is %s but the worker is %s and cannot run it: install qemu-user-static (and binfmt-support) on the worker so its kernel runs %s programs, or %s", image, platform, worker, arch, fix)
	case state != "enabled":
		return stepErr(sh.String(), ReasonImage, "image %s is %s but the worker is %s, and its %s emulator is %s: enable it (update-binfmts --enable %s), or %s", image, platform, worker, name, state, name, fix)
	case !strings.Contains(strings.TrimPrefix(flags, "flags:"), "F"):
		return stepErr(sh.String(), ReasonImage, "image %s is %s but the worker is %s, and its %s emulator is registered without the F flag, so containers cannot use it: register it with F (qemu-user-static does; or docker run --privileged tonistiigi/binfmt --install %s), or %s", image, platform, worker, name, arch, fix)
	}
	zerolog.Ctx(ctx).Info().Str("image", image).Msgf("image is %s on a %s worker: its programs run under %s", platform, worker, name)
	return nil
}
