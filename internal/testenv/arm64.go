package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Arm64Image is the repository of the linux/arm64 test image.
const Arm64Image = "cuttle-test/arm64"

// Arm64Deb is Debian's busybox-static for arm64, which scripts/install-deps.sh
// downloads (apt-get download busybox-static:arm64).
const Arm64Deb = "/var/cache/cuttle-test/busybox-static_arm64.deb"

// EnsureArm64Image builds (once per deb) a linux/arm64 image holding
// Debian's static arm64 busybox and its applets: a script in it runs
// only through qemu-aarch64 registered with binfmt_misc.
func EnsureArm64Image(ctx context.Context) (string, error) {
	if err := Arm64Emulation(); err != nil {
		return "", err
	}
	deb, err := os.ReadFile(Arm64Deb)
	if err != nil {
		return "", fmt.Errorf("the arm64 test image needs %s: run make deps (it downloads busybox-static:arm64): %w", Arm64Deb, err)
	}
	ref := taggedBy(Arm64Image, deb)
	if imagePresent(ctx, ref) {
		return ref, nil
	}
	dir, err := os.MkdirTemp("", "cuttle-arm64-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	unpacked, root := filepath.Join(dir, "deb"), filepath.Join(dir, "root")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", Arm64Deb, unpacked).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %v: %s", Arm64Deb, err, out)
	}
	bb := filepath.Join(root, "bin", "busybox")
	if err := copyFile(filepath.Join(unpacked, "bin", "busybox"), bb); err != nil {
		return "", err
	}
	os.Chmod(bb, 0o755)
	// The applet list comes from the arm64 busybox itself, run through
	// binfmt_misc: the first proof that emulation works.
	applets, err := exec.CommandContext(ctx, bb, "--list").Output()
	if err != nil {
		return "", fmt.Errorf("running the arm64 busybox (is qemu-aarch64 registered with binfmt_misc?): %w", err)
	}
	for _, a := range strings.Fields(string(applets)) {
		if a != "busybox" {
			os.Symlink("busybox", filepath.Join(root, "bin", a))
		}
	}
	os.MkdirAll(filepath.Join(root, "tmp"), 0o1777)
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	// docker import records the engine's own platform whatever
	// --platform says (20.10); a build from scratch records the one asked.
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY root/ /\nENV PATH=/bin\n"), 0o644)
	os.RemoveAll(unpacked)
	if out, err := exec.CommandContext(ctx, "docker", "build", "-q", "--platform", "linux/arm64", "-t", ref, dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker build %s: %v: %s", ref, err, out)
	}
	return ref, nil
}

// Arm64Emulation says whether this machine runs arm64 programs through
// qemu-aarch64 and binfmt_misc, and how to fix it if not.
func Arm64Emulation() error {
	b, err := os.ReadFile("/proc/sys/fs/binfmt_misc/qemu-aarch64")
	if err != nil || !strings.HasPrefix(string(b), "enabled") {
		return fmt.Errorf("qemu-aarch64 is not registered with binfmt_misc: run make deps (it installs qemu-user-static and binfmt-support and enables it)")
	}
	return nil
}
