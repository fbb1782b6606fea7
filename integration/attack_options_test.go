//go:build integration

package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cuttleContainers counts the containers cuttle made for the worker
// user, running or not.
func cuttleContainers(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("docker", "ps", "-a", "-q", "--filter", "label=io.cuttle.home="+env.user.Home).Output()
	if err != nil {
		t.Fatalf("docker ps: %v", err)
	}
	return len(bytes.Fields(out))
}

// TestAttackContainerOptions runs reproductions of the security review
// (reviews/security.md, critical 1 and 2) and variants of them through the
// real binary, without --allow-privileged. Each must be refused with exit
// 125 and the option named, and nothing may run: no output, no container,
// no work directory, and nothing written to the host directory the attack
// mounts. Not parallel, so that nothing else creates work directories
// meanwhile.
func TestAttackContainerOptions(t *testing.T) {
	loot := t.TempDir() // a host directory the step must not reach
	if err := os.WriteFile(filepath.Join(loot, "canary"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// The script tells whether it ran, and writes through the mount only
	// where it finds the canary: were the check broken, it would still
	// write nowhere else on this machine.
	script := `echo STEP-RAN; if [ -f /h/canary ]; then touch /h/pwned; fi; true`
	attacks := []string{
		"-v /etc/shadow:/h:ro",
		"-v " + loot + ":/h",
		"-v" + loot + "/../" + filepath.Base(loot) + ":/h",
		"-v /" + loot + "/:/h",
		"--mount type=bind,SRC=" + loot + ",dst=/h",
		`--mount "type=bind,\"src=` + loot + `\",dst=/h"`,
		"--mount type=volume,dst=/h,volume-driver=local,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=" + loot,
		"--mount Type=Volume,Target=/h,VOLUME-OPT=device=" + loot,
		"-v " + env.user.Home + ":/h",
		"-v " + env.user.Home + "/.cuttle/bundles:/h",
		"--network=host",
		"--network name=HOST",
		"--pid container:cuttle-victim",
		"--volumes-from cuttle-victim",
		"--cap-add cap_sys_admin -v " + loot + ":/h",
		"--log-driver json-file",
		"--privileged -v /:/h",
		"--env-file /etc/shadow",
		"-e A=1 evil/image sh",
	}
	dirsBefore, containersBefore := workDirs(t, env.user), cuttleContainers(t)
	for _, opts := range attacks {
		r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--container-options", opts, "--inline", script)...)
		if r.code != 125 || !strings.Contains(r.stderr, "container option") || strings.Contains(r.stdout+r.stderr, "STEP-RAN") {
			t.Errorf("options %q: exit %d (want 125, refused)\nstdout %s\nstderr %s", opts, r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, "allow") && !strings.Contains(r.stderr, "not allowed") && !strings.Contains(r.stderr, "not an option") {
			t.Errorf("options %q: the refusal does not say the fix: %s", opts, r.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(loot, "pwned")); err == nil {
		t.Errorf("a step wrote into the host directory it mounted")
	}
	if after := workDirs(t, env.user); len(after) != len(dirsBefore) {
		t.Errorf("work directories %d before the attacks, %d after: something ran", len(dirsBefore), len(after))
	}
	if n := cuttleContainers(t); n != containersBefore {
		t.Errorf("cuttle's containers: %d before the attacks, %d after", containersBefore, n)
	}
}

// TestOperatorGrantsMounts: what the operator lists in cuttle.yaml is
// allowed, exactly as listed; a runbook cannot grant itself more.
func TestOperatorGrantsMounts(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	if err := os.WriteFile(filepath.Join(cache, "granted.txt"), []byte("from-the-operator\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "cuttle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`workers:
  w1: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, allowed_mounts: ["%s:/cache:ro"]}
`, env.sshd.Port, workerUser, env.key.PrivateFile, env.sshd.KnownHosts, cache)), 0o600)
	run := func(opts, script string) result {
		return runCuttle(t, "run", "--config", cfg, "--worker", "w1", "--image", env.image, "--pull", "never",
			"--container-options", opts, "--inline", script)
	}
	r := run("-v "+cache+"/:/cache:ro", "cat /cache/granted.txt; touch /cache/x 2>/dev/null && echo WROTE; true")
	if r.code != 0 || !strings.Contains(r.stdout, "from-the-operator") || strings.Contains(r.stdout, "WROTE") {
		t.Fatalf("listed mount: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	assertNothingLeft(t, r)
	for _, opts := range []string{"-v " + cache + ":/cache", "-v " + cache + ":/elsewhere:ro", "-v " + filepath.Dir(cache) + ":/cache:ro"} {
		r := run(opts, "echo STEP-RAN")
		if r.code != 125 || !strings.Contains(r.stderr, "allowed_mounts of worker w1") || strings.Contains(r.stdout, "STEP-RAN") {
			t.Errorf("options %q: exit %d\nstdout %s\nstderr %s", opts, r.code, r.stdout, r.stderr)
		}
	}
	rb := filepath.Join(t.TempDir(), "rb.yaml")
	os.WriteFile(rb, []byte(fmt.Sprintf(`steps:
  - name: escalate
    worker: w1
    allow_privileged: true
    container: {image: %s, pull: never, options: "-v /:/h"}
    script: {inline: 'echo STEP-RAN'}
`, env.image)), 0o644)
	r = runCuttle(t, "runbook", "run", rb, "--config", cfg)
	if r.code != 125 || !strings.Contains(r.stderr, "cannot grant") || strings.Contains(r.stdout, "STEP-RAN") {
		t.Fatalf("runbook granting itself allow_privileged: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
}
