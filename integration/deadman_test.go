//go:build integration

package integration

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDeadMansSwitch kills the controller mid-step and never restarts it:
// the worker removes the step's container and work directory by itself
// once the window has passed. A live controller's long step is kept.
func TestDeadMansSwitch(t *testing.T) {
	t.Parallel()
	// Live: a step longer than the window survives, the heartbeat holds it.
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--dead-man-window", "1s",
		"--inline", "sleep 3; echo survived")...)
	if r.code != 0 || !strings.Contains(r.stdout, "survived") {
		t.Fatalf("live controller: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	assertNothingLeft(t, r)

	cmd, _ := cuttleCmd(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--dead-man-window", "2s",
		"--inline", `echo "started $PWD"; sleep 600`)...)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "started ") {
		t.Fatalf("first line %q", sc.Text())
	}
	wd := strings.TrimPrefix(sc.Text(), "started ")
	name := "cuttle-" + filepath.Base(wd)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	killed := time.Now()
	if err := exec.Command("docker", "inspect", name).Run(); err != nil {
		t.Fatalf("the container should still run right after the controller died: %v", err)
	}
	deadline := killed.Add(45 * time.Second)
	for {
		_, wdErr := os.Stat(wd)
		ctrErr := exec.Command("docker", "inspect", name).Run()
		if wdErr != nil && ctrErr != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("45s after the controller died: work dir present %v, container present %v", wdErr == nil, ctrErr == nil)
		}
		time.Sleep(200 * time.Millisecond) // polling the worker, bounded by the deadline
	}
	if fileExists(recordOf(wd)) {
		t.Errorf("the watchdog left the run's record %s", recordOf(wd))
	}
	t.Logf("worker removed the orphaned step %s after the controller's kill -9 (window 2s)", time.Since(killed).Round(100*time.Millisecond))
}

// TestKeepWorkspaceOutlivesTheWindow: --keep-workspace keeps the work
// directory (and its files) after the step, and the dead man's switch,
// whose window passes right after, leaves it alone: the controller ended
// the step properly. Credentials still go.
func TestKeepWorkspaceOutlivesTheWindow(t *testing.T) {
	t.Parallel()
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--reattach-window", "1s", "--keep-workspace",
		"--inline", `echo kept > kept.txt; echo "wd $PWD"`)...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	s := step(t, r)
	keepStep(t, s.ID)
	t.Cleanup(func() { os.RemoveAll(s.WorkDir) })
	time.Sleep(3 * time.Second) // three windows: a watchdog would have acted
	b, err := os.ReadFile(filepath.Join(s.WorkDir, "kept.txt"))
	if err != nil || string(b) != "kept\n" {
		t.Fatalf("kept workspace lost its file after the window: %q, %v", b, err)
	}
	for _, gone := range []string{".docker-config", ".cuttle-heartbeat"} {
		if fileExists(filepath.Join(s.WorkDir, gone)) {
			t.Errorf("%s left in the kept workspace", gone)
		}
	}
	if exec.Command("docker", "inspect", "cuttle-"+s.ID).Run() == nil {
		t.Errorf("container cuttle-%s left", s.ID)
	}
}
