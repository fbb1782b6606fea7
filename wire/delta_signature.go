package wire

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"sync"
)

// sigSpan is about how many bytes of the file one goroutine hashes at a
// time when WriteSignature works in parallel.
const sigSpan = 4 << 20

// WriteSignature reads r (size bytes) and writes its signature to w. When
// r is an io.ReaderAt (a file), spans of it are hashed in parallel, one
// goroutine a CPU; the signature is the same either way.
func WriteSignature(w io.Writer, r io.Reader, size int64) error {
	bs := int64(BlockSizeFor(size))
	bw := bufio.NewWriterSize(w, 64<<10)
	var hdr [16]byte
	copy(hdr[:4], sigMagic)
	binary.BigEndian.PutUint32(hdr[4:8], uint32(bs))
	binary.BigEndian.PutUint64(hdr[8:], uint64(size))
	bw.Write(hdr[:])
	ra, parallel := r.(io.ReaderAt)
	workers := 1
	if parallel {
		workers = runtime.GOMAXPROCS(0)
	}
	perSpan := max(1, sigSpan/bs) // blocks
	spans := make([]sigSpanWork, workers)
	for off := int64(0); off < size; {
		var wg sync.WaitGroup
		used := 0
		for i := range spans {
			if off >= size {
				break
			}
			sp := &spans[i]
			sp.off, sp.n = off, min(perSpan*bs, size-off)
			off += sp.n
			used++
			if !parallel {
				sp.err = sp.hash(bs, func(p []byte, _ int64) error { _, err := io.ReadFull(r, p); return err })
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				sp.err = sp.hash(bs, func(p []byte, at int64) error {
					if n, err := ra.ReadAt(p, at); n < len(p) {
						return cmp.Or(err, io.ErrUnexpectedEOF)
					}
					return nil
				})
			}()
		}
		wg.Wait()
		for _, sp := range spans[:used] {
			if sp.err != nil {
				return sp.err
			}
			bw.Write(sp.recs)
		}
	}
	return bw.Flush()
}

// sigSpanWork is one span of the file: n bytes from off, and the records
// of its blocks once hashed.
type sigSpanWork struct {
	off, n int64
	buf    []byte
	recs   []byte
	err    error
}

// hash reads the span with read and hashes its blocks of bs bytes.
func (sp *sigSpanWork) hash(bs int64, read func(p []byte, at int64) error) error {
	if int64(cap(sp.buf)) < sp.n {
		sp.buf = make([]byte, sp.n)
	}
	buf := sp.buf[:sp.n]
	if err := read(buf, sp.off); err != nil {
		return fmt.Errorf("reading the %d bytes at %d: %w", sp.n, sp.off, err)
	}
	sp.recs = sp.recs[:0]
	for len(buf) > 0 {
		b := buf[:min(bs, int64(len(buf)))]
		sp.recs = binary.BigEndian.AppendUint32(sp.recs, newWeak(b).sum())
		sp.recs = binary.BigEndian.AppendUint64(sp.recs, strong(b))
		buf = buf[len(b):]
	}
	return nil
}

// SignatureSize is the size of the signature of a file of size bytes.
func SignatureSize(size int64) int64 {
	bs := int64(BlockSizeFor(size))
	return 16 + (size+bs-1)/bs*(4+strongSize)
}
