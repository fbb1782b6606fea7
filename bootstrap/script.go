package bootstrap

import (
	"bytes"
	"io"
	"sync"
)

// NormalizeScript is what Calamari's EnsureValidUnixFile does to a bash
// script before bash reads it: a UTF-8 byte order mark is dropped and
// CRLF line ends become LF (a lone CR stays). Scripts saved on Windows
// then run as written.
func NormalizeScript(b []byte) []byte {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if !bytes.Contains(b, []byte("\r\n")) {
		return b
	}
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}

// ErrorOutputFailure is the result message of a script that exited 0
// but wrote to its error output while Octopus.Action.FailScriptOnErrorOutput
// was True.
const ErrorOutputFailure = "The script returned zero exit code but had error output (Octopus.Action.FailScriptOnErrorOutput is True)"

// errorOutputWatch passes the script's stderr on and notes whether any of
// it counts as error output, as Calamari counts it: a line that is not
// blank and does not start with ##octopus (service messages written to
// stderr do not count).
type errorOutputWatch struct {
	w io.Writer

	mu       sync.Mutex
	start    []byte // the line's first bytes, up to len(servicePrefix)
	nonBlank bool
	seen     bool
}

var servicePrefix = []byte("##octopus")

func (e *errorOutputWatch) Write(p []byte) (int, error) {
	e.mu.Lock()
	for _, c := range p {
		if c == '\n' {
			e.endLine()
			continue
		}
		if len(e.start) < len(servicePrefix) {
			e.start = append(e.start, c)
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\v' && c != '\f' {
			e.nonBlank = true
		}
	}
	e.mu.Unlock()
	return e.w.Write(p)
}

func (e *errorOutputWatch) endLine() {
	if e.nonBlank && !bytes.HasPrefix(e.start, servicePrefix) {
		e.seen = true
	}
	e.start, e.nonBlank = e.start[:0], false
}

// wrote reports whether error output was seen, the last line counted
// even without its newline.
func (e *errorOutputWatch) wrote() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.endLine()
	return e.seen
}
