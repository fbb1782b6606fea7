package importer

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// OCL is Octopus's configuration language. It looks like HCL but is not
// HCL: strings have no ${...} or %{...} templates (a Bash "${VAR:-x}" is
// text), and map keys are dotted names (Octopus.Action.Script.Syntax). So
// it is read here rather than with hashicorp/hcl, which refuses or
// rewrites such strings.

// Body is a block's content, or a whole file: attributes and blocks in
// the order written.
type Body struct {
	Attrs  []Attr
	Blocks []Block
}

// Attr is `key = value`.
type Attr struct {
	Key   string
	Value Value
	Pos   Pos
}

// Block is `type "label"... { body }`.
type Block struct {
	Type   string
	Labels []string
	Body   Body
	Pos    Pos
}

// Kind is a Value's kind.
type Kind int

// The kinds of OCL values. Numbers and bools keep their text in Str.
const (
	KindString Kind = iota
	KindNumber
	KindBool
	KindNull
	KindList
	KindMap
)

// Value is an OCL value.
type Value struct {
	Kind Kind
	Str  string
	List []Value
	Map  []Entry
}

// Entry is one `key = value` of a map, keys as written (dots kept).
type Entry struct {
	Key   string
	Value Value
}

// Pos is a 1-based line and column (in characters).
type Pos struct{ Line, Col int }

// ParseError is OCL that could not be read, with where.
type ParseError struct {
	File string
	Pos  Pos
	Msg  string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
}

// ParseOCL reads an OCL file. file names it in errors.
func ParseOCL(file string, src []byte) (*Body, error) {
	if !utf8.Valid(src) {
		return nil, &ParseError{File: file, Pos: Pos{1, 1}, Msg: "not UTF-8 text"}
	}
	p := &oclParser{file: file, src: string(src), line: 1, col: 1}
	b, err := p.body(false)
	if err != nil {
		return nil, err
	}
	return &b, nil
}

type oclParser struct {
	file      string
	src       string
	off       int
	line, col int
}

func (p *oclParser) pos() Pos { return Pos{p.line, p.col} }

func (p *oclParser) errf(at Pos, format string, a ...any) error {
	return &ParseError{File: p.file, Pos: at, Msg: fmt.Sprintf(format, a...)}
}

func (p *oclParser) eof() bool { return p.off >= len(p.src) }

func (p *oclParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.src[p.off]
}

// next consumes one character.
func (p *oclParser) next() rune {
	r, n := utf8.DecodeRuneInString(p.src[p.off:])
	p.off += n
	if r == '\n' {
		p.line++
		p.col = 1
	} else {
		p.col++
	}
	return r
}

// space skips whitespace, newlines and comments (#, // and /* */).
func (p *oclParser) space() error {
	for !p.eof() {
		switch c := p.peek(); {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			p.next()
		case c == '#' || strings.HasPrefix(p.src[p.off:], "//"):
			for !p.eof() && p.peek() != '\n' {
				p.next()
			}
		case strings.HasPrefix(p.src[p.off:], "/*"):
			at := p.pos()
			end := strings.Index(p.src[p.off+2:], "*/")
			if end < 0 {
				return p.errf(at, "comment not closed: add */")
			}
			for stop := p.off + 2 + end + 2; p.off < stop; {
				p.next()
			}
		default:
			return nil
		}
	}
	return nil
}

func isNameChar(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c == ':' || c == '[' || c == ']' || c == '/' ||
		'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c >= 0x80
}

// name reads a bare name: an identifier, or a dotted map key.
func (p *oclParser) name() string {
	start := p.off
	for !p.eof() && isNameChar(p.peek()) {
		p.next()
	}
	return p.src[start:p.off]
}

// mapKey reads an unquoted map key: anything up to whitespace, a quote,
// = or the map's end (Octopus.Action.Package[Acme.Db].Extract).
func (p *oclParser) mapKey() string {
	start := p.off
	for !p.eof() && !isSpace(p.peek()) && p.peek() != '"' && p.peek() != '=' && p.peek() != '}' {
		p.next()
	}
	return p.src[start:p.off]
}

// body reads attributes and blocks up to EOF, or up to '}' when inner.
func (p *oclParser) body(inner bool) (Body, error) {
	var b Body
	for {
		if err := p.space(); err != nil {
			return b, err
		}
		if p.eof() {
			if inner {
				return b, p.errf(p.pos(), "unexpected end of file: a block is not closed (add })")
			}
			return b, nil
		}
		if p.peek() == '}' {
			if !inner {
				return b, p.errf(p.pos(), "unexpected }")
			}
			p.next()
			return b, nil
		}
		at := p.pos()
		key := p.name()
		if key == "" {
			return b, p.errf(at, "unexpected %q: want a name", p.peekRune())
		}
		if err := p.space(); err != nil {
			return b, err
		}
		if p.peek() == '=' {
			p.next()
			v, err := p.value()
			if err != nil {
				return b, err
			}
			b.Attrs = append(b.Attrs, Attr{Key: key, Value: v, Pos: at})
			continue
		}
		blk := Block{Type: key, Pos: at}
		for {
			if err := p.space(); err != nil {
				return b, err
			}
			if p.peek() == '{' {
				p.next()
				break
			}
			lat := p.pos()
			switch c := p.peek(); {
			case c == '"':
				s, err := p.quoted()
				if err != nil {
					return b, err
				}
				blk.Labels = append(blk.Labels, s)
			case isNameChar(c):
				blk.Labels = append(blk.Labels, p.name())
			default:
				return b, p.errf(lat, "after %s: want = or a block's { (got %q)", key, p.peekRune())
			}
		}
		inner, err := p.body(true)
		if err != nil {
			return b, err
		}
		blk.Body = inner
		b.Blocks = append(b.Blocks, blk)
	}
}

func (p *oclParser) peekRune() string {
	if p.eof() {
		return "end of file"
	}
	r, _ := utf8.DecodeRuneInString(p.src[p.off:])
	return string(r)
}

func (p *oclParser) value() (Value, error) {
	if err := p.space(); err != nil {
		return Value{}, err
	}
	at := p.pos()
	switch c := p.peek(); {
	case c == '"':
		s, err := p.quoted()
		return Value{Kind: KindString, Str: s}, err
	case strings.HasPrefix(p.src[p.off:], "<<"):
		s, err := p.heredoc()
		return Value{Kind: KindString, Str: s}, err
	case c == '[':
		return p.list()
	case c == '{':
		return p.mapValue()
	case c == '-' || '0' <= c && c <= '9':
		n := p.name()
		if _, err := strconv.ParseFloat(n, 64); err != nil {
			return Value{}, p.errf(at, "%q is not a number", n)
		}
		return Value{Kind: KindNumber, Str: n}, nil
	case isNameChar(c):
		switch n := p.name(); n {
		case "true", "false":
			return Value{Kind: KindBool, Str: n}, nil
		case "null":
			return Value{Kind: KindNull}, nil
		default:
			return Value{}, p.errf(at, "%q is not a value: quote strings (\"...\")", n)
		}
	default:
		return Value{}, p.errf(at, "want a value, got %q", p.peekRune())
	}
}

func (p *oclParser) list() (Value, error) {
	v := Value{Kind: KindList}
	p.next() // [
	for {
		if err := p.space(); err != nil {
			return v, err
		}
		if p.peek() == ']' {
			p.next()
			return v, nil
		}
		if p.eof() {
			return v, p.errf(p.pos(), "unexpected end of file in a list: add ]")
		}
		item, err := p.value()
		if err != nil {
			return v, err
		}
		v.List = append(v.List, item)
		if err := p.space(); err != nil {
			return v, err
		}
		switch p.peek() {
		case ',':
			p.next()
		case ']':
		default:
			return v, p.errf(p.pos(), "in a list: want , or ], got %q", p.peekRune())
		}
	}
}

func (p *oclParser) mapValue() (Value, error) {
	v := Value{Kind: KindMap}
	p.next() // {
	for {
		if err := p.space(); err != nil {
			return v, err
		}
		if p.peek() == '}' {
			p.next()
			return v, nil
		}
		if p.eof() {
			return v, p.errf(p.pos(), "unexpected end of file in a map: add }")
		}
		at := p.pos()
		var key string
		if p.peek() == '"' {
			k, err := p.quoted()
			if err != nil {
				return v, err
			}
			key = k
		} else if key = p.mapKey(); key == "" {
			return v, p.errf(at, "in a map: want a key, got %q", p.peekRune())
		}
		if err := p.space(); err != nil {
			return v, err
		}
		if p.peek() != '=' && p.peek() != ':' {
			return v, p.errf(p.pos(), "in a map after %s: want =, got %q", key, p.peekRune())
		}
		p.next()
		item, err := p.value()
		if err != nil {
			return v, err
		}
		v.Map = append(v.Map, Entry{Key: key, Value: item})
		if err := p.space(); err != nil {
			return v, err
		}
		if p.peek() == ',' {
			p.next()
		}
	}
}

// quoted reads a "..." string. Escapes are Octopus's: \n \r \t \" and
// \\; any other is an error, as in Octopus.
func (p *oclParser) quoted() (string, error) {
	at := p.pos()
	p.next() // "
	var sb strings.Builder
	for {
		if p.eof() {
			return "", p.errf(at, "string not closed: add \"")
		}
		eat := p.pos()
		r := p.next()
		switch r {
		case '"':
			return sb.String(), nil
		case '\n', '\r':
			return "", p.errf(at, "string not closed on its line: add \" (or use a <<-EOT heredoc)")
		case '\\':
			if p.eof() {
				return "", p.errf(at, "string not closed: add \"")
			}
			switch e := p.next(); e {
			case 'n':
				sb.WriteByte('\n')
			case 'r':
				sb.WriteByte('\r')
			case 't':
				sb.WriteByte('\t')
			case '"', '\\':
				sb.WriteRune(e)
			default:
				return "", p.errf(eat, "unknown escape \\%c: OCL has \\n \\r \\t \\\" and \\\\ (write a backslash as \\\\)", e)
			}
		default:
			sb.WriteRune(r)
		}
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}
