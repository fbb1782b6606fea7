package wire

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

func signatureOf(t testing.TB, base []byte) *Signature {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSignature(&b, bytes.NewReader(base), int64(len(base))); err != nil {
		t.Fatal(err)
	}
	sig, err := ReadSignature(&b)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

// roundTrip sends next against base and returns the delta's literal bytes
// and its size, failing unless the rebuilt file is next.
func roundTrip(t testing.TB, base, next []byte) (literal, size int64) {
	t.Helper()
	sig := signatureOf(t, base)
	var d bytes.Buffer
	literal, err := WriteDelta(&d, sig, bytes.NewReader(next))
	if err != nil {
		t.Fatal(err)
	}
	size = int64(d.Len())
	var out bytes.Buffer
	if _, err := ApplyDelta(&out, bytes.NewReader(base), int64(len(base)), &d, int64(len(next))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), next) {
		t.Fatalf("rebuilt %d bytes differ from the %d sent", out.Len(), len(next))
	}
	return literal, size
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestDeltaRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	base := randomBytes(r, 300_000)
	insert := append(append(append([]byte{}, base[:1000]...), []byte("inserted")...), base[1000:]...)
	changed := append([]byte{}, base...)
	copy(changed[150_000:], "a changed stretch")
	tests := []struct {
		name       string
		base, next []byte
		maxLiteral int64
	}{
		{"identical", base, base, 0},
		{"empty base", nil, base[:5000], 5000},
		{"empty next", base, nil, 0},
		{"both empty", nil, nil, 0},
		{"insertion shifts everything after it", base, insert, 2*int64(BlockSizeFor(int64(len(base)))) + 8},
		{"one stretch changed", base, changed, 2 * int64(BlockSizeFor(int64(len(base))))},
		{"appended", base, append(append([]byte{}, base...), "tail"...), int64(BlockSizeFor(int64(len(base)))) + 4},
		{"truncated mid-block", base, base[:len(base)-777], int64(BlockSizeFor(int64(len(base))))},
		{"unrelated", base, randomBytes(r, 100_000), 100_000},
		{"smaller than a block", base[:100], base[:100], 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lit, _ := roundTrip(t, tc.base, tc.next)
			if lit > tc.maxLiteral {
				t.Errorf("the delta carries %d literal bytes, want at most %d", lit, tc.maxLiteral)
			}
		})
	}
}

func TestApplyDeltaRefuses(t *testing.T) {
	base := bytes.Repeat([]byte("x"), 4096)
	hdr := []byte(deltaMagic + "\x00\x00\x02\x00") // block size 512
	tests := []struct {
		name  string
		delta []byte
		max   int64
	}{
		{"bad magic", []byte("XXXX\x00\x00\x02\x00E"), 1 << 20},
		{"no end marker", hdr, 1 << 20},
		{"copy past the base", append(append([]byte{}, hdr...), "C\x00\x00\x00\x08\x00\x00\x00\x01E"...), 1 << 20},
		{"copy run past the base", append(append([]byte{}, hdr...), "C\x00\x00\x00\x07\x00\x00\x00\x02E"...), 1 << 20},
		{"result over the limit", append(append([]byte{}, hdr...), "C\x00\x00\x00\x00\x00\x00\x00\x08E"...), 1000},
		{"literal over the limit", append(append([]byte{}, hdr...), "D\x00\x00\x00\x04abcdE"...), 3},
		{"huge literal", append(append([]byte{}, hdr...), "D\xff\xff\xff\xff"...), 1 << 40},
		{"unknown op", append(append([]byte{}, hdr...), 'Z'), 1 << 20},
		{"trailing data", append(append([]byte{}, hdr...), "Ex"...), 1 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if _, err := ApplyDelta(&out, bytes.NewReader(base), int64(len(base)), bytes.NewReader(tc.delta), tc.max); err == nil {
				t.Errorf("applied; want an error")
			}
			if int64(out.Len()) > tc.max {
				t.Errorf("wrote %d bytes, over the limit %d", out.Len(), tc.max)
			}
		})
	}
}

func TestReadSignatureRefuses(t *testing.T) {
	good := func() []byte {
		var b bytes.Buffer
		WriteSignature(&b, bytes.NewReader(make([]byte, 2000)), 2000)
		return b.Bytes()
	}()
	tests := []struct {
		name string
		sig  []byte
	}{
		{"empty", nil},
		{"truncated", good[:len(good)-3]},
		{"trailing", append(append([]byte{}, good...), 0)},
		{"tiny block size", append([]byte(sigMagic+"\x00\x00\x00\x01"), good[8:]...)},
		{"huge size, no blocks", []byte(sigMagic + "\x00\x00\x02\x00\x00\x00\x7f\xff\xff\xff\xff\xff")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ReadSignature(bytes.NewReader(tc.sig)); err == nil {
				t.Error("read; want an error")
			}
		})
	}
}

// FuzzDelta: any base and next round-trip exactly.
func FuzzDelta(f *testing.F) {
	f.Add([]byte("hello world"), []byte("hello there world"), uint8(0))
	f.Add(bytes.Repeat([]byte("ab"), 2000), bytes.Repeat([]byte("ab"), 2100), uint8(3))
	f.Fuzz(func(t *testing.T, base, next []byte, rep uint8) {
		// Repeat to get past the minimum block size now and then.
		base = bytes.Repeat(base, int(rep%8)+1)
		next = bytes.Repeat(next, int(rep%8)+1)
		roundTrip(t, base, next)
	})
}

// FuzzApplyDelta: a hostile delta never panics, reads outside the base or
// writes past the limit.
func FuzzApplyDelta(f *testing.F) {
	base := bytes.Repeat([]byte("0123456789"), 200)
	sig := signatureOf(f, base)
	d, _ := Delta(sig, append([]byte("x"), base...))
	f.Add(d)
	f.Add([]byte(deltaMagic + "\x00\x00\x02\x00C\x00\x00\x00\x00\x00\x00\x00\x01E"))
	f.Fuzz(func(t *testing.T, delta []byte) {
		var out bytes.Buffer
		n, _ := ApplyDelta(&out, bytes.NewReader(base), int64(len(base)), bytes.NewReader(delta), 5000)
		if n > 5000 || int64(out.Len()) != n {
			t.Fatalf("wrote %d (reported %d), limit 5000", out.Len(), n)
		}
	})
}

// FuzzReadSignature: a hostile signature never panics and what is read
// is consistent with its header.
func FuzzReadSignature(f *testing.F) {
	var b bytes.Buffer
	WriteSignature(&b, bytes.NewReader(make([]byte, 3000)), 3000)
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, p []byte) {
		sig, err := ReadSignature(bytes.NewReader(p))
		if err != nil {
			return
		}
		if want := (sig.Size + int64(sig.BlockSize) - 1) / int64(sig.BlockSize); int64(len(sig.Weak)) != want || len(sig.Strong) != len(sig.Weak) {
			t.Fatalf("%d blocks for size %d at %d", len(sig.Weak), sig.Size, sig.BlockSize)
		}
		Delta(sig, p) // must not panic
	})
}

// BenchmarkDelta100MiB: a 100 MiB package with 1 % of its bytes changed,
// in 64 stretches spread over the file, sends at most 5 % of its size.
// It reports the delta's share of the file as sent%.
func BenchmarkDelta100MiB(b *testing.B) {
	base, next, d := benchmarkDelta(b, 64)
	if share := 100 * float64(len(d)) / float64(len(next)); share > 5 {
		b.Errorf("the delta is %.2f%% of the file; want at most 5%%", share)
	}
	var out bytes.Buffer
	if _, err := ApplyDelta(&out, bytes.NewReader(base), int64(len(base)), bytes.NewReader(d), int64(len(next))); err != nil || !bytes.Equal(out.Bytes(), next) {
		b.Fatalf("the delta does not rebuild the file: %v", err)
	}
}

// benchmarkDelta times the delta of deltaBenchFiles(stretches), reports
// its share of the file as sent%, and returns the files and the delta.
func benchmarkDelta(b *testing.B, stretches int) (base, next, d []byte) {
	base, next = deltaBenchFiles(stretches)
	sig := signatureOf(b, base)
	b.SetBytes(int64(len(next)))
	for b.Loop() {
		var err error
		if d, err = Delta(sig, next); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(100*float64(len(d))/float64(len(next)), "sent%")
	return base, next, d
}

// deltaBenchFiles is BenchmarkDelta100MiB's pair: 100 MiB and a copy with
// 1 % of its bytes changed in 64 stretches spread over it.
func deltaBenchFiles(stretches int) (base, next []byte) {
	const size = 100 << 20
	r := rand.New(rand.NewPCG(3, 4))
	base = randomBytes(r, size)
	next = append([]byte{}, base...)
	stretch := size / 100 / stretches
	for i := range stretches {
		off := i*(size/stretches) + r.IntN(size/stretches-stretch)
		copy(next[off:], randomBytes(r, stretch))
	}
	return base, next
}

// BenchmarkSignature100MiB: the worker's side before a delta.
func BenchmarkSignature100MiB(b *testing.B) {
	base, _ := deltaBenchFiles(64)
	b.SetBytes(int64(len(base)))
	for b.Loop() {
		if err := WriteSignature(io.Discard, bytes.NewReader(base), int64(len(base))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyDelta100MiB: the worker's side after it, hashing the
// result as receive does.
func BenchmarkApplyDelta100MiB(b *testing.B) {
	for _, stretches := range []int{64, 1024} {
		b.Run(fmt.Sprint(stretches), func(b *testing.B) { benchmarkApply(b, stretches) })
	}
}

func benchmarkApply(b *testing.B, stretches int) {
	base, next := deltaBenchFiles(stretches)
	d, err := Delta(signatureOf(b, base), next)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(base)))
	for b.Loop() {
		h := sha256.New()
		if _, err := ApplyDelta(h, bytes.NewReader(base), int64(len(base)), bytes.NewReader(d), int64(len(next))); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDelta100MiBSmallPieces: the same 1 %, in 1 KiB pieces, each
// spoiling a block of its own (the bench's -delta-piece 1).
func BenchmarkDelta100MiBSmallPieces(b *testing.B) { benchmarkDelta(b, 1024) }

// onlyReader hides a reader's ReadAt: WriteSignature then reads it in
// order, on one goroutine.
type onlyReader struct{ io.Reader }

// TestSignatureParallel: a file hashed span by span on several goroutines
// gets the signature read in order gets, for sizes around the span.
func TestSignatureParallel(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, size := range []int{0, 1, 4095, sigSpan - 1, sigSpan, 3*sigSpan + 12345} {
		b := randomBytes(r, size)
		var par, seq bytes.Buffer
		if err := WriteSignature(&par, bytes.NewReader(b), int64(size)); err != nil {
			t.Fatal(err)
		}
		if err := WriteSignature(&seq, onlyReader{bytes.NewReader(b)}, int64(size)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(par.Bytes(), seq.Bytes()) {
			t.Errorf("size %d: the parallel signature differs from the sequential one", size)
		}
		if int64(par.Len()) != SignatureSize(int64(size)) {
			t.Errorf("size %d: a signature of %d bytes, SignatureSize says %d", size, par.Len(), SignatureSize(int64(size)))
		}
		sig, err := ReadSignature(&par)
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		for i := range sig.Weak {
			blk := b[i*sig.BlockSize : i*sig.BlockSize+sig.blockLen(i)]
			if sig.Weak[i] != newWeak(blk).sum() || sig.Strong[i] != strong(blk) {
				t.Fatalf("size %d: block %d's sums are not its own", size, i)
			}
		}
	}
}

// TestSignatureShortFile: a file shorter than it was said to be is an
// error, read in parallel or in order.
func TestSignatureShortFile(t *testing.T) {
	b := make([]byte, 10000)
	for _, r := range []io.Reader{bytes.NewReader(b), onlyReader{bytes.NewReader(b)}} {
		if err := WriteSignature(io.Discard, r, 20000); err == nil {
			t.Errorf("%T: signed 10000 bytes as 20000", r)
		}
	}
}

// TestWeakSum: the unrolled weak sum is rsync's definition, and rolling
// it along a buffer gives the sum of each window.
func TestWeakSum(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	b := randomBytes(r, 3000)
	for _, n := range []int{0, 1, 2, 3, 4, 5, 7, 8, 513, 2048} {
		var want weakSum
		for i, c := range b[:n] {
			want.a += uint32(c)
			want.b += uint32(n-i) * uint32(c)
		}
		if got := newWeak(b[:n]); got.sum() != want.sum() {
			t.Errorf("%d bytes: weak sum %#x, want %#x", n, got.sum(), want.sum())
		}
	}
	const n = 700
	w := newWeak(b[:n])
	for i := 0; i+n < len(b); i++ {
		w.roll(b[i], b[i+n], n)
		if w.sum() != newWeak(b[i+1:i+1+n]).sum() {
			t.Fatalf("rolled to %d: %#x, want %#x", i+1, w.sum(), newWeak(b[i+1:i+1+n]).sum())
		}
	}
}

// TestBlockSizeFor: rsync's block sizes (sum_sizes_sqroot), bounded.
func TestBlockSizeFor(t *testing.T) {
	for size, want := range map[int64]int{
		0: MinBlockSize, 1000: MinBlockSize, 1 << 20: 1024, 100 << 20: 10240, 104857599: 10232,
		490000: 696, 1 << 34: MaxBlockSize, 1 << 50: MaxBlockSize,
	} {
		if got := BlockSizeFor(size); got != want {
			t.Errorf("BlockSizeFor(%d) = %d, want %d", size, got, want)
		}
	}
}
