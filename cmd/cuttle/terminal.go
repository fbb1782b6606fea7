package main

import (
	goio "io"

	"github.com/cuttle-sh/cuttle/internal/progress"
)

// terminal is the command's progress display: bars for uploads, pulls,
// builds and waits, on stderr when it is a terminal and logs are console
// text. display stays nil otherwise (a pipe, a file, --log-format json),
// and nothing of it is printed.
type terminal struct {
	display *progress.Display
}

// start sets up the display for io, if it should have one.
func (t *terminal) start(io stdio, logFormat string) {
	if t == nil || logFormat != "console" || !isTerminal(io.Err) {
		return
	}
	t.display = progress.NewDisplay(io.Err)
}

// err is where text for stderr goes: above the bars while there are any.
func (t *terminal) err(io stdio) goio.Writer {
	if t == nil || t.display == nil {
		return io.Err
	}
	return t.display.Writer(io.Err)
}

// out is the same for stdout, when it is the same terminal.
func (t *terminal) out(io stdio) goio.Writer {
	if t == nil || t.display == nil || !isTerminal(io.Out) {
		return io.Out
	}
	return t.display.Writer(io.Out)
}

// reporter is the display as a progress.Reporter, or nil.
func (t *terminal) reporter() progress.Reporter {
	if t == nil || t.display == nil {
		return nil
	}
	return t.display
}

// close takes the bars down; run calls it before printing the error.
func (t *terminal) close() {
	if t != nil && t.display != nil {
		t.display.Close()
	}
}
