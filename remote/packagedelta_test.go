package remote

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

func deltaPair(t *testing.T) (base, next, sig []byte) {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 1))
	base = make([]byte, 1<<20)
	for i := range base {
		base[i] = byte(r.Uint32())
	}
	next = append([]byte{}, base...)
	copy(next[500_000:], "a changed stretch")
	var s bytes.Buffer
	if err := wire.WriteSignature(&s, bytes.NewReader(base), int64(len(base))); err != nil {
		t.Fatal(err)
	}
	return base, next, s.Bytes()
}

// TestPackageDeltaStream: the streamed delta rebuilds the file, and is
// the delta wire.Delta computes in one piece.
func TestPackageDeltaStream(t *testing.T) {
	base, next, sig := deltaPair(t)
	d, err := packageDelta(sig, bytes.NewReader(next))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	got, err := io.ReadAll(d)
	if err != nil || d.Err() != nil {
		t.Fatalf("reading the delta: %v, %v", err, d.Err())
	}
	parsed, _ := wire.ReadSignature(bytes.NewReader(sig))
	want, _ := wire.Delta(parsed, next)
	if !bytes.Equal(got, want) {
		t.Errorf("the stream (%d bytes) is not the delta (%d bytes)", len(got), len(want))
	}
	if len(got) > len(next)/20 {
		t.Errorf("a delta of %d bytes for a change of 17", len(got))
	}
	var out bytes.Buffer
	if _, err := wire.ApplyDelta(&out, bytes.NewReader(base), int64(len(base)), bytes.NewReader(got), int64(len(next))); err != nil || !bytes.Equal(out.Bytes(), next) {
		t.Errorf("the delta does not rebuild the file: %v", err)
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("disk on fire")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

// TestPackageDeltaStreamErrors: a file that cannot be read ends the stream
// with its error, which Err reports; Close stops a stream nobody reads.
func TestPackageDeltaStreamErrors(t *testing.T) {
	_, _, sig := deltaPair(t)
	d, err := packageDelta(sig, &failingReader{n: 300_000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(d); err == nil || d.Err() == nil || err.Error() != d.Err().Error() {
		t.Errorf("read error %v, Err %v; want the file's error from both", err, d.Err())
	}
	d.Close()

	_, next, _ := deltaPair(t)
	d, err = packageDelta(sig, bytes.NewReader(next))
	if err != nil {
		t.Fatal(err)
	}
	d.Close() // returns only once the computation has stopped
	if d.Err() != nil {
		t.Errorf("a stream closed by its reader reports %v", d.Err())
	}
	if _, err := packageDelta([]byte("garbage"), bytes.NewReader(next)); err == nil {
		t.Error("a malformed signature was accepted")
	}
}

// putShell answers package-get with a base and its signature, and
// package-put as told: a put with --base fails as a worker's failed
// rebuild does (or succeeds, with deltaOK).
type putShell struct {
	countingShell
	sig     []byte
	deltaOK bool
	puts    [][]string
	sent    []int64
}

func (s *putShell) Run(_ context.Context, cmd *transport.Cmd) error {
	switch {
	case slices.Contains(cmd.Args, "package-get"):
		io.WriteString(cmd.Stdout, wire.PackageBase+strings.Repeat("b", 64)+"\n")
		cmd.Stdout.Write(s.sig)
		return nil
	case slices.Contains(cmd.Args, "package-put"):
		n, _ := io.Copy(io.Discard, cmd.Stdin)
		s.puts, s.sent = append(s.puts, cmd.Args), append(s.sent, n)
		if slices.Contains(cmd.Args, "--base") && !s.deltaOK {
			io.WriteString(cmd.Stderr, "cuttle: package Web: "+wire.PackageMismatch+"1048576 bytes) has sha256 x, not y\n")
			return &transport.ExitError{Code: 125}
		}
		return nil
	}
	return nil
}

// A delta that did not rebuild the file on the worker (its block hashes
// are not cryptographic, so a collision can do that) is followed by the
// whole file, once; the result says so and counts both.
func TestPackageSentWholeAfterAFailedDelta(t *testing.T) {
	_, next, sig := deltaPair(t)
	path := filepath.Join(t.TempDir(), "Web.1.0.1.tar")
	if err := os.WriteFile(path, next, 0o644); err != nil {
		t.Fatal(err)
	}
	p := Package{Name: "Web", ID: "Web", Version: "1.0.1", FileName: "Web.1.0.1.tar", Path: path,
		SHA256: strings.Repeat("c", 64), Size: int64(len(next)), Extract: false}
	for _, deltaOK := range []bool{false, true} {
		sh := &putShell{sig: sig, deltaOK: deltaOK}
		r, err := placePackage(t.Context(), sh, p, Facts{Home: "/h", Ticket: "T"}, "/h/cuttle", 0)
		if err != nil {
			t.Fatalf("delta rebuilds: %v: %v", deltaOK, err)
		}
		wantPuts := map[bool]int{false: 2, true: 1}[deltaOK]
		if len(sh.puts) != wantPuts || !slices.Contains(sh.puts[0], "--base") {
			t.Fatalf("delta rebuilds: %v: puts %q, want %d, the first a delta", deltaOK, sh.puts, wantPuts)
		}
		if !deltaOK {
			if slices.Contains(sh.puts[1], "--base") || sh.sent[1] != int64(len(next)) {
				t.Errorf("the second put %q sent %d bytes, want the whole file (%d)", sh.puts[1], sh.sent[1], len(next))
			}
			if r.Delta || r.BytesSent != sh.sent[0]+sh.sent[1] {
				t.Errorf("result delta=%v bytes_sent=%d, want false and %d", r.Delta, r.BytesSent, sh.sent[0]+sh.sent[1])
			}
		} else if !r.Delta || r.BytesSent != sh.sent[0] {
			t.Errorf("result delta=%v bytes_sent=%d, want true and %d", r.Delta, r.BytesSent, sh.sent[0])
		}
	}
}
