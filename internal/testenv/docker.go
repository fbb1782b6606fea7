package testenv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// EnsureDocker makes sure a Docker engine answers, starting dockerd in the
// background when none does (its log goes to /tmp/cuttle-dockerd.log). A
// pid file left by a dockerd that was killed is removed first: CI starts
// right after a session's processes were ended.
func EnsureDocker(ctx context.Context) error {
	if exec.CommandContext(ctx, "docker", "info").Run() == nil {
		return nil
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		return fmt.Errorf("no Docker engine answers and dockerd is not installed: apt-get install docker.io")
	}
	removeStalePidFile("/var/run/docker.pid")
	removeStalePidFile("/var/run/docker/containerd/containerd.pid")
	logf, err := os.OpenFile("/tmp/cuttle-dockerd.log", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	// dockerd outlives the tests: it must not keep what this process
	// inherited open, such as the lock file flock(1) holds for the test
	// run, or it holds that lock for as long as it runs.
	closeInheritedOnExec()
	cmd := exec.Command("dockerd")
	cmd.Stdout, cmd.Stderr = logf, logf
	// In a session of its own: whoever ends this test process's group
	// (a timeout, an interrupted job) must not take down the engine other
	// test runs on the machine share.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting dockerd: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // it outlives the tests otherwise
	deadline := time.After(90 * time.Second)
	for {
		if exec.CommandContext(ctx, "docker", "info").Run() == nil {
			return nil
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile("/tmp/cuttle-dockerd.log")
			return fmt.Errorf("dockerd exited (%v); end of /tmp/cuttle-dockerd.log:\n%s", err, lastLines(string(log), 5))
		case <-deadline:
			return fmt.Errorf("dockerd started but did not answer within 90s; see /tmp/cuttle-dockerd.log")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// closeInheritedOnExec marks the descriptors above stderr close-on-exec:
// Go opens its own so, but not those inherited from the parent.
func closeInheritedOnExec() {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

// removeStalePidFile removes a pid file whose process no longer runs.
func removeStalePidFile(path string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err == nil && pid > 0 {
		if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
			return // still running
		}
	}
	os.Remove(path)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// BaseImage is the name of the small glibc image tests run steps in:
// busybox for the tools and bash with the C library it links against.
const BaseImage = "cuttle-test/base"

// EnsureBaseImage imports BaseImage from files on this machine, unless an
// image of the same content is already there. It returns "name:tag", the
// tag being a hash of what went in.
func EnsureBaseImage(ctx context.Context) (string, error) {
	files, err := baseImageFiles()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	ref := BaseImage + ":" + hex.EncodeToString(h.Sum(nil))[:12]
	if exec.CommandContext(ctx, "docker", "image", "inspect", ref).Run() == nil {
		return ref, nil
	}
	root, err := os.MkdirTemp("", "cuttle-rootfs-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(root)
	for _, d := range []string{"bin", "tmp", "etc", "root"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return "", err
		}
	}
	os.Chmod(filepath.Join(root, "tmp"), 0o1777)
	for _, f := range files {
		dst := filepath.Join(root, f)
		if f == "/bin/busybox" || f == "/usr/bin/busybox" {
			dst = filepath.Join(root, "bin/busybox")
		}
		if err := copyFile(f, dst); err != nil {
			return "", err
		}
	}
	applets, err := exec.CommandContext(ctx, filepath.Join(root, "bin/busybox"), "--list").Output()
	if err != nil {
		return "", fmt.Errorf("busybox --list: %w", err)
	}
	for _, a := range strings.Fields(string(applets)) {
		if _, err := os.Lstat(filepath.Join(root, "bin", a)); err != nil {
			os.Symlink("busybox", filepath.Join(root, "bin", a))
		}
	}
	etc := map[string]string{
		"passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\napp:x:1000:1000:app:/tmp:/bin/sh\n",
		"group":  "root:x:0:\nnogroup:x:65534:\napp:x:1000:\n",
	}
	for name, body := range etc {
		if err := os.WriteFile(filepath.Join(root, "etc", name), []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	tar := exec.CommandContext(ctx, "tar", "-C", root, "-c", ".")
	imp := exec.CommandContext(ctx, "docker", "import", "--change", "ENV PATH=/bin", "-", ref)
	pipe, err := tar.StdoutPipe()
	if err != nil {
		return "", err
	}
	imp.Stdin = pipe
	var stderr bytes.Buffer
	imp.Stderr = &stderr
	if err := tar.Start(); err != nil {
		return "", err
	}
	if err := imp.Run(); err != nil {
		return "", fmt.Errorf("docker import: %v: %s", err, stderr.String())
	}
	if err := tar.Wait(); err != nil {
		return "", fmt.Errorf("tar of the rootfs: %w", err)
	}
	return ref, nil
}

// baseImageFiles lists busybox, bash and the libraries bash needs.
func baseImageFiles() ([]string, error) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return nil, fmt.Errorf("busybox not found: apt-get install busybox-static")
	}
	files := []string{busybox, "/bin/bash"}
	out, err := exec.Command("ldd", "/bin/bash").Output()
	if err != nil {
		return nil, fmt.Errorf("ldd /bin/bash: %w", err)
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			files = append(files, f)
		}
	}
	return files, nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// DockerBuild builds an image from a Dockerfile given as text, with an
// empty context; for images with ENTRYPOINT, CMD or USER in tests.
func DockerBuild(ctx context.Context, ref, dockerfile string) error {
	cmd := exec.CommandContext(ctx, "docker", "build", "-q", "-t", ref, "-")
	cmd.Stdin = strings.NewReader(dockerfile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker build %s: %v: %s", ref, err, out)
	}
	return nil
}

// StaticImage is an image with nothing but a static busybox: no C library
// at all, like a minimal musl/Alpine image as far as cuttle's runner can
// tell. It has sh, no bash.
const StaticImage = "cuttle-test/static"

// EnsureStaticImage imports StaticImage unless it is there; it returns
// "name:tag".
func EnsureStaticImage(ctx context.Context) (string, error) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("busybox not found: apt-get install busybox-static")
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		return "", err
	}
	ref := taggedBy(StaticImage, b)
	if imagePresent(ctx, ref) {
		return ref, nil
	}
	root, err := os.MkdirTemp("", "cuttle-static-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(root)
	if err := copyFile(busybox, filepath.Join(root, "bin/busybox")); err != nil {
		return "", err
	}
	for _, a := range []string{"sh", "echo", "cat", "id", "ls", "sleep", "printf", "wc", "mkdir", "rm", "test", "["} {
		os.Symlink("busybox", filepath.Join(root, "bin", a))
	}
	os.MkdirAll(filepath.Join(root, "tmp"), 0o1777)
	cmd := exec.CommandContext(ctx, "sh", "-c", `tar -C "$1" -c . | docker import --change 'ENV PATH=/bin' - "$2"`, "sh", root, ref)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker import %s: %v: %s", ref, err, out)
	}
	return ref, nil
}

// taggedBy is repo tagged with the start of content's sha256: an image
// built from content is built again only when content changes.
func taggedBy(repo string, content []byte) string {
	sum := sha256.Sum256(content)
	return repo + ":" + hex.EncodeToString(sum[:])[:12]
}

// imagePresent says whether the engine has ref.
func imagePresent(ctx context.Context, ref string) bool {
	return exec.CommandContext(ctx, "docker", "image", "inspect", ref).Run() == nil
}
