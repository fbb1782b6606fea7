//go:build integration

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// fleetConfig writes a cuttle.yaml with w1 (the shared sshd), w2 and w3
// (servers of their own; w3 logs in as another user) in pool "linux", and
// w2 alone in pool "single" limited to one step at a time.
func fleetConfig(t *testing.T) (cfgFile string, w2 *testenv.SSHD) {
	t.Helper()
	w2, w3 := newSSHD(t), newSSHD(t)
	if _, err := suiteUser("cuttle-w3", true); err != nil {
		t.Fatal(err)
	}
	kh := joinKnownHosts(t, env.sshd, w2, w3)
	cfg := fmt.Sprintf(`workers:
  w1: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, pool: linux}
  w2: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, pool: linux}
  w3: {host: 127.0.0.1, port: %d, user: cuttle-w3, identity_file: %s, known_hosts: %s, pool: linux}
  w2-single: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, pool: single}
pools:
  linux: {max_steps_per_worker: 4}
  single: {max_steps_per_worker: 1}
`, env.sshd.Port, workerUser, env.key.PrivateFile, kh,
		w2.Port, workerUser, env.key.PrivateFile, kh,
		w3.Port, env.key.PrivateFile, kh,
		w2.Port, workerUser, env.key.PrivateFile, kh)
	cfgFile = filepath.Join(t.TempDir(), "cuttle.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgFile, w2
}

func TestRunbook(t *testing.T) {
	t.Parallel()
	cfg, _ := fleetConfig(t)
	rb := filepath.Join(t.TempDir(), "deploy.yaml")
	os.WriteFile(rb, []byte(fmt.Sprintf(`variables: {Environment: staging}
steps:
  - name: build
    worker: w1
    container: {image: %[1]s, pull: never}
    script: {inline: 'set_octopusvariable Version "1.2.#{Environment}"; echo built'}
  - name: deploy
    pool: linux
    run_on: all
    container: {image: %[1]s, pull: never}
    script: {inline: 'echo "deploying $(get_octopusvariable "Octopus.Action[build].Output.Version") on $(get_octopusvariable Octopus.Machine.Name) as $(id -un)"; set_octopusvariable Host "$(get_octopusvariable Octopus.Machine.Name)"; get_octopusvariable Octopus.Machine.Name > host.txt; new_octopusartifact host.txt'}
  - name: broken
    pool: linux
    run_on: one
    container: {image: %[1]s, pull: never}
    script: {inline: 'exit 4'}
  - name: skipped
    worker: w1
    container: {image: %[1]s, pull: never}
    script: {inline: 'echo SHOULD-NOT-RUN'}
  - name: notify
    worker: w2
    condition: always
    container: {image: %[1]s, pull: never}
    script: {inline: 'echo "notify after $(get_octopusvariable "Octopus.Action[deploy].Output[w3].Host")"'}
`, env.image)), 0o644)
	arts := filepath.Join(t.TempDir(), "arts")
	r := runCuttle(t, "runbook", "run", rb, "--config", cfg, "--artifacts", arts)
	for _, w := range []string{"w1", "w2", "w3"} {
		// Each worker's artifacts apart: DIR/<step>/<worker>/<name>.
		if b, err := os.ReadFile(filepath.Join(arts, "deploy", w, "host.txt")); err != nil || string(b) != w+"\n" {
			t.Errorf("fan-out artifact of %s: %q, %v", w, b, err)
		}
	}
	if r.code != 4 {
		t.Fatalf("exit %d, want 4 (the failed step's)\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	// Only the fan-out's lines are prefixed.
	for _, want := range []string{"[deploy@w1] deploying 1.2.staging on w1", "[deploy@w2] deploying 1.2.staging on w2",
		"[deploy@w3] deploying 1.2.staging on w3"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, want := range []string{"built", "notify after w3"} {
		if !hasLine(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "SHOULD-NOT-RUN") {
		t.Error("a step after the failure ran without condition: always")
	}
	var got []string
	for _, s := range r.report.Steps {
		got = append(got, fmt.Sprintf("%s/%s/%d/%v", s.Name, strings.Fields(s.Worker + " -")[0], s.ExitCode, s.Skipped))
	}
	sort.Strings(got)
	want := []string{"broken/w1/4/false", "build/w1/0/false", "deploy/w1/0/false", "deploy/w2/0/false", "deploy/w3/0/false", "notify/w2/0/false", "skipped/-/0/true"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("report steps:\n got %v\nwant %v", got, want)
	}
	for _, s := range r.report.Steps {
		if !s.Skipped {
			assertStepGone(t, s)
		}
	}
}

// TestRunbookPullsOncePerWorker: three steps use one registry image with
// pull policy always; the worker pulls it once in the run.
func TestRunbookPullsOncePerWorker(t *testing.T) {
	t.Parallel()
	cfg, _ := fleetConfig(t)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("feeds:\n  reg: {registry: "+env.registry.Addr+", username: ci, password_env: CUTTLE_IT_REGISTRY_PW}\n")...), 0o600)
	repo := "once/p-" + uniq(t)
	ref := pushed(t, repo)
	rb := filepath.Join(t.TempDir(), "pulls.yaml")
	// requests counts the registry's manifest requests of one runbook run
	// of the named steps.
	requests := func(names ...string) (int, result) {
		var steps strings.Builder
		steps.WriteString("steps:\n")
		for _, n := range names {
			fmt.Fprintf(&steps, "  - name: %s\n    worker: w1\n    container: {image: %s, feed: reg, pull: always}\n    script: {inline: 'echo %s'}\n", n, ref, n)
		}
		if err := os.WriteFile(rb, []byte(steps.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		before := env.registry.ManifestGets(repo)
		r := runWithPassword(t, env.registry.Password, "runbook", "run", rb, "--config", cfg)
		if r.code != 0 {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		return env.registry.ManifestGets(repo) - before, r
	}
	// One pull's requests of an image the worker has, as this engine makes
	// them (a first pull also fetches the manifest, later ones only check
	// its digest), then three steps: the same count, or the worker pulled
	// more than once.
	requests("one")
	one, _ := requests("one")
	three, r := requests("one", "two", "three")
	if one < 1 || three != one {
		t.Errorf("one step made %d manifest requests, three steps %d: want one pull per worker per run", one, three)
	}
	if strings.Contains(r.stdout+r.stderr, env.registry.Password) {
		t.Error("registry password in output")
	}
}

// assertStepGone checks one report step's container and work dir are gone,
// whichever test user ran it.
func assertStepGone(t *testing.T, s reportStep) {
	t.Helper()
	out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=io.cuttle.step="+s.ID).Output()
	if len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("step %s left its container", s.ID)
	}
	if s.WorkDir == "" {
		t.Errorf("step %s/%s has no work_dir in the report", s.Name, s.Worker)
	} else if _, err := os.Stat(s.WorkDir); err == nil {
		t.Errorf("step %s left %s", s.ID, s.WorkDir)
	} else if fileExists(recordOf(s.WorkDir)) {
		t.Errorf("step %s left its record", s.ID)
	}
}

// TestPerWorkerLimitAcrossControllers starts two controllers at once on a
// worker whose pool allows one step at a time: the steps must not overlap.
func TestPerWorkerLimitAcrossControllers(t *testing.T) {
	t.Parallel()
	cfg, _ := fleetConfig(t)
	shared, err := os.MkdirTemp("", "cuttle-slots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	// The bind mount is the operator's to grant, in cuttle.yaml.
	if err := appendFile(cfg, fmt.Sprintf("defaults: {allowed_mounts: [%q]}\n", shared+":/shared")); err != nil {
		t.Fatal(err)
	}
	rb := filepath.Join(t.TempDir(), "one.yaml")
	os.WriteFile(rb, []byte(fmt.Sprintf(`steps:
  - name: exclusive
    pool: single
    run_on: all
    container: {image: %s, pull: never, options: "-v %s:/shared"}
    script: {inline: 'echo "start $$" >> /shared/log; sleep 1; echo "end $$" >> /shared/log'}
`, env.image, shared)), 0o644)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i := range codes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := runCuttle(t, "runbook", "run", rb, "--config", cfg)
			codes[i] = r.code
			if r.code != 0 {
				t.Errorf("controller %d: exit %d\n%s", i, r.code, r.stderr)
			}
		}()
	}
	wg.Wait()
	b, _ := os.ReadFile(filepath.Join(shared, "log"))
	lines := strings.Fields(strings.ReplaceAll(string(b), "\n", " "))
	if len(lines) != 8 || lines[0] != "start" || lines[2] != "end" || lines[4] != "start" || lines[6] != "end" || lines[1] != lines[3] {
		t.Errorf("the two steps overlapped on a worker limited to one step:\n%s", b)
	}
}

// appendFile adds text at the end of file.
func appendFile(file, text string) error {
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
