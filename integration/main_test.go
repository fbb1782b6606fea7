//go:build integration

package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// env is shared by every test in the package: one engine, one base image,
// one sshd, one worker user.
var env struct {
	cuttle string // path of the binary under test
	// runner, when set, is the static build workers run while cuttle is
	// the race-detecting controller (CUTTLE_IT_RACE=1).
	runner string
	image  string
	sshd   *testenv.SSHD
	user   testenv.User
	// noDocker is a user outside the docker group.
	noDocker testenv.User
	key      testenv.Key
	dir      string
	registry *testenv.Registry
	git      *testenv.GitDaemon
}

const workerUser = "cuttle-it"

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "integration setup: %v\n", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func setup(m *testing.M) (int, error) {
	if os.Geteuid() != 0 {
		return 0, errors.New("the integration tests need root (they start sshd and create users); run them with make test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "cuttle-it-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	// sshd reads authorized_keys below it with the logging-in user's rights.
	if err := os.Chmod(dir, 0o755); err != nil {
		return 0, err
	}
	env.dir = dir
	if err := testenv.EnsureDocker(ctx); err != nil {
		return 0, err
	}
	if env.image, err = testenv.EnsureBaseImage(ctx); err != nil {
		return 0, err
	}
	if env.user, err = suiteUser(workerUser, true); err != nil {
		return 0, err
	}
	if env.noDocker, err = suiteUser("cuttle-nodocker", false); err != nil {
		return 0, err
	}
	if env.key, err = testenv.NewKey(filepath.Join(dir, "id_ed25519")); err != nil {
		return 0, err
	}
	sdir := filepath.Join(dir, "sshd")
	os.Mkdir(sdir, 0o755)
	if env.sshd, err = testenv.StartSSHD(testenv.SSHDOptions{Dir: sdir, AuthorizedKeys: []ssh.PublicKey{env.key.Public}}); err != nil {
		return 0, err
	}
	defer env.sshd.Close()
	rdir := filepath.Join(dir, "registry")
	os.Mkdir(rdir, 0o700)
	if env.registry, err = testenv.StartRegistry(rdir, "ci", "registry-pass-"+filepath.Base(dir)); err != nil {
		return 0, err
	}
	defer env.registry.Close()
	gdir := filepath.Join(dir, "git")
	os.Mkdir(gdir, 0o755)
	if env.git, err = testenv.StartGitDaemon(gdir); err != nil {
		return 0, err
	}
	defer env.git.Close()
	env.cuttle = filepath.Join(dir, "cuttle")
	build := exec.CommandContext(ctx, "go", "build", "-o", env.cuttle, "../cmd/cuttle")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build: %v: %s", err, out)
	}
	if os.Getenv("CUTTLE_IT_RACE") != "" {
		// The controller under the race detector (make test-race); the
		// static build stays the runner on the worker.
		env.runner, env.cuttle = env.cuttle, filepath.Join(dir, "cuttle-race")
		race := exec.CommandContext(ctx, "go", "build", "-race", "-o", env.cuttle, "../cmd/cuttle")
		race.Env = append(os.Environ(), "CGO_ENABLED=1") // -race needs cgo; make exports 0
		if out, err := race.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("go build -race: %v: %s", err, out)
		}
	}
	volumesBefore, err := danglingVolumes()
	if err != nil {
		return 0, err
	}
	code := m.Run()
	// Anonymous volumes carry no label to find them by step: any new
	// dangling volume is one a step's cleanup failed to remove.
	if after, err := danglingVolumes(); err != nil {
		fmt.Fprintf(os.Stderr, "docker volume ls: %v\n", err)
		code = 1
	} else if left := newEntries(volumesBefore, after); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d anonymous volume(s) left by steps: %v\n", len(left), left)
		exec.Command("docker", append([]string{"volume", "rm"}, left...)...).Run()
		code = 1
	}
	if err := removeSuiteUsers(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: removing the suite's users: %v\n", err)
		code = 1
	}
	if code != 0 {
		fmt.Fprintf(os.Stderr, "--- sshd log (last 4 KiB) ---\n%s\n", tail(env.sshd.Log(), 4096))
	}
	return code, nil
}

// suiteUsers are the users this run's tests logged in as; the suite
// removes them when it ends, whoever created them, so no test account and
// no cached state outlives the run.
var suiteUsers struct {
	sync.Mutex
	names map[string]bool
}

// suiteUser creates (or reuses) a test user for the rest of the suite.
func suiteUser(name string, docker bool) (testenv.User, error) {
	suiteUsers.Lock()
	if suiteUsers.names == nil {
		suiteUsers.names = map[string]bool{}
	}
	suiteUsers.names[name] = true
	suiteUsers.Unlock()
	return testenv.EnsureUser(name, docker)
}

// tmpfsHome mounts a fresh tmpfs owned by u on u's home (opts such as
// "size=8m,noexec"), replacing a mount a killed run left, until t ends.
func tmpfsHome(t *testing.T, u testenv.User, opts string) {
	t.Helper()
	exec.Command("umount", u.Home).Run()
	o := fmt.Sprintf("%s,mode=0755,uid=%d,gid=%d", opts, u.UID, u.GID)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", o, "tmpfs", u.Home).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v: %s", u.Home, err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", u.Home).Run() })
}

func removeSuiteUsers() error {
	suiteUsers.Lock()
	defer suiteUsers.Unlock()
	var result error
	for name := range suiteUsers.names {
		if err := testenv.RemoveUser(name); err != nil {
			result = errors.Join(result, err)
		}
	}
	return result
}

func danglingVolumes() ([]string, error) {
	out, err := exec.Command("docker", "volume", "ls", "-q", "--filter", "dangling=true").Output()
	return strings.Fields(string(out)), err
}

// newEntries is what after holds and before does not.
func newEntries(before, after []string) []string {
	had := map[string]bool{}
	for _, v := range before {
		had[v] = true
	}
	var out []string
	for _, v := range after {
		if !had[v] {
			out = append(out, v)
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// result is one finished cuttle process.
type result struct {
	stdout, stderr string
	code           int
	report         report
}

type report struct {
	Steps []reportStep `json:"steps"`
	// Raw is the file as written, for checks on everything in it.
	Raw string `json:"-"`
}

type reportStep struct {
	Name            string            `json:"name"`
	ID              string            `json:"id"`
	Worker          string            `json:"worker"`
	Image           string            `json:"image"`
	ExitCode        int               `json:"exit_code"`
	DurationMS      int64             `json:"duration_ms"`
	Phases          map[string]int64  `json:"phases"`
	OutputVariables map[string]string `json:"output_variables"`
	WorkDir         string            `json:"work_dir"`
	Error           string            `json:"error"`
	CleanupError    string            `json:"cleanup_error"`
	ResultMessage   string            `json:"result_message"`
	Skipped         bool              `json:"skipped"`
	Artifacts       []struct {
		Name   string `json:"name"`
		Path   string `json:"path"`
		Size   int64  `json:"size"`
		SHA256 string `json:"sha256"`
	} `json:"artifacts"`
	Packages []reportPackage `json:"packages"`
}

type reportPackage struct {
	Name      string `json:"name"`
	ID        string `json:"id"`
	Version   string `json:"version"`
	SHA256    string `json:"sha256"`
	BytesSent int64  `json:"bytes_sent"`
	Cached    bool   `json:"cached"`
	Delta     bool   `json:"delta"`
}

// assertPhases checks that the step's report says where its time went:
// want are among its phases, and they add up to no more than its duration.
func assertPhases(t *testing.T, s reportStep, want ...string) {
	t.Helper()
	var sum int64
	for _, ms := range s.Phases {
		sum += ms
	}
	for _, name := range want {
		if _, ok := s.Phases[name]; !ok {
			t.Errorf("step %s: phase %q missing from the report's phases %v", s.Name, name, s.Phases)
		}
	}
	if sum > s.DurationMS {
		t.Errorf("step %s: phases %v add up to %d ms, more than its duration_ms %d", s.Name, s.Phases, sum, s.DurationMS)
	}
}

// workerArgs are `run` and the flags that reach the shared worker.
func workerArgs() []string {
	return []string{"run", "--worker", env.sshd.URL(workerUser), "--identity", env.key.PrivateFile, "--known-hosts", env.sshd.KnownHosts}
}

// cuttleCmd prepares the binary with args, a report file in a temp dir and
// an environment without the caller's ssh-agent.
func cuttleCmd(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	rep := ledgerOf(t).reportPath()
	if len(args) > 0 && (args[0] == "run" || args[0] == "runbook") {
		args = append(args, "--report", rep)
	}
	cmd := exec.CommandContext(t.Context(), env.cuttle, args...)
	cmd.Env = append(filterEnv(os.Environ(), "SSH_AUTH_SOCK", "CUTTLE_"), "HOME="+t.TempDir())
	if env.runner != "" {
		cmd.Env = append(cmd.Env, "CUTTLE_RUNNER="+env.runner, "GORACE=exitcode=66 halt_on_error=1")
	}
	// No controlling terminal, as in CI: nothing may prompt the developer
	// who runs the tests from one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd, rep
}

func filterEnv(envv []string, prefixes ...string) []string {
	var out []string
next:
	for _, e := range envv {
		for _, p := range prefixes {
			if strings.HasPrefix(e, p) {
				continue next
			}
		}
		out = append(out, e)
	}
	return out
}

// runCuttle runs the binary to completion.
func runCuttle(t *testing.T, args ...string) result {
	t.Helper()
	return runCuttleEnv(t, nil, args...)
}

// runCuttleEnv is runCuttle with more environment variables (NAME=VALUE),
// such as the values of sensitive variables.
func runCuttleEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd, rep := cuttleCmd(t, args...)
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("running cuttle: %v", err)
	}
	r.report = readReport(t, rep)
	return r
}

func readReport(t *testing.T, path string) report {
	t.Helper()
	var r report
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("report %s: %v\n%s", path, err, b)
	}
	r.Raw = string(b)
	return r
}

// step returns the report's only step.
func step(t *testing.T, r result) reportStep {
	t.Helper()
	if len(r.report.Steps) != 1 {
		t.Fatalf("report has %d steps, want 1\nstdout: %s\nstderr: %s", len(r.report.Steps), r.stdout, r.stderr)
	}
	return r.report.Steps[0]
}

// assertNothingLeft checks that the step's container and work directory
// are gone from the worker. The worker is this machine, so the test looks
// directly, not through cuttle.
func assertNothingLeft(t *testing.T, r result) {
	t.Helper()
	assertNothingLeftIn(t, r, env.user.Home)
}

// assertNothingLeftIn checks, right away, a step run as the worker user
// whose home is home (the harness checks again when the test ends).
func assertNothingLeftIn(t *testing.T, r result, home string) {
	t.Helper()
	if len(r.report.Steps) == 0 || r.report.Steps[0].ID == "" {
		t.Fatalf("report has no step id to check for leftovers (exit %d, report %q):\nstdout: %s\nstderr: %s", r.code, r.report.Raw, r.stdout, r.stderr)
	}
	s := r.report.Steps[0]
	if wd := filepath.Join(home, ".cuttle/work", s.ID); s.WorkDir != wd {
		t.Errorf("report work_dir = %q, want %q", s.WorkDir, wd)
	}
	checkStepGone(t, s)
}

// recordOf is the per-run record of the step whose work dir is wd.
func recordOf(wd string) string {
	return filepath.Join(filepath.Dir(filepath.Dir(wd)), "runs", filepath.Base(wd)+".json")
}

func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
