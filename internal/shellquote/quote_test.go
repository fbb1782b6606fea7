package shellquote

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// roundTrip runs the quoted words through a real sh and returns what the
// shell saw as separate arguments.
func roundTrip(t testing.TB, args []string) []string {
	t.Helper()
	line, err := Join(args...)
	if err != nil {
		t.Fatalf("Join(%q): %v", args, err)
	}
	// The quoted line is parsed by a real shell, as sshd's login shell would.
	cmd := exec.Command("sh", "-c", `f() { for a in "$@"; do printf '%s\0' "$a"; done; }; f `+line)
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("sh -c with %q: %v", line, err)
	}
	got := strings.Split(out.String(), "\x00")
	return got[:len(got)-1]
}

func TestJoinRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"plain", []string{"docker", "run", "--rm", "img:1"}},
		{"empty word", []string{"docker", "--entrypoint", "", "x"}},
		{"spaces", []string{"/home/a b/work dir"}},
		{"single quotes", []string{"it's", "'", "''", "a'b'c"}},
		{"command substitution", []string{"$(touch /tmp/pwned)", "`id`", "${HOME}"}},
		{"separators", []string{"; rm -rf ~", "a && b", "x | y", "a\nb", "a\r\nb"}},
		{"globs and tilde", []string{"*", "~", "~root", "?", "[a]", "-", "--"}},
		{"assignment-like", []string{"A=b", "=x", ":x", "a:b"}},
		{"unicode", []string{"héllo", "日本", "\u202e", "emoji 😀"}},
		{"control bytes", []string{"\x01\x02", "\t", "\x7f", "\\", "\\'"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := roundTrip(t, tt.args)
			if diff := cmp.Diff(tt.args, got); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJoinRefusesNUL(t *testing.T) {
	if _, err := Join("ok", "bad\x00word"); err != ErrNUL {
		t.Fatalf("Join with NUL: err = %v, want ErrNUL", err)
	}
}

func TestJoinBareWordsStayReadable(t *testing.T) {
	got, _ := Join("docker", "run", "--name", "cuttle-1", "-v", "/a/b:/a/b", "x=y")
	want := "docker run --name cuttle-1 -v /a/b:/a/b x=y"
	if got != want {
		t.Fatalf("Join = %q, want %q", got, want)
	}
}

func FuzzJoin(f *testing.F) {
	for _, s := range []string{"", "a b", "'", "$(id)", "`x`", "\n", "~", "=a", "\\"} {
		f.Add(s, "second")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if strings.IndexByte(a, 0) >= 0 || strings.IndexByte(b, 0) >= 0 {
			if _, err := Join(a, b); err == nil {
				t.Fatal("NUL accepted")
			}
			return
		}
		want := []string{a, b}
		if got := roundTrip(t, want); !cmp.Equal(want, got) {
			t.Fatalf("round trip of %q gave %q", want, got)
		}
	})
}
