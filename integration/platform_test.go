//go:build integration

package integration

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// TestArm64Worker runs a step on an arm64 worker: a test user whose
// `uname -m` says aarch64 (its login shell puts a shim first on PATH),
// so the controller puts the linux/arm64 runner there, whose heartbeat
// and follower then run on the host, and whose step runner runs in a
// linux/arm64 image (Debian's busybox-static:arm64), all through
// qemu-aarch64 and binfmt_misc. The controller's default runner is
// linux/amd64: the preflight finds the other architecture, and the
// controller switches, then remembers it for the next step.
func TestArm64Worker(t *testing.T) {
	t.Parallel()
	img, err := testenv.EnsureArm64Image(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	u, err := suiteUser("cuttle-arm", true)
	if err != nil {
		t.Fatal(err)
	}
	armShell(t, u)
	runner := filepath.Join(t.TempDir(), "cuttle-runner-arm64")
	build := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-o", runner, "./cmd/cuttle-runner")
	build.Dir, build.Env = "..", append(os.Environ(), "GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the arm64 runner: %v: %s", err, out)
	}
	// One controller home for both runs: the second finds the worker's
	// architecture remembered.
	ctlHome := t.TempDir()
	args := []string{"run", "--worker", env.sshd.URL(u.Name), "--identity", env.key.PrivateFile, "--known-hosts", env.sshd.KnownHosts,
		"--image", img, "--pull", "never", "--syntax", "sh", "--var", "Who=arm",
		"--inline", `echo "machine=$(uname -m)"; echo "hello $(get_octopusvariable Who)"; set_octopusvariable Out done`}
	var inode uint64
	for i := 0; i < 2; i++ {
		r := runCuttleEnv(t, []string{"CUTTLE_RUNNER=" + runner, "HOME=" + ctlHome}, args...)
		if r.code != 0 || !strings.Contains(r.stdout, "machine=aarch64") || !strings.Contains(r.stdout, "hello arm") {
			t.Fatalf("run %d: exit %d\nstdout: %s\nstderr: %s", i+1, r.code, r.stdout, r.stderr)
		}
		if got := step(t, r).OutputVariables["Out"]; got != "done" {
			t.Errorf("run %d: output variable Out = %q", i+1, got)
		}
		assertNothingLeftIn(t, r, u.Home)
		// The worker holds the arm64 runner, and only it: the amd64 one
		// the first preflight asked about was never sent.
		runners, _ := filepath.Glob(filepath.Join(u.Home, ".cuttle/bundles/*/cuttle"))
		if len(runners) != 1 {
			t.Fatalf("run %d: runners on the worker: %q", i+1, runners)
		}
		f, err := elf.Open(runners[0])
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		if f.Machine != elf.EM_AARCH64 {
			t.Errorf("run %d: the worker's runner is for %s", i+1, f.Machine)
		}
		st, err := os.Stat(runners[0])
		if err != nil {
			t.Fatal(err)
		}
		ino := st.Sys().(*syscall.Stat_t).Ino
		if i == 1 && ino != inode {
			t.Errorf("the second run uploaded the runner again (inode %d, then %d)", inode, ino)
		}
		inode = ino
	}
}

// armShell gives u a login shell that puts a `uname` first on PATH which
// answers aarch64 to -m: sshd runs every command through it.
func armShell(t *testing.T, u testenv.User) {
	t.Helper()
	dir, err := os.MkdirTemp("", "cuttle-armshell-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		exec.Command("usermod", "-s", "/bin/bash", u.Name).Run()
		os.RemoveAll(dir)
	})
	os.Chmod(dir, 0o755)
	os.Mkdir(filepath.Join(dir, "bin"), 0o755)
	files := map[string]string{
		"bin/uname": "#!/bin/sh\nif [ \"$1\" = -m ]; then echo aarch64; else exec /bin/uname \"$@\"; fi\n",
		"shell":     fmt.Sprintf("#!/bin/sh\nPATH=%s/bin:/usr/local/bin:/usr/bin:/bin\nexport PATH\nexec /bin/sh \"$@\"\n", dir),
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("usermod", "-s", filepath.Join(dir, "shell"), u.Name).CombinedOutput(); err != nil {
		t.Fatalf("usermod -s: %v: %s", err, out)
	}
}

// TestForeignPlatformImage: an arm64 image runs on the (amd64) worker,
// whose kernel runs its programs through qemu-aarch64 (binfmt_misc, flag
// F); the step runner in it is the worker's own, run natively. An image
// of a platform the worker has no emulator for is refused before it
// runs, naming the fix, and leaves nothing behind.
func TestForeignPlatformImage(t *testing.T) {
	t.Parallel()
	img, err := testenv.EnsureArm64Image(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := runCuttle(t, append(workerArgs(), "--image", img, "--pull", "never", "--syntax", "sh", "--var", "Who=arm",
		"--inline", `echo "machine=$(uname -m)"; echo "hello $(get_octopusvariable Who)"; set_octopusvariable Out done`)...)
	if r.code != 0 || !strings.Contains(r.stdout, "machine=aarch64") || !strings.Contains(r.stdout, "hello arm") {
		t.Fatalf("arm64 image: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if got := step(t, r).OutputVariables["Out"]; got != "done" {
		t.Errorf("output variable Out = %q", got)
	}
	assertNothingLeft(t, r)

	// riscv64: no emulator registered here (install-deps enables only
	// qemu-aarch64). Nothing in the image needs to run to build it.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY f /f\n"), 0o644)
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-riscv64"); err == nil {
		t.Skip("qemu-riscv64 is registered on this machine: no platform left to refuse")
	}
	ref := "cuttle-test/riscv64:1"
	if out, err := exec.CommandContext(t.Context(), "docker", "build", "-q", "--platform", "linux/riscv64", "-t", ref, dir).CombinedOutput(); err != nil {
		t.Fatalf("docker build: %v: %s", err, out)
	}
	r = runCuttle(t, append(workerArgs(), "--image", ref, "--pull", "never", "--syntax", "sh", "--inline", "echo ran")...)
	if r.code != 125 || strings.Contains(r.stdout, "ran") || !strings.Contains(r.stderr, "install qemu-user-static") || !strings.Contains(r.stderr, "linux/riscv64") {
		t.Fatalf("riscv64 image: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	assertNothingLeft(t, r)
}
