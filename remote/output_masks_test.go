package remote

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/octopus"
)

// processorRun is a processor whose output and JSON logs are kept.
type processorRun struct {
	p               *outputProcessor
	out, errb, logs bytes.Buffer
	stdout, stderr  io.Writer
	flush           func()
}

func newProcessorRun(values ...string) *processorRun {
	r := &processorRun{}
	r.p = newOutputProcessor(mask.NewSet(values...), Output{Stdout: &r.out, Stderr: &r.errb}, zerolog.New(&r.logs))
	r.stdout, r.stderr, r.flush = r.p.writers()
	return r
}

// feed writes data in pieces of 32 KiB, as SSH delivers output.
func feed(w io.Writer, data string) {
	for len(data) > 0 {
		n := min(len(data), 32<<10)
		io.WriteString(w, data[:n])
		data = data[n:]
	}
}

// TestLargeSensitiveVariable: a 10 MB -sensitive output variable (a
// 14 MB service message line) is set, and nothing of it is printed.
func TestLargeSensitiveVariable(t *testing.T) {
	value := "BIGSECRET-" + strings.Repeat("y", 10<<20) + "-END"
	r := newProcessorRun()
	feed(r.stdout, "before\n"+octopus.Format("setVariable", "name", "Big", "value", value, "sensitive", "True")+"\nafter\n")
	r.flush()
	if got := r.out.String(); got != "before\nafter\n" {
		t.Fatalf("stdout is %d bytes, starting %q: want only the text around the message", len(got), got[:min(len(got), 80)])
	}
	v := r.p.results().vars["Big"]
	if v.Value != value || !v.Sensitive {
		t.Fatalf("Big: %d bytes, sensitive %v; want %d bytes, sensitive", len(v.Value), v.Sensitive, len(value))
	}
	if r.p.masks.Mask("x "+value) != "x "+mask.Placeholder {
		t.Fatal("the value is not masked from then on")
	}
}

// TestOverlongMessageDropped: a service message past the limit is
// dropped with a warning; nothing of it is printed, the text around it is.
func TestOverlongMessageDropped(t *testing.T) {
	value := strings.Repeat("z", 3<<19) // 1.5 MiB, 2 MiB of base64
	r := newProcessorRun()
	r.p.maxMessage = mask.MaxLine
	msg := octopus.Format("setVariable", "name", "Big", "value", value, "sensitive", "True")
	feed(r.stdout, "lead "+msg+" trail\nnext\nlead "+msg+"\nlast\n")
	r.flush()
	if got := r.out.String(); got != "lead  trail\nnext\nlead \nlast\n" {
		t.Fatalf("stdout is %d bytes, starting %q", len(got), got[:min(len(got), 80)])
	}
	if len(r.p.results().vars) != 0 {
		t.Fatal("the dropped message set a variable")
	}
	if !strings.Contains(r.logs.String(), "longer than the limit was dropped") {
		t.Fatalf("no warning: %s", r.logs.String())
	}
}

// TestLongLineOfRepeatsIsBounded: a line that cannot be cut without
// splitting a masked value (one value repeated, overlapping) is still
// passed on once it passes the limit, rather than held whole.
func TestLongLineOfRepeatsIsBounded(t *testing.T) {
	r := newProcessorRun("aaaa")
	r.p.maxMessage = mask.MaxLine
	feed(r.stdout, strings.Repeat("a", 3*mask.MaxLine))
	if r.out.Len() == 0 {
		t.Fatal("3 MiB of one line held whole")
	}
	io.WriteString(r.stdout, "\n")
	r.flush()
	if strings.Contains(r.out.String(), "aaaaaaaa") {
		t.Fatal("the repeats are not masked")
	}
}

// TestSecretAcrossMaxLine: the red team's case, a secret arriving just
// before the 1 MiB mark of a line with no newline yet.
func TestSecretAcrossMaxLine(t *testing.T) {
	secret := "S3cr3t-Zq9xW7-unique"
	r := newProcessorRun(secret)
	io.WriteString(r.stdout, strings.Repeat("x", mask.MaxLine-10))
	io.WriteString(r.stdout, secret)
	io.WriteString(r.stdout, " tail\n")
	r.flush()
	if want := strings.Repeat("x", mask.MaxLine-10) + mask.Placeholder + " tail\n"; r.out.String() != want {
		got := r.out.String()
		t.Fatalf("stdout ends %q, want it to end %q", got[max(0, len(got)-40):], want[len(want)-40:])
	}
}

// TestVariableHoldingMaskedValue: an output variable whose value holds a
// masked value, or one of its encodings, is sensitive, whichever came
// first; one whose name holds one is refused.
func TestVariableHoldingMaskedValue(t *testing.T) {
	r := newProcessorRun("hunter22")
	basic := base64.StdEncoding.EncodeToString([]byte("user:hunter22"))
	feed(r.stdout, strings.Join([]string{
		octopus.Format("setVariable", "name", "Copy", "value", "pw=hunter22"),
		octopus.Format("setVariable", "name", "Auth", "value", "Basic "+basic),
		octopus.Format("setVariable", "name", "Early", "value", "x-masked-later"),
		octopus.Format("setVariable", "name", "N-hunter22", "value", "x"),
		octopus.Format("setVariable", "name", "Late-masked-later", "value", "x"),
		octopus.Format("setVariable", "name", "Plain", "value", "harmless"),
		octopus.Format("mask", "value", "masked-later"),
	}, "\n")+"\n")
	r.flush()
	got := map[string]bool{}
	rep := r.p.results()
	for _, name := range rep.order {
		got[name] = rep.vars[name].Sensitive
	}
	if want := map[string]bool{"Copy": true, "Auth": true, "Early": true, "Plain": false}; fmt.Sprint(got) != fmt.Sprint(want) || len(rep.vars) != len(want) {
		t.Fatalf("variables (name: sensitive) = %v, want %v", got, want)
	}
	if strings.Contains(r.logs.String(), "hunter22") {
		t.Fatalf("a refused name reached the log: %s", r.logs.String())
	}
}

// TestWorkerTextInLogs: text from the script reaches the logs with its
// control characters escaped, and no log line has a key twice.
func TestWorkerTextInLogs(t *testing.T) {
	evil := "bad\n19:99:99 INF all good\x1b]52;c;cHduZWQ=\a"
	r := newProcessorRun()
	feed(r.stdout, octopus.Format("progress", "percentage", "5\x1b[2J", "message", evil)+"\n"+
		"##octopus[setVariable name='@@"+"\x1b[31m']\n"+
		"##octopus[bad\x1b[31mname]\n")
	r.flush()
	lines := strings.Split(strings.TrimSpace(r.logs.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3:\n%s", len(lines), r.logs.String())
	}
	for _, l := range lines {
		fields, err := uniqueFields(l)
		if err != nil {
			t.Errorf("log line %s: %v", l, err)
		}
		for k, v := range fields {
			if strings.ContainsFunc(v, func(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }) {
				t.Errorf("log field %s = %q holds a control character", k, v)
			}
		}
	}
}

// uniqueFields decodes a flat JSON object, refusing a key seen twice.
func uniqueFields(line string) (map[string]string, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	fields := map[string]string{}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		key := k.(string)
		if _, dup := fields[key]; dup {
			return nil, fmt.Errorf("key %q twice", key)
		}
		fields[key] = fmt.Sprint(v)
	}
	return fields, nil
}
