package remote

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/cuttle-sh/cuttle/bundle"
)

// elfFor writes the smallest static ELF header debug/elf reads, for
// machine (62 x86-64, 183 aarch64).
func elfFor(t *testing.T, machine uint16) string {
	t.Helper()
	b := make([]byte, 64)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2)
	le.PutUint16(b[18:], machine)
	le.PutUint32(b[20:], 1)
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[54:], 56)
	le.PutUint16(b[58:], 64)
	p := filepath.Join(t.TempDir(), "runner")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestWorkerArchitectureIsRemembered: after a step found a worker to be
// arm64, the next process's first step there asks the preflight about
// the arm64 bundle, not the controller's default one.
func TestWorkerArchitectureIsRemembered(t *testing.T) {
	arm := elfFor(t, 183)
	env := func(k string) string {
		return map[string]string{"CUTTLE_RUNNER": arm}[k]
	}
	runners := bundle.NewRunners(nil, env, "", t.TempDir())
	def, err := bundle.NewRunners(nil, func(k string) string {
		return map[string]string{"CUTTLE_RUNNER": elfFor(t, 62)}[k]
	}, "", t.TempDir()).For("amd64")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	c := &Controller{Runners: runners, Trust: NewBundleTrust(dir)}
	if got := c.runnerFor(c.Trust.arch("w1"), def); got.Digest != def.Digest {
		t.Fatalf("with nothing remembered: %s, want the default %s", got.Arch, def.Arch)
	}
	c.Trust.rememberArch("w1", "arm64")
	// A new process: a new BundleTrust over the same directory.
	c.Trust = NewBundleTrust(dir)
	got := c.runnerFor(c.Trust.arch("w1"), def)
	if got.Arch != "arm64" || got.RunnerPath != arm {
		t.Errorf("remembered arm64 worker gets %s (%s)", got.Arch, got.RunnerPath)
	}
	if got := c.runnerFor(c.Trust.arch("w2"), def); got.Digest != def.Digest {
		t.Errorf("another worker gets %s", got.Arch)
	}
	// A remembered architecture this controller has no runner for keeps
	// the default: the preflight then says what the worker is.
	c.Trust.rememberArch("w3", "riscv64")
	if got := c.runnerFor(c.Trust.arch("w3"), def); got.Digest != def.Digest {
		t.Errorf("riscv64 worker gets %s", got.Arch)
	}
}
