package progress

import (
	"bytes"
	"io"
)

// maxHeldLine bounds the unended line a Filter keeps: a longer one is
// passed on as it stands, so output without newlines is not held whole.
const maxHeldLine = 4096

// Filter returns a writer that hands take each whole line written to it
// (its end trimmed) and passes on to w, with its end, every line take
// does not claim: the lines a bar stands for are taken, the rest is the
// command's text. flush passes on an unended last line.
func Filter(w io.Writer, take func(line []byte) bool) (out io.Writer, flush func()) {
	f := &filter{w: w, take: take}
	return f, func() {
		if len(f.held) > 0 {
			w.Write(f.held)
			f.held = nil
		}
	}
}

type filter struct {
	w    io.Writer
	take func([]byte) bool
	held []byte
}

func (f *filter) Write(p []byte) (int, error) {
	n := len(p)
	f.held = append(f.held, p...)
	for {
		i := bytes.IndexByte(f.held, '\n')
		if i < 0 {
			break
		}
		line := f.held[:i+1]
		if !f.take(bytes.TrimRight(line, "\r\n")) {
			if _, err := f.w.Write(line); err != nil {
				return n, err
			}
		}
		f.held = f.held[i+1:]
	}
	if len(f.held) > maxHeldLine {
		_, err := f.w.Write(f.held)
		f.held = f.held[:0]
		return n, err
	}
	return n, nil
}
