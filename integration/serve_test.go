//go:build integration

package integration

import (
	"bufio"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/serve"
)

// startServe starts `cuttle serve` and returns its base URL.
func startServe(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	return startServeEnv(t, nil, args...)
}

// startServeEnv starts `cuttle serve` with env added to its environment.
func startServeEnv(t *testing.T, env []string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd, _ := cuttleCmd(t, append([]string{"serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(cmd.Env, env...)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	re := regexp.MustCompile(`listening on (https?://\S+)`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, stderr)
			return cmd, m[1]
		}
	}
	cmd.Wait()
	t.Fatalf("serve did not start")
	return nil, ""
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

// finishedRuns counts the finished runs in a running serve's history,
// read-only, beside the process that holds the state directory.
func finishedRuns(t *testing.T, state string) int {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(state, "history.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	db.QueryRow(`SELECT count(*) FROM runs WHERE status != 'running'`).Scan(&n) // no table yet: 0
	return n
}

// firstRun opens a stopped serve's history and returns its first run,
// with steps, and log.
func firstRun(t *testing.T, state string) (serve.Run, string) {
	t.Helper()
	st, err := serve.OpenSQLite(t.Context(), state)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	runs, err := st.Recent(t.Context(), 1<<20)
	if err != nil || len(runs) == 0 {
		t.Fatalf("history: %v, %v", runs, err)
	}
	run, err := st.Get(t.Context(), runs[len(runs)-1].ID)
	if err != nil {
		t.Fatal(err)
	}
	log, err := st.Log(t.Context(), run.ID)
	if err != nil {
		t.Fatal(err)
	}
	return run, string(log)
}

// serveFiles writes a cuttle.yaml with the worker w1 and, in a runbooks
// directory, name.yaml: the schedule and one step on w1 that runs script
// (no single quotes) in the test image. It returns both paths.
func serveFiles(t *testing.T, name, schedule, script string) (cfg, rbDir string) {
	t.Helper()
	cfg = filepath.Join(t.TempDir(), "cuttle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("workers:\n  w1: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s}\n",
		env.sshd.Port, workerUser, env.key.PrivateFile, env.sshd.KnownHosts)), 0o600)
	rbDir = t.TempDir()
	os.WriteFile(filepath.Join(rbDir, name+".yaml"), []byte(fmt.Sprintf(`schedule: %q
steps:
  - name: %s
    worker: w1
    container: {image: %s, pull: never}
    script: {inline: '%s'}
`, schedule, name, env.image, script)), 0o644)
	return cfg, rbDir
}

func TestServe(t *testing.T) {
	t.Parallel()
	cfg, rbDir := serveFiles(t, "nightly", "@every 1s", `echo "tick from the schedule"; sleep 2.5`)
	state := t.TempDir()
	os.WriteFile(filepath.Join(rbDir, "manual.yaml"), []byte("steps:\n  - {name: x, worker: w1, container: {image: x}, script: {inline: 'true'}}\n"), 0o644)

	cmd, base := startServe(t, "--config", cfg, "--runbooks", rbDir, "--state", state, "--grace", "30s", "--check-workers-every", "1h")
	if got := get(t, base+"/healthz"); strings.TrimSpace(got) != "ok" {
		t.Fatalf("/healthz = %q", got)
	}
	succeeded := regexp.MustCompile(`cuttle_runs_total\{runbook="nightly",status="succeeded"\} (\d+)`)
	skipped := regexp.MustCompile(`cuttle_runs_skipped_total\{runbook="nightly"\} (\d+)`)
	deadline := time.Now().Add(60 * time.Second)
	var metrics string
	for {
		metrics = get(t, base+"/metrics")
		// The workers check runs at start, then hourly.
		healthy := strings.Contains(metrics, `cuttle_worker_healthy{worker="w1"} 1`)
		if succeeded.MatchString(metrics) && skipped.MatchString(metrics) && healthy {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no successful and skipped runs and healthy w1 within 60s:\n%s", metrics)
		}
		time.Sleep(200 * time.Millisecond) // polling an outside process, bounded by the deadline
	}
	if !strings.Contains(metrics, `cuttle_worker_steps_total{status="succeeded",worker="w1"}`) {
		t.Errorf("per-worker step count missing:\n%s", metrics)
	}
	page := get(t, base+"/")
	if !strings.Contains(page, "nightly") || !strings.Contains(page, "@every 1s") || !strings.Contains(page, "succeeded") || strings.Contains(page, "manual") {
		t.Errorf("page:\n%s", page)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}

	first, _ := firstRun(t, state)
	if first.Status != "succeeded" || len(first.Steps) != 1 {
		t.Fatalf("history: %+v", first)
	}
	// A restarted server still has the history.
	cmd, base = startServe(t, "--config", cfg, "--runbooks", rbDir, "--state", state)
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	if page := get(t, base+"/"); !strings.Contains(page, first.ID) {
		t.Errorf("history lost across a restart: %s not on the page", first.ID)
	}
	if log := get(t, base+"/runs/"+first.ID+"/log"); !strings.Contains(log, "tick from the schedule") {
		t.Errorf("run log: %q", log)
	}
}

// TestServeGraceCleansUp: on SIGTERM a run that outlasts --grace is
// stopped, its container and work directory are removed from the worker,
// and the history records it interrupted, saying why.
func TestServeGraceCleansUp(t *testing.T) {
	t.Parallel()
	u, err := suiteUser("cuttle-grace", true)
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "cuttle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("workers:\n  w1: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s}\n",
		env.sshd.Port, u.Name, env.key.PrivateFile, env.sshd.KnownHosts)), 0o600)
	rbDir, state := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(rbDir, "long.yaml"), []byte(fmt.Sprintf(`schedule: "@every 1h"
steps:
  - name: long
    worker: w1
    container: {image: %s, pull: never}
    script: {inline: 'echo started; sleep 300'}
`, env.image)), 0o644)
	cmd, base := startServe(t, "--config", cfg, "--runbooks", rbDir, "--state", state, "--grace", "2s")
	resp, err := http.PostForm(base+"/runbooks/long/run", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	containers := func() string {
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=io.cuttle.home="+u.Home).Output()
		return strings.TrimSpace(string(out))
	}
	for deadline := time.Now().Add(60 * time.Second); containers() == ""; {
		if time.Now().After(deadline) {
			t.Fatal("the run's container did not start within 60s")
		}
		time.Sleep(200 * time.Millisecond) // polling the engine, bounded by the deadline
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v", err)
	}
	run, log := firstRun(t, state)
	if run.Status != "interrupted" || !strings.Contains(log, "started") || !strings.Contains(log, "grace period (2s) ran out") {
		t.Errorf("history: status %s, log %q; want interrupted, saying the grace period ran out", run.Status, log)
	}
	if c := containers(); c != "" {
		t.Errorf("containers left on the worker: %s", c)
	}
	if left, _ := os.ReadDir(filepath.Join(u.Home, ".cuttle/work")); len(left) > 0 {
		t.Errorf("work directories left on the worker: %v", left)
	}
}
