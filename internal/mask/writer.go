package mask

import "bytes"

// MaxLine is the longest line held back waiting for its newline; a longer
// one is passed on in pieces (see LineWriter.Cut).
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
	// Cut, when set, chooses how much of a line held past MaxLine is
	// passed on now as a piece (newline false): 0 holds it all until it
	// is twice as long, and so on. Without it the pieces are MaxLine
	// long.
	Cut func(held []byte) int
	// Live, when set, passes on at once the start of a line still
	// arriving (a terminal shows what tools redraw with \r live): it
	// returns how much of the held text may go now.
	Live func(held []byte) int
	// maxLine is MaxLine, smaller in tests.
	maxLine int
	// limit is the length at which the held line is cut next.
	limit int
	// partial is set once a piece of the current line was passed on.
	partial bool
}

// NewLineWriter returns a writer calling fn for each line.
func NewLineWriter(fn func(line []byte, newline bool)) *LineWriter {
	return &LineWriter{line: fn, maxLine: MaxLine, limit: MaxLine}
}

// Write implements io.Writer.
func (w *LineWriter) Write(p []byte) (int, error) {
	n := len(p)
	if w.Block != nil {
		// Finish the line begun earlier, then offer the whole lines after it.
		if len(w.buf) > 0 || w.partial {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				w.hold(p)
				return n, nil
			}
			w.buf = append(w.buf, p[:i]...)
			w.end(w.buf)
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
			w.end(w.buf)
		} else {
			w.end(p[:i])
		}
		p = p[i+1:]
	}
	return n, nil
}

// end passes on the last of a line, with its newline.
func (w *LineWriter) end(last []byte) {
	w.line(last, true)
	w.buf, w.partial, w.limit = w.buf[:0], false, w.maxLine
}

// hold keeps a partial line, passing on pieces once it reaches the limit.
func (w *LineWriter) hold(p []byte) {
	w.buf = append(w.buf, p...)
	for len(w.buf) >= w.limit {
		n := w.maxLine
		if w.Cut != nil {
			n = min(w.Cut(w.buf), len(w.buf))
		}
		if n <= 0 {
			w.limit = 2 * len(w.buf)
			return
		}
		w.pass(n)
	}
	if w.Live != nil && len(w.buf) > 0 {
		if n := min(w.Live(w.buf), len(w.buf)); n > 0 {
			w.pass(n)
		}
	}
}

// pass passes on the first n bytes held, as a piece of the line.
func (w *LineWriter) pass(n int) {
	w.line(w.buf[:n], false)
	w.partial, w.limit = true, w.maxLine
	w.buf = append(w.buf[:0], w.buf[n:]...)
}

// Close passes on what is left of an unterminated last line.
func (w *LineWriter) Close() error {
	if len(w.buf) > 0 {
		w.line(w.buf, false)
	}
	w.buf, w.partial, w.limit = w.buf[:0], false, w.maxLine
	return nil
}
