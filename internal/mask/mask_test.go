package mask

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
)

func TestSetMasksValueAndForms(t *testing.T) {
	secret := "s3cr&t/pass+word\"x"
	multi := "-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----"
	s := NewSet(secret, multi)
	for _, text := range []string{
		"plain " + secret + " end",
		base64.StdEncoding.EncodeToString([]byte(secret)),
		url.QueryEscape(secret),
		`{"p":"s3cr&t/pass+word\"x"}`,
		"line only: AAAABBBBCCCC",
		multi,
	} {
		got := s.Mask(text)
		for _, leak := range []string{secret, "AAAABBBBCCCC", base64.StdEncoding.EncodeToString([]byte(secret)), url.QueryEscape(secret), `s3cr&t/pass+word\"x`} {
			if strings.Contains(got, leak) {
				t.Errorf("Mask(%q) = %q still holds %q", text, got, leak)
			}
		}
		if !strings.Contains(got, Placeholder) {
			t.Errorf("Mask(%q) = %q masks nothing", text, got)
		}
	}
	if got := s.Mask("harmless } text"); got != "harmless } text" {
		t.Errorf("short parts masked: %q", got)
	}
}

func TestEmptySetPassesThrough(t *testing.T) {
	var s *Set
	if s.Mask("x") != "x" || NewSet().Mask("y") != "y" || !NewSet("").Empty() {
		t.Fatal("empty set changed text")
	}
}

// pipeline is what cuttle does with output: lines (cut where no value
// straddles the cut when longer than maxLine), then masking.
func pipeline(s *Set, maxLine int, chunks [][]byte) string {
	return pipelineLive(s, maxLine, chunks, false)
}

// pipelineLive is pipeline, with live set as on a terminal: the start of
// a line still arriving is passed on as far as Safe allows.
func pipelineLive(s *Set, maxLine int, chunks [][]byte, live bool) string {
	var out bytes.Buffer
	w := NewLineWriter(func(line []byte, nl bool) {
		out.WriteString(s.Mask(string(line)))
		if nl {
			out.WriteByte('\n')
		}
	})
	w.maxLine, w.limit, w.Cut = maxLine, maxLine, s.Cut
	if live {
		w.Live = s.Safe
	}
	for _, c := range chunks {
		w.Write(c)
	}
	w.Close()
	return out.String()
}

// maskLines masks text line by line, each line whole: what pipeline must
// give however the text is chunked and cut.
func maskLines(s *Set, text string) string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = s.Mask(l)
	}
	return strings.Join(lines, "\n")
}

func chunk(b []byte, r *rand.Rand) [][]byte {
	var chunks [][]byte
	for len(b) > 0 {
		n := 1 + r.IntN(min(len(b), 7))
		chunks = append(chunks, b[:n])
		b = b[n:]
	}
	return chunks
}

// FuzzMaskedChunks: however output is chunked, and wherever a long line
// is cut, the secret never appears, each line is masked as if whole, and
// a line holding no form of the secret comes out as it went in.
func FuzzMaskedChunks(f *testing.F) {
	f.Add("hunter2", "before hunter2 after\nand hunter2\n", "plain text", uint64(1), uint8(0))
	f.Add("a\nmulti-line", "x a\nmulti-line y", "", uint64(7), uint8(3))
	f.Add("aaaa", strings.Repeat("a", 50), "aaa", uint64(3), uint8(5))
	// The value's last byte begins its base64 ("czNj..."): shown live, a
	// piece once ended inside the whole value (CI, stop 25).
	f.Add("s3cr3t-57cf5dec84381d6c", "half ", " done", uint64(2), uint8(0))
	f.Fuzz(func(t *testing.T, secret, text, plain string, seed uint64, maxLine uint8) {
		// A secret with the placeholder's '*' can be "formed" by text next
		// to a mask ("0" + "********" reads "0**"): nothing of it leaks,
		// so such secrets are outside this property.
		if len(secret) < 3 || strings.ContainsAny(secret, "\r\n"+Placeholder[:1]) {
			return
		}
		s := NewSet(secret)
		plain = strings.ReplaceAll(plain, "\n", " ")
		text = text + secret + "\n" + secret + "\n" + plain
		r := rand.New(rand.NewPCG(seed, seed))
		limit := MaxLine
		if maxLine > 0 {
			limit = int(maxLine)
		}
		chunks := chunk([]byte(text), r)
		split := pipeline(s, limit, chunks)
		want := maskLines(s, text)
		if split != want {
			t.Fatalf("cut at %d and chunked, the output differs from masking each line whole:\ngot  %q\nwant %q", limit, split, want)
		}
		if strings.Contains(split, secret) {
			t.Fatalf("secret %q leaked: %q", secret, split)
		}
		// On a terminal, the start of each line goes out as it comes.
		if live := pipelineLive(s, limit, chunks, true); live != want {
			t.Fatalf("live, cut at %d and chunked, the output differs from masking each line whole:\ngot  %q\nwant %q", limit, live, want)
		}
		lines := strings.Split(split, "\n")
		if got := lines[len(lines)-2]; got != Placeholder {
			t.Fatalf("the line holding just the secret came out as %q", got)
		}
		holds := false
		for _, v := range s.list {
			holds = holds || strings.Contains(plain, v)
		}
		if got := lines[len(lines)-1]; !holds && got != plain {
			t.Fatalf("the line %q holds no form of %q, yet came out as %q", plain, secret, got)
		}
	})
}

// TestCutKeepsValuesWhole: a line far longer than the limit, with the
// secret and its base64 at every offset against the cuts, is masked
// everywhere; without Cut the same pipeline leaks.
func TestCutKeepsValuesWhole(t *testing.T) {
	secret := "S3cr3t-Zq9xW7"
	s := NewSet(secret)
	var line strings.Builder
	for i := range 200 {
		line.WriteString(strings.Repeat("x", i%37))
		if i%2 == 0 {
			line.WriteString(secret)
		} else {
			line.WriteString(base64.StdEncoding.EncodeToString([]byte(secret)))
		}
	}
	text := line.String() + "\n"
	for _, maxLine := range []int{16, 31, 64, 1000} {
		r := rand.New(rand.NewPCG(uint64(maxLine), 1))
		if got, want := pipeline(s, maxLine, chunk([]byte(text), r)), maskLines(s, text); got != want {
			t.Errorf("limit %d: pieces mask differently from the whole line:\ngot  %q\nwant %q", maxLine, got, want)
		}
	}
	var out bytes.Buffer
	w := NewLineWriter(func(line []byte, nl bool) { out.WriteString(s.Mask(string(line))) })
	w.maxLine, w.limit = 31, 31
	for _, c := range chunk([]byte(text), rand.New(rand.NewPCG(1, 1))) {
		w.Write(c)
	}
	if !strings.Contains(out.String(), secret[:6]) {
		t.Fatal("without Cut nothing leaked: the test does not reach the seams")
	}
}

// TestBlockNotOfferedMidLine: once a piece of a long line was passed on,
// the rest of that line is a line's end, not whole lines to offer Block,
// even when nothing is held back.
func TestBlockNotOfferedMidLine(t *testing.T) {
	var got []string
	w := NewLineWriter(func(line []byte, nl bool) { got = append(got, fmt.Sprintf("%s/%v", line, nl)) })
	w.maxLine, w.limit = 4, 4
	w.Cut = func(held []byte) int { return len(held) }
	w.Block = func(lines []byte) bool {
		got = append(got, "block:"+string(lines))
		return true
	}
	w.Write([]byte("abcd"))
	w.Write([]byte("ef\ngh\n"))
	if want := []string{"abcd/false", "ef/true", "block:gh\n"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestSecretAcrossMaxLine is the red team's case: 1 MiB less 10 bytes of
// text, then the secret, then the rest of the line, in three writes.
func TestSecretAcrossMaxLine(t *testing.T) {
	secret := "S3cr3t-Zq9xW7-unique"
	s := NewSet(secret)
	got := pipeline(s, MaxLine, [][]byte{bytes.Repeat([]byte("x"), MaxLine-10), []byte(secret), []byte(" tail\n")})
	if strings.Contains(got, secret[:10]) || !strings.HasSuffix(got, Placeholder+" tail\n") || len(got) != MaxLine-10+len(Placeholder)+6 {
		t.Fatalf("secret across the 1 MiB cut: output ends %q (%d bytes)", got[max(0, len(got)-40):], len(got))
	}
}

// TestShiftedBase64: the base64 of data holding the secret at any offset
// ("user:" + secret, as Basic auth encodes it) is masked but for the
// characters the bytes around the secret share.
func TestShiftedBase64(t *testing.T) {
	secret := "reg-S3cret!"
	s := NewSet(secret)
	for _, prefix := range []string{"", "u", "us", "robot:", "user:"} {
		for _, suffix := range []string{"", "!", "\n"} {
			enc := base64.StdEncoding.EncodeToString([]byte(prefix + secret + suffix))
			got := s.Mask(enc)
			left := len(strings.ReplaceAll(got, Placeholder, ""))
			if !strings.Contains(got, Placeholder) || left > (len(prefix)+len(suffix))*4/3+4 {
				t.Errorf("base64 of %q: masked %q (%d characters left)", prefix+secret+suffix, got, left)
			}
		}
	}
	if got := NewSet("abc").Mask("YWJj and xYWJjx"); got != Placeholder+" and x"+Placeholder+"x" {
		t.Errorf("short value: %q", got)
	}
}

func TestError(t *testing.T) {
	inner := errors.New("login as robot:hunter22 failed")
	err := NewSet("hunter22").Error(fmt.Errorf("step a: %w", inner))
	if err.Error() != "step a: login as robot:"+Placeholder+" failed" || !errors.Is(err, inner) {
		t.Fatalf("masked error %q (is inner: %v)", err, errors.Is(err, inner))
	}
	if NewSet("x").Error(nil) != nil {
		t.Fatal("nil error wrapped")
	}
}

// FuzzHolds: both searches (the rarest byte of each form, and from
// pairSearchFrom forms on, one pass with the prefix table) find a form
// exactly when one of the forms occurs in the text (checked against a
// plain search per form).
func FuzzHolds(f *testing.F) {
	f.Add("nothing here", "hunter2")
	f.Add("a hunter2 b", "hunter2")
	f.Add("aHVudGVyMg==", "hunter2")
	f.Add("x", "x")
	f.Add("user:hunter2 dXNlcjpodW50ZXIy", "hunter2")
	f.Fuzz(func(t *testing.T, text, secret string) {
		few := []string{secret}
		many := []string{secret, "alpha-secret", "bravo-secret", "charlie", "delta-value", "echo1234", "foxtrot!", "golf/hotel", "india&juliet", "kilo lima", "mike=november"}
		for i := range 12 {
			many = append(many, fmt.Sprintf("generated-%d-Zq%d", i, i*7919))
		}
		for _, values := range [][]string{few, many} {
			s := NewSet(values...)
			if len(values) == len(many) && len(s.blist) < pairSearchFrom {
				t.Fatal("too few forms for the prefix path")
			}
			want := false
			for _, v := range s.blist {
				if bytes.Contains([]byte(text), v) {
					want = true
				}
			}
			if got := s.Holds([]byte(text)); got != want {
				t.Fatalf("Holds(%q) = %v, want %v (%d forms, secret %q)", text, got, want, len(s.blist), secret)
			}
		}
	})
}
