package octostache

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Options change how a template is evaluated. The zero value evaluates as
// Octostache does by default.
type Options struct {
	// Lenient keeps a #{ that cannot be parsed as text instead of failing,
	// as Octopus does when it substitutes files and scripts.
	Lenient bool
	// RefuseSensitive fails the evaluation, with a *SensitiveError and no
	// text, when the template reads a sensitive variable, directly or
	// through another variable's value.
	RefuseSensitive bool
	// Now is the clock of NowDate and NowDateUtc; time.Now by default.
	Now func() time.Time
	// Location is the local time zone of dates; time.Local by default.
	Location *time.Location
	// Filters adds filters, by name (any case); a built-in filter of the
	// same name is tried first.
	Filters map[string]Filter
}

// Filter is a template filter, #{Value | Name opt1 opt2}: in is the value
// (nil when there is none) and opts the options. It returns nil when it
// cannot apply, and the expression is then left as written.
type Filter func(in *string, opts []string) *string

// Result is an evaluated template.
type Result struct {
	Text string
	// Null is set when the template used the null filter (#{ | null}):
	// Octostache's way to give a variable no value.
	Null bool
	// Unresolved lists the expressions that could not be evaluated; they
	// are left in Text as written.
	Unresolved []string
}

// UnresolvedError lists the expressions a template left as written, as
// unknown variables or filters that did not apply.
type UnresolvedError struct{ Tokens []string }

func (e *UnresolvedError) Error() string {
	q := make([]string, len(e.Tokens))
	for i, t := range e.Tokens {
		q[i] = "'" + t + "'"
	}
	return "the following tokens were unable to be evaluated: " + strings.Join(q, ", ") + " (they are left as written; set the variables they name)"
}

// LoopError is a variable whose value refers back to itself.
type LoopError struct{ Chain []string }

func (e *LoopError) Error() string {
	return fmt.Sprintf("variable %q refers to itself (%s): remove the loop from the variables' values", e.Chain[0], strings.Join(e.Chain, " -> "))
}

// SensitiveError is a template that reads a sensitive variable where
// Options.RefuseSensitive forbids it.
type SensitiveError struct{ Name string }

func (e *SensitiveError) Error() string {
	return fmt.Sprintf("the template refers to sensitive variable #{%s}", e.Name)
}

// Evaluate renders template against vars. Unknown variables are left as
// written and reported in an *UnresolvedError alongside the text; a
// template that does not parse is returned unchanged with a *ParseError.
func Evaluate(template string, vars *Variables) (string, error) { return vars.Evaluate(template) }

// Evaluate renders template with the default Options; see the package
// function Evaluate.
func (v *Variables) Evaluate(template string) (string, error) {
	r, err := v.Render(template, Options{})
	if err != nil {
		return r.Text, err
	}
	if r.Null {
		return "", nil
	}
	if len(r.Unresolved) > 0 {
		return r.Text, &UnresolvedError{Tokens: r.Unresolved}
	}
	return r.Text, nil
}

// Render renders template with opt. On a parse or loop error the result's
// Text is the template unchanged; on a *SensitiveError it is empty.
func (v *Variables) Render(template string, opt Options) (Result, error) {
	if !strings.Contains(template, "#{") {
		return Result{Text: template}, nil
	}
	var t *Template
	if opt.Lenient {
		t = ParseLenient(template)
	} else {
		var err error
		if t, err = Parse(template); err != nil {
			return Result{Text: template}, err
		}
	}
	ev := newEvaluator(v, opt)
	var b strings.Builder
	b.Grow(len(template) + len(template)/8)
	if err := ev.render(&b, &scope{b: v.binding()}, t.nodes); err != nil {
		return Result{Text: template}, err
	}
	if opt.RefuseSensitive && ev.sensitive != "" {
		return Result{}, &SensitiveError{Name: ev.sensitive}
	}
	return Result{Text: b.String(), Null: ev.null, Unresolved: distinct(ev.missing)}, nil
}

func distinct(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// evaluator is the state of one evaluation.
type evaluator struct {
	vars       *Variables
	opt        Options
	filters    filterEnv
	missing    []string
	null       bool
	sensitive  string     // the first sensitive variable read
	evaluating []*binding // values being evaluated, for loop detection
	parsed     map[string]*Template
	jsons      map[string]*jsonValue
}

// scope is where names are looked up: a loop's variables, then the
// enclosing scopes.
type scope struct {
	b      *binding
	parent *scope
}

func newEvaluator(v *Variables, opt Options) *evaluator {
	ev := &evaluator{vars: v, opt: opt, parsed: map[string]*Template{}, jsons: map[string]*jsonValue{}}
	ev.filters = filterEnv{now: opt.Now, loc: opt.Location}
	if ev.filters.now == nil {
		ev.filters.now = time.Now
	}
	if ev.filters.loc == nil {
		ev.filters.loc = time.Local
	}
	return ev
}

func (ev *evaluator) render(w *strings.Builder, sc *scope, nodes []node) error {
	for _, n := range nodes {
		if err := ev.renderNode(w, sc, n); err != nil {
			return err
		}
	}
	return nil
}

func (ev *evaluator) renderNode(w *strings.Builder, sc *scope, n node) error {
	switch n := n.(type) {
	case *textNode:
		w.WriteString(n.text)
	case *substNode:
		v, err := ev.value(sc, n.expr)
		if err != nil {
			return err
		}
		if v != nil {
			w.WriteString(*v)
			return nil
		}
		if c, ok := n.expr.(*call); ok && c.fn == "null" {
			ev.null = true
		} else {
			ev.missing = append(ev.missing, n.String())
		}
		w.WriteString(n.String())
	case *condNode:
		return ev.conditional(w, sc, n)
	case *eachNode:
		return ev.each(w, sc, n)
	case *calcNode:
		var err error
		v, ok := n.expr.eval(func(s *symbol) *string {
			b, e := ev.walk(sc, s)
			if e != nil && err == nil {
				err = e
			}
			if b == nil {
				return nil
			}
			return b.item
		})
		if err != nil {
			return err
		}
		if ok {
			w.WriteString(formatDouble(v))
		} else {
			w.WriteString(n.String())
		}
	}
	return nil
}

// side evaluates one side of a condition; ok is false when a filter
// could not apply.
func (ev *evaluator) side(sc *scope, e expr) (string, bool, error) {
	if s, isSym := e.(*symbol); isSym {
		b, err := ev.walk(sc, s)
		if err != nil || b == nil || b.item == nil {
			return "", true, err
		}
		return *b.item, true, nil
	}
	v, err := ev.value(sc, e)
	if err != nil || v == nil {
		return "", false, err
	}
	return *v, true, nil
}

func (ev *evaluator) conditional(w *strings.Builder, sc *scope, n *condNode) error {
	left, ok, err := ev.side(sc, n.cond.left)
	if err != nil {
		return err
	}
	if !ok {
		w.WriteString(n.String())
		ev.missing = append(ev.missing, n.cond.left.String())
		return nil
	}
	var pass bool
	switch {
	case n.cond.op == opTruthy:
		pass = truthy(left)
	case n.cond.rightStr != nil:
		pass = (left == *n.cond.rightStr) == (n.cond.op == opEqual)
	default:
		right, ok, err := ev.side(sc, n.cond.right)
		if err != nil {
			return err
		}
		if !ok {
			w.WriteString(n.String())
			ev.missing = append(ev.missing, n.cond.right.String())
			return nil
		}
		pass = (left == right) == (n.cond.op == opEqual)
	}
	if pass {
		return ev.render(w, sc, n.truthy)
	}
	return ev.render(w, sc, n.falsy)
}

// truthy is Octopus's truth: anything but "", "0", "no" and "false".
func truthy(s string) bool {
	t := strings.TrimSpace(s)
	return s != "0" && s != "" && !strings.EqualFold(t, "no") && !strings.EqualFold(t, "false")
}

func (ev *evaluator) each(w *strings.Builder, sc *scope, n *eachNode) error {
	items, err := ev.all(sc, n.coll)
	if err != nil {
		return err
	}
	for i, item := range items {
		loc := &binding{}
		each := loc.child("Octopus").child("Template").child("Each")
		index := strconv.Itoa(i)
		each.child("Index").item = &index
		each.child("First").item = titleBool(i == 0)
		each.child("Last").item = titleBool(i == len(items)-1)
		loc.children[foldName(n.name)] = item
		if err := ev.render(w, &scope{b: loc, parent: sc}, n.body); err != nil {
			return err
		}
	}
	return nil
}

func titleBool(b bool) *string {
	s := "False"
	if b {
		s = "True"
	}
	return &s
}

// value evaluates an expression; nil means it has no value.
func (ev *evaluator) value(sc *scope, e expr) (*string, error) {
	switch e := e.(type) {
	case *symbol:
		b, err := ev.walk(sc, e)
		if err != nil || b == nil {
			return nil, err
		}
		return b.item, nil
	case *call:
		arg, err := ev.value(sc, e.arg)
		if err != nil {
			return nil, err
		}
		opts := make([]string, len(e.opts))
		for i, o := range e.opts {
			var b strings.Builder
			if err := ev.renderNode(&b, &scope{b: &binding{}, parent: sc}, o); err != nil {
				return nil, err
			}
			opts[i] = b.String()
		}
		name := strings.ToLower(e.fn)
		if f, ok := builtins[name]; ok {
			if v := f(&ev.filters, arg, opts); v != nil {
				return v, nil
			}
		}
		for k, f := range ev.opt.Filters {
			if strings.ToLower(k) == name {
				return f(arg, opts), nil
			}
		}
	}
	return nil, nil
}

// walk finds the value a symbol names, looking in sc and then in the
// enclosing scopes, and evaluates it; nil means there is none.
func (ev *evaluator) walk(sc *scope, sym *symbol) (*binding, error) {
	sym, err := ev.resolveIndexes(sc, sym)
	if err != nil {
		return nil, err
	}
	val := sc.b
	for _, st := range sym.steps {
		var next *binding
		switch {
		case !st.isIndex:
			if next = val.lookup(st.ident); next == nil {
				next, err = ev.jsonStep(sc, val, st.ident)
			}
		case st.indexSym != nil || st.nilIndex:
			return nil, nil
		case st.index == "*" && len(val.order) > 0:
			next = val.order[0]
		default:
			if next = val.lookupIndex(st.index); next == nil {
				next, err = ev.jsonStep(sc, val, st.index)
			}
		}
		if err != nil {
			return nil, err
		}
		if next == nil {
			if sc.parent == nil {
				return nil, nil
			}
			return ev.walk(sc.parent, sym)
		}
		val = next
	}
	return ev.evalBinding(sc, val)
}

// resolveIndexes replaces [#{B}] by B's value where B has one.
func (ev *evaluator) resolveIndexes(sc *scope, sym *symbol) (*symbol, error) {
	var out *symbol
	for i, st := range sym.steps {
		if st.indexSym == nil {
			continue
		}
		if out == nil {
			out = &symbol{steps: append([]step(nil), sym.steps...)}
		}
		mark := len(ev.missing)
		b, err := ev.walk(sc, st.indexSym)
		ev.missing = ev.missing[:mark]
		if err != nil {
			return nil, err
		}
		switch {
		case b == nil:
		case b.item == nil:
			out.steps[i] = step{isIndex: true, nilIndex: true}
		default:
			out.steps[i] = step{isIndex: true, index: *b.item}
		}
	}
	if out == nil {
		return sym, nil
	}
	return out, nil
}

// evalBinding evaluates the template a value holds, in a scope below sc.
func (ev *evaluator) evalBinding(sc *scope, b *binding) (*binding, error) {
	if b.sensitive && ev.sensitive == "" {
		ev.sensitive = b.name
	}
	if b.item == nil {
		return b, nil
	}
	s := *b.item
	if !strings.Contains(s, "#{") {
		return textBinding(s, b), nil
	}
	t, ok := ev.parsed[s]
	if !ok {
		t, _ = Parse(s)
		ev.parsed[s] = t
	}
	if t == nil {
		return b, nil
	}
	for i, e := range ev.evaluating {
		if e == b {
			chain := []string{}
			for _, x := range ev.evaluating[i:] {
				chain = append(chain, x.name)
			}
			return nil, &LoopError{Chain: append(chain, b.name)}
		}
	}
	ev.evaluating = append(ev.evaluating, b)
	null := ev.null
	var w strings.Builder
	err := ev.render(&w, &scope{b: &binding{}, parent: sc}, t.nodes)
	ev.evaluating, ev.null = ev.evaluating[:len(ev.evaluating)-1], null
	if err != nil {
		return nil, err
	}
	return textBinding(w.String(), b), nil
}

// all lists a collection's items: its indexes, a JSON array's elements, a
// JSON object's properties (each with Key and Value) or a comma list.
func (ev *evaluator) all(sc *scope, sym *symbol) ([]*binding, error) {
	b, err := ev.walk(sc, sym)
	if err != nil || b == nil {
		return nil, err
	}
	if len(b.order) > 0 {
		return b.order, nil
	}
	if b.item == nil {
		return nil, nil
	}
	if j, ok := ev.json(*b.item); ok {
		switch j.kind {
		case jsonArray:
			out := make([]*binding, len(j.elems))
			for i, e := range j.elems {
				out[i] = textBinding(e.text(), b)
			}
			return out, nil
		case jsonObject:
			out := make([]*binding, len(j.keys))
			for i, k := range j.keys {
				item := textBinding(k, b)
				item.child("Key").item = &k
				v := j.elems[i].text()
				item.child("Value").item = &v
				out[i] = item
			}
			return out, nil
		}
	}
	parts := strings.Split(*b.item, ",")
	out := make([]*binding, len(parts))
	for i, p := range parts {
		out[i] = textBinding(p, b)
	}
	return out, nil
}

// jsonStep reads a property or element of a JSON value: #{Config.Key},
// #{Config[0]}.
func (ev *evaluator) jsonStep(sc *scope, parent *binding, prop string) (*binding, error) {
	if parent.item == nil || *parent.item == "" || prop == "" {
		return nil, nil
	}
	p := parent
	if strings.Contains(*parent.item, "#{") {
		mark := len(ev.missing)
		e, err := ev.evalBinding(sc, parent)
		ev.missing = ev.missing[:mark]
		var loop *LoopError
		switch {
		case errors.As(err, &loop):
			return nil, nil
		case err != nil:
			return nil, err
		}
		p = e
	}
	j, ok := ev.json(*p.item)
	if !ok {
		return nil, nil
	}
	switch j.kind {
	case jsonArray:
		i, err := strconv.Atoi(strings.TrimSpace(prop))
		if err != nil {
			return nil, nil
		}
		if i < 0 || i >= len(j.elems) {
			return textBinding("", parent), nil
		}
		return textBinding(j.elems[i].text(), parent), nil
	case jsonObject:
		for i, k := range j.keys {
			if k == prop {
				return textBinding(j.elems[i].text(), parent), nil
			}
		}
		return textBinding("", parent), nil
	}
	return textBinding(j.text(), parent), nil
}

// json parses a value as JSON once per evaluation.
func (ev *evaluator) json(s string) (*jsonValue, bool) {
	j, ok := ev.jsons[s]
	if !ok {
		j, _ = parseJSON(s)
		ev.jsons[s] = j
	}
	return j, j != nil
}
