package octopus

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func b64(s string) string { return EncodeValue(s) }

func TestSplitLine(t *testing.T) {
	tests := []struct {
		name string
		line string
		want []Segment
	}{
		{"plain text", "hello", []Segment{{Text: "hello"}}},
		{"empty line", "", []Segment{{Text: ""}}},
		{"no attributes", "##octopus[stdout-verbose]", []Segment{{Msg: &ServiceMessage{Name: "stdout-verbose", Attrs: map[string]string{}}, Raw: "##octopus[stdout-verbose]"}}},
		{
			"single quotes, text before and after",
			"before ##octopus[setVariable name='" + b64("A") + "' value='" + b64("1 2]") + "'] after",
			[]Segment{
				{Text: "before "},
				{Msg: &ServiceMessage{Name: "setVariable", Attrs: map[string]string{"name": "A", "value": "1 2]"}}, Raw: "##octopus[setVariable name='" + b64("A") + "' value='" + b64("1 2]") + "']"},
				{Text: " after"},
			},
		},
		{
			"double quotes and mixed-case keys, as Calamari's C# writes",
			`##octopus[progress Percentage="` + b64("50") + `" Message="` + b64("half") + `"]`,
			[]Segment{{Msg: &ServiceMessage{Name: "progress", Attrs: map[string]string{"percentage": "50", "message": "half"}}, Raw: `##octopus[progress Percentage="` + b64("50") + `" Message="` + b64("half") + `"]`}},
		},
		{"unicode value", "##octopus[mask value='" + b64("pässwörd✓") + "']", []Segment{{Msg: &ServiceMessage{Name: "mask", Attrs: map[string]string{"value": "pässwörd✓"}}, Raw: "##octopus[mask value='" + b64("pässwörd✓") + "']"}}},
		{"unclosed marker is text", "##octopus[setVariable name='QQ==' ", []Segment{{Text: "##octopus[setVariable name='QQ==' "}}},
		{"two messages", "##octopus[a]##octopus[b]", []Segment{
			{Msg: &ServiceMessage{Name: "a", Attrs: map[string]string{}}, Raw: "##octopus[a]"},
			{Msg: &ServiceMessage{Name: "b", Attrs: map[string]string{}}, Raw: "##octopus[b]"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, SplitLine(tt.line)); diff != "" {
				t.Errorf("SplitLine(%q) (-want +got):\n%s", tt.line, diff)
			}
		})
	}
}

func TestParseServiceMessageErrors(t *testing.T) {
	for _, body := range []string{"", "bad name", "x a=b", "x a='not base64!'", "x a='QQ==", "x ='QQ=='", "x a"} {
		if _, err := ParseServiceMessage(body); err == nil {
			t.Errorf("ParseServiceMessage(%q) accepted", body)
		}
	}
	segs := SplitLine("x ##octopus[x a='@@'] y")
	if len(segs) != 3 || segs[1].Err == nil || segs[1].Raw != "##octopus[x a='@@']" {
		t.Fatalf("bad message not reported as such: %+v", segs)
	}
}

func TestFormatRoundTrip(t *testing.T) {
	line := Format("setVariable", "name", "Out", "value", "a'b\"c]\n")
	segs := SplitLine(line)
	if len(segs) != 1 || segs[0].Msg == nil || segs[0].Msg.Attrs["value"] != "a'b\"c]\n" {
		t.Fatalf("round trip: %+v", segs)
	}
}

func FuzzSplitLine(f *testing.F) {
	for _, s := range []string{"", "x", "##octopus[a]", "##octopus[a b='QQ==']z", "a##octopus[", "##octopus[x y=\"QQ\"]]", "##octopus[[]]"} {
		f.Add(s, "setVariable", "Out", "v]a'l\"ue", "after ##octopus[b]")
	}
	f.Fuzz(func(t *testing.T, line, name, attr, value, after string) {
		segs := SplitLine(line)
		// Nothing is lost or invented: the pieces put back are the line.
		if got := rebuild(segs); got != line {
			t.Fatalf("segments of %q rebuild %q", line, got)
		}
		for _, s := range segs {
			if s.Msg != nil {
				again, err := ParseServiceMessage(s.Raw[len(Marker) : len(s.Raw)-1])
				if err != nil || again.Name != s.Msg.Name {
					t.Fatalf("reparse of %q: %v", s.Raw, err)
				}
			}
		}

		// A well-formed message between any text is found and decoded:
		// the text before it (holding no marker) is one text segment,
		// and the message is the next one.
		name = validChars(name)
		before := line
		for strings.Contains(before, Marker) {
			before = strings.ReplaceAll(before, Marker, "")
		}
		msg := Format(name, "name", attr, "value", value)
		full := before + msg + after
		segs = SplitLine(full)
		if got := rebuild(segs); got != full {
			t.Fatalf("segments of %q rebuild %q", full, got)
		}
		i := 0
		if before != "" {
			if segs[0].Msg != nil || segs[0].Err != nil || segs[0].Text != before {
				t.Fatalf("SplitLine(%q): first segment %+v, want the text %q", full, segs[0], before)
			}
			i = 1
		}
		want := &ServiceMessage{Name: name, Attrs: map[string]string{"name": attr, "value": value}}
		if i >= len(segs) || segs[i].Raw != msg || !cmp.Equal(segs[i].Msg, want) {
			t.Fatalf("SplitLine(%q) = %+v: the message %q is not segment %d as %+v", full, segs, msg, i, want)
		}
	})
}

// rebuild puts segments back together.
func rebuild(segs []Segment) string {
	var b strings.Builder
	for _, s := range segs {
		if s.Msg != nil || s.Err != nil {
			b.WriteString(s.Raw)
		} else {
			b.WriteString(s.Text)
		}
	}
	return b.String()
}

// validChars keeps the characters a message name may hold ("x" if none).
func validChars(s string) string {
	var b strings.Builder
	for _, c := range s {
		if validName(string(c)) {
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 {
		return "x"
	}
	return b.String()
}
