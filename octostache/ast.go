package octostache

import "strings"

// A node is one piece of a parsed template. Its String form is the one
// Octostache echoes when a node cannot be evaluated.
type node interface {
	String() string
	args(add func(string))
}

type textNode struct{ text string }

type substNode struct {
	expr expr
	pos  int
}

// condNode is #{if}, #{unless} (branches swapped) and each #{elseif}
// (nested in the falsy branch of the clause before it).
type condNode struct {
	cond   condition
	truthy []node
	falsy  []node
	pos    int
}

type eachNode struct {
	name string
	coll *symbol
	body []node
	pos  int
}

type calcNode struct {
	expr calcExpr
	pos  int
}

// An expr is a *symbol or a *call.
type expr interface {
	String() string
	args(add func(string))
}

// symbol is a dotted, indexed name: Octopus.Action[Web].Name.
type symbol struct {
	steps []step
}

// A step is an identifier (.Name) or an indexer ([Web], [#{B}]).
type step struct {
	ident    string
	isIndex  bool
	index    string
	nilIndex bool    // an indexer whose symbol resolved to no value
	indexSym *symbol // [#{B}], not yet resolved
}

// call is a filter: #{Arg | Name opt1 opt2}.
type call struct {
	fn   string
	arg  expr
	opts []node
}

type condOp int

const (
	opTruthy condOp = iota
	opEqual
	opNotEqual
)

type condition struct {
	left     expr
	op       condOp
	right    expr    // compared with another expression
	rightStr *string // compared with a quoted string
}

func (t *textNode) String() string    { return strings.ReplaceAll(t.text, "#{", "##{") }
func (t *textNode) args(func(string)) {}

func (s *substNode) String() string        { return "#{" + s.expr.String() + "}" }
func (s *substNode) args(add func(string)) { s.expr.args(add) }

func (c *condNode) String() string {
	var b strings.Builder
	b.WriteString("#{if ")
	b.WriteString(c.cond.left.String())
	switch {
	case c.cond.op == opTruthy:
	case c.cond.rightStr != nil:
		b.WriteString(" " + c.cond.opText() + " \"" + *c.cond.rightStr + "\" ")
	default:
		b.WriteString(" " + c.cond.opText() + " " + c.cond.right.String() + " ")
	}
	b.WriteString("}")
	writeNodes(&b, c.truthy)
	if len(c.falsy) > 0 {
		b.WriteString("#{else}")
		writeNodes(&b, c.falsy)
	}
	b.WriteString("#{/if}")
	return b.String()
}

func (c *condNode) args(add func(string)) {
	c.cond.left.args(add)
	switch {
	case c.cond.rightStr != nil:
		add(*c.cond.rightStr)
	case c.cond.right != nil:
		c.cond.right.args(add)
	}
	for _, n := range c.truthy {
		n.args(add)
	}
	for _, n := range c.falsy {
		n.args(add)
	}
}

func (c condition) opText() string {
	if c.op == opEqual {
		return "=="
	}
	return "!="
}

func (e *eachNode) String() string {
	var b strings.Builder
	b.WriteString("#{each " + e.name + " in " + e.coll.String() + "}")
	writeNodes(&b, e.body)
	b.WriteString("#{/each}")
	return b.String()
}

func (e *eachNode) args(add func(string)) { e.coll.args(add) }

func (c *calcNode) String() string        { return "#{" + c.expr.String() + "}" }
func (c *calcNode) args(add func(string)) { c.expr.args(add) }

func (s *symbol) String() string {
	var b strings.Builder
	for i, st := range s.steps {
		if !st.isIndex && i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(st.String())
	}
	return b.String()
}

func (s *symbol) args(add func(string)) {
	for _, st := range s.steps {
		switch {
		case !st.isIndex:
			add(st.ident)
		case st.indexSym != nil:
			st.indexSym.args(add)
		}
	}
}

func (st step) String() string {
	switch {
	case !st.isIndex:
		return st.ident
	case st.indexSym != nil:
		return "[#{" + st.indexSym.String() + "}]"
	}
	return "[" + st.index + "]"
}

func (c *call) String() string {
	var b strings.Builder
	b.WriteString(c.arg.String())
	b.WriteString(" | ")
	b.WriteString(c.fn)
	for _, o := range c.opts {
		b.WriteByte(' ')
		if t, ok := o.(*textNode); ok {
			b.WriteString("\"" + t.String() + "\"")
		} else {
			b.WriteString(o.String())
		}
	}
	return b.String()
}

func (c *call) args(add func(string)) {
	c.arg.args(add)
	for _, o := range c.opts {
		o.args(add)
	}
}

func writeNodes(b *strings.Builder, nodes []node) {
	for _, n := range nodes {
		b.WriteString(n.String())
	}
}
