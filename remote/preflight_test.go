package remote

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A preflight that finds the step's image takes the docker client's
// version from the last preflight that asked, unless the client changed
// since; without the image (or with no image asked) it asks docker.
func TestPreflightCachesDockerVersion(t *testing.T) {
	bin, home := t.TempDir(), t.TempDir()
	calls := filepath.Join(t.TempDir(), "calls")
	// A docker that logs its subcommand and knows one image, "present:1".
	docker := filepath.Join(bin, "docker")
	script := "#!/bin/sh\necho \"$1\" >> " + calls + "\n" +
		"case \"$1\" in\n  version) echo '28.2.2 20.10.24' ;;\n" +
		"  image) for a; do :; done; [ \"$a\" = present:1 ] || exit 1; echo 'sha256:1 linux/amd64' ;;\nesac\n"
	if err := os.WriteFile(docker, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	if err := os.Chtimes(docker, past, past); err != nil {
		t.Fatal(err)
	}
	n := 0
	preflight := func(image string) (versionCalls int, facts map[string]string) {
		t.Helper()
		os.Remove(calls)
		n++
		cmd := exec.Command("/bin/sh", append([]string{"-c"}, preflightArgs("T", n, bundleRef{Digest: "dg"}, image, "", nil)[2:]...)...)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + home}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("preflight: %v: %s", err, out)
		}
		b, _ := os.ReadFile(calls)
		return strings.Count(string(b), "version\n"), parseKV(out)
	}
	steps := []struct {
		what, image string
		touch       bool
		want        int
	}{
		{"first preflight", "present:1", false, 1},
		{"image present, client unchanged", "present:1", false, 0},
		{"image absent", "absent:1", false, 1},
		{"no image asked", "", false, 1},
		{"client changed", "present:1", true, 1},
		{"image present again", "present:1", false, 0},
	}
	for _, s := range steps {
		if s.touch {
			if err := os.Chtimes(docker, time.Now().Add(time.Hour), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		got, kv := preflight(s.image)
		if got != s.want {
			t.Errorf("%s: docker version ran %d times, want %d", s.what, got, s.want)
		}
		if kv["docker"] != "28.2.2 20.10.24" {
			t.Errorf("%s: docker=%q, want the client's and server's versions", s.what, kv["docker"])
		}
	}
}

// The preflight's one inspect of a present image also reads its USER
// (image_user), so the packages need no docker call of their own; the
// platform stays as the fast path reads it.
func TestPreflightReadsImageUser(t *testing.T) {
	bin, home := t.TempDir(), t.TempDir()
	// A docker that prints what docker image inspect's --format asks for
	// the images it knows.
	script := "#!/bin/sh\ncase \"$1\" in\n  version) echo '28.2.2 20.10.24' ;;\n" +
		"  image) for a; do :; done; case $a in app:1) echo 'sha256:1 linux/amd64 app:staff' ;; root:1) echo 'sha256:2 linux/arm64 ' ;; *) exit 1 ;; esac ;;\nesac\n"
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct{ image, id, platform, user string }{
		{"app:1", "sha256:1", "linux/amd64", "app:staff"},
		{"root:1", "sha256:2", "linux/arm64", ""},
		{"absent:1", "", "", ""},
	} {
		cmd := exec.Command("/bin/sh", append([]string{"-c"}, preflightArgs("T", i+1, bundleRef{Digest: "dg"}, tc.image, "", nil)[2:]...)...)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + home}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("preflight: %v: %s", err, out)
		}
		f, err := readFacts(&countingShell{}, out, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if f.ImageID != tc.id || f.ImagePlatform != tc.platform || f.ImageUser != tc.user {
			t.Errorf("%s: image %q platform %q user %q, want %q %q %q", tc.image, f.ImageID, f.ImagePlatform, f.ImageUser, tc.id, tc.platform, tc.user)
		}
	}
}

// On the fast path with the client's version cached, the preflight starts
// no docker client at all: the runner asks the engine about the image
// (--inspect) and launches. Without the cached version it asks docker, as
// before, and hands the runner the platform it found.
func TestPreflightLeavesTheImageToTheRunner(t *testing.T) {
	bin, home := t.TempDir(), t.TempDir()
	calls, launched := filepath.Join(t.TempDir(), "calls"), filepath.Join(t.TempDir(), "launched")
	docker := filepath.Join(bin, "docker")
	script := "#!/bin/sh\necho \"$1\" >> " + calls + "\n" +
		"case \"$1\" in\n  version) echo '28.2.2 20.10.24' ;;\n  image) echo 'sha256:1 linux/amd64' ;;\nesac\n"
	if err := os.WriteFile(docker, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-time.Hour)
	os.Chtimes(docker, past, past)
	dir := filepath.Join(home, ".cuttle", "bundles", "dg")
	os.MkdirAll(dir, 0o700)
	runner := "#!/bin/sh\nprintf '%s\\n' \"$@\" > " + launched + "\necho launch=yes\n"
	os.WriteFile(filepath.Join(dir, "cuttle"), []byte(runner), 0o755)
	os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
	sum := sha256.Sum256([]byte(runner))
	sums := hex.EncodeToString(sum[:]) + "  cuttle\n"
	for i, want := range []struct {
		dockerCalls string
		flag        string
	}{{"image\nversion\n", "--image-platform\nlinux/amd64\n"}, {"", "--inspect\npresent:1\n"}} {
		os.Remove(calls)
		args := preflightArgs("T", i+1, bundleRef{Digest: "dg", Sums: sums}, "present:1", "", []string{"docker", "run"})
		cmd := exec.Command("/bin/sh", append([]string{"-c"}, args[2:]...)...)
		cmd.Env = []string{"PATH=" + bin + ":/usr/bin:/bin", "HOME=" + home}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "launch=yes") {
			t.Fatalf("preflight %d: %v: %s", i+1, err, out)
		}
		got, _ := os.ReadFile(calls)
		if string(got) != want.dockerCalls {
			t.Errorf("preflight %d: docker ran %q, want %q", i+1, got, want.dockerCalls)
		}
		l, _ := os.ReadFile(launched)
		if !strings.Contains(string(l), want.flag) || !strings.HasSuffix(string(l), "--\ndocker\nrun\n") {
			t.Errorf("preflight %d: the runner was given %q, want %q and the template", i+1, l, want.flag)
		}
	}
}
