package agent

import (
	"bytes"
	"io"
	"testing"
)

func TestErrorOutputWatch(t *testing.T) {
	for _, c := range []struct {
		name   string
		writes []string
		want   bool
	}{
		{"nothing", nil, false},
		{"service messages", []string{"##octopus[mask value='eA==']\n", "##octopus[stderr-default]\n"}, false},
		{"blank lines", []string{"\n   \n\t\r\n"}, false},
		{"a message split across writes", []string{"##oct", "opus[mask value='eA==']\n"}, false},
		{"text", []string{"hello\n"}, true},
		{"text without a newline", []string{"warn"}, true},
		{"text split across writes", []string{"##oct", "ave\n"}, true},
		{"indented message counts", []string{" ##octopus[mask value='eA==']\n"}, true},
		{"text after a message line", []string{"##octopus[mask value='eA==']\nthen text\n"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			w := &errorOutputWatch{w: &out}
			all := ""
			for _, s := range c.writes {
				if _, err := io.WriteString(w, s); err != nil {
					t.Fatal(err)
				}
				all += s
			}
			if got := w.wrote(); got != c.want {
				t.Errorf("wrote() = %v, want %v", got, c.want)
			}
			if out.String() != all {
				t.Errorf("passed on %q, want %q", out.String(), all)
			}
		})
	}
}
