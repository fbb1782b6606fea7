//go:build integration

package integration

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// grepTree reports the files under root that contain needle.
func grepTree(t *testing.T, needle string, roots ...string) []string {
	t.Helper()
	var hits []string
	for _, root := range roots {
		filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
			if err != nil || !fi.Mode().IsRegular() || fi.Size() > 64<<20 {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), needle) {
				hits = append(hits, p)
			}
			return nil
		})
	}
	return hits
}

func randomSecret(t *testing.T) string {
	b := make([]byte, 8)
	rand.Read(b)
	return "s3cr3t-" + hex.EncodeToString(b)
}

// TestSecretNeverExposed samples the worker while the step runs: the
// secret is in no process's argv, not in docker inspect, not on disk; and
// afterwards it is in no output, no report and no file left behind.
func TestSecretNeverExposed(t *testing.T) {
	t.Parallel()
	secret := randomSecret(t)
	b64 := base64.StdEncoding.EncodeToString([]byte(secret))
	cmd, rep := cuttleCmd(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--verbose",
		"--sensitive-var", "DbPassword=CUTTLE_IT_SECRET",
		"--inline", `pw=$(get_octopusvariable DbPassword)
echo "plain: $pw"
echo "b64: $(printf %s "$pw" | base64)"
echo "json: {\"password\":\"$pw\"}"
write_verbose "verbose: $pw"
echo "stderr: $pw" >&2
set_octopusvariable Derived "x-$pw" -sensitive
echo "derived: x-$pw"
echo "ready $PWD"
while [ ! -e go ]; do sleep 0.05; done`)...)
	cmd.Env = append(cmd.Env, "CUTTLE_IT_SECRET="+secret)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var stdout strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		stdout.WriteString(line + "\n")
		wd, ok := strings.CutPrefix(line, "ready ")
		if !ok {
			continue
		}
		// The step is paused: look everywhere a secret could leak.
		ps, _ := exec.Command("ps", "-eww", "-o", "args").Output()
		if strings.Contains(string(ps), secret) {
			t.Errorf("secret in ps output")
		}
		name := "cuttle-" + filepath.Base(wd)
		inspect, err := exec.Command("docker", "inspect", name).Output()
		if err != nil {
			t.Errorf("docker inspect %s: %v", name, err)
		}
		if strings.Contains(string(inspect), secret) {
			t.Errorf("secret in docker inspect")
		}
		id, _ := exec.Command("docker", "inspect", "--format", "{{.Id}}", name).Output()
		dirs := []string{filepath.Join(env.user.Home, ".cuttle"), filepath.Join("/var/lib/docker/containers", strings.TrimSpace(string(id)))}
		if hits := grepTree(t, secret, dirs...); len(hits) > 0 {
			t.Errorf("secret on the worker's disk during the step: %v", hits)
		}
		os.WriteFile(filepath.Join(wd, "go"), nil, 0o644)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cuttle: %v\n%s", err, stderr.String())
	}
	all := stdout.String() + stderr.String()
	for _, leak := range []string{secret, b64} {
		if strings.Contains(all, leak) {
			t.Errorf("%q leaked in output:\n%s", leak, all)
		}
	}
	for _, want := range []string{"plain: ********", "b64: ********", `json: {"password":"********"}`, "verbose: ********", "derived: ********"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.Contains(stderr.String(), "stderr: ********") {
		t.Errorf("stderr not masked:\n%s", stderr.String())
	}
	rb, _ := os.ReadFile(rep)
	if strings.Contains(string(rb), secret) {
		t.Errorf("secret in the report: %s", rb)
	}
	if hits := grepTree(t, secret, env.user.Home); len(hits) > 0 {
		t.Errorf("secret left on the worker's disk: %v", hits)
	}
	assertNothingLeft(t, result{report: readReport(t, rep)})
}

// TestInjectionIsInert passes shell syntax through every user-supplied
// string that reaches a remote command; none of it may run.
func TestInjectionIsInert(t *testing.T) {
	t.Parallel()
	marker := filepath.Join("/tmp", "cuttle-pwned-"+randomSecret(t))
	payloads := []string{
		"; touch " + marker,
		"$(touch " + marker + ")",
		"`touch " + marker + "`",
		"' ; touch " + marker + " ; '",
		"\" ; touch " + marker + " ; \"",
		"\ntouch " + marker + "\n",
		"a b ü 😀 \\ $HOME",
	}
	t.Cleanup(func() { os.Remove(marker) })
	for i, p := range payloads {
		t.Run(strings.Repeat("p", i+1), func(t *testing.T) {
			arts := filepath.Join(t.TempDir(), "arts")
			r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--artifacts", arts,
				"--name", "step "+p, "--var", "V="+p,
				"--container-options", "--label 'x="+strings.ReplaceAll(p, "'", `'\''`)+"' -e 'E="+strings.ReplaceAll(p, "'", `'\''`)+"'",
				"--inline", `v=$(get_octopusvariable V)
e=$(printf %s "$E")
[ "$v" = "$e" ] || { echo "mismatch"; exit 3; }
printf '%s' "$v" > "file $RANDOM"
new_octopusartifact "$(ls | grep '^file ' | head -n 1)" "$v"
echo "ok"`)...)
			if r.code != 0 || !strings.Contains(r.stdout, "ok") {
				t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
			}
			if len(step(t, r).Artifacts) != 1 {
				t.Errorf("artifacts = %+v", step(t, r).Artifacts)
			}
			assertNothingLeft(t, r)
		})
	}
	for _, opts := range []string{"-e X=1; touch " + marker, "-e X=$(touch " + marker + ")", "-e X=`touch " + marker + "`", "-e X && touch " + marker} {
		r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--container-options", opts, "--inline", "true")...)
		if r.code != 125 || !strings.Contains(r.stderr, "container options") {
			t.Errorf("options %q: exit %d, stderr %s", opts, r.code, r.stderr)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatalf("injected command ran: %s exists", marker)
	}
}

func TestPrivilegedOptionsNeedPermission(t *testing.T) {
	t.Parallel()
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--container-options", "-v /:/host", "--inline", "ls /host")...)
	if r.code != 125 || !strings.Contains(r.stderr, "allow_privileged") {
		t.Fatalf("exit %d stderr %s", r.code, r.stderr)
	}
	if len(r.report.Steps) > 0 && r.report.Steps[0].ID != "" {
		t.Fatalf("a refused step got as far as the worker: %+v", r.report.Steps[0])
	}
	r = runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--allow-privileged",
		"--var", "Octopus.Action.Container.Options=-v /etc:/host-etc:ro", "--inline", "test -f /host-etc/hostname && echo mounted")...)
	if r.code != 0 || !strings.Contains(r.stdout, "mounted") {
		t.Fatalf("exit %d stdout %s stderr %s", r.code, r.stdout, r.stderr)
	}
	assertNothingLeft(t, r)
}
