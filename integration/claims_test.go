//go:build integration

package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Tests for README claims that had none (issue 13, item 4). Each names the
// claim it holds the README to.

// writeFile writes a test's input file or fails the test.
func writeFile(t *testing.T, path, text string, mode os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// sharedWorkerConfig writes a cuttle.yaml naming the shared worker w1,
// followed by extra YAML.
func sharedWorkerConfig(t *testing.T, extra string) string {
	t.Helper()
	return writeFile(t, filepath.Join(t.TempDir(), "cuttle.yaml"), fmt.Sprintf(
		"workers:\n  w1: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s}\n%s",
		env.sshd.Port, workerUser, env.key.PrivateFile, env.sshd.KnownHosts, extra), 0o600)
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

// README: "--build-arg K=V" reaches the build.
func TestBuildArg(t *testing.T) {
	t.Parallel()
	df := writeFile(t, filepath.Join(t.TempDir(), "Dockerfile"),
		"FROM "+env.image+"\nARG GREETING=unset\nLABEL t="+uniq(t)+"\nRUN echo \"greeting=$GREETING\" > /greeting\n", 0o644)
	r := runCuttle(t, append(workerArgs(), "--dockerfile", df, "--build-arg", "GREETING=from-build-arg", "--inline", "cat /greeting")...)
	if r.code != 0 || !strings.Contains(r.stdout, "greeting=from-build-arg") {
		t.Fatalf("exit %d, want the build arg in the image\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", step(t, r).Image).Run() })
}

// README: "a config feed whose registry matches the image is used
// automatically", and feeds read passwords from password_file.
func TestFeedMatchedByRegistryWithPasswordFile(t *testing.T) {
	t.Parallel()
	ref := pushed(t, "auto/feed-"+uniq(t))
	pwFile := writeFile(t, filepath.Join(t.TempDir(), "registry-password"), env.registry.Password+"\n", 0o600)
	args := []string{"run", "--worker", "w1", "--image", ref, "--pull", "always", "--inline", "echo pulled-with-feed"}
	// Without a feed the registry refuses the pull: credentials are needed.
	bare := runCuttle(t, append(args, "--config", sharedWorkerConfig(t, ""))...)
	if bare.code != 125 {
		t.Fatalf("pull without credentials: exit %d, want 125\n%s", bare.code, bare.stderr)
	}
	cfg := sharedWorkerConfig(t, fmt.Sprintf("feeds:\n  reg: {registry: %s, username: %s, password_file: %s}\n", env.registry.Addr, env.registry.User, pwFile))
	r := runCuttle(t, append(args, "--config", cfg)...)
	if r.code != 0 || !strings.Contains(r.stdout, "pulled-with-feed") {
		t.Fatalf("no --feed, a matching feed in the config: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr+r.report.Raw, env.registry.Password) {
		t.Error("the feed's password reached the output or the report")
	}
}

// README: condition failure runs a step only after a failure, success
// (the default) only while nothing failed, always in any case; a step's
// timeout: stops it with 124.
func TestRunbookConditionsAndStepTimeout(t *testing.T) {
	t.Parallel()
	cfg := sharedWorkerConfig(t, "")
	step := func(name, extra, script string) string {
		return fmt.Sprintf("  - name: %s\n    worker: w1\n%s    container: {image: %s, pull: never}\n    script: {inline: '%s'}\n", name, extra, env.image, script)
	}
	rb := writeFile(t, filepath.Join(t.TempDir(), "rb.yaml"), "steps:\n"+
		step("ok", "", "echo ran-ok")+
		step("on-failure-early", "    condition: failure\n", "echo ran-on-failure-early")+
		step("fails", "", "exit 3")+
		step("on-success", "", "echo ran-on-success")+
		step("on-failure", "    condition: failure\n", "echo ran-on-failure")+
		step("slow", "    condition: always\n    timeout: 10s\n", "echo slow-start; sleep 60; echo slow-end"), 0o644)
	r := runCuttle(t, "runbook", "run", rb, "--config", cfg)
	if r.code == 0 {
		t.Errorf("a runbook with a failed step exited 0")
	}
	got := map[string]string{}
	for _, s := range r.report.Steps {
		got[s.Name] = fmt.Sprintf("skipped=%v exit=%d", s.Skipped, s.ExitCode)
		if !s.Skipped {
			assertPhases(t, s, "connect", "preflight", "script", "cleanup")
		}
	}
	want := map[string]string{
		"ok":               "skipped=false exit=0",
		"on-failure-early": "skipped=true exit=0",
		"fails":            "skipped=false exit=3",
		"on-success":       "skipped=true exit=0",
		"on-failure":       "skipped=false exit=0",
		"slow":             "skipped=false exit=124",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("step %s: %s, want %s", name, got[name], w)
		}
	}
	if t.Failed() {
		t.Logf("report: %s\nstderr: %s", r.report.Raw, r.stderr)
	}
	out := r.stdout
	for _, s := range []string{"ran-ok", "ran-on-failure", "slow-start"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	for _, s := range []string{"ran-on-success", "ran-on-failure-early", "slow-end"} {
		if strings.Contains(out, s) {
			t.Errorf("output has %q, from a step that should not have run (on)", s)
		}
	}
}

// README: run_on: one takes the first reachable worker of the pool.
func TestRunOnOneSkipsUnreachableWorker(t *testing.T) {
	t.Parallel()
	cfg := sharedWorkerConfig(t, fmt.Sprintf(
		"  a-down: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, pool: p}\n"+
			"  b-up: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, pool: p}\n"+
			"pools:\n  p: {max_steps_per_worker: 4}\n",
		closedPort(t), workerUser, env.key.PrivateFile, env.sshd.KnownHosts,
		env.sshd.Port, workerUser, env.key.PrivateFile, env.sshd.KnownHosts))
	rb := writeFile(t, filepath.Join(t.TempDir(), "rb.yaml"), fmt.Sprintf(
		"steps:\n  - name: one\n    pool: p\n    run_on: one\n    container: {image: %s, pull: never}\n    script: {inline: 'echo ran-once'}\n", env.image), 0o644)
	r := runCuttle(t, "runbook", "run", rb, "--config", cfg, "--connect-timeout", "2s")
	if r.code != 0 || strings.Count(r.stdout, "ran-once") != 1 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if w := step(t, r).Worker; !strings.HasPrefix(w, "b-up ") {
		t.Errorf("ran on %q, want b-up (a-down, first by name, is unreachable)", w)
	}
}

// README: write_wait, decode_servicemessagevalue and the bash
// octopus_parameters array.
func TestMoreOctopusHelpers(t *testing.T) {
	t.Parallel()
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--var", "Greeting=héllo wörld", "--var", "Other Name=two words",
		"--inline", `write_wait "waiting for the lock"
enc=$(encode_servicemessagevalue "$(get_octopusvariable Greeting)")
echo "encoded=$enc"
echo "decoded=$(decode_servicemessagevalue "$enc")"
echo "param=${octopus_parameters[Greeting]}"
echo "param2=${octopus_parameters[Other Name]}"
echo "count=${#octopus_parameters[@]}"`)...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"waiting for the lock\n", "encoded=aMOpbGxvIHfDtnJsZA==\n", "decoded=héllo wörld\n", "param=héllo wörld\n", "param2=two words\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "##octopus") {
		t.Errorf("a service message reached the output:\n%s", r.stdout)
	}
}

// README: attach refuses while the ticket's controller pid is alive,
// --force overrides that (the pid being something else), and Ctrl-C
// detaches an attach, leaving the step to run for a later attach.
func TestAttachForceAndCtrlCDetaches(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	cmd, _ := cuttleCmd(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--reattach-window", "30s", "--name", "forced",
		"--inline", `echo "ready $PWD"; while [ ! -e go ]; do sleep 0.05; done; echo after-go; exit 4`)...)
	cmd.Env = append(cmd.Env, "CUTTLE_STATE_DIR="+state)
	wd := killWhenReady(t, cmd)
	id := filepath.Base(wd)

	// The ticket now names a live process that is not a cuttle: this test.
	ticket := filepath.Join(state, "tickets", id+".json")
	var tk map[string]any
	b, err := os.ReadFile(ticket)
	if err != nil || json.Unmarshal(b, &tk) != nil {
		t.Fatalf("ticket %s: %v", ticket, err)
	}
	tk["controller_pid"] = os.Getpid()
	b, _ = json.Marshal(tk)
	writeFile(t, ticket, string(b), 0o600)
	if r := runAttach(t, state, id, "--identity", env.key.PrivateFile, "--known-hosts", env.sshd.KnownHosts); r.code != 125 || !strings.Contains(r.stderr, "--force") {
		t.Fatalf("attach while the ticket's pid lives: exit %d, want 125 naming --force\n%s", r.code, r.stderr)
	}

	// Attach with --force, then Ctrl-C once the replay arrived: detached.
	a, _ := cuttleCmd(t, "attach", id, "--force", "--identity", env.key.PrivateFile, "--known-hosts", env.sshd.KnownHosts)
	a.Env = append(a.Env, "CUTTLE_STATE_DIR="+state)
	apipe, _ := a.StdoutPipe()
	var aerr strings.Builder
	a.Stderr = &aerr
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(apipe).ReadString('\n'); err != nil || line != "ready "+wd+"\n" {
		t.Fatalf("attach replay: %q (%v), want %q\n%s", line, err, "ready "+wd+"\n", aerr.String())
	}
	a.Process.Signal(syscall.SIGINT)
	go io.Copy(io.Discard, apipe)
	a.Wait()
	if out, _ := exec.Command("docker", "ps", "-q", "--filter", "label=io.cuttle.step="+id).Output(); len(strings.TrimSpace(string(out))) == 0 {
		t.Fatalf("Ctrl-C on attach stopped the step (attach exit %d)\n%s", a.ProcessState.ExitCode(), aerr.String())
	}
	if !fileExists(ticket) || !fileExists(wd) {
		t.Fatalf("after detaching: ticket kept %v, work dir kept %v", fileExists(ticket), fileExists(wd))
	}

	// A later attach takes the step to its end.
	goAhead(t, wd)
	r := runAttach(t, state, id, "--force", "--identity", env.key.PrivateFile, "--known-hosts", env.sshd.KnownHosts, "--report", ledgerOf(t).reportPath())
	if r.code != 4 || !strings.Contains(r.stdout, "after-go") {
		t.Fatalf("final attach: exit %d, want 4\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
}

// A worker whose ~/.cuttle is on a noexec mount cannot run cuttle's
// programs on the host (the output follower, the dead man's switch): the
// step fails with 125 naming the fix, and leaves nothing behind. (The
// README used to say such a worker runs steps without the watchdog; it
// cannot, since the output comes through the same bundle.)
func TestNoexecWorkerRefusedWithTheFix(t *testing.T) {
	t.Parallel()
	u, err := suiteUser("cuttle-noexec2", true)
	if err != nil {
		t.Fatal(err)
	}
	tmpfsHome(t, u, "size=64m,noexec")
	r := runCuttle(t, "run", "--worker", env.sshd.URL(u.Name), "--identity", env.key.PrivateFile, "--known-hosts", env.sshd.KnownHosts,
		"--image", env.image, "--pull", "never", "--inline", "echo ran-on-noexec")
	if r.code != 125 || !strings.Contains(r.stderr, "remount it without noexec") {
		t.Fatalf("exit %d, want 125 naming the fix\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	assertNothingLeftIn(t, r, u.Home)
}
