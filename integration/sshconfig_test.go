//go:build integration

package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

func TestSSHConfigAliasAndProxyJump(t *testing.T) {
	t.Parallel()
	bastion := newSSHD(t)
	kh := joinKnownHosts(t, env.sshd, bastion)
	cfg := filepath.Join(t.TempDir(), "ssh_config")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`Host app-worker
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  ProxyJump jumpbox
  ServerAliveInterval 5

Host jumpbox
  HostName 127.0.0.1
  Port %d
  User %s
  IdentityFile %s
  UserKnownHostsFile %s
`, env.sshd.Port, workerUser, env.key.PrivateFile, kh, bastion.Port, workerUser, env.key.PrivateFile, kh)), 0o600)
	r := runCuttle(t, "run", "--worker", "app-worker", "--ssh-config", cfg, "--image", env.image, "--pull", "never", "--inline", "echo via-ssh-config")
	if r.code != 0 || !strings.Contains(r.stdout, "via-ssh-config") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	assertNothingLeft(t, r)
	// The jump really was used: with the bastion's key unknown it fails there.
	os.WriteFile(kh, mustRead(t, env.sshd.KnownHosts), 0o600)
	r = runCuttle(t, "run", "--worker", "app-worker", "--ssh-config", cfg, "--image", env.image, "--inline", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "jump host") {
		t.Fatalf("bastion key unknown: exit %d\n%s", r.code, r.stderr)
	}
	os.WriteFile(cfg, []byte("Host bad\n  HostName 127.0.0.1\n  StrictHostKeyChecking no\n"), 0o600)
	r = runCuttle(t, "run", "--worker", "bad", "--ssh-config", cfg, "--image", env.image, "--inline", "true")
	if r.code != 125 || !strings.Contains(r.stderr, "never trusts an unverified host key") {
		t.Fatalf("StrictHostKeyChecking no: exit %d\n%s", r.code, r.stderr)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAcceptNewAndHashedKnownHosts(t *testing.T) {
	t.Parallel()
	kh := filepath.Join(t.TempDir(), "sub", "known_hosts") // neither exists yet
	args := []string{"run", "--worker", env.sshd.URL(workerUser), "--identity", env.key.PrivateFile, "--known-hosts", kh,
		"--strict-host-key-checking", "accept-new", "--image", env.image, "--pull", "never", "--inline", "echo accepted"}
	r := runCuttle(t, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "accepted") {
		t.Fatalf("accept-new: exit %d\n%s", r.code, r.stderr)
	}
	want := knownhosts.Line([]string{knownhosts.Normalize(env.sshd.Addr)}, env.sshd.HostKey.Public) + "\n"
	if got := string(mustRead(t, kh)); got != want {
		t.Fatalf("known_hosts = %q, want %q", got, want)
	}
	// A changed key is refused even with accept-new.
	other, _ := testenv.NewKey(filepath.Join(t.TempDir(), "other"))
	os.WriteFile(kh, []byte(knownhosts.Line([]string{knownhosts.Normalize(env.sshd.Addr)}, other.Public)+"\n"), 0o600)
	r = runCuttle(t, args...)
	if r.code != 125 || !strings.Contains(r.stderr, "has CHANGED") {
		t.Fatalf("changed key with accept-new: exit %d\n%s", r.code, r.stderr)
	}
	// Hashed entries (ssh-keygen -H) are understood.
	hashed := filepath.Join(t.TempDir(), "known_hosts")
	os.WriteFile(hashed, mustRead(t, env.sshd.KnownHosts), 0o600)
	if out, err := exec.Command("ssh-keygen", "-H", "-f", hashed).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen -H: %v %s", err, out)
	}
	if !strings.HasPrefix(string(mustRead(t, hashed)), "|1|") {
		t.Fatalf("not hashed: %s", mustRead(t, hashed))
	}
	r = runCuttle(t, "run", "--worker", env.sshd.URL(workerUser), "--identity", env.key.PrivateFile, "--known-hosts", hashed,
		"--image", env.image, "--pull", "never", "--inline", "echo hashed-ok")
	if r.code != 0 || !strings.Contains(r.stdout, "hashed-ok") {
		t.Fatalf("hashed known_hosts: exit %d\n%s", r.code, r.stderr)
	}
}

func TestUserCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gen := func(args ...string) {
		if out, err := exec.Command("ssh-keygen", args...).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen %v: %v %s", args, err, out)
		}
	}
	ca, user := filepath.Join(dir, "ca"), filepath.Join(dir, "id_user")
	gen("-q", "-t", "ed25519", "-N", "", "-f", ca)
	gen("-q", "-t", "ed25519", "-N", "", "-f", user)
	sdir := filepath.Join(env.dir, "sshd-ca-"+uniq(t))
	os.Mkdir(sdir, 0o755)
	caPub := filepath.Join(sdir, "ca.pub")
	os.WriteFile(caPub, mustRead(t, ca+".pub"), 0o644)
	// No authorized key at all: only a certificate signed by the CA gets in.
	s, err := testenv.StartSSHD(testenv.SSHDOptions{Dir: sdir, AuthorizedKeys: []ssh.PublicKey{}, Extra: []string{"TrustedUserCAKeys " + caPub}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	args := []string{"run", "--worker", s.URL(workerUser), "--identity", user, "--known-hosts", s.KnownHosts,
		"--image", env.image, "--pull", "never", "--inline", "echo cert-ok"}
	r := runCuttle(t, args...)
	if r.code != 125 || !strings.Contains(r.stderr, "authentication failed") {
		t.Fatalf("without certificate: exit %d\n%s", r.code, r.stderr)
	}
	gen("-q", "-s", ca, "-I", "cuttle-test", "-n", workerUser, user+".pub")
	r = runCuttle(t, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "cert-ok") {
		t.Fatalf("with certificate: exit %d\n%s", r.code, r.stderr)
	}
	assertNothingLeft(t, r)
}
