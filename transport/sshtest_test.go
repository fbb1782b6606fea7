package transport

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/internal/sshtest"
)

// hangBound only stops a broken test from hanging; no test asserts speed.
const hangBound = 60 * time.Second

// testContext is t.Context bounded by hangBound.
func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), hangBound)
	t.Cleanup(cancel)
	return ctx
}

// newWorker starts an in-process server for cfg that accepts a fresh key
// for user "cuttle", and returns a Target that reaches it with that key
// and a known_hosts file holding its host key.
func newWorker(t *testing.T, cfg sshtest.Config) (*sshtest.Server, Target) {
	t.Helper()
	key := sshtest.NewKey(t, sshtest.Ed25519)
	cfg.AuthorizedKeys = append(cfg.AuthorizedKeys, key.Public)
	if cfg.User == "" {
		cfg.User = "cuttle"
	}
	srv := sshtest.Start(t, cfg)
	return srv, Target{
		Host:            srv.Host,
		Port:            srv.Port,
		User:            cfg.User,
		IdentityFiles:   []string{key.WriteFile(t, filepath.Join(t.TempDir(), "id_ed25519"), "")},
		KnownHostsFiles: []string{srv.KnownHosts(t)},
	}
}

// dial connects to tg and closes the Conn when the test ends.
func dial(t *testing.T, tg Target) *Conn {
	t.Helper()
	c, err := Dial(testContext(t), tg)
	if err != nil {
		t.Fatalf("Dial %s: %v", tg, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wait is srv.Wait bounded by hangBound, failing the test on timeout.
func wait(t *testing.T, srv *sshtest.Server, what string, cond func(sshtest.Stats) bool) {
	t.Helper()
	if err := srv.Wait(testContext(t), cond); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}

// receive waits for a value on ch, bounded by hangBound.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangBound):
		t.Fatalf("no %s within %s", what, hangBound)
		panic("unreachable")
	}
}

// recorder is a writer that keeps what it is given and reports the first
// write on first.
type recorder struct {
	mu    sync.Mutex
	b     []byte
	first chan struct{}
	once  sync.Once
}

func newRecorder() *recorder { return &recorder{first: make(chan struct{})} }

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.b = append(r.b, p...)
	r.once.Do(func() { close(r.first) })
	return len(p), nil
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.b)
}
