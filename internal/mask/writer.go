package mask

import "bytes"

// MaxLine is the longest line held back waiting for its newline; a longer
// one is passed on in pieces of this size.
const MaxLine = 1 << 20

// LineWriter hands complete lines (without the newline) to a function, so
// that masking and service-message parsing always see whole lines however
// the output was chunked. Close flushes a last line without newline.
type LineWriter struct {
	buf  []byte
	line func(line []byte, newline bool)
}

// NewLineWriter returns a writer calling fn for each line.
func NewLineWriter(fn func(line []byte, newline bool)) *LineWriter {
	return &LineWriter{line: fn}
}

// Write implements io.Writer.
func (w *LineWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			for len(w.buf) >= MaxLine {
				w.line(w.buf[:MaxLine], false)
				w.buf = append(w.buf[:0], w.buf[MaxLine:]...)
			}
			break
		}
		if len(w.buf) > 0 {
			w.buf = append(w.buf, p[:i]...)
			w.line(w.buf, true)
			w.buf = w.buf[:0]
		} else {
			w.line(p[:i], true)
		}
		p = p[i+1:]
	}
	return n, nil
}

// Close passes on what is left of an unterminated last line.
func (w *LineWriter) Close() error {
	if len(w.buf) > 0 {
		w.line(w.buf, false)
		w.buf = w.buf[:0]
	}
	return nil
}
