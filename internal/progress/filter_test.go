package progress

import (
	"bytes"
	"strings"
	"testing"
)

// TestFilterTakesLinesAndKeepsNoEndlessOne: lines cut into any writes
// reach take whole, those it does not claim pass on with their ends, and
// output without newlines is passed on, not held whole.
func TestFilterTakesLinesAndKeepsNoEndlessOne(t *testing.T) {
	var rest bytes.Buffer
	var taken []string
	w, flush := Filter(&rest, func(line []byte) bool {
		taken = append(taken, string(line))
		return strings.HasPrefix(string(line), "bar ")
	})
	for _, c := range []string{"bar 1\r\nhel", "lo\nbar", " 2\n", "tail"} {
		w.Write([]byte(c))
	}
	flush()
	if got := strings.Join(taken, "|"); got != "bar 1|hello|bar 2" || rest.String() != "hello\ntail" {
		t.Errorf("taken %q, passed on %q", got, rest.String())
	}

	rest.Reset()
	w, flush = Filter(&rest, func([]byte) bool { t.Fatal("an unended line was taken"); return false })
	chunk := bytes.Repeat([]byte("x"), 1000)
	for range 100 {
		w.Write(chunk)
	}
	if held := 100*1000 - rest.Len(); held > maxHeldLine {
		t.Errorf("held %d bytes of an unended line", held)
	}
	flush()
	if rest.Len() != 100*1000 {
		t.Errorf("passed on %d bytes in all, want %d", rest.Len(), 100*1000)
	}
}
