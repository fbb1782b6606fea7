//go:build integration

package integration

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cuttle-sh/cuttle/internal/shellquote"
	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// newSSHD starts a server of the test's own (closed with the test).
func newSSHD(t *testing.T, extra ...string) *testenv.SSHD {
	t.Helper()
	dir := filepath.Join(env.dir, "sshd-"+uniq(t))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s, err := testenv.StartSSHD(testenv.SSHDOptions{Dir: dir, AuthorizedKeys: []ssh.PublicKey{env.key.Public}, Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func joinKnownHosts(t *testing.T, servers ...*testenv.SSHD) string {
	t.Helper()
	var all []byte
	for _, s := range servers {
		b, err := os.ReadFile(s.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, all, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func hop(s *testenv.SSHD) string { return workerUser + "@" + s.Host + ":" + strconv.Itoa(s.Port) }

func TestJumpHosts(t *testing.T) {
	t.Parallel()
	b1, b2 := newSSHD(t), newSSHD(t)
	kh := joinKnownHosts(t, env.sshd, b1, b2)
	for _, jump := range []string{hop(b1), hop(b1) + "," + hop(b2)} {
		r := runCuttle(t, "run", "--worker", env.sshd.URL(workerUser), "--identity", env.key.PrivateFile, "--known-hosts", kh,
			"--jump", jump, "--image", env.image, "--pull", "never", "--inline", "echo through-the-jump")
		if r.code != 0 || !strings.Contains(r.stdout, "through-the-jump") {
			t.Fatalf("--jump %s: exit %d\nstderr %s", jump, r.code, r.stderr)
		}
		assertNothingLeft(t, r)
	}
	// Every hop's key is checked: the second bastion is unknown here.
	kh = joinKnownHosts(t, env.sshd, b1)
	r := runCuttle(t, "run", "--worker", env.sshd.URL(workerUser), "--identity", env.key.PrivateFile, "--known-hosts", kh,
		"--jump", hop(b1)+","+hop(b2), "--image", env.image, "--inline", "echo SHOULD-NOT-RUN")
	if r.code != 125 || !strings.Contains(r.stderr, "jump host "+hop(b2)) || !strings.Contains(r.stderr, "is unknown") {
		t.Fatalf("unknown bastion key: exit %d\nstderr %s", r.code, r.stderr)
	}
}

func TestSSHAgent(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "agent.sock")
	agent := exec.Command("ssh-agent", "-D", "-a", sock)
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 200 {
			t.Fatal("ssh-agent did not create its socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
	add := exec.Command("ssh-add", env.key.PrivateFile)
	add.Env = append(os.Environ(), "SSH_AUTH_SOCK="+sock)
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("ssh-add: %v: %s", err, out)
	}
	cmd, _ := cuttleCmd(t, "run", "--worker", env.sshd.URL(workerUser), "--known-hosts", env.sshd.KnownHosts,
		"--image", env.image, "--pull", "never", "--inline", "echo via-agent")
	cmd.Env = append(cmd.Env, "SSH_AUTH_SOCK="+sock)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "via-agent") {
		t.Fatalf("agent auth: %v\n%s", err, out)
	}
}

func TestPasswordAndEncryptedKey(t *testing.T) {
	t.Parallel()
	u, err := suiteUser("cuttle-pwauth", true)
	if err != nil {
		t.Fatal(err)
	}
	// A password of this run only, locked again when the test ends (and
	// the user goes with the suite): no account with a known password stays.
	password := "pw " + rand.Text()
	chpasswd := exec.Command("chpasswd")
	chpasswd.Stdin = strings.NewReader(u.Name + ":" + password + "\n")
	if out, err := chpasswd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("usermod", "-p", "*", u.Name).CombinedOutput(); err != nil {
			t.Errorf("locking %s again: %v: %s", u.Name, err, out)
		}
	})
	s := newSSHD(t, "PasswordAuthentication yes")
	base := []string{"run", "--worker", s.URL(u.Name), "--known-hosts", s.KnownHosts, "--image", env.image, "--pull", "never"}
	cmd, _ := cuttleCmd(t, append(base, "--password-env", "CUTTLE_IT_PW", "--inline", "echo password-ok")...)
	cmd.Env = append(cmd.Env, "CUTTLE_IT_PW="+password)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "password-ok") || strings.Contains(string(out), password) {
		t.Fatalf("password auth: %v\n%s", err, out)
	}
	cmd, _ = cuttleCmd(t, append(base, "--password-env", "CUTTLE_IT_PW", "--inline", "true")...)
	cmd.Env = append(cmd.Env, "CUTTLE_IT_PW=wrong")
	out, _ = cmd.CombinedOutput()
	if !strings.Contains(string(out), "authentication failed (tried password, keyboard-interactive)") {
		t.Fatalf("wrong password: %s", out)
	}

	key := filepath.Join(t.TempDir(), "id_enc")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "pass phrase", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	pk, _, _, _, err := ssh.ParseAuthorizedKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(env.dir, "sshd-enc-"+uniq(t))
	os.Mkdir(dir, 0o755)
	s2, err := testenv.StartSSHD(testenv.SSHDOptions{Dir: dir, AuthorizedKeys: []ssh.PublicKey{pk}})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	args := []string{"run", "--worker", s2.URL(workerUser), "--known-hosts", s2.KnownHosts, "--identity", key, "--image", env.image, "--pull", "never", "--inline", "echo key-ok"}
	cmd, _ = cuttleCmd(t, args...)
	out, _ = cmd.CombinedOutput()
	if !strings.Contains(string(out), "is encrypted and there is no terminal to ask on: set CUTTLE_KEY_PASSPHRASE") {
		t.Fatalf("encrypted key without passphrase: %s", out)
	}
	// On a terminal it asks, as ssh does: script(1) gives it one.
	line, err := shellquote.Join(append([]string{env.cuttle}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	pty := exec.Command("script", "-q", "-e", "-c", line, "/dev/null")
	pty.Env = cmd.Env
	pty.Stdin = strings.NewReader("pass phrase\n")
	if out, err := pty.CombinedOutput(); err != nil || !strings.Contains(string(out), "Enter passphrase for key") || !strings.Contains(string(out), "key-ok") {
		t.Fatalf("passphrase prompt on a terminal: %v\n%s", err, out)
	}
	cmd, _ = cuttleCmd(t, args...)
	cmd.Env = append(cmd.Env, "CUTTLE_KEY_PASSPHRASE=pass phrase")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "key-ok") {
		t.Fatalf("encrypted key with passphrase: %v\n%s", err, out)
	}
}

// TestDeadLinkDetected freezes the worker's sshd mid-step: keepalives go
// unanswered and cuttle fails the step instead of hanging. Reattaching is
// off here (--reattach-window 0); the fault tests cover it.
func TestDeadLinkDetected(t *testing.T) {
	t.Parallel()
	s := newSSHD(t)
	// A user of its own: the gc at the end must not touch other tests' steps.
	u, err := suiteUser("cuttle-deadlink", true)
	if err != nil {
		t.Fatal(err)
	}
	cmd, rep := cuttleCmd(t, "run", "--worker", s.URL(u.Name), "--identity", env.key.PrivateFile, "--known-hosts", s.KnownHosts,
		"--keepalive", "1s", "--reattach-window", "0", "--image", env.image, "--pull", "never", "--inline", "echo started; sleep 60")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || sc.Text() != "started" {
		cmd.Wait()
		t.Fatalf("first line %q; stderr:\n%s", sc.Text(), stderr.String())
	}
	pids := s.Pids()
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGSTOP)
	}
	stopped := time.Now()
	t.Cleanup(func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	})
	for sc.Scan() {
	}
	cmd.Wait()
	took := time.Since(stopped)
	code := cmd.ProcessState.ExitCode()
	if code != 125 || !strings.Contains(stderr.String(), "worker unreachable since") {
		t.Fatalf("exit %d after %s, stderr:\n%s", code, took, stderr.String())
	}
	t.Logf("dead link detected %s after the sshd froze (keepalive 1s)", took.Round(time.Millisecond))
	// Within 3 keepalive intervals, plus generous time to exit after
	// cleanup gave up on the dead link (the step itself sleeps 60s).
	if took > 3*time.Second+3*time.Second {
		t.Errorf("dead link detected after %s: want within 3 keepalive intervals (3s) plus time to exit (3s); the interval count itself is checked in transport's unit tests", took)
	}
	// The frozen worker could not be cleaned up: the error says to run
	// cuttle gc there, which, once the worker answers again, removes the
	// step (the harness then checks nothing is left).
	if !strings.Contains(stderr.String(), "cuttle gc") {
		t.Errorf("no advice to run cuttle gc:\n%s", stderr.String())
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGCONT)
	}
	s0 := step(t, result{report: readReport(t, rep)})
	cleanupFailedOnPurpose(t, s0.ID)
	exec.Command("docker", "rm", "-f", "cuttle-"+s0.ID).Run() // its sleep 60 still runs: gc keeps running containers
	gc := runCuttle(t, "gc", "--worker", s.URL(u.Name), "--identity", env.key.PrivateFile, "--known-hosts", s.KnownHosts, "--older-than", "0s")
	if gc.code != 0 || !strings.Contains(gc.stdout+gc.stderr, s0.ID) {
		t.Errorf("gc after the worker came back: exit %d\n%s%s", gc.code, gc.stdout, gc.stderr)
	}
}

// TestSHA1HostKeyRefused: a server that signs its host key only with
// ssh-rsa (SHA-1) is refused even though the key is in known_hosts; the
// same key signed with rsa-sha2-256 is accepted.
func TestSHA1HostKeyRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rsaKey := filepath.Join(dir, "ssh_host_rsa_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsaKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	os.Chmod(rsaKey, 0o600)
	pub, _ := os.ReadFile(rsaKey + ".pub")
	for _, c := range []struct {
		algo   string
		wantOK bool
	}{{"ssh-rsa", false}, {"rsa-sha2-256", true}} {
		s := newSSHD(t, "HostKey "+rsaKey, "HostKeyAlgorithms "+c.algo)
		kh := filepath.Join(t.TempDir(), "known_hosts")
		fields := strings.Fields(string(pub))
		os.WriteFile(kh, []byte(fmt.Sprintf("[127.0.0.1]:%d %s %s\n", s.Port, fields[0], fields[1])), 0o644)
		r := runCuttle(t, "run", "--worker", s.URL(workerUser), "--identity", env.key.PrivateFile, "--known-hosts", kh,
			"--image", env.image, "--pull", "never", "--inline", "echo connected")
		if c.wantOK {
			if r.code != 0 || !strings.Contains(r.stdout, "connected") {
				t.Errorf("%s: exit %d\n%s", c.algo, r.code, r.stderr)
			}
			continue
		}
		if r.code != 125 || strings.Contains(r.stdout, "connected") {
			t.Errorf("%s: exit %d, want 125 (refused)\n%s%s", c.algo, r.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stderr, "only with ssh-rsa (SHA-1)") || !strings.Contains(r.stderr, "rsa-sha2-256") {
			t.Errorf("%s: the error does not name the refused algorithm and the fix: %s", c.algo, r.stderr)
		}
		t.Logf("%s refused: %s", c.algo, strings.TrimSpace(r.stderr))
	}
}

// TestHostCertificate: OpenSSH's sshd presents a host certificate
// (HostCertificate) signed by a CA; known_hosts holds only that CA in an
// @cert-authority line, and the step runs. A CA that did not sign it is
// refused naming the certificate, and with no @cert-authority line
// accept-new records the server's plain key, not its certificate.
func TestHostCertificate(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(env.dir, "sshd-"+uniq(t))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hostKey, err := testenv.NewKey(filepath.Join(dir, "host_key"))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := testenv.NewKey(filepath.Join(t.TempDir(), "ca"))
	if err != nil {
		t.Fatal(err)
	}
	cert := &ssh.Certificate{Key: hostKey.Public, CertType: ssh.HostCert, KeyId: "worker", ValidPrincipals: []string{"127.0.0.1"},
		ValidAfter: uint64(time.Now().Add(-time.Hour).Unix()), ValidBefore: uint64(time.Now().Add(24 * time.Hour).Unix())}
	if err := cert.SignCert(rand.Reader, ca.Signer); err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(dir, "host_key-cert.pub")
	if err := os.WriteFile(certFile, ssh.MarshalAuthorizedKey(cert), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := testenv.StartSSHD(testenv.SSHDOptions{Dir: dir, AuthorizedKeys: []ssh.PublicKey{env.key.Public}, HostKey: &hostKey,
		Extra: []string{"HostCertificate " + certFile}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	pattern := "[" + s.Host + "]:" + strconv.Itoa(s.Port)
	known := func(lines ...string) string {
		p := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(kh string, extra ...string) result {
		args := append([]string{"run", "--worker", s.URL(workerUser), "--identity", env.key.PrivateFile, "--known-hosts", kh}, extra...)
		return runCuttle(t, append(args, "--image", env.image, "--pull", "never", "--inline", "echo certified")...)
	}

	r := run(known("@cert-authority " + pattern + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(ca.Public)))))
	if r.code != 0 || !strings.Contains(r.stdout, "certified") {
		t.Fatalf("trusted CA: exit %d\nstderr %s", r.code, r.stderr)
	}
	assertNothingLeft(t, r)

	other, err := testenv.NewKey(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	r = run(known("@cert-authority " + pattern + " " + strings.TrimSpace(string(ssh.MarshalAuthorizedKey(other.Public)))))
	if r.code != 125 || !strings.Contains(r.stderr, "host certificate") || !strings.Contains(r.stderr, ssh.FingerprintSHA256(ca.Public)) || strings.Contains(r.stdout, "certified") {
		t.Fatalf("another CA: exit %d, want 125 naming the certificate's CA\nstderr %s", r.code, r.stderr)
	}

	kh := filepath.Join(t.TempDir(), "new_known_hosts")
	r = run(kh, "--strict-host-key-checking", "accept-new")
	b, _ := os.ReadFile(kh)
	if r.code != 0 || string(b) != strings.TrimSpace(string(mustRead(t, s.KnownHosts)))+"\n" {
		t.Fatalf("accept-new: exit %d, recorded %q, want the plain key %q\nstderr %s", r.code, b, mustRead(t, s.KnownHosts), r.stderr)
	}
}
