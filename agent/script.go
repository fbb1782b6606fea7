package agent

import (
	"bytes"
	"encoding/base64"
	"io"
	"sync"

	"github.com/cuttle-sh/cuttle/wire"
)

// errorOutputMessage is the resultMessage service message the runner
// prints when it fails a script for its error output.
var errorOutputMessage = "##octopus[resultMessage message='" + base64.StdEncoding.EncodeToString([]byte(wire.ErrorOutputFailure)) + "']"

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
