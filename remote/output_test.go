package remote

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/bootstrap"
	"github.com/cuttle-sh/cuttle/internal/mask"
)

func TestOutputProcessor(t *testing.T) {
	var out, errb bytes.Buffer
	var logs bytes.Buffer
	masks := mask.NewSet("topsecret")
	p := newOutputProcessor(masks, Output{Stdout: &out, Stderr: &errb}, zerolog.New(&logs))
	o, e, flush := p.writers()
	io.WriteString(o, "plain topsecret\n"+bootstrap.Format("setVariable", "name", "V", "value", "1")+"\n")
	io.WriteString(o, "##octopus[stdout-verbose]\nhidden\n##octopus[stdout-default]\n")
	io.WriteString(o, bootstrap.Format("mask", "value", "later")+"\nthen later\n")
	io.WriteString(o, "##octopus[stdout-warning]\nwarn\n##octopus[stdout-ignore]\ndropped\n##octopus[stdout-default]\n")
	io.WriteString(o, "##octopus[broken attr=nope]\n")
	io.WriteString(e, "err li")
	io.WriteString(e, "ne\n##octopus[stderr-ignore]\nnot shown\n")
	io.WriteString(o, "no newline at the end")
	flush()
	if got, want := out.String(), "plain ********\nthen ********\nno newline at the end"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got, want := errb.String(), "warn\nerr line\n"; got != want {
		t.Errorf("stderr = %q, want %q", got, want)
	}
	if got := p.results(); got.vars["V"].Value != "1" {
		t.Errorf("vars = %v", got.vars)
	}
	if !strings.Contains(logs.String(), "could not parse service message") {
		t.Errorf("bad message not warned about: %s", logs.String())
	}
}

// BenchmarkOutputProcessor measures the controller's per-byte work on a
// step's output: line splitting, the service-message check and masking.
func BenchmarkOutputProcessor(b *testing.B) {
	line := strings.Repeat("x", 70) + " some output line\n"
	chunk := []byte(strings.Repeat(line, 1000))
	p := newOutputProcessor(mask.NewSet("topsecret", "other-secret"), Output{Stdout: io.Discard, Stderr: io.Discard}, zerolog.Nop())
	o, _, flush := p.writers()
	b.SetBytes(int64(len(chunk)))
	b.ResetTimer()
	for range b.N {
		o.Write(chunk)
	}
	flush()
}
