//go:build integration

package integration

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// The fault-injection suite: run it alone with `make test-faults`. Each
// test gets a worker sshd of its own, most inside a network namespace
// whose link the test cuts, restores or degrades with nftables.

// newNetnsSSHD starts an sshd inside a fresh network namespace.
func newNetnsSSHD(t *testing.T) (*testenv.SSHD, *testenv.Netns) {
	t.Helper()
	ns, err := testenv.NewNetns()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Close)
	dir := filepath.Join(env.dir, "sshd-"+uniq(t))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := testenv.StartSSHD(testenv.SSHDOptions{Dir: dir, AuthorizedKeys: []ssh.PublicKey{env.key.Public}, Netns: ns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, ns
}

func argsFor(s *testenv.SSHD, extra ...string) []string {
	return append([]string{"run", "--worker", s.URL(workerUser), "--identity", env.key.PrivateFile, "--known-hosts", s.KnownHosts,
		"--image", env.image, "--pull", "never"}, extra...)
}

// streamScript prints "ready $PWD", waits for the test to drop a file
// named go in the work directory, then prints a burst (more than the
// pipes and buffers on the way hold, while the link is down) and
// numbered ticks, ten a second.
func streamScript(ticks int) string {
	return fmt.Sprintf(`echo "ready $PWD"
while [ ! -e go ]; do sleep 0.05; done
seq 1 30000 | sed 's/^/burst /'
i=1; while [ $i -le %d ]; do echo "tick $i"; i=$((i+1)); sleep 0.1; done
echo finished`, ticks)
}

// checkWhole fails unless out holds every line of streamScript exactly
// once, in order.
func checkWhole(t *testing.T, out string, ticks int) {
	t.Helper()
	var want []string
	for i := 1; i <= 30000; i++ {
		want = append(want, fmt.Sprintf("burst %d", i))
	}
	for i := 1; i <= ticks; i++ {
		want = append(want, fmt.Sprintf("tick %d", i))
	}
	want = append(want, "finished")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > 0 && strings.HasPrefix(lines[0], "ready ") {
		lines = lines[1:]
	}
	if len(lines) != len(want) {
		t.Errorf("got %d lines after ready, want %d", len(lines), len(want))
	}
	for i := range min(len(lines), len(want)) {
		if lines[i] != want[i] {
			t.Fatalf("line %d is %q, want %q (output lost or repeated)", i+1, lines[i], want[i])
		}
	}
}

// startStep starts cuttle and returns once the step printed its work
// directory; the rest of stdout is collected into the returned buffer.
func startStep(t *testing.T, args []string) (cmd *exec.Cmd, rep, wd string, stdout *bytes.Buffer, stderr *bytes.Buffer, done chan error) {
	t.Helper()
	return startStepEnv(t, nil, args)
}

// startStepEnv is startStep with extra environment for cuttle.
func startStepEnv(t *testing.T, extraEnv, args []string) (cmd *exec.Cmd, rep, wd string, stdout *bytes.Buffer, stderr *bytes.Buffer, done chan error) {
	t.Helper()
	cmd, rep = cuttleCmd(t, args...)
	cmd.Env = append(cmd.Env, extraEnv...)
	pipe, _ := cmd.StdoutPipe()
	stderr = &bytes.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(pipe)
	first, err := br.ReadString('\n')
	if err != nil || !strings.HasPrefix(first, "ready ") {
		t.Fatalf("first line %q (%v); stderr %s", first, err, stderr)
	}
	wd = strings.TrimSpace(strings.TrimPrefix(first, "ready "))
	stdout = &bytes.Buffer{}
	stdout.WriteString(first)
	done = make(chan error, 1)
	go func() {
		_, err := io.Copy(stdout, br)
		if err == nil {
			err = cmd.Wait()
		}
		done <- err
	}()
	return cmd, rep, wd, stdout, stderr, done
}

func goAhead(t *testing.T, wd string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(wd, "go"), nil, 0o666); err != nil {
		t.Fatal(err)
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func waitDone(t *testing.T, done chan error, d time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("cuttle did not finish within %s", d)
		return nil
	}
}

// TestFaultLinkDropReattach cuts the worker's link for 10 s while the
// step prints: the controller finds the link dead, reconnects once it is
// back, and resumes the output where it stopped. Nothing is lost or
// repeated, the exit code is the script's, nothing is left behind.
func TestFaultLinkDropReattach(t *testing.T) {
	t.Parallel()
	s, ns := newNetnsSSHD(t)
	_, rep, wd, stdout, stderr, done := startStep(t, argsFor(s, "--keepalive", "1s", "--connect-timeout", "3s",
		"--reattach-window", "2m", "--inline", streamScript(100)+"\nexit 3"))
	if err := ns.Cut(); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	goAhead(t, wd)
	time.Sleep(10 * time.Second)
	if err := ns.Restore(); err != nil {
		t.Fatal(err)
	}
	err := waitDone(t, done, 2*time.Minute)
	t.Logf("link cut for 10s; step finished %s after the cut", time.Since(cut).Round(100*time.Millisecond))
	assertReattached(t, err, 3, stdout, stderr, rep, 100)
}

// assertReattached checks a step that lost its link: it reattached, ended
// with the script's own code, its output is whole, nothing is left.
func assertReattached(t *testing.T, err error, wantCode int, stdout, stderr *bytes.Buffer, rep string, ticks int) {
	t.Helper()
	if code := exitCode(err); code != wantCode {
		t.Fatalf("exit %d (%v), want the script's %d\nstderr: %s", code, err, wantCode, stderr)
	}
	if !strings.Contains(stderr.String(), "reattached") {
		t.Errorf("no reattach reported; stderr: %s", stderr)
	}
	checkWhole(t, stdout.String(), ticks)
	assertNothingLeft(t, result{report: readReport(t, rep), stdout: stdout.String(), stderr: stderr.String()})
}

// TestFaultLinkDropPastWindow keeps the link cut past the reattach
// window: the step fails with exit 125 and a reason naming the window;
// once the link is back, nothing of the step is left on the worker (its
// dead man's switch removed it, and gc finds nothing more).
func TestFaultLinkDropPastWindow(t *testing.T) {
	t.Parallel()
	s, ns := newNetnsSSHD(t)
	// A user of its own: gc --older-than 0s below must not meet other
	// tests' steps.
	u, err := suiteUser("cuttle-drop", true)
	if err != nil {
		t.Fatal(err)
	}
	args := argsFor(s, "--keepalive", "1s", "--connect-timeout", "2s", "--reattach-window", "4s", "--inline", streamScript(600)) // would run 60s
	args[2] = s.URL(u.Name)
	_, rep, wd, _, stderr, done := startStep(t, args)
	if err := ns.Cut(); err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	goAhead(t, wd)
	err = waitDone(t, done, time.Minute)
	gaveUp := time.Since(cut)
	if code := exitCode(err); code != 125 {
		t.Fatalf("exit %d, want 125\nstderr: %s", code, stderr)
	}
	if !strings.Contains(stderr.String(), "not regained within the reattach window (4s)") {
		t.Errorf("the error does not give the reason; stderr: %s", stderr)
	}
	r := readReport(t, rep)
	if len(r.Steps) != 1 || !strings.Contains(r.Steps[0].Error, "reattach window") {
		t.Errorf("report: %s", r.Raw)
	} else {
		cleanupFailedOnPurpose(t, r.Steps[0].ID) // the worker removes it, checked below
	}
	if err := ns.Restore(); err != nil {
		t.Fatal(err)
	}
	cleaned := waitRemovedByWorker(t, s, u, wd, cut, "the link came back")
	t.Logf("gave up %s after the cut (window 4s); the worker had removed the step %s after the cut", gaveUp.Round(100*time.Millisecond), cleaned.Round(100*time.Millisecond))
}

// waitRemovedByWorker waits (30 s at most, once what broke is mended)
// until the worker's dead man's switch has removed the step in wd, then
// checks that gc finds nothing more; it returns how long after since the
// step was gone.
func waitRemovedByWorker(t *testing.T, s *testenv.SSHD, u testenv.User, wd string, since time.Time, mended string) time.Duration {
	t.Helper()
	name := "cuttle-" + filepath.Base(wd)
	deadline := time.Now().Add(30 * time.Second)
	for fileExists(wd) || exec.Command("docker", "inspect", name).Run() == nil {
		if time.Now().After(deadline) {
			t.Fatalf("30s after %s the step is still on the worker (work dir %v)", mended, fileExists(wd))
		}
		time.Sleep(200 * time.Millisecond) // polling the worker, bounded
	}
	cleaned := time.Since(since)
	g := runCuttle(t, "gc", "--worker", s.URL(u.Name), "--identity", env.key.PrivateFile, "--known-hosts", s.KnownHosts, "--older-than", "0s")
	if g.code != 0 {
		t.Errorf("gc: exit %d\n%s%s", g.code, g.stdout, g.stderr)
	}
	if fileExists(recordOf(wd)) {
		t.Errorf("record %s left", recordOf(wd))
	}
	return cleaned
}

// TestFaultLatencyAndLoss runs steps over a link with 100 ms of round
// trip (a userspace delay: this kernel has no netem) and 1% packet loss
// each way (nftables in the worker's namespace).
func TestFaultLatencyAndLoss(t *testing.T) {
	t.Parallel()
	s, ns := newNetnsSSHD(t)
	if err := ns.Loss(1); err != nil {
		t.Fatal(err)
	}
	p, kh := delayed(t, s, 50*time.Millisecond)
	for i := range 3 {
		start := time.Now()
		r := runCuttle(t, "run", "--worker", fmt.Sprintf("ssh://%s@127.0.0.1:%d", workerUser, p.Port), "--identity", env.key.PrivateFile,
			"--known-hosts", kh, "--image", env.image, "--pull", "never", "--artifacts", t.TempDir(),
			"--inline", `seq 1 20000 > numbers.txt; new_octopusartifact numbers.txt; echo "step ok"`)
		if r.code != 0 || !strings.Contains(r.stdout, "step ok") {
			t.Fatalf("run %d: exit %d\n%s\n%s", i, r.code, r.stdout, r.stderr)
		}
		st := step(t, r)
		if len(st.Artifacts) != 1 || st.Artifacts[0].Size != 108894 {
			t.Errorf("artifact: %+v", st.Artifacts)
		}
		assertNothingLeft(t, r)
		t.Logf("step %d over 100ms RTT + 1%% loss: %s", i, time.Since(start).Round(10*time.Millisecond))
	}
}

// TestFaultSSHDRestartMidStep kills the worker's sshd with every session
// it serves (docker's client included) mid-step, as a restart that takes
// the sessions down does: the controller reconnects at once and finishes.
func TestFaultSSHDRestartMidStep(t *testing.T) {
	t.Parallel()
	s := newSSHD(t)
	_, rep, wd, stdout, stderr, done := startStep(t, argsFor(s, "--reattach-window", "1m", "--inline", streamScript(30)))
	killed := 0
	for _, pid := range s.Pids() {
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed++
		}
	}
	if killed == 0 {
		t.Fatal("no sshd process to kill")
	}
	killedAt := time.Now()
	goAhead(t, wd)
	err := waitDone(t, done, time.Minute)
	t.Logf("sshd and its %d processes killed mid-step; the step finished, output whole, %s later (it had 3 s of ticks left)", killed, time.Since(killedAt).Round(100*time.Millisecond))
	assertReattached(t, err, 0, stdout, stderr, rep, 30)
}

// TestFaultEngineStopped: the worker's docker CLI finds no engine (its
// socket is there but nothing listens, as after dockerd stopped). The
// step fails with 125 and the fix, before anything is created.
func TestFaultEngineStopped(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(env.dir, "stopped-"+uniq(t)+".sock")
	// A socket file with no listener: connect() is refused.
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	os.Chmod(sock, 0o666)
	s := newSSHD(t, "SetEnv DOCKER_HOST=unix://"+sock)
	// A user of its own, so other tests' records do not count.
	u, err := suiteUser("cuttle-noengine", true)
	if err != nil {
		t.Fatal(err)
	}
	before := listDir(t, filepath.Join(u.Home, ".cuttle/runs"))
	args := argsFor(s, "--inline", "echo SHOULD-NOT-RUN")
	args[2] = s.URL(u.Name)
	r := runCuttle(t, args...)
	if r.code != 125 || strings.Contains(r.stdout, "SHOULD-NOT-RUN") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"engine", "systemctl start docker"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q: %s", want, r.stderr)
		}
	}
	if after := listDir(t, filepath.Join(u.Home, ".cuttle/runs")); len(after) > len(before) {
		t.Errorf("a run record was created: %v -> %v", before, after)
	}
}

// engineWorker is a worker user (of its own: the checks below must not
// meet other tests' steps) behind an sshd whose Docker engine the test can
// stop and start (an EngineProxy to the shared engine).
func engineWorker(t *testing.T, user string) (*testenv.SSHD, *testenv.EngineProxy, testenv.User) {
	t.Helper()
	proxy, err := testenv.StartEngineProxy(filepath.Join(env.dir, "engine-"+uniq(t)+".sock"), "/var/run/docker.sock")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Stop)
	s := newSSHD(t, "SetEnv DOCKER_HOST=unix://"+proxy.Path)
	u, err := suiteUser(user, true)
	if err != nil {
		t.Fatal(err)
	}
	return s, proxy, u
}

// TestFaultEngineRestartMidStep: the worker's Docker engine goes away for
// 3 s while the step prints (its API connections cut, new ones refused)
// and comes back, as a dockerd restart with live-restore looks to a
// client; the container goes on. The step ends with its whole output and
// its own exit code, and nothing is left behind.
func TestFaultEngineRestartMidStep(t *testing.T) {
	t.Parallel()
	s, proxy, u := engineWorker(t, "cuttle-blip")
	args := argsFor(s, "--inline", streamScript(30)+"\nexit 4")
	args[2] = s.URL(u.Name)
	_, rep, wd, stdout, stderr, done := startStep(t, args)
	proxy.Stop()
	stoppedAt := time.Now()
	goAhead(t, wd)
	time.Sleep(3 * time.Second)
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	err := waitDone(t, done, time.Minute)
	t.Logf("engine away 3 s mid-step; the step finished %s after it went", time.Since(stoppedAt).Round(100*time.Millisecond))
	if code := exitCode(err); code != 4 {
		t.Fatalf("exit %d (%v), want the script's 4\nstderr: %s", code, err, stderr)
	}
	checkWhole(t, stdout.String(), 30)
	assertNothingLeftIn(t, result{report: readReport(t, rep), stdout: stdout.String(), stderr: stderr.String()}, u.Home)
}

// TestFaultEngineAwayPastWindow: the engine stays away longer than the
// reattach window while a long step runs on. The step fails with 125 and
// a reason naming the engine and the fix; once the engine is back the
// worker's dead man's switch removes the step, and gc finds nothing more.
func TestFaultEngineAwayPastWindow(t *testing.T) {
	t.Parallel()
	s, proxy, u := engineWorker(t, "cuttle-noengine2")
	args := argsFor(s, "--reattach-window", "3s", "--inline", streamScript(600)) // would run 60s
	args[2] = s.URL(u.Name)
	_, rep, wd, _, stderr, done := startStep(t, args)
	proxy.Stop()
	stoppedAt := time.Now()
	goAhead(t, wd)
	err := waitDone(t, done, time.Minute)
	gaveUp := time.Since(stoppedAt)
	if code := exitCode(err); code != 125 {
		t.Fatalf("exit %d, want 125\nstderr: %s", code, stderr)
	}
	for _, want := range []string{"Docker engine on the worker stopped answering", "within 3s", "systemctl start docker"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q: %s", want, stderr)
		}
	}
	if r := readReport(t, rep); len(r.Steps) != 1 || !strings.Contains(r.Steps[0].Error, "stopped answering") {
		t.Errorf("report: %s", r.Raw)
	} else {
		cleanupFailedOnPurpose(t, r.Steps[0].ID) // the worker removes it, checked below
	}
	if err := proxy.Start(); err != nil {
		t.Fatal(err)
	}
	cleaned := waitRemovedByWorker(t, s, u, wd, stoppedAt, "the engine came back")
	t.Logf("gave up %s after the engine went (window 3s); the worker had removed the step %s after", gaveUp.Round(100*time.Millisecond), cleaned.Round(100*time.Millisecond))
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, _ := os.ReadDir(dir)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// fullUser is a worker user whose home is an 8 MiB tmpfs: the runner
// bundle (about 19 MB) does not fit.
func fullUser(t *testing.T) testenv.User {
	t.Helper()
	u, err := suiteUser("cuttle-full", true)
	if err != nil {
		t.Fatal(err)
	}
	tmpfsHome(t, u, "size=8m")
	return u
}

// TestFaultDiskFullDuringUpload: the worker's disk fills during the
// bundle upload. The error says so and what to do; no partial bundle is
// marked complete, no upload, work directory or record is left.
func TestFaultDiskFullDuringUpload(t *testing.T) {
	t.Parallel()
	u := fullUser(t)
	s := newSSHD(t)
	r := runCuttle(t, "run", "--worker", s.URL(u.Name), "--identity", env.key.PrivateFile, "--known-hosts", s.KnownHosts,
		"--image", env.image, "--pull", "never", "--inline", "echo SHOULD-NOT-RUN")
	if r.code != 125 || strings.Contains(r.stdout, "SHOULD-NOT-RUN") {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"no space left on the worker", u.Home + "/.cuttle/bundles has", "cuttle gc"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q: %s", want, r.stderr)
		}
	}
	var left []string
	filepath.WalkDir(filepath.Join(u.Home, ".cuttle"), func(p string, d os.DirEntry, err error) error {
		// The preflight's docker version cache (a few bytes, kept on
		// purpose like a bundle) is not a leftover of the failed upload.
		if err == nil && !d.IsDir() && p != filepath.Join(u.Home, ".cuttle/docker-version") {
			left = append(left, p)
		}
		return nil
	})
	if len(left) > 0 {
		t.Errorf("left on the full disk: %v", left)
	}
	if ws := listDir(t, filepath.Join(u.Home, ".cuttle/work")); len(ws) > 0 {
		t.Errorf("work directories left: %v", ws)
	}
	t.Logf("disk full: %s", strings.TrimSpace(r.stderr))
}

// TestFaultKillDuringUpload kills the controller with SIGKILL while it
// uploads the runner bundle to a worker that has none: no partial bundle
// is ever marked complete, the next step uploads and runs normally, and
// gc removes the dead upload and the dead step's work directory.
func TestFaultKillDuringUpload(t *testing.T) {
	t.Parallel()
	u, err := suiteUser("cuttle-upl", true)
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(u.Home, ".cuttle"))
	s := newSSHD(t)
	// A slow link (2 ms each way per chunk) stretches the upload so the
	// kill lands inside it.
	p, kh := delayed(t, s, 2*time.Millisecond)
	args := []string{"run", "--worker", fmt.Sprintf("ssh://%s@127.0.0.1:%d", u.Name, p.Port), "--identity", env.key.PrivateFile,
		"--known-hosts", kh, "--image", env.image, "--pull", "never", "--inline", "echo step ran"}
	cmd, _ := cuttleCmd(t, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	bundles := filepath.Join(u.Home, ".cuttle/bundles")
	deadline := time.Now().Add(30 * time.Second)
	var partial string
	for partial == "" {
		for _, n := range listDir(t, bundles) {
			if strings.HasPrefix(n, ".upload-") || strings.Contains(n, ".part-") {
				partial = n
			}
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("never saw the upload start")
		}
		time.Sleep(time.Millisecond) // polling for the upload, bounded
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	var complete []string
	for _, n := range listDir(t, bundles) {
		if fileExists(filepath.Join(bundles, n, ".complete")) {
			complete = append(complete, n)
		}
	}
	if len(complete) > 0 {
		t.Fatalf("killed during the upload of %s, yet bundles %v are marked complete", partial, complete)
	}
	if r := runCuttle(t, args...); r.code != 0 || !strings.Contains(r.stdout, "step ran") {
		t.Fatalf("the next step: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	g := runCuttle(t, "gc", "--worker", fmt.Sprintf("ssh://%s@127.0.0.1:%d", u.Name, p.Port), "--identity", env.key.PrivateFile,
		"--known-hosts", kh, "--older-than", "0s")
	if g.code != 0 {
		t.Fatalf("gc: exit %d\n%s\n%s", g.code, g.stdout, g.stderr)
	}
	for _, n := range listDir(t, bundles) {
		if strings.HasPrefix(n, ".upload-") || strings.Contains(n, ".part-") {
			t.Errorf("gc left the dead upload %s", n)
		}
	}
	if ws := listDir(t, filepath.Join(u.Home, ".cuttle/work")); len(ws) > 0 {
		t.Errorf("gc left work directories %v", ws)
	}
	if rs := listDir(t, filepath.Join(u.Home, ".cuttle/runs")); len(rs) > 0 {
		t.Errorf("gc left records %v", rs)
	}
	t.Logf("killed during the upload (%s on the worker, no bundle marked complete); the next step ran; gc removed: %s", partial, strings.Join(strings.Fields(g.stdout), " "))
}

// delayed puts a latency proxy (delay each way) in front of s and returns
// it with a known_hosts file that names s's key under the proxy's port.
func delayed(t *testing.T, s *testenv.SSHD, delay time.Duration) (*testenv.LatencyProxy, string) {
	t.Helper()
	p, err := testenv.StartLatencyProxy(s.Addr, delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	kh := filepath.Join(t.TempDir(), "known_hosts")
	b, _ := os.ReadFile(s.KnownHosts)
	os.WriteFile(kh, bytes.ReplaceAll(b, []byte(fmt.Sprintf("[%s]:%d", s.Host, s.Port)), []byte(fmt.Sprintf("[127.0.0.1]:%d", p.Port))), 0o644)
	return p, kh
}
