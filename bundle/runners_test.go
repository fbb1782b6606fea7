package bundle

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// testELF is the smallest 64-bit little-endian ELF executable header
// debug/elf reads, for machine; with interp it has a PT_INTERP program
// header, as a dynamically linked executable does.
func testELF(machine uint16, interp bool) []byte {
	b := make([]byte, 64, 64+56)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2) // ET_EXEC
	le.PutUint16(b[18:], machine)
	le.PutUint32(b[20:], 1)
	le.PutUint16(b[52:], 64)
	le.PutUint16(b[54:], 56)
	le.PutUint16(b[58:], 64)
	if interp {
		le.PutUint64(b[32:], 64) // e_phoff
		le.PutUint16(b[56:], 1)  // e_phnum
		ph := make([]byte, 56)
		le.PutUint32(ph[0:], 3) // PT_INTERP
		b = append(b, ph...)
	}
	return b
}

func gz(t *testing.T, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func noEnv(string) string { return "" }

const (
	emX86   = 62
	emARM64 = 183
)

func TestEmbeddedRunnersArePickedByArchitecture(t *testing.T) {
	amd, arm := testELF(emX86, false), testELF(emARM64, false)
	cache := filepath.Join(t.TempDir(), "runners")
	r := NewRunners(map[string]string{"amd64": gz(t, amd), "arm64": gz(t, arm)}, noEnv, "", cache)
	if got := r.Platforms(); !slices.Equal(got, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("Platforms() = %q", got)
	}
	a, err := r.For("amd64")
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.For("arm64")
	if err != nil {
		t.Fatal(err)
	}
	if a.Arch != "amd64" || b.Arch != "arm64" || a.Digest == b.Digest {
		t.Fatalf("amd64 %+v, arm64 %+v", a, b)
	}
	for _, c := range []struct {
		b    Bundle
		want []byte
	}{{a, amd}, {b, arm}} {
		got, err := os.ReadFile(c.b.RunnerPath)
		if err != nil || !bytes.Equal(got, c.want) || !strings.HasPrefix(c.b.RunnerPath, cache) {
			t.Errorf("runner for %s at %s: %v (its bytes match: %v)", c.b.Arch, c.b.RunnerPath, err, bytes.Equal(got, c.want))
		}
		if st, err := os.Stat(c.b.RunnerPath); err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("runner for %s: mode %v, %v", c.b.Arch, st.Mode(), err)
		}
	}
	// A cached copy that was changed is written again, not uploaded.
	if err := os.WriteFile(b.RunnerPath, testELF(emX86, false), 0o755); err != nil {
		t.Fatal(err)
	}
	again, err := NewRunners(map[string]string{"arm64": gz(t, arm)}, noEnv, "", cache).For("arm64")
	if err != nil || again.Digest != b.Digest {
		t.Errorf("after tampering: %+v, %v; want digest %s", again, err, b.Digest)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(cache, "*", ".unpack-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %q", leftovers)
	}
}

func TestMissingRunnerNamesPlatformsAndFix(t *testing.T) {
	r := NewRunners(map[string]string{"amd64": gz(t, testELF(emX86, false))}, noEnv, "", t.TempDir())
	_, err := r.For("arm64")
	if err == nil {
		t.Fatal("no error for a platform the set lacks")
	}
	for _, want := range []string{"linux/arm64", "it has: linux/amd64", "make build", "CUTTLE_RUNNER"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if _, err := NewRunners(nil, noEnv, "", t.TempDir()).Default(); err == nil || !strings.Contains(err.Error(), "it has: none") {
		t.Errorf("empty set: %v", err)
	}
}

func TestExplicitRunnerComesFirst(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "mine")
	if err := os.WriteFile(p, testELF(emARM64, false), 0o755); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string { return map[string]string{"CUTTLE_RUNNER": p}[k] }
	r := NewRunners(map[string]string{"arm64": gz(t, testELF(emARM64, false)), "amd64": gz(t, testELF(emX86, false))}, env, "", dir)
	b, err := r.For("arm64")
	if err != nil || b.RunnerPath != p {
		t.Errorf("For(arm64) = %+v, %v; want CUTTLE_RUNNER's %s", b, err, p)
	}
	if b, err := r.For("amd64"); err != nil || b.RunnerPath == p {
		t.Errorf("For(amd64) = %+v, %v; want the embedded runner", b, err)
	}
}

func TestDynamicSelfIsRefusedWithTheFix(t *testing.T) {
	p := filepath.Join(t.TempDir(), "cuttle")
	if err := os.WriteFile(p, testELF(emX86, true), 0o755); err != nil {
		t.Fatal(err)
	}
	r := NewRunners(nil, noEnv, p, t.TempDir())
	r.selfArch = "amd64"
	if got := r.Platforms(); len(got) != 0 {
		t.Errorf("a dynamic binary is listed as a runner: %q", got)
	}
	_, err := r.For("amd64")
	if err == nil || !strings.Contains(err.Error(), "CGO_ENABLED=0") {
		t.Errorf("For(amd64) with a dynamic self: %v", err)
	}
}
