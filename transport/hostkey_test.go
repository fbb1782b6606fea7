package transport

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/cuttle-sh/cuttle/internal/sshtest"
)

// onceKey is one key of its type for the whole run, made on first use.
type onceKey struct {
	sync.Once
	kt  sshtest.KeyType
	key sshtest.Key
}

func (o *onceKey) get(t *testing.T) sshtest.Key {
	o.Do(func() { o.key = sshtest.NewKey(t, o.kt) })
	return o.key
}

var (
	rsaOnce    = &onceKey{kt: sshtest.RSA}
	caOnce     = &onceKey{kt: sshtest.Ed25519}
	sharedOnce = &onceKey{kt: sshtest.Ed25519}
)

// rsaKey is one RSA key for the whole run: generating one is slow.
func rsaKey(t *testing.T) sshtest.Key { return rsaOnce.get(t) }

// testCA is one host certificate authority for the whole run.
func testCA(t *testing.T) sshtest.Key { return caOnce.get(t) }

// sharedHostKey is one host key the certificate cases sign and record.
func sharedHostKey(t *testing.T) sshtest.Key { return sharedOnce.get(t) }

// hostKeyCase sets up the server's host keys and the target's policy.
type hostKeyCase struct {
	name string
	doc  string
	// hostKeys are the server's keys (one ed25519 key when nil).
	hostKeys func(t *testing.T) []ssh.Signer
	// policy sets the target's known_hosts files, pin or accept-new; dir
	// is empty and private to the case.
	policy func(t *testing.T, srv *sshtest.Server, tg *Target, dir string)
	// wantProblem is the HostKeyError expected (0: none); wantErr is
	// text the error must hold.
	wantProblem HostKeyProblem
	wantErr     []string
	// wantKnown is HostKeyError.Known, with "FILE" for the first file.
	wantKnown []string
	// check runs after a successful dial.
	check func(t *testing.T, srv *sshtest.Server, tg Target)
}

// writeKnown writes lines to dir/name and returns the path.
func writeKnown(t *testing.T, dir, name string, lines ...string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// hostCert is a new ed25519 host key with a certificate for principal,
// signed by ca, valid for an hour.
func hostCert(t *testing.T, ca ssh.Signer, principal string) ssh.Signer {
	t.Helper()
	return certFor(t, ca, sshtest.NewKey(t, sshtest.Ed25519), principal, time.Now().Add(time.Hour))
}

// certFor is key's host certificate for principal, signed by ca, valid
// from an hour ago until until.
func certFor(t *testing.T, ca ssh.Signer, key sshtest.Key, principal string, until time.Time) ssh.Signer {
	t.Helper()
	cert := &ssh.Certificate{Key: key.Public, CertType: ssh.HostCert, KeyId: "worker", ValidPrincipals: []string{principal},
		ValidAfter: uint64(time.Now().Add(-time.Hour).Unix()), ValidBefore: uint64(until.Unix())}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewCertSigner(cert, key.Signer)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func otherKey(t *testing.T) ssh.PublicKey { return sshtest.NewKey(t, sshtest.Ed25519).Public }

func TestHostKeyPolicy(t *testing.T) {
	tests := []hostKeyCase{
		{
			name: "known",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", srv.KnownHostsLine(srv.HostKey))}
			},
		},
		{
			name: "known in the second file",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{filepath.Join(dir, "absent"), writeKnown(t, dir, "kh", srv.KnownHostsLine(srv.HostKey))}
			},
		},
		{
			name: "unknown host",
			doc:  "the error names the fingerprint to check and the command that adds it",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", "[10.0.0.9]:22 "+string(ssh.MarshalAuthorizedKey(otherKey(t))))}
			},
			wantProblem: HostKeyUnknown,
			wantErr:     []string{"is unknown", "ssh-keyscan -p "},
		},
		{
			name: "no known_hosts file yet",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{filepath.Join(dir, "absent")}
			},
			wantProblem: HostKeyUnknown,
		},
		{
			name: "changed",
			doc:  "the error names the file and line of the old entry and how to remove it",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh",
					"[10.0.0.9]:22 "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(otherKey(t)))),
					srv.KnownHostsLine(otherKey(t)))}
			},
			wantProblem: HostKeyChanged,
			wantKnown:   []string{"FILE:2"},
			wantErr:     []string{"has CHANGED", "ssh-keygen -R"},
		},
		{
			name: "revoked",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh",
					srv.KnownHostsLine(srv.HostKey),
					"@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey))))}
			},
			wantProblem: HostKeyRevoked,
			wantKnown:   []string{"FILE:2"},
			wantErr:     []string{"@revoked"},
		},
		{
			name: "pinned",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = nil
				tg.HostKeyFingerprint = ssh.FingerprintSHA256(srv.HostKey)
			},
		},
		{
			name: "pin mismatch",
			doc:  "a pin wins over known_hosts, which would have accepted the key",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", srv.KnownHostsLine(srv.HostKey))}
				tg.HostKeyFingerprint = ssh.FingerprintSHA256(otherKey(t))
			},
			wantProblem: HostKeyPinMismatch,
			wantErr:     []string{"pinned fingerprint"},
		},
		{
			name: "pin not in SHA256 form",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.HostKeyFingerprint = "MD5:00:11"
			},
			wantErr: []string{"want the SHA256:... form"},
		},
		{
			name: "no policy at all",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = nil
			},
			wantErr: []string{"refusing to trust an unverified host key"},
		},
		{
			name: "known_hosts unreadable",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{dir} // a directory
			},
			wantErr: []string{"reading known_hosts " + "DIR"},
		},
		{
			name: "accept-new records an unknown host",
			doc:  "the file and its directory are created private, and the next dial needs no accept-new",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{filepath.Join(dir, "new", "kh")}
				tg.AcceptNew = true
			},
			check: func(t *testing.T, srv *sshtest.Server, tg Target) {
				file := tg.KnownHostsFiles[0]
				b, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(srv.KnownHostsLine(srv.HostKey)+"\n", string(b)); diff != "" {
					t.Errorf("recorded (-want +got):\n%s", diff)
				}
				for path, want := range map[string]os.FileMode{file: 0o600, filepath.Dir(file): 0o700} {
					if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
						t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
					}
				}
				tg.AcceptNew = false
				dial(t, tg)
			},
		},
		{
			name: "accept-new still refuses a changed key",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", srv.KnownHostsLine(otherKey(t)))}
				tg.AcceptNew = true
			},
			wantProblem: HostKeyChanged,
			wantKnown:   []string{"FILE:1"},
		},
		{
			name: "the recorded key type is asked for",
			doc:  "the server also has an ECDSA key, which x/crypto prefers; only the ed25519 one is recorded",
			hostKeys: func(t *testing.T) []ssh.Signer {
				return []ssh.Signer{sshtest.NewKey(t, sshtest.ECDSA).Signer, sshtest.NewKey(t, sshtest.Ed25519).Signer}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", srv.KnownHostsLine(srv.HostKeys[1]))}
			},
		},
		{
			name: "RSA signed with SHA-2",
			hostKeys: func(t *testing.T) []ssh.Signer {
				return []ssh.Signer{sshtest.NewKey(t, sshtest.ECDSA).Signer, rsaKey(t).Signer}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", srv.KnownHostsLine(srv.HostKeys[1]))}
			},
		},
		{
			name: "a host certificate signed by an @cert-authority",
			doc:  "the server presents its certificate; known_hosts names only the CA",
			hostKeys: func(t *testing.T) []ssh.Signer {
				return []ssh.Signer{hostCert(t, testCA(t).Signer, "127.0.0.1")}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", "@cert-authority "+srv.KnownHostsLine(testCA(t).Public))}
			},
		},
		{
			name: "a host certificate of another CA",
			doc:  "refused, naming the certificate and the fix",
			hostKeys: func(t *testing.T) []ssh.Signer {
				return []ssh.Signer{hostCert(t, sshtest.NewKey(t, sshtest.Ed25519).Signer, "127.0.0.1")}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", "@cert-authority "+srv.KnownHostsLine(testCA(t).Public))}
			},
			wantProblem: HostCertUntrusted,
			wantErr:     []string{"host certificate", "is not trusted: no authorities for hostname"},
		},
		{
			name: "a host certificate for another host name",
			hostKeys: func(t *testing.T) []ssh.Signer {
				return []ssh.Signer{hostCert(t, testCA(t).Signer, "db.example")}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", "@cert-authority "+srv.KnownHostsLine(testCA(t).Public))}
			},
			wantProblem: HostCertUntrusted,
			wantErr:     []string{"host certificate", `is not trusted: principal "127.0.0.1" not in the set`},
		},
		{
			name: "a server with only a certificate and no @cert-authority line",
			doc:  "no certificate is asked for, so no key type is common: final, with the fix",
			hostKeys: func(t *testing.T) []ssh.Signer {
				return []ssh.Signer{hostCert(t, testCA(t).Signer, "127.0.0.1")}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{filepath.Join(dir, "kh")}
				tg.AcceptNew = true
			},
			wantErr: []string{"offers no host key of a type cuttle asks for", "@cert-authority"},
		},
		{
			name: "a certificate with a tab after its marker",
			hostKeys: func(t *testing.T) []ssh.Signer {
				return []ssh.Signer{hostCert(t, testCA(t).Signer, "127.0.0.1")}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", "# the CA\n\t@cert-authority\t"+srv.KnownHostsLine(testCA(t).Public))}
			},
		},
		{
			name: "an expired certificate of a key known by itself",
			doc:  "as OpenSSH, a refused certificate is tried as its plain key",
			hostKeys: func(t *testing.T) []ssh.Signer {
				return []ssh.Signer{certFor(t, testCA(t).Signer, sharedHostKey(t), "127.0.0.1", time.Now().Add(-time.Minute))}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", "@cert-authority "+srv.KnownHostsLine(testCA(t).Public), srv.KnownHostsLine(sharedHostKey(t).Public))}
			},
		},
		{
			name: "an expired certificate of an unknown key",
			hostKeys: func(t *testing.T) []ssh.Signer {
				return []ssh.Signer{certFor(t, testCA(t).Signer, sshtest.NewKey(t, sshtest.Ed25519), "127.0.0.1", time.Now().Add(-time.Minute))}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", "@cert-authority "+srv.KnownHostsLine(testCA(t).Public))}
			},
			wantProblem: HostCertUntrusted,
			wantErr:     []string{"is not trusted: cert has expired"},
		},
		{
			name: "a revoked certificate",
			hostKeys: func(t *testing.T) []ssh.Signer {
				return []ssh.Signer{certFor(t, testCA(t).Signer, sharedHostKey(t), "127.0.0.1", time.Now().Add(time.Hour))}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", "@cert-authority "+srv.KnownHostsLine(testCA(t).Public),
					"@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(srv.HostKey))))}
			},
			wantProblem: HostKeyRevoked,
			wantKnown:   []string{"FILE:2"},
			wantErr:     []string{"@revoked"},
		},
		{
			name: "a trusted certificate of a revoked key",
			hostKeys: func(t *testing.T) []ssh.Signer {
				return []ssh.Signer{certFor(t, testCA(t).Signer, sharedHostKey(t), "127.0.0.1", time.Now().Add(time.Hour))}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", "@cert-authority "+srv.KnownHostsLine(testCA(t).Public),
					"@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sharedHostKey(t).Public))))}
			},
			wantProblem: HostKeyRevoked,
			wantKnown:   []string{"FILE:2"},
			wantErr:     []string{"@revoked"},
		},
		{
			name: "a certificate signed by a revoked CA",
			hostKeys: func(t *testing.T) []ssh.Signer {
				return []ssh.Signer{hostCert(t, testCA(t).Signer, "127.0.0.1")}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", "@cert-authority "+srv.KnownHostsLine(testCA(t).Public),
					"@revoked * "+strings.TrimSpace(string(ssh.MarshalAuthorizedKey(testCA(t).Public))))}
			},
			wantProblem: HostKeyRevoked,
			wantKnown:   []string{"FILE:2"},
			wantErr:     []string{"@revoked", "CA_FP"},
		},
		{
			name: "a host known only by its CA shows no certificate",
			doc:  "unknown, not CHANGED: the CA line is no key of the host's",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", "@cert-authority "+srv.KnownHostsLine(testCA(t).Public))}
			},
			wantProblem: HostKeyUnknown,
		},
		{
			name: "accept-new records a host known only by its CA that shows no certificate",
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", "@cert-authority "+srv.KnownHostsLine(testCA(t).Public))}
				tg.AcceptNew = true
			},
			check: func(t *testing.T, srv *sshtest.Server, tg Target) {
				b, _ := os.ReadFile(tg.KnownHostsFiles[0])
				if !strings.HasSuffix(string(b), "\n"+srv.KnownHostsLine(srv.HostKey)+"\n") {
					t.Errorf("known_hosts %q: want the plain key appended", b)
				}
			},
		},
		{
			name: "accept-new records the plain key of a server that also has a certificate",
			doc:  "as OpenSSH, no certificate is asked for when no @cert-authority line exists",
			hostKeys: func(t *testing.T) []ssh.Signer {
				plain := sshtest.NewKey(t, sshtest.Ed25519).Signer
				return []ssh.Signer{hostCert(t, testCA(t).Signer, "127.0.0.1"), plain}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{filepath.Join(dir, "kh")}
				tg.AcceptNew = true
			},
			check: func(t *testing.T, srv *sshtest.Server, tg Target) {
				b, _ := os.ReadFile(tg.KnownHostsFiles[0])
				if diff := cmp.Diff(srv.KnownHostsLine(srv.HostKeys[1])+"\n", string(b)); diff != "" {
					t.Errorf("recorded (-want +got):\n%s", diff)
				}
			},
		},
		{
			name: "RSA signed only with SHA-1",
			doc:  "refused as a downgrade although the key is known, with the fix",
			hostKeys: func(t *testing.T) []ssh.Signer {
				s, err := ssh.NewSignerWithAlgorithms(rsaKey(t).Signer.(ssh.AlgorithmSigner), []string{ssh.KeyAlgoRSA})
				if err != nil {
					t.Fatal(err)
				}
				return []ssh.Signer{s}
			},
			policy: func(t *testing.T, srv *sshtest.Server, tg *Target, dir string) {
				tg.KnownHostsFiles = []string{writeKnown(t, dir, "kh", srv.KnownHostsLine(srv.HostKey))}
			},
			wantErr: []string{"only with ssh-rsa (SHA-1)", "rsa-sha2-256"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var hostKeys []ssh.Signer
			if tt.hostKeys != nil {
				hostKeys = tt.hostKeys(t)
			}
			srv, tg := newWorker(t, sshtest.Config{HostKeys: hostKeys})
			dir := t.TempDir()
			tt.policy(t, srv, &tg, dir)
			c, err := Dial(testContext(t), tg)
			if err == nil {
				defer c.Close()
			}
			checkHostKeyResult(t, tt, srv, tg, dir, err)
		})
	}
}

func checkHostKeyResult(t *testing.T, tt hostKeyCase, srv *sshtest.Server, tg Target, dir string, err error) {
	t.Helper()
	if tt.wantProblem == 0 && len(tt.wantErr) == 0 {
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		if tt.check != nil {
			tt.check(t, srv, tg)
		}
		return
	}
	if err == nil {
		t.Fatal("Dial succeeded, want a refusal")
	}
	var hk *HostKeyError
	if got := errors.As(err, &hk); got != (tt.wantProblem != 0) {
		t.Fatalf("err = %v (HostKeyError: %v), want problem %d", err, got, tt.wantProblem)
	}
	if hk != nil {
		if hk.Problem != tt.wantProblem {
			t.Errorf("Problem = %d, want %d (%v)", hk.Problem, tt.wantProblem, err)
		}
		var want []string
		for _, k := range tt.wantKnown {
			want = append(want, strings.Replace(k, "FILE", tg.KnownHostsFiles[0], 1))
		}
		if diff := cmp.Diff(want, hk.Known); diff != "" {
			t.Errorf("Known (-want +got):\n%s", diff)
		}
		offered := srv.HostKey
		if cert, ok := offered.(*ssh.Certificate); ok {
			// An untrusted certificate is named by its CA, a revoked one
			// by what was revoked.
			offered = cert.Key
			if hk.Problem == HostCertUntrusted || hk.Offered == ssh.FingerprintSHA256(cert.SignatureKey) {
				offered = cert.SignatureKey
			}
		}
		if !strings.Contains(err.Error(), ssh.FingerprintSHA256(offered)) {
			t.Errorf("error %q does not name the offered fingerprint", err)
		}
	}
	for _, w := range tt.wantErr {
		w = strings.Replace(w, "DIR", dir, 1)
		w = strings.Replace(w, "CA_FP", ssh.FingerprintSHA256(testCA(t).Public), 1)
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if keyText := base64.StdEncoding.EncodeToString(srv.HostKey.Marshal()); strings.Contains(err.Error(), keyText) {
		t.Errorf("error %q holds the key itself", err)
	}
	// A refused host key, like bad settings, is final: dialled once at most.
	if n := srv.Stats().Accepted; n > 1 {
		t.Errorf("dialled %d times, want no retry after a refusal", n)
	}
	if strings.Contains(err.Error(), "ssh-keyscan") && !strings.Contains(err.Error(), "-p "+strconv.Itoa(srv.Port)+" 127.0.0.1") {
		t.Errorf("error %q does not give the keyscan command for this port", err)
	}
}
