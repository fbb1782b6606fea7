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
	repl   *strings.Replacer
	// With many forms, Holds looks up each position's first two bytes
	// (prefix) instead of searching for every form in turn: one pass
	// whatever the number of secrets. single holds one-byte forms.
	prefix *[1 << 16 / 64]uint64
	byPair map[uint16][][]byte
	single [][]byte
}

// pairSearchFrom is the number of forms from which Holds makes one pass
// over the text with the prefix table rather than one vectorised search
// per form (each of those is faster alone; a handful of them is not).
const pairSearchFrom = 16

// NewSet returns a set holding values.
func NewSet(values ...string) *Set {
	s := &Set{values: map[string]bool{}}
	for _, v := range values {
		s.Add(v)
	}
	return s
}

// Add makes v sensitive, with each of its lines and its base64,
// URL-encoded and JSON-escaped forms.
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
	s.blist = make([][]byte, len(vals))
	for i, v := range vals {
		s.blist[i] = []byte(v)
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
	blist, many := s.blist, len(s.blist) > 64
	s.mu.RUnlock()
	if !many {
		found := false
		for _, v := range blist {
			if bytes.Contains(line, v) {
				found = true
				break
			}
		}
		if !found {
			return append(dst, line...)
		}
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
	blist, prefix, byPair, single := s.blist, s.prefix, s.byPair, s.single
	s.mu.RUnlock()
	if len(blist) < pairSearchFrom {
		for _, v := range blist {
			if bytes.Contains(b, v) {
				return true
			}
		}
		return false
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

// Empty reports whether nothing is masked.
func (s *Set) Empty() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.values) == 0
}
