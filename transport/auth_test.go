package transport

import (
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/cuttle-sh/cuttle/internal/secret"
	"github.com/cuttle-sh/cuttle/internal/sshtest"
)

const (
	testPassword   = "s3cret-pw"
	testPassphrase = "pass phrase"
)

// authFixture holds the keys of one auth case: authorized is in the
// server's authorized keys, stranger is not, and ca signs the user
// certificates the server accepts.
type authFixture struct {
	dir                      string
	authorized, stranger, ca sshtest.Key
}

// identity writes k as dir/name (encrypted with pass, if any).
func (f authFixture) identity(t *testing.T, name string, k sshtest.Key, pass string) string {
	return k.WriteFile(t, filepath.Join(f.dir, name), pass)
}

// certify writes file-cert.pub: a user certificate for key k, signed by
// the fixture's CA, for principal "cuttle".
func (f authFixture) certify(t *testing.T, file string, k ssh.PublicKey) {
	t.Helper()
	cert := &ssh.Certificate{Key: k, CertType: ssh.UserCert, KeyId: "test", ValidPrincipals: []string{"cuttle"}, ValidBefore: ssh.CertTimeInfinity}
	if err := cert.SignCert(rand.Reader, f.ca.Signer); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file+"-cert.pub", ssh.MarshalAuthorizedKey(cert), 0o600); err != nil {
		t.Fatal(err)
	}
}

func accepted(method string) sshtest.AuthAttempt {
	return sshtest.AuthAttempt{User: "cuttle", Method: method, OK: true}
}

func refused(method string) sshtest.AuthAttempt {
	return sshtest.AuthAttempt{User: "cuttle", Method: method}
}

func TestAuth(t *testing.T) {
	hasTTY := false
	if tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
		hasTTY = true
		tty.Close()
	}
	tests := []struct {
		name string
		// kbdOnly leaves the password only to keyboard-interactive.
		kbdOnly bool
		// env is set for the case (the case then runs alone).
		env   map[string]string
		setup func(t *testing.T, f authFixture, tg *Target)
		// wantAuth is the server's record of the attempts made.
		wantAuth []sshtest.AuthAttempt
		// wantTried is AuthError.Tried ("DIR" is the fixture's dir);
		// wantErr are texts the error must hold; wantDials how many
		// connections the server saw.
		wantTried []string
		wantErr   []string
		wantDials int
		skip      string
	}{
		{
			name: "identity file",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				tg.IdentityFiles = []string{f.identity(t, "id", f.authorized, "")}
			},
			wantAuth: []sshtest.AuthAttempt{accepted("publickey")},
		},
		{
			name: "identity files in order",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				tg.IdentityFiles = []string{f.identity(t, "id1", f.stranger, ""), f.identity(t, "id2", f.authorized, "")}
			},
			wantAuth: []sshtest.AuthAttempt{refused("publickey"), accepted("publickey")},
		},
		{
			name: "key refused",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				tg.IdentityFiles = []string{f.identity(t, "id", f.stranger, "")}
			},
			wantTried: []string{"publickey DIR/id"},
			wantErr:   []string{"authentication failed (tried publickey DIR/id)", "authorized_keys"},
			wantDials: 1,
		},
		{
			name: "password",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				tg.Password = secret.New(testPassword)
			},
			wantAuth: []sshtest.AuthAttempt{accepted("password")},
		},
		{
			name: "keyboard-interactive",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				tg.Password = secret.New(testPassword)
			},
			kbdOnly:  true,
			wantAuth: []sshtest.AuthAttempt{accepted("keyboard-interactive")},
		},
		{
			name: "wrong password",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				tg.Password = secret.New("not-" + testPassword)
			},
			wantTried: []string{"password", "keyboard-interactive"},
			wantErr:   []string{"authentication failed"},
			wantDials: 1,
		},
		{
			name: "keys first, then the password",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				tg.IdentityFiles = []string{f.identity(t, "id", f.stranger, "")}
				tg.Password = secret.New(testPassword)
			},
			wantAuth: []sshtest.AuthAttempt{refused("publickey"), accepted("password")},
		},
		{
			name: "wrong user",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				tg.User = "root"
				tg.IdentityFiles = []string{f.identity(t, "id", f.authorized, "")}
			},
			wantTried: []string{"publickey DIR/id"},
			wantErr:   []string{"root@127.0.0.1"},
			wantDials: 1,
		},
		{
			name: "certificate beside the key",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				id := f.identity(t, "id", f.stranger, "")
				f.certify(t, id, f.stranger.Public)
				tg.IdentityFiles = []string{id}
			},
			wantAuth: []sshtest.AuthAttempt{accepted("publickey")},
		},
		{
			name: "certificate of another key",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				id := f.identity(t, "id", f.stranger, "")
				f.certify(t, id, f.authorized.Public)
				tg.IdentityFiles = []string{id}
			},
			wantErr: []string{"certificate DIR/id-cert.pub does not match its key"},
		},
		{
			name: "not a certificate",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				id := f.identity(t, "id", f.authorized, "")
				os.WriteFile(id+"-cert.pub", ssh.MarshalAuthorizedKey(f.authorized.Public), 0o600)
				tg.IdentityFiles = []string{id}
			},
			wantErr: []string{"DIR/id-cert.pub is not an OpenSSH certificate"},
		},
		{
			name: "encrypted key, passphrase from the environment",
			env:  map[string]string{"CUTTLE_KEY_PASSPHRASE": testPassphrase},
			setup: func(t *testing.T, f authFixture, tg *Target) {
				tg.IdentityFiles = []string{f.identity(t, "id", f.authorized, testPassphrase)}
			},
			wantAuth: []sshtest.AuthAttempt{accepted("publickey")},
		},
		{
			name: "encrypted key, wrong passphrase",
			env:  map[string]string{"CUTTLE_KEY_PASSPHRASE": "not-" + testPassphrase},
			setup: func(t *testing.T, f authFixture, tg *Target) {
				tg.IdentityFiles = []string{f.identity(t, "id", f.authorized, testPassphrase)}
			},
			wantErr: []string{"identity file DIR/id: wrong passphrase (from CUTTLE_KEY_PASSPHRASE)"},
		},
		{
			name: "encrypted key, nobody to ask",
			env:  map[string]string{"CUTTLE_KEY_PASSPHRASE": ""},
			setup: func(t *testing.T, f authFixture, tg *Target) {
				tg.IdentityFiles = []string{f.identity(t, "id", f.authorized, testPassphrase)}
			},
			wantErr: []string{"no terminal to ask on: set CUTTLE_KEY_PASSPHRASE"},
			skip:    map[bool]string{true: "a terminal is attached: the key would be asked for"}[hasTTY],
		},
		{
			name: "identity file missing",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				tg.IdentityFiles = []string{filepath.Join(f.dir, "absent")}
			},
			wantErr: []string{"identity file DIR/absent", "no such file"},
		},
		{
			name: "identity file not a key",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				id := filepath.Join(f.dir, "id")
				os.WriteFile(id, []byte("not a key\n"), 0o600)
				tg.IdentityFiles = []string{id}
			},
			wantErr: []string{"identity file DIR/id: not a private key ssh can read"},
		},
		{
			name:    "nothing to authenticate with",
			setup:   func(t *testing.T, f authFixture, tg *Target) {},
			wantErr: []string{"no way to authenticate: give --identity KEY, --password-env VAR, or start ssh-agent"},
		},
		{
			name: "agent",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				t.Setenv("SSH_AUTH_SOCK", sshtest.StartAgent(t, f.stranger, f.authorized))
				tg.UseAgent = true
			},
			env:      map[string]string{},
			wantAuth: []sshtest.AuthAttempt{refused("publickey"), accepted("publickey")},
		},
		{
			name: "agent after the identity files",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				t.Setenv("SSH_AUTH_SOCK", sshtest.StartAgent(t, f.stranger))
				tg.IdentityFiles = []string{f.identity(t, "id", f.stranger, "")}
				tg.UseAgent = true
			},
			env:       map[string]string{},
			wantTried: []string{"publickey DIR/id", "publickey ssh-agent"},
			wantDials: 1,
		},
		{
			name: "identity readable by others",
			setup: func(t *testing.T, f authFixture, tg *Target) {
				id := f.identity(t, "id", f.authorized, "")
				os.Chmod(id, 0o644)
				tg.IdentityFiles = []string{id}
			},
			wantErr: []string{"identity file DIR/id is accessible by others (mode 0644)", "chmod 600 DIR/id"},
		},
		{
			name: "default identities, as ssh without -i",
			env:  map[string]string{"SSH_AUTH_SOCK": ""},
			setup: func(t *testing.T, f authFixture, tg *Target) {
				t.Setenv("HOME", f.dir)
				os.Mkdir(filepath.Join(f.dir, ".ssh"), 0o700)
				// An encrypted default key with no passphrase to hand is
				// skipped, as ssh skips it; the next default works.
				t.Setenv("CUTTLE_KEY_PASSPHRASE", "")
				f.identity(t, ".ssh/id_ecdsa", f.stranger, testPassphrase)
				f.identity(t, ".ssh/id_ed25519", f.authorized, "")
			},
			wantAuth: []sshtest.AuthAttempt{accepted("publickey")},
			skip:     skipWithTTY(hasTTY),
		},
		{
			name: "no identity at all names the skipped defaults",
			env:  map[string]string{"SSH_AUTH_SOCK": ""},
			setup: func(t *testing.T, f authFixture, tg *Target) {
				t.Setenv("HOME", f.dir)
				os.Mkdir(filepath.Join(f.dir, ".ssh"), 0o700)
				id := f.identity(t, ".ssh/id_rsa", f.authorized, "")
				os.Chmod(id, 0o640)
			},
			wantErr: []string{"no way to authenticate (skipped: identity file DIR/.ssh/id_rsa is accessible by others", "give --identity KEY"},
		},
		{
			name: "agent socket gone",
			env:  map[string]string{"SSH_AUTH_SOCK": "/nonexistent/agent.sock"},
			setup: func(t *testing.T, f authFixture, tg *Target) {
				tg.UseAgent = true
			},
			wantErr: []string{"ssh-agent at SSH_AUTH_SOCK=/nonexistent/agent.sock", "unset SSH_AUTH_SOCK"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip != "" {
				t.Skip(tt.skip)
			}
			if tt.env == nil {
				t.Parallel()
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			f := authFixture{dir: t.TempDir(), authorized: sshtest.NewKey(t, sshtest.Ed25519),
				stranger: sshtest.NewKey(t, sshtest.Ed25519), ca: sshtest.NewKey(t, sshtest.Ed25519)}
			srv := sshtest.Start(t, sshtest.Config{User: "cuttle", AuthorizedKeys: []ssh.PublicKey{f.authorized.Public},
				UserCAs: []ssh.PublicKey{f.ca.Public}, Password: testPassword, KeyboardInteractiveOnly: tt.kbdOnly})
			tg := Target{Host: srv.Host, Port: srv.Port, User: "cuttle", KnownHostsFiles: []string{srv.KnownHosts(t)}}
			tt.setup(t, f, &tg)
			c, err := Dial(testContext(t), tg)
			if err == nil {
				c.Close()
			}
			if err != nil && (strings.Contains(err.Error(), testPassword) || strings.Contains(err.Error(), testPassphrase)) {
				t.Errorf("error %q holds a secret", err)
			}
			if st := srv.Stats(); st.Accepted != tt.wantDials && (tt.wantAuth == nil) {
				t.Errorf("the server saw %d connections, want %d (refusals and bad settings are not retried)", st.Accepted, tt.wantDials)
			}
			if tt.wantAuth != nil {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				if diff := cmp.Diff(tt.wantAuth, srv.Stats().Auth); diff != "" {
					t.Errorf("authentication attempts (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				t.Fatal("Dial succeeded, want a failure")
			}
			var ae *AuthError
			if errors.As(err, &ae) != (tt.wantTried != nil) {
				t.Fatalf("err = %v: AuthError %v, want %v", err, !(tt.wantTried != nil), tt.wantTried != nil)
			}
			if ae != nil {
				var want []string
				for _, w := range tt.wantTried {
					want = append(want, strings.Replace(w, "DIR", f.dir, 1))
				}
				if diff := cmp.Diff(want, ae.Tried); diff != "" {
					t.Errorf("Tried (-want +got):\n%s", diff)
				}
			}
			for _, w := range tt.wantErr {
				if w = strings.Replace(w, "DIR", f.dir, 1); !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// skipWithTTY skips a case that would prompt on the developer's terminal.
func skipWithTTY(hasTTY bool) string {
	if hasTTY {
		return "a terminal is attached: the encrypted default key would prompt"
	}
	return ""
}
