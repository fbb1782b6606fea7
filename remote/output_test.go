package remote

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/octopus"
)

func TestOutputProcessor(t *testing.T) {
	var out, errb bytes.Buffer
	var logs bytes.Buffer
	masks := mask.NewSet("topsecret")
	p := newOutputProcessor(masks, Output{Stdout: &out, Stderr: &errb}, zerolog.New(&logs))
	o, e, flush := p.writers()
	io.WriteString(o, "plain topsecret\n"+octopus.Format("setVariable", "name", "V", "value", "1")+"\n")
	io.WriteString(o, "##octopus[stdout-verbose]\nhidden\n##octopus[stdout-default]\n")
	io.WriteString(o, octopus.Format("mask", "value", "later")+"\nthen later\n")
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
	if !strings.Contains(logs.String(), `"error":"`) || !strings.Contains(logs.String(), `"message":"could not parse service message"`) {
		t.Errorf("bad message not warned about: %s", logs.String())
	}
}

// BenchmarkOutputProcessor measures the controller's per-byte work on a
// step's output: line splitting, the service-message check and masking.
func BenchmarkOutputProcessor(b *testing.B) {
	benchProcessor(b, "topsecret", "other-secret")
}

// benchProcessor feeds a processor masking values 350 KB of output, as it
// arrives: SSH-sized pieces that end mid-line.
func benchProcessor(b *testing.B, values ...string) {
	line := strings.Repeat("x", 70) + " some output line\n"
	data := []byte(strings.Repeat(line, 4000))
	p := newOutputProcessor(mask.NewSet(values...), Output{Stdout: io.Discard, Stderr: io.Discard}, zerolog.Nop())
	o, _, flush := p.writers()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 32<<10)
			o.Write(rest[:n])
			rest = rest[n:]
		}
	}
	flush()
}

// FuzzBlocksMatchLines: the block fast path gives exactly what handling
// every line on its own gives (output on both streams, variables), for
// any output and any chunking: secrets whole, split, encoded or spread
// over lines, service messages, level changes, masks added mid-stream.
func FuzzBlocksMatchLines(f *testing.F) {
	f.Add("plain\ntopsecret here\n", uint64(1))
	f.Add("a top\nsecret\n##octopus[stdout-ignore]\nx\n##octopus[stdout-default]\ndG9wc2VjcmV0\n", uint64(2))
	f.Add(octopus.Format("mask", "value", "later")+"\nlater on\nab\ncdef\n", uint64(3))
	f.Add(octopus.Format("setVariable", "name", "V", "value", "topsecret")+"\nno newline", uint64(4))
	f.Add("half s3cr3t-57cf5dec84381d6c done\nab\ncdef\n", uint64(5))
	f.Fuzz(func(t *testing.T, text string, seed uint64) {
		run := func(lineByLine bool, values []string, live ...bool) (string, string, string) {
			var out, errb bytes.Buffer
			p := newOutputProcessor(mask.NewSet(values...), Output{Stdout: &out, Stderr: &errb, Live: len(live) > 0}, zerolog.Nop())
			p.lineByLine = lineByLine
			o, e, flush := p.writers()
			rng := rand.New(rand.NewPCG(seed, 2))
			rest := []byte(text)
			for len(rest) > 0 {
				n := 1 + rng.IntN(len(rest))
				w := o
				if rng.IntN(4) == 0 {
					w = e
				}
				w.Write(rest[:n])
				rest = rest[n:]
			}
			flush()
			return out.String(), errb.String(), fmt.Sprint(p.results().vars)
		}
		// Few values: a search per form; many: the one-pass prefix search.
		many := []string{"topsecret", "ab\ncdef", "alpha-secret", "bravo-secret", "charlie", "delta-value", "echo1234", "foxtrot!", "golf/hotel"}
		for i := range 12 {
			many = append(many, fmt.Sprintf("generated-%d-Zq%d", i, i*7919))
		}
		for _, values := range [][]string{{"topsecret", "ab\ncdef"}, many} {
			o1, e1, v1 := run(false, values)
			o2, e2, v2 := run(true, values)
			if o1 != o2 || e1 != e2 || v1 != v2 {
				t.Fatalf("blocks and lines differ (%d values):\nstdout %q\n   vs  %q\nstderr %q\n   vs  %q\nvars %s vs %s", len(values), o1, o2, e1, e2, v1, v2)
			}
			// On a terminal the start of a line shows before its end;
			// what shows in the end is the same, unless a message on one
			// stream changes how a line of the other, already begun,
			// is masked or routed.
			if lower := strings.ToLower(text); !strings.Contains(lower, "mask") && !strings.Contains(lower, "setvariable") &&
				!strings.Contains(lower, "environmentstate") && !strings.Contains(lower, "stdout-") && !strings.Contains(lower, "stderr-") &&
				!strings.Contains(text, string(slotNote)) {
				o3, e3, v3 := run(false, values, true)
				if o1 != o3 || e1 != e3 || v1 != v3 {
					t.Fatalf("live and held differ (%d values):\nstdout %q\n   vs  %q\nstderr %q\n   vs  %q\nvars %s vs %s", len(values), o1, o3, e1, e3, v1, v3)
				}
			}
		}
	})
}

// BenchmarkOutputProcessorSecrets: the same with 1, 4, 8 and 16
// sensitive values (each with its encoded forms): past a few dozen forms
// the secret check is one pass, so the cost stops growing with them.
func BenchmarkOutputProcessorSecrets(b *testing.B) {
	for _, n := range []int{1, 4, 8, 16} {
		b.Run(strings.Repeat("s", n), func(b *testing.B) {
			var vals []string
			for i := range n {
				vals = append(vals, "topsecret-value-"+strings.Repeat("x", i))
			}
			benchProcessor(b, vals...)
		})
	}
}
