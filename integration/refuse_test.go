//go:build integration

package integration

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// workDirs lists the user's work directories, to show a refused step
// created none.
func workDirs(t *testing.T, u testenv.User) map[string]bool {
	t.Helper()
	entries, _ := os.ReadDir(filepath.Join(u.Home, ".cuttle/work"))
	m := map[string]bool{}
	for _, e := range entries {
		m[e.Name()] = true
	}
	return m
}

func TestHostKeyRefused(t *testing.T) {
	t.Parallel()
	other, err := testenv.NewKey(filepath.Join(t.TempDir(), "other_host_key"))
	if err != nil {
		t.Fatal(err)
	}
	fp := ssh.FingerprintSHA256(env.sshd.HostKey.Public)
	tests := []struct {
		name       string
		knownHosts string // file content
		want       []string
	}{
		{
			name:       "unknown host",
			knownHosts: knownhosts.Line([]string{"[127.0.0.1]:1"}, env.sshd.HostKey.Public) + "\n",
			want:       []string{"is unknown", fp, "ssh-keyscan -p"},
		},
		{
			name:       "empty file",
			knownHosts: "",
			want:       []string{"is unknown", fp},
		},
		{
			name:       "changed key",
			knownHosts: "# comment\n" + knownhosts.Line([]string{knownhosts.Normalize(env.sshd.Addr)}, other.Public) + "\n",
			want:       []string{"has CHANGED", fp, "known_hosts:2", "ssh-keygen -R"},
		},
		{
			name:       "revoked key",
			knownHosts: "@revoked * " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(env.sshd.HostKey.Public))) + "\n" + knownhosts.Line([]string{knownhosts.Normalize(env.sshd.Addr)}, env.sshd.HostKey.Public) + "\n",
			want:       []string{"@revoked", "known_hosts:1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			kh := filepath.Join(t.TempDir(), "known_hosts")
			if err := os.WriteFile(kh, []byte(tt.knownHosts), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runCuttle(t, "run", "--worker", env.sshd.URL(workerUser), "--identity", env.key.PrivateFile,
				"--known-hosts", kh, "--image", env.image, "--inline", "echo SHOULD-NOT-RUN")
			if r.code != 125 {
				t.Fatalf("exit %d, want 125\nstderr: %s", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not mention %q:\n%s", w, r.stderr)
				}
			}
			if strings.Contains(r.stdout, "SHOULD-NOT-RUN") {
				t.Error("the script ran despite the refused host key")
			}
			if s := step(t, r); s.Error == "" || s.ExitCode != 125 {
				t.Errorf("report step = %+v, want exit_code 125 and an error", s)
			}
			b, _ := os.ReadFile(kh)
			if string(b) != tt.knownHosts {
				t.Error("known_hosts was modified")
			}
		})
	}
}

func TestPinnedFingerprint(t *testing.T) {
	t.Parallel()
	fp := ssh.FingerprintSHA256(env.sshd.HostKey.Public)
	base := []string{"run", "--worker", env.sshd.URL(workerUser), "--identity", env.key.PrivateFile, "--image", env.image, "--pull", "never", "--inline", "echo pinned-ok"}
	r := runCuttle(t, append(base, "--host-key-fingerprint", fp)...)
	if r.code != 0 || !strings.Contains(r.stdout, "pinned-ok") {
		t.Fatalf("right pin: exit %d, stderr %s", r.code, r.stderr)
	}
	r = runCuttle(t, append(base, "--host-key-fingerprint", "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")...)
	if r.code != 125 || !strings.Contains(r.stderr, "does not match the pinned fingerprint") || strings.Contains(r.stdout, "pinned-ok") {
		t.Fatalf("wrong pin: exit %d, stdout %q, stderr %s", r.code, r.stdout, r.stderr)
	}
}

func TestWrongKeyIsAnAuthError(t *testing.T) {
	t.Parallel()
	stranger, err := testenv.NewKey(filepath.Join(t.TempDir(), "id_stranger"))
	if err != nil {
		t.Fatal(err)
	}
	r := runCuttle(t, "run", "--worker", env.sshd.URL(workerUser), "--identity", stranger.PrivateFile,
		"--known-hosts", env.sshd.KnownHosts, "--image", env.image, "--inline", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "authentication failed (tried publickey "+stranger.PrivateFile) {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
}

func TestUserNotInDockerGroup(t *testing.T) {
	t.Parallel()
	before := workDirs(t, env.noDocker)
	r := runCuttle(t, "run", "--worker", env.sshd.URL(env.noDocker.Name), "--identity", env.key.PrivateFile,
		"--known-hosts", env.sshd.KnownHosts, "--image", env.image, "--inline", "echo SHOULD-NOT-RUN")
	if r.code != 125 {
		t.Fatalf("exit %d, want 125; stderr %s", r.code, r.stderr)
	}
	for _, w := range []string{"cuttle-nodocker@127.0.0.1", "docker group", "usermod -aG docker"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr does not mention %q:\n%s", w, r.stderr)
		}
	}
	if after := workDirs(t, env.noDocker); len(after) != len(before) {
		t.Errorf("a work directory was created: before %v, after %v", before, after)
	}
}

func TestPullNeverWithAbsentImage(t *testing.T) {
	t.Parallel()
	r := runCuttle(t, append(workerArgs(), "--image", "cuttle-test/absent:1", "--pull", "never", "--inline", "echo SHOULD-NOT-RUN")...)
	if r.code != 125 || !strings.Contains(r.stderr, "cuttle-test/absent:1 is not on the worker and --pull never") {
		t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
	}
	assertNothingLeft(t, r)
}

func TestBadInputNamesTheFix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no worker", []string{"run", "--image", "x", "--inline", "true"}, "give --worker"},
		{"no script", append(workerArgs(), "--image", "x"), "give --script FILE or --inline TEXT"},
		{"both scripts", append(workerArgs(), "--image", "x", "--inline", "a", "--script", "b"), "not both"},
		{"option as image", append(workerArgs(), "--image", "--privileged", "--inline", "true"), "not a valid image reference"},
		{"bad pull", append(workerArgs(), "--image", "x", "--pull", "sometimes", "--inline", "true"), "want always, missing or never"},
		{"password in url", []string{"run", "--worker", "ssh://u:hunter2@127.0.0.1:1", "--image", "x", "--inline", "true"}, "--password-env"},
		{"negative dead man window", append(workerArgs(), "--dead-man-window", "-1m", "--image", "x", "--inline", "true"), "--reattach-window \"-1m0s\": want a duration"},
		{"missing password env", append(workerArgs(), "--password-env", "CUTTLE_IT_UNSET_VAR", "--image", "x", "--inline", "true"), "CUTTLE_IT_UNSET_VAR: that environment variable is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := runCuttle(t, tt.args...)
			if r.code != 125 || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, want 125 and %q in stderr:\n%s", r.code, tt.want, r.stderr)
			}
			if strings.Contains(r.stderr, "hunter2") {
				t.Error("password echoed in the error")
			}
		})
	}
}

func TestTimeoutStopsTheStep(t *testing.T) {
	t.Parallel()
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--timeout", "2s",
		"--inline", "echo started; sleep 600; echo SHOULD-NOT-FINISH")...)
	if r.code != 124 {
		t.Fatalf("exit %d, want 124; stderr %s", r.code, r.stderr)
	}
	if s := step(t, r); s.ExitCode != 124 || !strings.Contains(s.Error, "timeout") {
		t.Errorf("report step = %+v", s)
	}
	assertNothingLeft(t, r)
}

func TestInterruptCleansUp(t *testing.T) {
	t.Parallel()
	cmd, rep := cuttleCmd(t, append(workerArgs(), "--image", env.image, "--pull", "never",
		"--inline", "echo started; sleep 600")...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || sc.Text() != "started" {
		t.Fatalf("first line = %q", sc.Text())
	}
	// Twice, as an impatient user would: the second must not skip cleanup.
	cmd.Process.Signal(syscall.SIGINT)
	cmd.Process.Signal(syscall.SIGINT)
	for sc.Scan() {
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("cuttle: %v, want exit 130", err)
	}
	assertNothingLeft(t, result{report: readReport(t, rep)})
}
