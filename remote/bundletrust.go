package remote

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// BundleTrust remembers, per worker and bundle digest, the fingerprint of
// a cached bundle (each file's inode, size and change time) that this
// controller verified by hashing it whole, so that a later step proves
// the same files unchanged with one stat on the worker (about a
// millisecond) instead of hashing 19 MB (about 100 ms). The fingerprint
// is kept on the controller, never on the worker: whoever could change
// the bundle could change a fingerprint kept beside it too.
//
// With a directory the fingerprints outlive the process (one small file
// each, 0600), so a `cuttle run` a minute later skips the full hash too.
// A nil *BundleTrust remembers nothing: every step hashes the bundle.
type BundleTrust struct {
	dir string
	mu  sync.Mutex
	m   map[string]string
}

// NewBundleTrust returns a BundleTrust that keeps its fingerprints in dir
// ("" keeps them in memory only).
func NewBundleTrust(dir string) *BundleTrust {
	return &BundleTrust{dir: dir, m: map[string]string{}}
}

func trustKey(worker, digest string) string {
	sum := sha256.Sum256([]byte(worker + "\x00" + digest))
	return hex.EncodeToString(sum[:16])
}

// known is the fingerprint recorded for digest on worker, or "".
func (t *BundleTrust) known(worker, digest string) string {
	if t == nil {
		return ""
	}
	k := trustKey(worker, digest)
	t.mu.Lock()
	defer t.mu.Unlock()
	if fp, ok := t.m[k]; ok {
		return fp
	}
	if t.dir == "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(t.dir, k))
	if err != nil {
		return ""
	}
	fp := strings.TrimSpace(string(b))
	t.m[k] = fp
	return fp
}

// remember records fp for digest on worker. Failing to keep it on disk
// costs only a full hash at the next process's first step.
func (t *BundleTrust) remember(worker, digest, fp string) {
	if t == nil || fp == "" {
		return
	}
	k := trustKey(worker, digest)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m[k] == fp {
		return
	}
	t.m[k] = fp
	if t.dir == "" || os.MkdirAll(t.dir, 0o700) != nil {
		return
	}
	f, err := os.CreateTemp(t.dir, ".fp-*")
	if err != nil {
		return
	}
	_, werr := f.WriteString(fp + "\n")
	if cerr := f.Close(); werr != nil || cerr != nil {
		os.Remove(f.Name())
		return
	}
	if os.Rename(f.Name(), filepath.Join(t.dir, k)) != nil {
		os.Remove(f.Name())
	}
}

// arch is the Linux architecture recorded for worker, or "".
func (t *BundleTrust) arch(worker string) string {
	return t.known(worker, "arch")
}

// rememberArch records worker's architecture, so that the next step there
// checks the right runner's bundle in its preflight.
func (t *BundleTrust) rememberArch(worker, arch string) {
	t.remember(worker, "arch", arch)
}
