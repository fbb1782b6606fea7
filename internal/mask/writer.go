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
	// Block, when set, is offered each run of whole lines (newlines
	// included) that starts a write with nothing held back; it returns
	// false to have them handed over line by line instead. Most output
	// needs nothing done to it, and one look at a block is far cheaper
	// than one per line.
	Block func(lines []byte) bool
}

// NewLineWriter returns a writer calling fn for each line.
func NewLineWriter(fn func(line []byte, newline bool)) *LineWriter {
	return &LineWriter{line: fn}
}

// Write implements io.Writer.
func (w *LineWriter) Write(p []byte) (int, error) {
	n := len(p)
	if w.Block != nil {
		// Finish the line held back, then offer the whole lines after it.
		if len(w.buf) > 0 {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				w.hold(p)
				return n, nil
			}
			w.buf = append(w.buf, p[:i]...)
			w.line(w.buf, true)
			w.buf = w.buf[:0]
			p = p[i+1:]
		}
		if last := bytes.LastIndexByte(p, '\n'); last >= 0 && w.Block(p[:last+1]) {
			p = p[last+1:]
		}
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.hold(p)
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

// hold keeps a partial line, passing on pieces of MaxLine.
func (w *LineWriter) hold(p []byte) {
	w.buf = append(w.buf, p...)
	for len(w.buf) >= MaxLine {
		w.line(w.buf[:MaxLine], false)
		w.buf = append(w.buf[:0], w.buf[MaxLine:]...)
	}
}

// Close passes on what is left of an unterminated last line.
func (w *LineWriter) Close() error {
	if len(w.buf) > 0 {
		w.line(w.buf, false)
		w.buf = w.buf[:0]
	}
	return nil
}
