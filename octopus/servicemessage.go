package octopus

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Marker starts a service message, as in Octopus: ##octopus[name attr='base64' ...].
const Marker = "##octopus["

// ServiceMessage is one parsed ##octopus[...] message. Attribute names are
// lower-cased (Octopus reads them case-insensitively); values are decoded.
type ServiceMessage struct {
	Name  string
	Attrs map[string]string
}

// Segment is a piece of an output line: plain text, or a service message
// (Msg set), or a message that did not parse (Err set, Raw holds it).
type Segment struct {
	Text string
	Msg  *ServiceMessage
	Raw  string
	Err  error
}

// SplitLine cuts one output line (without its newline) into text and
// service messages, in order. Text before, between and after messages is
// kept; a marker without a closing ']' is text.
func SplitLine(line string) []Segment {
	var segs []Segment
	for {
		i := strings.Index(line, Marker)
		if i < 0 {
			break
		}
		end := strings.IndexByte(line[i+len(Marker):], ']')
		if end < 0 {
			break
		}
		if i > 0 {
			segs = append(segs, Segment{Text: line[:i]})
		}
		raw := line[i : i+len(Marker)+end+1]
		msg, err := ParseServiceMessage(raw[len(Marker) : len(raw)-1])
		if err != nil {
			segs = append(segs, Segment{Raw: raw, Err: err})
		} else {
			segs = append(segs, Segment{Msg: &msg, Raw: raw})
		}
		line = line[i+len(raw):]
	}
	if line != "" || len(segs) == 0 {
		segs = append(segs, Segment{Text: line})
	}
	return segs
}

// ParseServiceMessage parses the part between "##octopus[" and "]":
// a name, then attributes name='base64' or name="base64".
func ParseServiceMessage(body string) (ServiceMessage, error) {
	body = strings.NewReplacer("\r", "", "\n", "").Replace(body)
	body = strings.TrimSpace(body)
	name, rest, _ := strings.Cut(body, " ")
	if !validName(name) {
		return ServiceMessage{}, fmt.Errorf("service message name %q is not valid", truncateRunes(name, 40))
	}
	m := ServiceMessage{Name: name, Attrs: map[string]string{}}
	for {
		rest = strings.TrimLeft(rest, " \t")
		if rest == "" {
			return m, nil
		}
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return ServiceMessage{}, errors.New("attribute without '=value'")
		}
		key := strings.TrimSpace(rest[:eq])
		if !validName(key) {
			return ServiceMessage{}, fmt.Errorf("attribute name %q is not valid", truncateRunes(key, 40))
		}
		rest = strings.TrimLeft(rest[eq+1:], " \t")
		if rest == "" || (rest[0] != '\'' && rest[0] != '"') {
			return ServiceMessage{}, fmt.Errorf("attribute %s: value must be quoted", key)
		}
		q := rest[0]
		end := strings.IndexByte(rest[1:], q)
		if end < 0 {
			return ServiceMessage{}, fmt.Errorf("attribute %s: unterminated value", key)
		}
		val, err := decodeValue(rest[1 : 1+end])
		if err != nil {
			return ServiceMessage{}, fmt.Errorf("attribute %s: %w", key, err)
		}
		m.Attrs[strings.ToLower(key)] = val
		rest = rest[end+2:]
	}
}

func decodeValue(s string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// The bash helpers always pad; accept unpadded values too.
		if b, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "=")); err != nil {
			return "", errors.New("value is not base64")
		}
	}
	return string(b), nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "..."
	}
	return s
}

// EncodeValue is how helpers encode an attribute value.
func EncodeValue(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Format builds a service message line (without newline), attributes in
// the order given as name, value pairs.
func Format(name string, kv ...string) string {
	var b strings.Builder
	b.WriteString(Marker)
	b.WriteString(name)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %s='%s'", kv[i], EncodeValue(kv[i+1]))
	}
	b.WriteByte(']')
	return b.String()
}
