package sshtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// KeyType selects the algorithm of a generated key.
type KeyType int

// The key types NewKey generates.
const (
	Ed25519 KeyType = iota
	ECDSA
	RSA
)

// Key is a key pair generated for one test.
type Key struct {
	Signer  ssh.Signer
	Public  ssh.PublicKey
	private crypto.PrivateKey
}

// NewKey generates a key of type kt (RSA keys are 2048 bits).
func NewKey(t testing.TB, kt KeyType) Key {
	t.Helper()
	var priv crypto.PrivateKey
	var err error
	switch kt {
	case Ed25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case ECDSA:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("sshtest: unknown key type %d", kt)
	}
	if err != nil {
		t.Fatalf("sshtest: generating a key: %v", err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatalf("sshtest: signer: %v", err)
	}
	return Key{Signer: s, Public: s.PublicKey(), private: priv}
}

// WriteFile writes the private key in OpenSSH format to path (mode 0600),
// encrypted when passphrase is not empty, and returns path.
func (k Key) WriteFile(t testing.TB, path, passphrase string) string {
	t.Helper()
	var block *pem.Block
	var err error
	if passphrase == "" {
		block, err = ssh.MarshalPrivateKey(k.private, "sshtest")
	} else {
		block, err = ssh.MarshalPrivateKeyWithPassphrase(k.private, "sshtest", []byte(passphrase))
	}
	if err != nil {
		t.Fatalf("sshtest: marshalling a private key: %v", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// KnownHostsLine is a known_hosts line recording key for the server's
// address, as ssh writes it ("[127.0.0.1]:port type base64").
func (s *Server) KnownHostsLine(key ssh.PublicKey) string {
	return knownhosts.Line([]string{knownhosts.Normalize(s.Addr())}, key)
}

// KnownHosts writes a known_hosts file holding the server's host keys to a
// new temporary directory and returns its path.
func (s *Server) KnownHosts(t testing.TB) string {
	t.Helper()
	var b []byte
	for _, k := range s.HostKeys {
		b = append(b, s.KnownHostsLine(k)+"\n"...)
	}
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
