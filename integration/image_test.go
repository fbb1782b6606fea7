//go:build integration

package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// TestImageUserIsRespected runs as the image's non-root USER: it can work
// in the work directory, its files are collected and cleaned up.
func TestImageUserIsRespected(t *testing.T) {
	t.Parallel()
	ref := "cuttle-test/nonroot:1"
	if err := testenv.DockerBuild(t.Context(), ref, "FROM "+env.image+"\nUSER app\n"); err != nil {
		t.Fatal(err)
	}
	arts := filepath.Join(t.TempDir(), "a")
	r := runCuttle(t, append(workerArgs(), "--image", ref, "--pull", "never", "--artifacts", arts, "--inline",
		`echo "uid=$(id -u)"; umask 077; echo made > out.txt; mkdir -p d/e && echo x > d/e/f && chmod 500 d/e && chmod 700 d; new_octopusartifact out.txt`)...)
	if r.code != 0 || !strings.Contains(r.stdout, "uid=1000") {
		t.Fatalf("exit %d stdout %s stderr %s", r.code, r.stdout, r.stderr)
	}
	if s := step(t, r); len(s.Artifacts) != 1 {
		t.Errorf("artifacts %+v", s.Artifacts)
	} else if b, _ := os.ReadFile(s.Artifacts[0].Path); string(b) != "made\n" {
		t.Errorf("artifact body %q", b)
	}
	assertNothingLeft(t, r)
}

func TestImageEntrypointAndCmdAreOverridden(t *testing.T) {
	t.Parallel()
	ref := "cuttle-test/entrypoint:1"
	if err := testenv.DockerBuild(t.Context(), ref, "FROM "+env.image+"\nENTRYPOINT [\"/bin/false\"]\nCMD [\"exit 3\"]\n"); err != nil {
		t.Fatal(err)
	}
	r := runCuttle(t, append(workerArgs(), "--image", ref, "--pull", "never", "--inline", "echo ran-anyway")...)
	if r.code != 0 || !strings.Contains(r.stdout, "ran-anyway") {
		t.Fatalf("exit %d stdout %s stderr %s", r.code, r.stdout, r.stderr)
	}
	assertNothingLeft(t, r)
}

// TestImageWithoutCLibrary: the runner is static, so an image with no C
// library at all (as minimal musl images look to it) runs sh steps, and
// asking for bash there is a clear cuttle error, not a script failure.
func TestImageWithoutCLibrary(t *testing.T) {
	t.Parallel()
	ref, err := testenv.EnsureStaticImage(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := runCuttle(t, append(workerArgs(), "--image", ref, "--pull", "never", "--syntax", "sh", "--var", "Who=static",
		"--inline", `echo "hello $(get_octopusvariable Who)"; set_octopusvariable Out 1`)...)
	if r.code != 0 || !strings.Contains(r.stdout, "hello static") || step(t, r).OutputVariables["Out"] != "1" {
		t.Fatalf("exit %d stdout %s stderr %s", r.code, r.stdout, r.stderr)
	}
	assertNothingLeft(t, r)
	r = runCuttle(t, append(workerArgs(), "--image", ref, "--pull", "never", "--inline", "echo hi")...)
	if r.code != 125 || !strings.Contains(r.stderr, "has no bash") || step(t, r).Error == "" {
		t.Fatalf("bash on a bash-less image: exit %d stderr %s", r.code, r.stderr)
	}
	assertNothingLeft(t, r)
}
