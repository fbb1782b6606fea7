package octostache

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The grammar is Octostache's, a backtracking one: each parse function
// returns (value, next, ok); when ok is false, next is where it failed.
// Alternatives report the furthest failure, repetitions stop quietly at
// their first failure, as the parser combinators Octostache is built on do,
// so that a template that does not parse fails at the same place.

type parser struct{ s string }

// Template is a parsed template.
type Template struct{ nodes []node }

// String renders t back to template text, in Octostache's normal form.
func (t *Template) String() string {
	var b strings.Builder
	writeNodes(&b, t.nodes)
	return b.String()
}

// ArgumentNames lists the variable names t refers to, outside #{each}
// bodies, in order of appearance, each once.
func (t *Template) ArgumentNames() []string {
	var names []string
	seen := map[string]bool{}
	for _, n := range t.nodes {
		n.args(func(s string) {
			if !seen[s] {
				seen[s] = true
				names = append(names, s)
			}
		})
	}
	return names
}

// ParseError is a template that does not parse. Line and Column (1-based,
// columns in characters) point at the #{ that could not be read; Near
// points where reading it failed.
type ParseError struct {
	Line, Column         int
	NearLine, NearColumn int
	Near                 string
}

func (e *ParseError) Error() string {
	return fmt.Sprintf("template line %d, column %d: cannot parse this #{...}: unexpected %s at line %d, column %d (close it with }, or write ##{ for a literal #{)",
		e.Line, e.Column, e.Near, e.NearLine, e.NearColumn)
}

// Parse parses a template; a template with a #{ it cannot read is a
// *ParseError.
func Parse(template string) (*Template, error) {
	p := &parser{s: template}
	nodes, end, fail := p.nodes(0, nil)
	if end != len(template) {
		return nil, p.errorAt(end, fail)
	}
	return &Template{nodes: nodes}, nil
}

// ParseLenient parses a template as Octostache does when it is told not to
// halt on errors: a #{ that cannot be read is kept as text.
func ParseLenient(template string) *Template {
	p := &parser{s: template}
	var nodes []node
	for j := 0; j < len(template); {
		n, k, ok := p.token(j)
		switch {
		case ok:
			nodes = append(nodes, n)
		case k <= j: // cannot happen: text fails one character in at worst
			k = j + 1
			fallthrough
		default:
			nodes = append(nodes, &textNode{text: template[j:k]})
		}
		j = k
	}
	return &Template{nodes: nodes}
}

func (p *parser) errorAt(start, fail int) *ParseError {
	if fail < start {
		fail = start
	}
	e := &ParseError{Near: "end of template"}
	e.Line, e.Column = lineCol(p.s, start)
	e.NearLine, e.NearColumn = lineCol(p.s, fail)
	if fail < len(p.s) {
		r, _ := utf8.DecodeRuneInString(p.s[fail:])
		e.Near = fmt.Sprintf("%q", r)
	}
	return e
}

func lineCol(s string, off int) (line, col int) {
	line, col = 1, 1
	for _, r := range s[:off] {
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

// nodes reads tokens until one fails or stop says so; fail is where the
// last attempt failed.
func (p *parser) nodes(i int, stop func(int) bool) (out []node, end, fail int) {
	for {
		if stop != nil && stop(i) {
			return out, i, i
		}
		n, k, ok := p.token(i)
		if !ok {
			return out, i, k
		}
		out, i = append(out, n), k
	}
}

func (p *parser) token(i int) (node, int, bool) {
	far := i
	for _, alt := range []func(int) (node, int, bool){p.conditional, p.calculation, p.repetition, p.substitutionNode, p.text} {
		n, k, ok := alt(i)
		if ok {
			return n, k, true
		}
		far = max(far, k)
	}
	return nil, far, false
}

func (p *parser) at(i int, lit string) bool { return strings.HasPrefix(p.s[i:], lit) }

func (p *parser) atFold(i int, kw string) bool {
	return len(p.s)-i >= len(kw) && strings.EqualFold(p.s[i:i+len(kw)], kw)
}

// followedBy keeps a quirk of Octostache's lookahead: a lookahead that ends
// exactly at the end of the input does not count.
func (p *parser) followedBy(i int, lit string) bool {
	return i < len(p.s)-len(lit) && p.s[i:i+len(lit)] == lit
}

func (p *parser) spaceAt(i int) (int, bool) {
	if i >= len(p.s) {
		return 0, false
	}
	r, n := utf8.DecodeRuneInString(p.s[i:])
	return n, unicode.IsSpace(r)
}

func (p *parser) skipWS(i int) int {
	for {
		n, ok := p.spaceAt(i)
		if !ok {
			return i
		}
		i += n
	}
}

func (p *parser) ldelim(i int) bool { return p.at(i, "#{") && !p.at(i, "#{/") }

func identRune(r rune, space bool) bool {
	switch r {
	case '_', '-', ':', '/', '~', '(', ')', '@':
		return true
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || space && unicode.IsSpace(r)
}

// identifier reads a name; with space, inner white space belongs to it
// unless it comes before |, } or a keyword (in, ==, !=).
func (p *parser) identifier(i int, space bool) (string, int, bool) {
	j := i
	for j < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[j:])
		if !identRune(r, space) || unicode.IsSpace(r) && p.spaceEndsName(j+n) {
			break
		}
		j += n
	}
	if j == i {
		return "", i, false
	}
	return strings.TrimSpace(p.s[i:j]), j, true
}

func (p *parser) spaceEndsName(k int) bool {
	if p.followedBy(k, "|") || p.followedBy(k, "}") {
		return true
	}
	for _, kw := range []string{"in", "==", "!="} {
		if len(p.s) <= k+len(kw) {
			continue
		}
		if _, sp := p.spaceAt(k + len(kw)); sp && p.s[k:k+len(kw)] == kw {
			return true
		}
	}
	return false
}

func (p *parser) symbol(i int) (*symbol, int, bool) {
	id, j, ok := p.identifier(i, true)
	if !ok {
		return nil, j, false
	}
	s := &symbol{steps: []step{{ident: id}}}
	for {
		if j < len(p.s) && p.s[j] == '.' {
			id, k, ok := p.identifier(j+1, true)
			if !ok {
				return s, j, true
			}
			s.steps, j = append(s.steps, step{ident: id}), k
			continue
		}
		st, k, ok := p.indexer(j)
		if !ok {
			return s, j, true
		}
		s.steps, j = append(s.steps, st), k
	}
}

func (p *parser) indexer(i int) (step, int, bool) {
	if i >= len(p.s) || p.s[i] != '[' {
		return step{}, i, false
	}
	far := i
	if sub, k, ok := p.substitution(p.skipWS(i + 1)); ok {
		if sym, isSym := sub.expr.(*symbol); isSym {
			k = p.skipWS(k)
			if k < len(p.s) && p.s[k] == ']' {
				return step{isIndex: true, indexSym: sym}, k + 1, true
			}
			far = k
		}
	} else {
		far = k
	}
	idx, k, ok := p.stringIndexer(i)
	if !ok {
		return step{}, max(far, k), false
	}
	return step{isIndex: true, index: idx}, k, true
}

// stringIndexer reads [text], where text may hold nested [..] pairs.
func (p *parser) stringIndexer(i int) (string, int, bool) {
	if i >= len(p.s) || p.s[i] != '[' {
		return "", i, false
	}
	var b strings.Builder
	j := p.skipWS(i + 1)
	for j < len(p.s) {
		if p.s[j] == '[' {
			inner, k, ok := p.stringIndexer(j)
			if !ok {
				break
			}
			b.WriteString("[" + inner + "]")
			j = k
			continue
		}
		k := j
		for k < len(p.s) && p.s[k] != '[' && p.s[k] != ']' {
			k++
		}
		if k == j {
			break
		}
		b.WriteString(p.s[j:k])
		j = k
	}
	j = p.skipWS(j)
	if j >= len(p.s) || p.s[j] != ']' {
		return "", j, false
	}
	return b.String(), j + 1, true
}

func (p *parser) substitutionNode(i int) (node, int, bool) {
	s, k, ok := p.substitution(i)
	if !ok {
		return nil, k, false
	}
	return s, k, true
}

func (p *parser) substitution(i int) (*substNode, int, bool) {
	if !p.ldelim(i) {
		return nil, i, false
	}
	e, k, ok := p.expression(p.skipWS(i + 2))
	if !ok {
		return nil, k, false
	}
	k = p.skipWS(k)
	if k >= len(p.s) || p.s[k] != '}' {
		return nil, k, false
	}
	return &substNode{expr: e, pos: i}, k + 1, true
}

func (p *parser) expression(i int) (expr, int, bool) {
	e, k, ok := p.filterChain(i)
	if ok {
		return e, k, true
	}
	s, k2, ok := p.symbol(i)
	if !ok {
		return nil, max(k, k2), false
	}
	return s, k2, true
}

func (p *parser) filterChain(i int) (expr, int, bool) {
	var arg expr = &symbol{}
	j := i
	if s, k, ok := p.symbol(p.skipWS(i)); ok {
		arg, j = s, p.skipWS(k)
	}
	calls := 0
	for {
		if j >= len(p.s) || p.s[j] != '|' {
			if calls == 0 {
				return nil, j, false
			}
			return arg, j, true
		}
		fn, k, ok := p.identifier(p.skipWS(j+1), false)
		if !ok {
			if calls == 0 {
				return nil, k, false
			}
			return arg, j, true
		}
		opts, k := p.options(p.skipWS(k))
		arg, j, calls = &call{fn: fn, arg: arg, opts: opts}, k, calls+1
	}
}

func (p *parser) options(i int) ([]node, int) {
	var out []node
	for {
		o, k, ok := p.option(i)
		if !ok {
			return out, i
		}
		out, i = append(out, o), k
	}
}

func (p *parser) option(i int) (node, int, bool) {
	for _, alt := range []func(int) (node, int, bool){p.conditional, p.calculation, p.repetition, p.substitutionNode} {
		if n, k, ok := alt(i); ok {
			return n, k, true
		}
	}
	if id, k, ok := p.identifier(p.skipWS(i), false); ok {
		return &textNode{text: id}, p.skipWS(k), true
	}
	if s, k, ok := p.quoted(i); ok {
		return &textNode{text: s}, k, true
	}
	return nil, i, false
}

// quoted reads "text" (no # inside) or \"text\", with white space around.
func (p *parser) quoted(i int) (string, int, bool) {
	j := p.skipWS(i)
	switch {
	case p.at(j, `"`):
		k := j + 1
		for k < len(p.s) && p.s[k] != '"' && p.s[k] != '#' {
			k++
		}
		if k >= len(p.s) || p.s[k] != '"' {
			return "", k, false
		}
		return p.s[j+1 : k], p.skipWS(k + 1), true
	case p.at(j, `\"`):
		end := strings.Index(p.s[j+2:], `\"`)
		if end < 0 {
			return "", len(p.s), false
		}
		return p.s[j+2 : j+2+end], p.skipWS(j + 2 + end + 2), true
	}
	return "", j, false
}

// keyword reads one of kws, ignoring case, followed by white space.
func (p *parser) keyword(i int, kws ...string) (string, int, bool) {
	for _, kw := range kws {
		if p.atFold(i, kw) {
			j := i + len(kw)
			if _, sp := p.spaceAt(j); !sp {
				return "", j, false
			}
			return kw, p.skipWS(j), true
		}
	}
	return "", i, false
}

func (p *parser) conditional(i int) (node, int, bool) {
	if !p.ldelim(i) {
		return nil, i, false
	}
	kw, j, ok := p.keyword(p.skipWS(i+2), "if", "unless")
	if !ok {
		return nil, j, false
	}
	cond, j, ok := p.condExpr(j)
	if !ok {
		return nil, j, false
	}
	if j = p.skipWS(j); !p.at(j, "}") {
		return nil, j, false
	}
	atElse := func(k int) bool { return p.at(k, "#{else}") }
	stop := atElse
	if kw == "if" {
		stop = func(k int) bool { return atElse(k) || p.atElseIf(k) > 0 }
	}
	truthy, j, _ := p.nodes(j+1, stop)
	type clause struct {
		cond condition
		body []node
		pos  int
	}
	var elseIfs []clause
	for kw == "if" && p.atElseIf(j) > 0 {
		c, k, ok := p.condExpr(j + p.atElseIf(j))
		if k = p.skipWS(k); !ok || !p.at(k, "}") {
			break
		}
		body, k, _ := p.nodes(k+1, stop)
		elseIfs, j = append(elseIfs, clause{c, body, j}), k
	}
	var falsy []node
	if atElse(j) {
		falsy, j, _ = p.nodes(j+len("#{else}"), nil)
	}
	end := "#{/" + strings.ToLower(kw) + "}"
	if !p.at(j, end) {
		return nil, j, false
	}
	for k := len(elseIfs) - 1; k >= 0; k-- {
		falsy = []node{&condNode{cond: elseIfs[k].cond, truthy: elseIfs[k].body, falsy: falsy, pos: elseIfs[k].pos}}
	}
	if kw != "if" {
		truthy, falsy = falsy, truthy
	}
	return &condNode{cond: cond, truthy: truthy, falsy: falsy, pos: i}, j + len(end), true
}

// atElseIf returns the length of an "#{elseif " opening at i, or 0.
func (p *parser) atElseIf(i int) int {
	if !p.at(i, "#{elseif") {
		return 0
	}
	n, sp := p.spaceAt(i + len("#{elseif"))
	if !sp {
		return 0
	}
	return len("#{elseif") + n
}

func (p *parser) condExpr(i int) (condition, int, bool) {
	far := i
	// A == B
	if l, j, ok := p.expression(p.skipWS(i)); ok {
		if op, k, ok := p.compare(p.skipWS(j)); ok {
			if r, k2, ok := p.expression(k); ok {
				return condition{left: l, op: op, right: r}, p.skipWS(k2), true
			} else {
				far = max(far, k2)
			}
		} else {
			far = max(far, k)
		}
	} else {
		far = max(far, j)
	}
	// "text" == A
	if s, j, ok := p.quoted(i); ok {
		if op, k, ok := p.compare(j); ok {
			if r, k2, ok := p.expression(k); ok {
				return condition{left: r, op: op, rightStr: &s}, p.skipWS(k2), true
			} else {
				far = max(far, k2)
			}
		} else {
			far = max(far, k)
		}
	} else {
		far = max(far, j)
	}
	// A == "text", A
	l, j, ok := p.expression(p.skipWS(i))
	if !ok {
		return condition{}, max(far, j), false
	}
	j = p.skipWS(j)
	if op, k, ok := p.compare(j); ok {
		if s, k2, ok := p.quoted(k); ok {
			return condition{left: l, op: op, rightStr: &s}, k2, true
		}
	}
	return condition{left: l}, j, true
}

func (p *parser) compare(i int) (condOp, int, bool) {
	switch {
	case p.at(i, "=="):
		return opEqual, p.skipWS(i + 2), true
	case p.at(i, "!="):
		return opNotEqual, p.skipWS(i + 2), true
	}
	return 0, i, false
}

func (p *parser) repetition(i int) (node, int, bool) {
	if !p.ldelim(i) {
		return nil, i, false
	}
	_, j, ok := p.keyword(p.skipWS(i+2), "each")
	if !ok {
		return nil, j, false
	}
	name, j, ok := p.identifier(j, true)
	if !ok {
		return nil, j, false
	}
	j = p.skipWS(j)
	if !p.atFold(j, "in") {
		return nil, j, false
	}
	coll, j, ok := p.symbol(p.skipWS(j + 2))
	if !ok {
		return nil, j, false
	}
	if j = p.skipWS(j); !p.at(j, "}") {
		return nil, j, false
	}
	body, j, _ := p.nodes(j+1, nil)
	if !p.at(j, "#{/each}") {
		return nil, j, false
	}
	return &eachNode{name: name, coll: coll, body: body, pos: i}, j + len("#{/each}"), true
}

// text reads literal text up to a #{ that is not escaped.
func (p *parser) text(i int) (node, int, bool) {
	// Most text has no #: it is a slice of the template, not a copy.
	k := strings.IndexByte(p.s[i:], '#')
	if k < 0 {
		k = len(p.s) - i
	}
	if k > 0 && (i+k == len(p.s) || p.at(i+k, "#{") && !p.at(i+k, "#{{")) {
		if i+k == len(p.s) || !p.at(i+k-1, "#") {
			return &textNode{text: p.s[i : i+k]}, i + k, true
		}
	}
	var b strings.Builder
	j := i
	for j < len(p.s) {
		k := strings.IndexByte(p.s[j:], '#')
		if k < 0 {
			b.WriteString(p.s[j:])
			j = len(p.s)
			break
		}
		b.WriteString(p.s[j : j+k])
		j += k
		switch {
		case j+1 == len(p.s):
			b.WriteByte('#')
			j++
		case p.at(j, "##") && p.followedBy(j+2, "#{"):
			b.WriteByte('#')
			j += 2
		case p.at(j, "##{"):
			b.WriteString("#{")
			j += 3
		case p.s[j+1] != '{':
			_, n := utf8.DecodeRuneInString(p.s[j+1:])
			b.WriteString(p.s[j : j+1+n])
			j += 1 + n
		default:
			if j == i {
				return nil, i + 1, false
			}
			return &textNode{text: b.String()}, j, true
		}
	}
	if j == i {
		return nil, i, false
	}
	return &textNode{text: b.String()}, j, true
}
