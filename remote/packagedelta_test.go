package remote

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

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
