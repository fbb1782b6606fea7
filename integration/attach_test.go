//go:build integration

package integration

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestAttachAfterControllerKilled: the controller is SIGKILLed mid-step
// and never comes back; a new process, `cuttle attach STEP-ID`, takes the
// step over inside its window: the whole output from the first line,
// the sensitive value masked (it knows it only from the worker's
// encrypted masks file), the script's exit code, the artifact, and
// nothing left behind. The step runs on for longer than its window after
// the kill: the attached controller took the heartbeat over.
func TestAttachAfterControllerKilled(t *testing.T) {
	t.Parallel()
	s := newSSHD(t)
	state := t.TempDir()
	script := streamScript(60) + `
echo "secret is $(get_octopusvariable S)"
echo "artifact of the attached step" > a.txt
new_octopusartifact a.txt
exit 3`
	cmd, _ := cuttleCmd(t, argsFor(s, "--reattach-window", "5s", "--name", "attached", "--sensitive-var", "S=ATTACH_SECRET", "--inline", script)...)
	cmd.Env = append(cmd.Env, "CUTTLE_STATE_DIR="+state, "ATTACH_SECRET=hunter2-attach")
	pipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first, err := bufio.NewReader(pipe).ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "ready ") {
		t.Fatalf("first line %q (%v)", first, err)
	}
	wd := strings.TrimSpace(strings.TrimPrefix(first, "ready "))
	id := filepath.Base(wd)
	attach := func(args ...string) result { return runAttach(t, state, args...) }
	if early := attach(id, "--identity", env.key.PrivateFile, "--known-hosts", s.KnownHosts); early.code != 125 || !strings.Contains(early.stderr, "still followed by its controller") {
		t.Errorf("attach while the controller lives: exit %d\n%s", early.code, early.stderr)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	go io.Copy(io.Discard, pipe)
	cmd.Wait()
	goAhead(t, wd)
	ticket := filepath.Join(state, "tickets", id+".json")
	if fi, err := os.Stat(ticket); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ticket %s: %v (want mode 0600)", ticket, err)
	}
	if b, _ := os.ReadFile(ticket); strings.Contains(string(b), "hunter2") {
		t.Error("the ticket holds the sensitive value")
	}

	if l := attach(); l.code != 0 || !strings.Contains(l.stdout, id) || !strings.Contains(l.stdout, "attached") || !strings.Contains(l.stdout, "gone: cuttle attach "+id) {
		t.Fatalf("attach with no id should list step %s: exit %d\n%s%s", id, l.code, l.stdout, l.stderr)
	}
	arts := t.TempDir()
	rep := filepath.Join(t.TempDir(), "report.json")
	r := attach(id, "--identity", env.key.PrivateFile, "--known-hosts", s.KnownHosts, "--artifacts", arts, "--report", rep)
	if r.code != 3 {
		t.Fatalf("attach: exit %d, want the script's 3\nstdout: %.2000s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "hunter2-attach") {
		t.Error("the sensitive value reached the attached output")
	}
	out := r.stdout
	if !strings.HasPrefix(out, "ready "+wd+"\n") {
		t.Errorf("output does not start from the step's first line: %.200q", out)
	}
	masked := "secret is ********\n"
	if !strings.Contains(out, masked) {
		t.Errorf("no masked secret line in the output's end: %q", out[max(0, len(out)-300):])
	}
	checkWhole(t, strings.Replace(out, masked, "", 1), 60)
	b, err := os.ReadFile(filepath.Join(arts, "attached", "a.txt"))
	if err != nil || string(b) != "artifact of the attached step\n" {
		t.Errorf("artifact: %q, %v", b, err)
	}
	r.report = readReport(t, rep)
	assertNothingLeft(t, r)
	if fileExists(ticket) {
		t.Error("the ticket outlived the step")
	}
	if again := attach(id, "--identity", env.key.PrivateFile, "--known-hosts", s.KnownHosts); again.code != 125 || !strings.Contains(again.stderr, "no ticket") {
		t.Errorf("attaching to an ended step: exit %d, stderr %s", again.code, again.stderr)
	}
}

// TestAttachRunbookStep: a runbook's step outlives its killed `cuttle
// runbook run`; attach, with the worker named as in the config, takes it
// over and puts the artifact where the runbook would have.
func TestAttachRunbookStep(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "cuttle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("workers:\n  w1: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s}\n",
		env.sshd.Port, workerUser, env.key.PrivateFile, env.sshd.KnownHosts)), 0o600)
	rb := filepath.Join(dir, "rb.yaml")
	os.WriteFile(rb, []byte(fmt.Sprintf(`steps:
  - name: long
    worker: w1
    container: {image: %s, pull: never}
    script: {inline: 'echo "ready $PWD"; while [ ! -e go ]; do sleep 0.05; done; echo kept > k.txt; new_octopusartifact k.txt; exit 5'}
`, env.image)), 0o644)
	arts := filepath.Join(dir, "arts")
	cmd, _ := cuttleCmd(t, "runbook", "run", rb, "--config", cfg, "--artifacts", arts, "--reattach-window", "30s")
	cmd.Env = append(cmd.Env, "CUTTLE_STATE_DIR="+state)
	wd := killWhenReady(t, cmd)
	goAhead(t, wd)
	r := runAttach(t, state, filepath.Base(wd), "--config", cfg, "--report", filepath.Join(dir, "report.json"))
	if r.code != 5 {
		t.Fatalf("attach: exit %d, want 5\n%s%s", r.code, r.stdout, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(arts, "long", "k.txt")); err != nil || string(b) != "kept\n" {
		t.Errorf("artifact where the runbook would have put it: %q, %v", b, err)
	}
	r.report = readReport(t, filepath.Join(dir, "report.json"))
	assertNothingLeft(t, r)
}

// runAttach runs cuttle attach with the ticket directory state.
func runAttach(t *testing.T, state string, args ...string) result {
	t.Helper()
	c, _ := cuttleCmd(t, append([]string{"attach"}, args...)...)
	c.Env = append(c.Env, "CUTTLE_STATE_DIR="+state)
	var out, errb strings.Builder
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	return result{stdout: out.String(), stderr: errb.String(), code: exitCode(err)}
}
