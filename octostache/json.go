package octostache

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// JSON values are read as leniently as Octopus reads them (it uses
// Newtonsoft.Json): unquoted property names, single-quoted strings,
// comments and trailing commas are accepted.

type jsonKind int

const (
	jsonNull jsonKind = iota
	jsonString
	jsonNumber
	jsonBool
	jsonArray
	jsonObject
)

type jsonValue struct {
	kind  jsonKind
	str   string // a string, a number's text, true or false
	keys  []string
	elems []*jsonValue
}

// text is the value as a variable sees it: a scalar's text, or a
// container serialized compactly.
func (j *jsonValue) text() string {
	switch j.kind {
	case jsonNull:
		return ""
	case jsonString:
		return j.str
	case jsonBool:
		if j.str == "true" {
			return "True"
		}
		return "False"
	case jsonNumber:
		if isIntLiteral(j.str) {
			return strings.TrimPrefix(j.str, "+")
		}
		f, _ := strconv.ParseFloat(j.str, 64)
		return formatDouble(f)
	}
	var b strings.Builder
	j.write(&b)
	return b.String()
}

func isIntLiteral(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func (j *jsonValue) write(b *strings.Builder) {
	switch j.kind {
	case jsonNull:
		b.WriteString("null")
	case jsonString:
		writeJSONString(b, j.str)
	case jsonBool:
		b.WriteString(j.str)
	case jsonNumber:
		s := j.text()
		if !isIntLiteral(j.str) && !strings.ContainsAny(s, ".EN∞") {
			s += ".0"
		}
		b.WriteString(s)
	case jsonArray:
		b.WriteByte('[')
		for i, e := range j.elems {
			if i > 0 {
				b.WriteByte(',')
			}
			e.write(b)
		}
		b.WriteByte(']')
	case jsonObject:
		b.WriteByte('{')
		for i, k := range j.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSONString(b, k)
			b.WriteByte(':')
			j.elems[i].write(b)
		}
		b.WriteByte('}')
	}
}

func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			if r < 0x20 {
				fmt.Fprintf(b, `\u%04x`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
}

type jsonReader struct {
	s   string
	i   int
	err bool
}

// parseJSON reads s as one JSON value; ok is false when s is not JSON or
// is empty.
func parseJSON(s string) (*jsonValue, bool) {
	r := &jsonReader{s: s}
	r.skip()
	if r.i == len(s) {
		return nil, false
	}
	v := r.value(0)
	r.skip()
	if r.err || r.i != len(s) {
		return nil, false
	}
	return v, true
}

func (r *jsonReader) skip() {
	for r.i < len(r.s) {
		c, n := utf8.DecodeRuneInString(r.s[r.i:])
		switch {
		case unicode.IsSpace(c):
			r.i += n
		case strings.HasPrefix(r.s[r.i:], "//"):
			end := strings.IndexByte(r.s[r.i:], '\n')
			if end < 0 {
				r.i = len(r.s)
			} else {
				r.i += end + 1
			}
		case strings.HasPrefix(r.s[r.i:], "/*"):
			end := strings.Index(r.s[r.i+2:], "*/")
			if end < 0 {
				r.err, r.i = true, len(r.s)
				return
			}
			r.i += end + 4
		default:
			return
		}
	}
}

func (r *jsonReader) fail() *jsonValue {
	r.err = true
	r.i = len(r.s)
	return &jsonValue{}
}

func (r *jsonReader) value(depth int) *jsonValue {
	if r.err || r.i >= len(r.s) || depth > 200 {
		return r.fail()
	}
	switch c := r.s[r.i]; {
	case c == '{':
		return r.object(depth)
	case c == '[':
		return r.array(depth)
	case c == '"' || c == '\'':
		s, ok := r.str()
		if !ok {
			return r.fail()
		}
		return &jsonValue{kind: jsonString, str: s}
	case c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9':
		return r.number()
	}
	for _, w := range []struct {
		word string
		v    jsonValue
	}{
		{"true", jsonValue{kind: jsonBool, str: "true"}},
		{"false", jsonValue{kind: jsonBool, str: "false"}},
		{"null", jsonValue{kind: jsonNull}},
		{"undefined", jsonValue{kind: jsonNull}},
		{"NaN", jsonValue{kind: jsonNumber, str: "NaN"}},
		{"Infinity", jsonValue{kind: jsonNumber, str: "Infinity"}},
	} {
		if strings.HasPrefix(r.s[r.i:], w.word) && !r.wordCharAt(r.i+len(w.word)) {
			r.i += len(w.word)
			v := w.v
			return &v
		}
	}
	return r.fail()
}

func (r *jsonReader) wordCharAt(i int) bool {
	if i >= len(r.s) {
		return false
	}
	c, _ := utf8.DecodeRuneInString(r.s[i:])
	return unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_' || c == '$'
}

func (r *jsonReader) number() *jsonValue {
	start := r.i
	if strings.HasPrefix(r.s[r.i:], "-Infinity") {
		r.i += len("-Infinity")
		return &jsonValue{kind: jsonNumber, str: "-Infinity"}
	}
	for r.i < len(r.s) && strings.IndexByte("+-0123456789.eE", r.s[r.i]) >= 0 {
		r.i++
	}
	text := r.s[start:r.i]
	if _, err := strconv.ParseFloat(text, 64); err != nil && !isIntLiteral(text) {
		return r.fail()
	}
	return &jsonValue{kind: jsonNumber, str: text}
}

func (r *jsonReader) str() (string, bool) {
	q := r.s[r.i]
	r.i++
	var b strings.Builder
	for r.i < len(r.s) {
		c := r.s[r.i]
		switch {
		case c == q:
			r.i++
			return b.String(), true
		case c == '\\':
			if r.i+1 >= len(r.s) {
				return "", false
			}
			e := r.s[r.i+1]
			r.i += 2
			switch e {
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				if r.i+4 > len(r.s) {
					return "", false
				}
				n, err := strconv.ParseUint(r.s[r.i:r.i+4], 16, 16)
				if err != nil {
					return "", false
				}
				r.i += 4
				u := rune(n)
				if utf16.IsSurrogate(u) && strings.HasPrefix(r.s[r.i:], `\u`) && r.i+6 <= len(r.s) {
					if n2, err := strconv.ParseUint(r.s[r.i+2:r.i+6], 16, 16); err == nil {
						if d := utf16.DecodeRune(u, rune(n2)); d != utf8.RuneError {
							u = d
							r.i += 6
						}
					}
				}
				b.WriteRune(u)
			default:
				b.WriteByte(e)
			}
		default:
			b.WriteByte(c)
			r.i++
		}
	}
	return "", false
}

func (r *jsonReader) key() (string, bool) {
	if r.i < len(r.s) && (r.s[r.i] == '"' || r.s[r.i] == '\'') {
		return r.str()
	}
	start := r.i
	for r.wordCharAt(r.i) {
		_, n := utf8.DecodeRuneInString(r.s[r.i:])
		r.i += n
	}
	return r.s[start:r.i], r.i > start
}

func (r *jsonReader) object(depth int) *jsonValue {
	v := &jsonValue{kind: jsonObject}
	r.i++
	for {
		r.skip()
		if r.i < len(r.s) && r.s[r.i] == '}' {
			r.i++
			return v
		}
		k, ok := r.key()
		if !ok {
			return r.fail()
		}
		r.skip()
		if r.i >= len(r.s) || r.s[r.i] != ':' {
			return r.fail()
		}
		r.i++
		r.skip()
		e := r.value(depth + 1)
		if r.err {
			return e
		}
		replaced := false
		for i, old := range v.keys {
			if old == k {
				v.elems[i], replaced = e, true
			}
		}
		if !replaced {
			v.keys, v.elems = append(v.keys, k), append(v.elems, e)
		}
		if !r.comma('}') {
			return r.fail()
		}
	}
}

func (r *jsonReader) array(depth int) *jsonValue {
	v := &jsonValue{kind: jsonArray}
	r.i++
	for {
		r.skip()
		if r.i < len(r.s) && r.s[r.i] == ']' {
			r.i++
			return v
		}
		e := r.value(depth + 1)
		if r.err {
			return e
		}
		v.elems = append(v.elems, e)
		if !r.comma(']') {
			return r.fail()
		}
	}
}

// comma reads the comma after an element, or sees the closing bracket.
func (r *jsonReader) comma(closer byte) bool {
	r.skip()
	if r.i >= len(r.s) {
		return false
	}
	switch r.s[r.i] {
	case ',':
		r.i++
		return true
	case closer:
		return true
	}
	return false
}

// formatDouble writes a float as .NET writes a double: the shortest text
// that reads back the same, in exponent form from 1E+15 up and below
// 0.0001.
func formatDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "∞"
	case math.IsInf(f, -1):
		return "-∞"
	case f == 0:
		return "0"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(e, "e")
	x, _ := strconv.Atoi(exp)
	if x >= 15 || x < -4 {
		sign := "+"
		if x < 0 {
			sign, x = "-", -x
		}
		return mant + "E" + sign + fmt.Sprintf("%02d", x)
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}
