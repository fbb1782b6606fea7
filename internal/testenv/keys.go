package testenv

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"

	"golang.org/x/crypto/ssh"
)

// Key is an ed25519 key pair written to disk in OpenSSH format.
type Key struct {
	PrivateFile string
	Public      ssh.PublicKey
	Signer      ssh.Signer
}

// NewKey writes a fresh ed25519 key to path (mode 0600) and path+".pub".
func NewKey(path string) (Key, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return Key{}, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		return Key{}, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return Key{}, err
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return Key{}, err
	}
	if err := os.WriteFile(path+".pub", ssh.MarshalAuthorizedKey(sshPub), 0o644); err != nil {
		return Key{}, err
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return Key{}, fmt.Errorf("signer: %w", err)
	}
	return Key{PrivateFile: path, Public: sshPub, Signer: signer}, nil
}
