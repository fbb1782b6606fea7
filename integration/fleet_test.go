//go:build integration

package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWorkersCheck(t *testing.T) {
	t.Parallel()
	cfg, _ := fleetConfig(t)
	b, _ := os.ReadFile(cfg)
	kh := joinKnownHosts(t, env.sshd)
	b = []byte(strings.Replace(string(b), "pools:", fmt.Sprintf("  broken: {host: 127.0.0.1, port: %d, user: cuttle-nodocker, identity_file: %s, known_hosts: %s}\npools:", env.sshd.Port, env.key.PrivateFile, kh), 1))
	os.WriteFile(cfg, b, 0o600)
	r := runCuttle(t, "workers", "check", "w1", "broken", "--config", cfg, "--output", "json")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1 (one worker unhealthy)\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	var results []struct {
		Worker   string
		Healthy  bool
		Findings []struct{ Check, Status, Detail, Fix string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &results); err != nil {
		t.Fatalf("json: %v\n%s", err, r.stdout)
	}
	if len(results) != 2 || results[0].Worker != "broken" || results[0].Healthy || !results[1].Healthy {
		t.Fatalf("results: %+v", results)
	}
	found := false
	for _, f := range results[0].Findings {
		if f.Check == "docker" && f.Status == "fail" && strings.Contains(f.Fix, "usermod -aG docker cuttle-nodocker") {
			found = true
		}
	}
	if !found {
		t.Errorf("broken worker's findings do not name the fix: %+v", results[0].Findings)
	}
	r = runCuttle(t, "workers", "check", "--pool", "linux", "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "WORKER") || strings.Contains(r.stdout, "fail") {
		t.Fatalf("healthy pool: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
}

// TestGCAfterKill9 kills a controller mid-step; gc removes what it left
// and does not touch a step that is still running.
func TestGCAfterKill9(t *testing.T) {
	t.Parallel()
	s := newSSHD(t)
	// A user of its own: gc with --older-than 0s must not see other tests'
	// steps (nor would it: it only touches its own user's).
	u, err := suiteUser("cuttle-gc", true)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(t.TempDir(), "cuttle.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf("workers:\n  gcw: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s}\n",
		s.Port, u.Name, env.key.PrivateFile, s.KnownHosts)), 0o600)
	start := func(script string, extra ...string) (*exec.Cmd, *bufio.Scanner, string) {
		cmd, rep := cuttleCmd(t, append([]string{"run", "--config", cfgFile, "--worker", "gcw", "--image", env.image, "--pull", "never", "--inline", script}, extra...)...)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		if !sc.Scan() || !strings.HasPrefix(sc.Text(), "started ") {
			t.Fatalf("first line %q", sc.Text())
		}
		return cmd, sc, rep
	}
	// The survivor keeps running until the test lets it finish.
	survivor, survOut, survRep := start(`echo "started $PWD"; while [ ! -e go ]; do sleep 0.1; done; echo finished`)
	// Without a reattach window (and so without a heartbeat): gc may take
	// it as soon as its container has ended. With one, gc would keep it
	// for the window, in which its controller could come back.
	victim, victimOut, _ := start(`echo "started $PWD"; sleep 1`, "--reattach-window", "0")
	victimWD := strings.TrimPrefix(victimOut.Text(), "started ")
	victimID := filepath.Base(victimWD)
	victim.Process.Signal(syscall.SIGKILL)
	victim.Wait()
	exec.Command("docker", "wait", "cuttle-"+victimID).Run()
	if !fileExists(recordOf(victimWD)) {
		t.Fatalf("the killed controller's step has no record %s", recordOf(victimWD))
	}
	// A running step's record lists what it created.
	survWD := strings.TrimPrefix(survOut.Text(), "started ")
	rec, err := os.ReadFile(recordOf(survWD))
	if err != nil || !strings.Contains(string(rec), `"workdir":"`+survWD+`"`) || !strings.Contains(string(rec), `"container":"cuttle-`+filepath.Base(survWD)+`"`) {
		t.Errorf("record of the running step: %s (%v)", rec, err)
	}

	// --dry-run names what gc would remove, and removes nothing.
	dry := runCuttle(t, "gc", "--config", cfgFile, "--worker", "gcw", "--older-than", "0s", "--dry-run")
	if dry.code != 0 {
		t.Fatalf("gc --dry-run: exit %d\n%s\n%s", dry.code, dry.stdout, dry.stderr)
	}
	for _, want := range []string{"gcw: would remove workdir " + victimID, "gcw: would remove record " + victimID, "is running"} {
		if !strings.Contains(dry.stdout, want) {
			t.Errorf("gc --dry-run output lacks %q:\n%s", want, dry.stdout)
		}
	}
	if _, err := os.Stat(victimWD); err != nil || !fileExists(recordOf(victimWD)) {
		t.Fatalf("gc --dry-run removed the work directory or its record: %v", err)
	}

	r := runCuttle(t, "gc", "--config", cfgFile, "--worker", "gcw", "--older-than", "0s")
	if r.code != 0 {
		t.Fatalf("gc: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"removed workdir " + victimID, "is running"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("gc output lacks %q:\n%s", want, r.stdout)
		}
	}
	if out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=io.cuttle.step="+victimID).Output(); len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("the killed controller's container is still there")
	}
	if _, err := os.Stat(victimWD); err == nil {
		t.Errorf("the killed controller's work directory is still there")
	}
	if fileExists(recordOf(victimWD)) || !strings.Contains(r.stdout, "removed record "+victimID) {
		t.Errorf("the killed controller's record was not removed:\n%s", r.stdout)
	}
	// The survivor was not touched: it finishes and cleans up normally.
	if err := os.WriteFile(filepath.Join(survWD, "go"), nil, 0o644); err != nil {
		t.Fatalf("the running step's work directory was removed: %v", err)
	}
	for survOut.Scan() {
	}
	if err := survivor.Wait(); err != nil {
		t.Fatalf("running step failed after gc: %v", err)
	}
	if s := step(t, result{report: readReport(t, survRep)}); s.ExitCode != 0 || s.CleanupError != "" {
		t.Errorf("survivor report: %+v", s)
	} else {
		assertStepGone(t, s)
	}
}

func TestImagesPull(t *testing.T) {
	t.Parallel()
	cfg, _ := fleetConfig(t)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("feeds:\n  reg: {registry: "+env.registry.Addr+", username: ci, password_env: CUTTLE_IT_REGISTRY_PW}\n")...), 0o600)
	repo := "prepull/p-" + uniq(t)
	ref := pushed(t, repo)
	before := env.registry.ManifestGets(repo)
	r := runWithPassword(t, env.registry.Password, "images", "pull", "--config", cfg, "--pool", "linux", "--feed", "reg", ref)
	if r.code != 0 || strings.Count(r.stdout, "pulled "+ref) != 3 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if env.registry.ManifestGets(repo) < before+1 {
		t.Errorf("registry saw no pull")
	}
	if hits := grepTree(t, env.registry.Password, env.user.Home); len(hits) > 0 {
		t.Errorf("password left on the worker: %v", hits)
	}
}

// TestWorkersCheckSessionLimit: a worker whose sshd allows fewer sessions
// per connection than its pool's steps at once need is reported with the
// MaxSessions to set; one that allows enough is ok.
func TestWorkersCheckSessionLimit(t *testing.T) {
	t.Parallel()
	tight, roomy := newSSHD(t, "MaxSessions 2"), newSSHD(t)
	kh := joinKnownHosts(t, tight, roomy)
	cfg := filepath.Join(t.TempDir(), "cuttle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`workers:
  tight: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, pool: p}
  roomy: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, pool: p}
pools:
  p: {max_steps_per_worker: 4}
`, tight.Port, workerUser, env.key.PrivateFile, kh, roomy.Port, workerUser, env.key.PrivateFile, kh)), 0o600)
	got := findings(t, runCuttle(t, "workers", "check", "--pool", "p", "--config", cfg, "--output", "json"))
	if g := got["tight/ssh sessions"]; !strings.HasPrefix(g, "warn | sshd allows 2 sessions") || !strings.Contains(g, "set MaxSessions 16") {
		t.Errorf("tight worker: %q", g)
	}
	if g := got["roomy/ssh sessions"]; !strings.HasPrefix(g, "ok") {
		t.Errorf("roomy worker: %q", g)
	}
}

// shimPath builds a PATH directory holding every command of /usr/bin and
// /bin except git, with docker, date and df replaced by wrappers that
// report an old client, a clock 10 minutes fast and a nearly full Docker
// data root: a worker broken in those ways without touching the machine.
func shimPath(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(env.dir, "shim-"+uniq(t))
	os.Mkdir(dir, 0o755)
	for _, src := range []string{"/bin", "/usr/bin"} {
		es, _ := os.ReadDir(src)
		for _, e := range es {
			if n := e.Name(); n != "git" && n != "docker" && n != "date" && n != "df" {
				os.Symlink(filepath.Join(src, n), filepath.Join(dir, n))
			}
		}
	}
	shims := map[string]string{
		"docker": `#!/bin/sh
if [ "$1" = version ] && [ "$3" = '{{.Client.Version}} {{.Server.Version}}' ]; then echo "19.03.15 $(/usr/bin/docker version --format '{{.Server.Version}}')"; exit 0; fi
exec /usr/bin/docker "$@"`,
		"date": `#!/bin/sh
if [ "$1" = +%s ]; then echo $(( $(/bin/date +%s) + 600 )); exit 0; fi
exec /bin/date "$@"`,
		"df": `#!/bin/sh
root=$(/usr/bin/docker info --format '{{.DockerRootDir}}' 2>/dev/null)
for a in "$@"; do
  if [ "$a" = "$root" ]; then echo "Filesystem 1024-blocks Used Available Capacity Mounted on"; echo "overlay 104857600 104755200 102400 100% $root"; exit 0; fi
done
exec /bin/df "$@"`,
	}
	for name, body := range shims {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestWorkersCheckBrokenWorkers: every doctor finding, each produced by a
// worker deliberately broken that way, with its fix.
func TestWorkersCheckBrokenWorkers(t *testing.T) {
	t.Parallel()
	noexec, err := suiteUser("cuttle-noexec", true)
	if err != nil {
		t.Fatal(err)
	}
	tmpfsHome(t, noexec, "size=2m,noexec")
	nohome, err := suiteUser("cuttle-nohome", true)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(nohome.Home, 0o555)
	t.Cleanup(func() { os.Chmod(nohome.Home, 0o755) })
	plain, shimmed := newSSHD(t), newSSHD(t, "SetEnv PATH="+shimPath(t))
	kh := joinKnownHosts(t, plain, shimmed)
	cfg := filepath.Join(t.TempDir(), "cuttle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`workers:
  noexec: {host: 127.0.0.1, port: %[1]d, user: cuttle-noexec, identity_file: %[3]s, known_hosts: %[4]s}
  nohome: {host: 127.0.0.1, port: %[1]d, user: cuttle-nohome, identity_file: %[3]s, known_hosts: %[4]s}
  shimmed: {host: 127.0.0.1, port: %[2]d, user: %[5]s, identity_file: %[3]s, known_hosts: %[4]s}
`, plain.Port, shimmed.Port, env.key.PrivateFile, kh, workerUser)), 0o600)
	r := runCuttle(t, "workers", "check", "noexec", "nohome", "shimmed", "--config", cfg, "--output", "json")
	if r.code != 1 {
		t.Errorf("exit %d, want 1 (unhealthy workers)", r.code)
	}
	got := findings(t, r)
	for _, want := range []struct{ key, status, fix string }{
		{"noexec/noexec", "fail", "remount without noexec"},
		{"noexec/disk (home)", "fail", "cuttle gc"},
		{"nohome/home", "fail", "writable $HOME"},
		{"shimmed/git", "warn", "apt-get install git"},
		{"shimmed/docker version", "warn", "upgrade Docker to 20.10"},
		{"shimmed/clock", "warn", "set-ntp"},
		{"shimmed/disk (docker root)", "fail", "docker image prune"},
	} {
		g := got[want.key]
		if !strings.HasPrefix(g, want.status+" |") || !strings.Contains(g, want.fix) {
			t.Errorf("%s: %q, want %s with a fix naming %q", want.key, g, want.status, want.fix)
		}
	}
	for k, g := range got {
		t.Logf("%s: %s", k, g)
	}
	// The worker not broken these ways has no noexec or home finding (the
	// doctor reports them only when they fail) and room in its home.
	for _, k := range []string{"shimmed/noexec", "shimmed/home"} {
		if g, ok := got[k]; ok {
			t.Errorf("%s: %q on a worker not broken that way", k, g)
		}
	}
	if g := got["shimmed/disk (home)"]; strings.HasPrefix(g, "fail") || g == "" {
		t.Errorf("shimmed/disk (home): %q, want ok or warn", g)
	}
}

// findings reads `workers check --output json` as "worker/check" ->
// "status | detail | fix".
func findings(t *testing.T, r result) map[string]string {
	t.Helper()
	var results []struct {
		Worker   string
		Findings []struct{ Check, Status, Detail, Fix string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &results); err != nil {
		t.Fatalf("json: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	got := map[string]string{}
	for _, res := range results {
		for _, f := range res.Findings {
			got[res.Worker+"/"+f.Check] = f.Status + " | " + f.Detail + " | " + f.Fix
		}
	}
	return got
}
