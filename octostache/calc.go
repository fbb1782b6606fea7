package octostache

import (
	"strconv"
	"strings"
)

// calcExpr is an arithmetic expression of #{calc ...}.
type calcExpr interface {
	// eval returns false when a variable has no numeric value.
	eval(resolve func(*symbol) *string) (float64, bool)
	String() string
	args(add func(string))
}

type calcConst float64

type calcVar struct{ sym *symbol }

type calcOp struct {
	op          byte
	left, right calcExpr
}

func (c calcConst) eval(func(*symbol) *string) (float64, bool) { return float64(c), true }
func (c calcConst) String() string                             { return formatDouble(float64(c)) }
func (c calcConst) args(func(string))                          {}

func (v calcVar) eval(resolve func(*symbol) *string) (float64, bool) {
	s := resolve(v.sym)
	if s == nil {
		return 0, false
	}
	return parseDouble(*s)
}
func (v calcVar) String() string        { return v.sym.String() }
func (v calcVar) args(add func(string)) { v.sym.args(add) }

func (o calcOp) eval(resolve func(*symbol) *string) (float64, bool) {
	l, ok := o.left.eval(resolve)
	if !ok {
		return 0, false
	}
	r, ok := o.right.eval(resolve)
	if !ok {
		return 0, false
	}
	switch o.op {
	case '+':
		return l + r, true
	case '-':
		return l - r, true
	case '*':
		return l * r, true
	}
	return l / r, true
}
func (o calcOp) String() string { return o.left.String() + string(o.op) + o.right.String() }
func (o calcOp) args(add func(string)) {
	o.left.args(add)
	o.right.args(add)
}

// calculation is #{calc expr}.
func (p *parser) calculation(i int) (node, int, bool) {
	if !p.ldelim(i) {
		return nil, i, false
	}
	_, j, ok := p.keyword(p.skipWS(i+2), "calc")
	if !ok {
		return nil, j, false
	}
	e, j, ok := p.calcChain(j, "+-", p.calcTerm)
	if !ok {
		return nil, j, false
	}
	if j = p.skipWS(j); !p.at(j, "}") {
		return nil, j, false
	}
	return &calcNode{expr: e, pos: i}, j + 1, true
}

func (p *parser) calcTerm(i int) (calcExpr, int, bool) { return p.calcChain(i, "*/", p.calcFactor) }

// calcChain reads operands joined by operators, left to right; an operator
// not followed by an operand is left unread.
func (p *parser) calcChain(i int, ops string, operand func(int) (calcExpr, int, bool)) (calcExpr, int, bool) {
	left, j, ok := operand(i)
	if !ok {
		return nil, j, false
	}
	for {
		k := p.skipWS(j)
		if k >= len(p.s) || strings.IndexByte(ops, p.s[k]) < 0 {
			return left, j, true
		}
		right, k2, ok := operand(p.skipWS(k + 1))
		if !ok {
			return left, j, true
		}
		left, j = calcOp{op: p.s[k], left: left, right: right}, k2
	}
}

func (p *parser) calcFactor(i int) (calcExpr, int, bool) {
	if p.at(i, "(") {
		e, j, ok := p.calcChain(i+1, "+-", p.calcTerm)
		if !ok {
			return nil, j, false
		}
		if !p.at(j, ")") {
			return nil, j, false
		}
		return e, j + 1, true
	}
	// A number; white space before one that is not there fails, as in
	// Octostache.
	j := p.skipWS(i)
	k := j
	for k < len(p.s) && p.s[k] >= '0' && p.s[k] <= '9' {
		k++
	}
	switch {
	case k > j:
		text := p.s[j:k]
		k = p.skipWS(k)
		if p.at(k, ".") {
			f := p.skipWS(k + 1)
			e := f
			for e < len(p.s) && p.s[e] >= '0' && p.s[e] <= '9' {
				e++
			}
			if e == f {
				return nil, e, false
			}
			text += "." + p.s[f:e]
			k = p.skipWS(e)
		}
		v, _ := strconv.ParseFloat(text, 64)
		return calcConst(v), k, true
	case j > i:
		return nil, j, false
	case p.at(i, "{"):
		s, k, ok := p.symbol(p.skipWS(i + 1))
		if !ok {
			return nil, k, false
		}
		if k = p.skipWS(k); !p.at(k, "}") {
			return nil, k, false
		}
		return calcVar{sym: s}, k + 1, true
	}
	s, k, ok := p.symbol(i)
	if !ok {
		return nil, k, false
	}
	return calcVar{sym: s}, p.skipWS(k), true
}
