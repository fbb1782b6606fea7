package printable

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain text is kept", `deploy "web" 50% done \ ok`, `deploy "web" 50% done \ ok`},
		{"unicode letters are kept", "pässwörd ✓ 日本", "pässwörd ✓ 日本"},
		{"a forged log line", "bad\n19:99:99 INF all good", `bad\n19:99:99 INF all good`},
		{"OSC 52 clipboard write", "x\x1b]52;c;cHduZWQ=\a", `x\x1b]52;c;cHduZWQ=\a`},
		{"carriage return and tab", "a\rb\tc", `a\rb\tc`},
		{"DEL and C1", "a\x7fb\u009bc", `a\x7fb\u009bc`},
		{"bidi override", "abc\u202edef", `abc\u202edef`},
		{"invalid UTF-8", "a\xffb", `a\xffb`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := String(tt.in); got != tt.want {
				t.Errorf("String(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestText(t *testing.T) {
	if got, want := Text("yaml: errors:\n\tline 3\x1b]0;t\a\r"), "yaml: errors:\n\tline 3\\x1b]0;t\\a\\r"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}

func FuzzString(f *testing.F) {
	f.Add("a\x1b[31mred\n")
	f.Add("ok")
	f.Fuzz(func(t *testing.T, s string) {
		got := String(s)
		if !utf8.ValidString(got) {
			t.Fatalf("String(%q) = %q is not UTF-8", s, got)
		}
		for _, r := range got {
			if r != ' ' && !unicode.IsPrint(r) {
				t.Fatalf("String(%q) = %q keeps %U", s, got, r)
			}
		}
		if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }) && got != s {
			t.Fatalf("String(%q) = %q changed printable text", s, got)
		}
	})
}
