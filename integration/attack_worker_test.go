//go:build integration

package integration

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// The worker-side attacks of issue 14 (SECURITY.md): a step that reaches
// for the cached bundle, its feed's credentials, another step, or leaves
// something behind. Each test fails when its protection is removed.

// runArgsAs are `run` and the flags that reach the shared sshd as user.
func runArgsAs(u testenv.User) []string {
	return []string{"run", "--worker", env.sshd.URL(u.Name), "--identity", env.key.PrivateFile, "--known-hosts", env.sshd.KnownHosts}
}

// ourBundle is the directory of u's cached bundle that holds this test's
// runner.
func ourBundle(t *testing.T, u testenv.User) string {
	t.Helper()
	runner := env.cuttle
	if env.runner != "" {
		runner = env.runner
	}
	want, err := os.ReadFile(runner)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(u.Home, ".cuttle/bundles")
	for _, n := range listDir(t, root) {
		if got, err := os.ReadFile(filepath.Join(root, n, "cuttle")); err == nil && !strings.HasPrefix(n, ".") && sha256.Sum256(got) == sha256.Sum256(want) {
			return filepath.Join(root, n)
		}
	}
	t.Fatalf("no bundle of this runner under %s: %v", root, listDir(t, root))
	return ""
}

// TestAttackTamperedBundle changes files of the worker user's cached
// bundle as root, the way a step with the user's home mounted could: a
// helper script (appended, its time set back) while the controller knows
// the bundle's fingerprint, and the runner itself for a controller that
// has never seen it. Each time the next step warns, naming the worker and
// the path, replaces the bundle, and the tampered text never runs.
func TestAttackTamperedBundle(t *testing.T) {
	t.Parallel()
	u, err := testenv.EnsureUser("cuttle-tamper", true)
	if err != nil {
		t.Fatal(err)
	}
	secret := randomSecret(t)
	victimStep := func(t *testing.T, state string) result {
		t.Helper()
		r := runCuttleEnv(t, []string{"CUTTLE_STATE_DIR=" + state, "CUTTLE_IT_SECRET=" + secret},
			append(runArgsAs(u), "--image", env.image, "--pull", "never", "--sensitive-var", "DbPass=CUTTLE_IT_SECRET",
				"--inline", `echo "victim ran: $(get_octopusvariable DbPass)"`)...)
		if r.code != 0 || !strings.Contains(r.stdout, "victim ran: ********") {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
		}
		for _, leak := range []string{"TAMPERED", secret} {
			if strings.Contains(r.stdout+r.stderr, leak) {
				t.Errorf("%q in the output:\n%s\n%s", leak, r.stdout, r.stderr)
			}
		}
		assertNothingLeftIn(t, r, u.Home)
		return r
	}
	state := t.TempDir()
	victimStep(t, state) // uploads the bundle, or checks it by a full hash
	dir := ourBundle(t, u)
	for name, mode := range map[string]os.FileMode{"": 0o555, "cuttle": 0o555, "octopus.bash": 0o444, "octopus.sh": 0o444} {
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.Mode().Perm() != mode {
			t.Errorf("bundle %s%s: mode %v, want %v (%v)", dir, name, fi.Mode().Perm(), mode, err)
		}
	}
	if r := victimStep(t, state); strings.Contains(r.stderr, "does not match its digest") {
		t.Fatalf("an untouched bundle was taken for a tampered one:\n%s", r.stderr)
	}
	warned := func(t *testing.T, r result) {
		t.Helper()
		for _, want := range []string{"does not match its digest", u.Name + "@", dir} {
			if !strings.Contains(r.stderr, want) {
				t.Errorf("the warning lacks %q:\n%s", want, r.stderr)
			}
		}
		for _, n := range listDir(t, filepath.Dir(dir)) {
			if strings.HasPrefix(n, ".tmp-") {
				t.Errorf("the replacement left %s", n)
			}
		}
	}
	// tamper rewrites a bundle file as root, in place or (a running
	// binary cannot be written) by renaming a new file over it, and sets
	// its modification time back as a careful attacker would.
	tamper := func(t *testing.T, name string, inPlace bool, change func([]byte) []byte) (original []byte) {
		t.Helper()
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		original, _ = os.ReadFile(p)
		w := p
		if !inPlace {
			w = p + ".new"
		}
		if err := os.WriteFile(w, change(original), fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(w, p); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, fi.ModTime(), fi.ModTime())
		return original
	}
	t.Run("helper, fingerprint known", func(t *testing.T) {
		helper := tamper(t, "octopus.bash", true, func(b []byte) []byte {
			return append(b, "\necho \"TAMPERED helper: $(get_octopusvariable DbPass | rev)\" >&2\n"...)
		})
		warned(t, victimStep(t, state))
		if b, _ := os.ReadFile(filepath.Join(dir, "octopus.bash")); !bytes.Equal(b, helper) {
			t.Errorf("the helper was not replaced by the original")
		}
	})
	t.Run("runner, new controller", func(t *testing.T) {
		tamper(t, "cuttle", false, func([]byte) []byte { return []byte("#!/bin/sh\necho TAMPERED runner >&2\nexit 99\n") })
		warned(t, victimStep(t, t.TempDir()))
		if fi, err := os.Stat(filepath.Join(dir, "cuttle")); err != nil || fi.Size() < 1<<20 {
			t.Errorf("the runner was not replaced: %v", err)
		}
	})
}

// TestAttackFeedCredentials: a step pulled with registry credentials
// looks for them everywhere it can, while the test looks on the worker;
// the feed's password, and the base64 user:password form Docker writes,
// are masked when the step prints them anyway.
func TestAttackFeedCredentials(t *testing.T) {
	t.Parallel()
	ref := pushed(t, "private/creds-"+uniq(t))
	pw := env.registry.Password
	auth := base64.StdEncoding.EncodeToString([]byte("ci:" + pw))
	script := `echo "ready $PWD"
while [ ! -e go ]; do sleep 0.05; done
ls -la "$PWD"
for f in $(find / \( -path /proc -o -path /sys \) -prune -o -type f -name config.json -print 2>/dev/null); do echo "FOUND $f"; cat "$f"; done
env | grep -i docker_config
cat .docker-config/config.json
echo "leak1=$(get_octopusvariable Leak)"
echo "leak2=$(get_octopusvariable Leak64)"`
	_, rep, wd, stdout, stderr, done := startStepEnv(t, []string{"CUTTLE_IT_REGISTRY_PW=" + pw}, append(append(workerArgs(), registryArgs()...),
		"--image", ref, "--pull", "always", "--var", "Leak="+pw, "--var", "Leak64="+auth, "--inline", script))
	id := filepath.Base(wd)
	// The step runs: its credentials are gone from the worker already.
	if cfg := filepath.Join(env.user.Home, ".cuttle/cfg", id); fileExists(cfg) {
		t.Errorf("the step's Docker config %s is still there while the step runs", cfg)
	}
	for _, needle := range []string{pw, auth} {
		if hits := grepTree(t, needle, wd); len(hits) > 0 {
			t.Errorf("the credentials are readable during the step: %v", hits)
		}
	}
	goAhead(t, wd)
	if err := waitDone(t, done, 2*time.Minute); err != nil {
		t.Fatalf("cuttle: %v\n%s\n%s", err, stdout, stderr)
	}
	out := stdout.String() + stderr.String()
	for _, leak := range []string{pw, auth, "FOUND", "DOCKER_CONFIG="} {
		if strings.Contains(out, leak) {
			t.Errorf("%q in the output:\n%s", leak, out)
		}
	}
	for _, want := range []string{"leak1=********", "leak2=********", "No such file"} {
		if !strings.Contains(stdout.String(), want) && !strings.Contains(stderr.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	assertNothingLeft(t, result{report: readReport(t, rep)})
}

// stepIDShape is a step id: time, controller pid, 16 random hex digits,
// counter.
var stepIDShape = regexp.MustCompile(`^[0-9]{14}-[0-9]+-([0-9a-f]{16})-[0-9]+$`)

// TestAttackOtherSteps: two steps of one controller get ids (and so
// container and work directory names) that differ in a random part; a
// step sees no other step's work directory, though it knows its path;
// ~/.cuttle and everything under it stay private to the worker user.
func TestAttackOtherSteps(t *testing.T) {
	t.Parallel()
	// Opened up as an older cuttle or the user might have: the next
	// preflight closes it again.
	os.Chmod(filepath.Join(env.user.Home, ".cuttle/runs"), 0o755)
	_, rep, victimWD, _, stderr, done := startStep(t, append(workerArgs(), "--image", env.image, "--pull", "never",
		"--inline", `echo victim-marker-$$ > marker; echo "ready $PWD"; while [ ! -e go ]; do sleep 0.05; done`))
	victim := filepath.Base(victimWD)
	if err := exec.Command("docker", "inspect", "cuttle-"+victim).Run(); err != nil {
		t.Errorf("the victim's container is not cuttle-%s: %v", victim, err)
	}
	for _, d := range []string{"", "work", "runs", "bundles", "cfg"} {
		p := filepath.Join(env.user.Home, ".cuttle", d)
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: mode %v, want 0700 (%v)", p, fi.Mode().Perm(), err)
		}
	}
	cfg := filepath.Join(t.TempDir(), "cuttle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("workers:\n  w1: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s}\n",
		env.sshd.Port, workerUser, env.key.PrivateFile, env.sshd.KnownHosts)), 0o600)
	var sb strings.Builder
	fmt.Fprintf(&sb, "variables: {VICTIM: %q}\nsteps:\n", victimWD)
	for _, n := range []string{"one", "two"} {
		fmt.Fprintf(&sb, `  - name: %s
    worker: w1
    container: {image: %s, pull: never}
    script:
      inline: |
        VICTIM=$(get_octopusvariable VICTIM)
        cat "$VICTIM/marker"
        ls -a "$VICTIM" "$(dirname "$VICTIM")"
        echo "siblings: $(ls -a "$(dirname "$PWD")" | tr '\n' ' ')"
`, n, env.image)
	}
	rb := filepath.Join(t.TempDir(), "rb.yaml")
	os.WriteFile(rb, []byte(sb.String()), 0o644)
	r := runCuttle(t, "runbook", "run", rb, "--config", cfg)
	goAhead(t, victimWD)
	if err := waitDone(t, done, 2*time.Minute); err != nil {
		t.Fatalf("victim: %v\n%s", err, stderr)
	}
	if r.code != 0 || len(r.report.Steps) != 2 {
		t.Fatalf("exit %d, %d steps\nstdout %s\nstderr %s", r.code, len(r.report.Steps), r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, "victim-marker") || strings.Contains(r.stdout, victim) {
		t.Errorf("a step saw the other step's work directory:\n%s", r.stdout)
	}
	var random []string
	for _, s := range r.report.Steps {
		m := stepIDShape.FindStringSubmatch(s.ID)
		if m == nil {
			t.Fatalf("step id %q: want <time>-<pid>-<16 hex>-<n>", s.ID)
		}
		random = append(random, m[1])
		if !strings.Contains(r.stdout, "siblings: . .. "+s.ID+" \n") {
			t.Errorf("step %s's container sees more than its own work directory:\n%s", s.ID, r.stdout)
		}
		assertStepGone(t, s)
	}
	if random[0] == random[1] {
		t.Errorf("two steps share the random part %s of their ids", random[0])
	}
	assertNothingLeft(t, result{report: readReport(t, rep)})
}

// TestAttackAnonymousVolume: the anonymous volumes a step creates (an
// image's VOLUME, a --mount without a source) are gone with its
// container.
func TestAttackAnonymousVolume(t *testing.T) {
	t.Parallel()
	df := filepath.Join(t.TempDir(), "Dockerfile")
	os.WriteFile(df, []byte("FROM "+env.image+"\nLABEL test="+uniq(t)+"\nVOLUME /data\n"), 0o644)
	_, rep, wd, _, stderr, done := startStep(t, append(workerArgs(), "--dockerfile", df, "--container-options", "--mount type=volume,dst=/x",
		"--inline", `echo kept > /data/f; echo kept > /x/f; echo "ready $PWD"; while [ ! -e go ]; do sleep 0.05; done`))
	out, err := exec.Command("docker", "inspect", "-f", `{{range .Mounts}}{{if eq .Type "volume"}}{{.Name}} {{end}}{{end}}`, "cuttle-"+filepath.Base(wd)).Output()
	volumes := strings.Fields(string(out))
	if err != nil || len(volumes) != 2 {
		t.Errorf("the step's container has volumes %v (%v), want two anonymous ones", volumes, err)
	}
	goAhead(t, wd)
	if err := waitDone(t, done, 2*time.Minute); err != nil {
		t.Fatalf("step: %v\n%s", err, stderr)
	}
	for _, v := range volumes {
		if exec.Command("docker", "volume", "inspect", v).Run() == nil {
			t.Errorf("anonymous volume %s outlived the step", v)
			exec.Command("docker", "volume", "rm", v).Run()
		}
	}
	r := result{report: readReport(t, rep)}
	assertNothingLeft(t, r)
	t.Cleanup(func() { exec.Command("docker", "rmi", step(t, r).Image).Run() })
}

// TestAttackArtifactDirsApart: steps whose names sanitise alike keep
// their artifacts apart: none replaces another's.
func TestAttackArtifactDirsApart(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "cuttle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("workers:\n  w1: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s}\n",
		env.sshd.Port, workerUser, env.key.PrivateFile, env.sshd.KnownHosts)), 0o600)
	names := []string{"build/x", "build_x", ".", ".."}
	var sb strings.Builder
	sb.WriteString("steps:\n")
	for _, n := range names {
		fmt.Fprintf(&sb, "  - {name: %q, worker: w1, container: {image: %s, pull: never}, script: {inline: 'printf \"%%s\" \"from %s\" > app.bin; new_octopusartifact app.bin'}}\n", n, env.image, n)
	}
	rb := filepath.Join(t.TempDir(), "rb.yaml")
	os.WriteFile(rb, []byte(sb.String()), 0o644)
	arts := filepath.Join(t.TempDir(), "arts")
	r := runCuttle(t, "runbook", "run", rb, "--config", cfg, "--artifacts", arts)
	if r.code != 0 || len(r.report.Steps) != len(names) {
		t.Fatalf("exit %d, %d steps\nstdout %s\nstderr %s", r.code, len(r.report.Steps), r.stdout, r.stderr)
	}
	dirs := map[string]string{}
	for _, s := range r.report.Steps {
		if len(s.Artifacts) != 1 {
			t.Fatalf("step %q: artifacts %+v", s.Name, s.Artifacts)
		}
		a := s.Artifacts[0]
		if b, err := os.ReadFile(a.Path); err != nil || string(b) != "from "+s.Name {
			t.Errorf("step %q: its artifact %s holds %q (%v)", s.Name, a.Path, b, err)
		}
		if other, ok := dirs[filepath.Dir(a.Path)]; ok {
			t.Errorf("steps %q and %q share %s", other, s.Name, filepath.Dir(a.Path))
		}
		dirs[filepath.Dir(a.Path)] = s.Name
		if rel, err := filepath.Rel(arts, a.Path); err != nil || strings.HasPrefix(rel, "..") || strings.Count(rel, string(filepath.Separator)) != 1 {
			t.Errorf("step %q: artifact at %s, want DIR/<step>/app.bin", s.Name, a.Path)
		}
		assertStepGone(t, s)
	}
	if got, want := strings.Join(listDir(t, arts), " "), "build_x"; !strings.Contains(" "+got+" ", " "+want+" ") {
		t.Errorf("artifact directories %s: the unchanged name %s should stay as it is", got, want)
	}
}

// TestAttackGCRootOwnedLeftovers: a step's container is removed behind
// cuttle's back (docker rm -f) after its controller died, leaving
// root-owned files in the work directory; gc removes them as the step's
// own cleanup would, and names the reason for what it cannot remove.
func TestAttackGCRootOwnedLeftovers(t *testing.T) {
	t.Parallel()
	u, err := testenv.EnsureUser("cuttle-gcroot", true)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "cuttle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("workers:\n  gcw: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s}\n",
		env.sshd.Port, u.Name, env.key.PrivateFile, env.sshd.KnownHosts)), 0o600)
	cmd, _, wd, _, _, done := startStep(t, []string{"run", "--config", cfg, "--worker", "gcw", "--image", env.image, "--pull", "never",
		"--reattach-window", "0", "--inline", `mkdir -p deep/er && echo x > deep/er/f && chmod 700 deep && echo "ready $PWD"; sleep 600`})
	id := filepath.Base(wd)
	cmd.Process.Signal(syscall.SIGKILL)
	<-done
	if out, err := exec.Command("docker", "rm", "-f", "cuttle-"+id).CombinedOutput(); err != nil {
		t.Fatalf("docker rm -f: %v: %s", err, out)
	}
	if fi, err := os.Stat(filepath.Join(wd, "deep")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("the vanished container left no root-owned directory: %v", err)
	}
	// Something the user cannot remove at all: gc says why.
	stuck := filepath.Join(u.Home, ".cuttle/bundles/.tmp-stuck-"+uniq(t))
	os.MkdirAll(filepath.Join(stuck, "sub"), 0o755)
	os.WriteFile(filepath.Join(stuck, "sub", "f"), nil, 0o644)
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(stuck, old, old)
	t.Cleanup(func() { os.RemoveAll(stuck) })

	r := runCuttle(t, "gc", "--config", cfg, "--worker", "gcw", "--older-than", "0s")
	if !strings.Contains(r.stdout, "removed workdir "+id+" (as root") {
		t.Errorf("gc did not remove the work directory as root:\n%s\n%s", r.stdout, r.stderr)
	}
	if !strings.Contains(r.stdout, "FAILED temp "+stuck+": ") || !strings.Contains(r.stdout, "Permission denied") {
		t.Errorf("gc's failure gives no reason:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "FAILED workdir") || r.code != 1 {
		t.Errorf("exit %d (want 1: the stuck temp)\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if fileExists(wd) || fileExists(recordOf(wd)) {
		t.Errorf("work directory or record left after gc: %v %v", fileExists(wd), fileExists(recordOf(wd)))
	}
	if out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=io.cuttle.step="+id).Output(); len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("containers of step %s left: %s", id, out)
	}
}
