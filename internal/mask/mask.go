// Package mask hides sensitive values in output: a set of values (with
// their common encodings) and a line-buffering writer, so a value split
// across writes is still caught.
package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"sync"
)

// Placeholder replaces every sensitive value.
const Placeholder = "********"

// minPartLen is the shortest line of a multi-line value, or encoding of a
// value, that is masked on its own; shorter pieces would mask ordinary
// text (a lone "}" of a JSON secret).
const minPartLen = 4

// Set is a growing set of sensitive values. It is safe for concurrent use.
type Set struct {
	mu     sync.RWMutex
	values map[string]bool
	list   []string
	blist  [][]byte
	// rare is, for each form, the position of its byte least common in
	// output: searching for that byte stops least often.
	rare []int
	// longest is the length of the longest form: a line cut in pieces
	// is cut where no form straddles the cut (Cut).
	longest int
	repl    *strings.Replacer
	// With many forms, Holds looks up each position's first two bytes
	// (prefix) instead of searching for every form in turn: one pass
	// whatever the number of secrets. single holds one-byte forms.
	prefix *[1 << 16 / 64]uint64
	byPair map[uint16][][]byte
	single [][]byte
}

// pairSearchFrom is the number of forms from which Holds makes one pass
// over the text with the prefix table rather than one vectorised search
// per form for its rarest byte (each of those is faster alone; dozens of
// them are not: on English text the two cost the same at about 60).
const pairSearchFrom = 64

// NewSet returns a set holding values.
func NewSet(values ...string) *Set {
	s := &Set{values: map[string]bool{}}
	for _, v := range values {
		s.Add(v)
	}
	return s
}

// minShiftedLen is the shortest base64 fragment (see shiftedBase64) that
// is masked: a shorter one would mask ordinary words.
const minShiftedLen = 6

// Add makes v sensitive, with each of its lines and its base64,
// URL-encoded and JSON-escaped forms, and the base64 of v inside longer
// data (a Basic-auth header encodes "user:" + v).
func (s *Set) Add(v string) {
	if v == "" {
		return
	}
	forms := []string{v}
	if strings.ContainsAny(v, "\r\n") {
		for _, line := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == '\r' }) {
			if len(strings.TrimSpace(line)) >= minPartLen {
				forms = append(forms, line)
			}
		}
	}
	if len(v) >= minPartLen-1 {
		forms = append(forms,
			base64.StdEncoding.EncodeToString([]byte(v)),
			base64.RawStdEncoding.EncodeToString([]byte(v)),
			base64.URLEncoding.EncodeToString([]byte(v)),
			url.QueryEscape(v), url.PathEscape(v))
		forms = append(forms, jsonForms(v)...)
		forms = append(forms, shiftedBase64(v)...)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for _, f := range forms {
		if f != "" && !s.values[f] {
			s.values[f] = true
			changed = true
		}
	}
	if changed {
		s.rebuild()
	}
}

func (s *Set) rebuild() {
	vals := make([]string, 0, len(s.values))
	for v := range s.values {
		vals = append(vals, v)
	}
	// Longest first, so a value containing another is masked whole.
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, Placeholder)
	}
	s.repl = strings.NewReplacer(pairs...)
	s.list = vals
	s.longest = 0
	if len(vals) > 0 {
		s.longest = len(vals[0])
	}
	s.blist, s.rare = make([][]byte, len(vals)), make([]int, len(vals))
	for i, v := range vals {
		s.blist[i] = []byte(v)
		for j := range len(v) {
			if byteRank[v[j]] > byteRank[v[s.rare[i]]] {
				s.rare[i] = j
			}
		}
	}
	s.prefix, s.byPair, s.single = new([1 << 16 / 64]uint64), map[uint16][][]byte{}, nil
	for _, v := range s.blist {
		if len(v) < 2 {
			s.single = append(s.single, v)
			continue
		}
		k := uint16(v[0])<<8 | uint16(v[1])
		s.prefix[k>>6] |= 1 << (k & 63)
		s.byPair[k] = append(s.byPair[k], v)
	}
}

// AppendMasked appends line to dst with every sensitive value replaced. A
// line holding none is copied without allocating.
func (s *Set) AppendMasked(dst, line []byte) []byte {
	if s == nil {
		return append(dst, line...)
	}
	s.mu.RLock()
	blist, rare, many := s.blist, s.rare, len(s.blist) > 64
	s.mu.RUnlock()
	if !many && !containsAny(line, blist, rare) {
		return append(dst, line...)
	}
	return append(dst, s.Mask(string(line))...)
}

// Holds reports whether b contains a sensitive value or one of its
// forms.
func (s *Set) Holds(b []byte) bool {
	if s == nil {
		return false
	}
	s.mu.RLock()
	blist, rare, prefix, byPair, single := s.blist, s.rare, s.prefix, s.byPair, s.single
	s.mu.RUnlock()
	if len(blist) < pairSearchFrom {
		return containsAny(b, blist, rare)
	}
	for _, v := range single {
		if bytes.Contains(b, v) {
			return true
		}
	}
	for i := 0; i+1 < len(b); i++ {
		k := uint16(b[i])<<8 | uint16(b[i+1])
		if prefix[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		for _, v := range byPair[k] {
			if bytes.HasPrefix(b[i:], v) {
				return true
			}
		}
	}
	return false
}

// containsAny reports whether b contains one of forms, searching for
// each form's rarest byte (at rare[i]) and comparing around it.
func containsAny(b []byte, forms [][]byte, rare []int) bool {
	for i, f := range forms {
		r, c := rare[i], f[rare[i]]
		for at := r; at < len(b); at++ {
			j := bytes.IndexByte(b[at:], c)
			if j < 0 {
				break
			}
			at += j
			if start := at - r; start+len(f) <= len(b) && bytes.Equal(b[start:start+len(f)], f) {
				return true
			}
		}
	}
	return false
}

// byteRank orders bytes from common in output (low) to rare (high): the
// letters by their frequency in English, then digits and punctuation; the
// rest (controls, other punctuation, non-ASCII) rarest.
var byteRank = func() (rank [256]int) {
	const common = " etaoinsrhldcumfpgwybvkxjqz\nE.,-_/:=0123456789TAOINSRHLDCUMFPGWYBVKXJQZ\t\"'()"
	for i := range rank {
		rank[i] = len(common)
	}
	for i := range len(common) {
		rank[common[i]] = i
	}
	return rank
}()

// shiftedBase64 is the base64 of v when v starts 0, 1 or 2 bytes into
// the encoded data: for each offset, the characters that depend on v
// alone (those shared with the bytes before or after it are dropped).
func shiftedBase64(v string) []string {
	var forms []string
	for k := range 3 {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, k), v...))
		// Character j holds bits 6j..6j+5; v's bits are 8k..8(k+len(v)).
		from, to := (8*k+5)/6, 8*(k+len(v))/6
		if to-from >= minShiftedLen {
			forms = append(forms, enc[from:to])
		}
	}
	return forms
}

// jsonForms is v escaped inside a JSON string, with and without the HTML
// escaping Go's encoder applies by default.
func jsonForms(v string) []string {
	var forms []string
	for _, html := range []bool{true, false} {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(v) == nil {
			j := strings.TrimSuffix(b.String(), "\n")
			j = strings.TrimSpace(j)
			forms = append(forms, j[1:len(j)-1])
		}
	}
	return forms
}

// Mask returns text with every sensitive value replaced.
func (s *Set) Mask(text string) string {
	if s == nil {
		return text
	}
	s.mu.RLock()
	r, list := s.repl, s.list
	s.mu.RUnlock()
	if r == nil {
		return text
	}
	// Most lines hold no secret: a few vectorised searches are much
	// cheaper than the replacer's byte-by-byte walk.
	if len(list) <= 64 {
		found := false
		for _, v := range list {
			if strings.Contains(text, v) {
				found = true
				break
			}
		}
		if !found {
			return text
		}
	}
	return r.Replace(text)
}

// Cut returns where a line too long to hold whole may be cut, so that its
// pieces, masked one by one, mask as the whole line would: at most
// len(b) minus the longest form's length less one, and never inside an
// occurrence of a form. 0 means no such place: hold more of the line.
func (s *Set) Cut(b []byte) int {
	if s == nil {
		return len(b)
	}
	s.mu.RLock()
	blist, longest := s.blist, s.longest
	s.mu.RUnlock()
	if longest == 0 {
		return len(b)
	}
	return outside(b, len(b)-(longest-1), blist)
}

// outside moves cut back until no occurrence of a form in b straddles it,
// so the pieces b[:cut] and b[cut:], masked one by one, mask as b would.
// An occurrence across the cut moves it to where the occurrence starts;
// Index finds the earliest, so overlapping occurrences (a value
// repeated) move it a form's length at a time.
func outside(b []byte, cut int, forms [][]byte) int {
	for moved := true; moved && cut > 0; {
		moved = false
		for _, f := range forms {
			from := max(cut-len(f)+1, 0)
			to := min(cut+len(f)-1, len(b))
			if from >= to {
				continue
			}
			if i := bytes.Index(b[from:to], f); i >= 0 {
				cut, moved = from+i, true
			}
		}
	}
	return max(cut, 0)
}

// Safe returns how much of b, the start of a line whose rest has not
// arrived, may be passed on now: all of it but the longest tail that
// could begin a sensitive value (or one of its forms) that the next bytes
// complete, and never inside a whole value held (a value's last bytes can
// begin another form: "...6c" and a base64 form starting "c"). Pieces cut
// there mask as the whole line would.
func (s *Set) Safe(b []byte) int {
	if s == nil {
		return len(b)
	}
	s.mu.RLock()
	blist := s.blist
	s.mu.RUnlock()
	hold := 0
	if len(b) == 0 {
		return 0
	}
	last := b[len(b)-1]
	for _, f := range blist {
		for k := min(len(f)-1, len(b)); k > hold; k-- {
			if f[k-1] == last && bytes.HasSuffix(b, f[:k]) {
				hold = k
				break
			}
		}
	}
	return outside(b, len(b)-hold, blist)
}

// Error returns err with its text masked; errors.Is and errors.As see err.
func (s *Set) Error(err error) error {
	if err == nil || s == nil {
		return err
	}
	return &maskedError{err: err, masks: s}
}

type maskedError struct {
	err   error
	masks *Set
}

func (e *maskedError) Error() string { return e.masks.Mask(e.err.Error()) }
func (e *maskedError) Unwrap() error { return e.err }

// Empty reports whether nothing is masked.
func (s *Set) Empty() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.values) == 0
}
