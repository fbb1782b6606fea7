//go:build integration

package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOctopusHelpers runs a script written for Octopus, unchanged, and
// checks each helper's observable effect.
func TestOctopusHelpers(t *testing.T) {
	t.Parallel()
	arts := filepath.Join(t.TempDir(), "artifacts")
	script := `set -e
echo "env=$(get_octopusvariable "Environment")"
echo "ci=$(get_octopusvariable "environment")"
echo "odd=[$(get_octopusvariable "Odd Name")]"
echo "missing=[$(get_octopusvariable "Nope")]"
echo "step=$(get_octopusvariable "Octopus.Action.Name")"
set_octopusvariable "Version" "1.2.3"
set_octopusvariable "Token" "tok-$(get_octopusvariable "Environment")-secret" -sensitive
echo "token printed: tok-production-secret"
printf 'report body\n' > report.txt
mkdir -p sub && printf '\x00\x01binary' > sub/data.bin
new_octopusartifact report.txt
new_octopusartifact "$PWD/sub/data.bin" "renamed.bin"
update_progress 50 "half way"
write_verbose "verbose line"
write_highlight "highlight line"
write_warning "warning line"
echo "text before ##octopus[stdout-default] and after"
echo "done"`
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--name", "deploy web",
		"--var", "Environment=production", "--var", "Odd Name=a  b'c\"$d`e",
		"--artifacts", arts, "--inline", script)...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"env=production\n", "ci=production\n", "odd=[a  b'c\"$d`e]\n", "missing=[]\n", "step=deploy web\n",
		"token printed: ********\n", "highlight line\n", "text before  and after\n", "done\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, unwanted := range []string{"##octopus", "verbose line", "tok-production-secret", "warning line"} {
		if strings.Contains(r.stdout, unwanted) {
			t.Errorf("stdout shows %q:\n%s", unwanted, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "warning line") || !strings.Contains(r.stderr, "half way") {
		t.Errorf("stderr lacks the warning or the progress:\n%s", r.stderr)
	}
	s := step(t, r)
	if s.OutputVariables["Version"] != "1.2.3" || s.OutputVariables["Token"] != "********" {
		t.Errorf("output variables = %v", s.OutputVariables)
	}
	want := map[string]string{"report.txt": "report body\n", "renamed.bin": "\x00\x01binary"}
	if len(s.Artifacts) != len(want) {
		t.Fatalf("artifacts = %+v", s.Artifacts)
	}
	for _, a := range s.Artifacts {
		body, err := os.ReadFile(a.Path)
		if err != nil {
			t.Fatalf("artifact %s: %v", a.Name, err)
		}
		sum := sha256.Sum256(body)
		if string(body) != want[a.Name] || a.Path != filepath.Join(arts, "deploy web", a.Name) || a.SHA256 != hex.EncodeToString(sum[:]) || a.Size != int64(len(body)) {
			t.Errorf("artifact %+v: body %q", a, body)
		}
	}
	assertNothingLeft(t, r)
}

func TestVerboseShowsVerboseLines(t *testing.T) {
	t.Parallel()
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--verbose",
		"--inline", `write_verbose "quiet detail"`)...)
	if r.code != 0 || !strings.Contains(r.stdout, "quiet detail") {
		t.Fatalf("exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestFailStep(t *testing.T) {
	t.Parallel()
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never",
		"--inline", `echo working; fail_step "database migration 42 failed"; echo NOT-REACHED`)...)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr %s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "NOT-REACHED") || !strings.Contains(r.stderr, "database migration 42 failed") {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	if s := step(t, r); s.ResultMessage != "database migration 42 failed" || s.ExitCode != 1 {
		t.Errorf("report step = %+v", s)
	}
	assertNothingLeft(t, r)
}

func TestNewArtifactOnMissingFile(t *testing.T) {
	t.Parallel()
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never",
		"--inline", `new_octopusartifact nothing-here.txt; echo "rc=$?"`)...)
	if r.code != 0 || !strings.Contains(r.stdout, "rc=1") || !strings.Contains(r.stderr, "no file 'nothing-here.txt'") {
		t.Fatalf("exit %d stdout %q stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestPosixShHelpers(t *testing.T) {
	t.Parallel()
	arts := filepath.Join(t.TempDir(), "a")
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--syntax", "sh", "--artifacts", arts,
		"--var", "Greeting=hello world", "--var", "Tricky=x$(y)`z`\\n'\"",
		"--inline", `[ -z "${BASH_VERSION:-}" ] || exit 9
echo "g=$(get_octopusvariable Greeting)"
echo "t=$(get_octopusvariable Tricky)"
set_octopusvariable Out "from sh"
echo data > f.txt && new_octopusartifact f.txt`)...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "g=hello world\n") || !strings.Contains(r.stdout, "t=x$(y)`z`\\n'\"\n") {
		t.Errorf("stdout %q", r.stdout)
	}
	if s := step(t, r); s.OutputVariables["Out"] != "from sh" || len(s.Artifacts) != 1 {
		t.Errorf("report %+v", s)
	}
}

func TestArtifactsOutsideTheWorkDirAreRefused(t *testing.T) {
	t.Parallel()
	arts := filepath.Join(t.TempDir(), "a")
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--artifacts", arts,
		"--inline", `ln -s /etc/passwd link.txt
new_octopusartifact link.txt
echo "##octopus[createArtifact path='$(encode_servicemessagevalue /etc/hostname)' name='$(encode_servicemessagevalue host)']"
echo "##octopus[createArtifact path='$(encode_servicemessagevalue "$PWD/../../../.bashrc")' name='$(encode_servicemessagevalue rc)']"
echo ok > fine.txt; new_octopusartifact fine.txt ../../escape.txt`)...)
	if r.code != 0 {
		t.Fatalf("exit %d stderr %s", r.code, r.stderr)
	}
	s := step(t, r)
	if len(s.Artifacts) != 1 || s.Artifacts[0].Name != "_.._escape.txt" || filepath.Dir(s.Artifacts[0].Path) != filepath.Join(arts, "run") {
		t.Fatalf("artifacts = %+v", s.Artifacts)
	}
	if n := strings.Count(r.stderr, "artifact refused"); n != 3 {
		t.Errorf("%d refusals in stderr, want 3:\n%s", n, r.stderr)
	}
	var files []string
	filepath.Walk(arts, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 {
		t.Errorf("files on the controller: %v", files)
	}
	assertNothingLeft(t, r)
}
