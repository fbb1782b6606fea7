package octostache

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Variables are named values, in the order they were first set. Names
// compare case-insensitively, as in Octopus. The zero value is empty and
// ready to use. Evaluating is safe from several goroutines; setting is not.
type Variables struct {
	names  []string
	values map[string]*variable
	mu     sync.Mutex
	tree   *binding // built on first use, dropped on every change
}

type variable struct {
	name      string
	value     string
	null      bool
	sensitive bool
}

func foldName(name string) string { return strings.ToLower(name) }

// NewVariables returns Variables holding pairs of name and value.
func NewVariables(pairs ...string) *Variables {
	v := &Variables{}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Set(pairs[i], pairs[i+1])
	}
	return v
}

func (v *Variables) put(name string, x variable) {
	if v.values == nil {
		v.values = map[string]*variable{}
	}
	key := foldName(name)
	if _, ok := v.values[key]; !ok {
		v.names = append(v.names, key)
	}
	x.name = name
	v.values[key] = &x
	v.dropTree()
}

// Set sets a variable. A value may itself be a template; it is evaluated
// where it is used.
func (v *Variables) Set(name, value string) { v.put(name, variable{value: value}) }

// Put sets name to value, as SetSensitive does when sensitive, else as
// Set: for callers holding a list of variables with that flag.
func (v *Variables) Put(name, value string, sensitive bool) {
	if sensitive {
		v.SetSensitive(name, value)
	} else {
		v.Set(name, value)
	}
}

// SetNull sets a variable with no value (Octostache's null), which reads as
// an empty string.
func (v *Variables) SetNull(name string) { v.put(name, variable{null: true}) }

// SetSensitive sets a variable whose value is a secret; see
// Options.RefuseSensitive.
func (v *Variables) SetSensitive(name, value string) {
	v.put(name, variable{value: value, sensitive: true})
}

// MarkSensitive marks an existing variable as sensitive; it reports whether
// the variable exists.
func (v *Variables) MarkSensitive(name string) bool {
	x, ok := v.values[foldName(name)]
	if ok {
		x.sensitive = true
		v.dropTree()
	}
	return ok
}

// Raw returns a variable's value as set, not evaluated.
func (v *Variables) Raw(name string) (string, bool) {
	x, ok := v.values[foldName(name)]
	if !ok || x.null {
		return "", false
	}
	return x.value, true
}

// Names returns the variables' names, in order, as first set.
func (v *Variables) Names() []string {
	out := make([]string, len(v.names))
	for i, k := range v.names {
		out[i] = v.values[k].name
	}
	return out
}

// Get returns a variable's value, evaluated. A variable that is not set is
// ("", false, nil).
func (v *Variables) Get(name string) (string, bool, error) {
	raw, ok := v.Raw(name)
	if !ok {
		return "", false, nil
	}
	s, err := v.Evaluate(raw)
	return s, true, err
}

// Flag returns a variable's value as a boolean (True or False, any case),
// or def when it is not set or not a boolean.
func (v *Variables) Flag(name string, def bool) bool {
	s, _, _ := v.Get(name)
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true":
		return true
	case "false":
		return false
	}
	return def
}

// Int returns a variable's value as an integer; ok is false when it is not
// set or not an integer.
func (v *Variables) Int(name string) (n int, ok bool) {
	s, set, _ := v.Get(name)
	if !set {
		return 0, false
	}
	i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	return int(i), err == nil
}

// Require returns a variable's evaluated value, or an error naming it when
// it is not set or empty.
func (v *Variables) Require(name string) (string, error) {
	s, _, err := v.Get(name)
	if err != nil && !errors.As(err, new(*UnresolvedError)) {
		return "", err
	}
	if s == "" {
		return "", fmt.Errorf("variable %s is required but has no value: set it with --var %s=VALUE", name, name)
	}
	return s, nil
}

// Indexes returns the indexes of a collection: for Package[A].Name and
// Package[B].Name, Indexes("Package") is [A B].
func (v *Variables) Indexes(collection string) ([]string, error) {
	p := &parser{s: collection}
	sym, _, ok := p.symbol(0)
	if !ok {
		return nil, fmt.Errorf("collection %q: not a variable name", collection)
	}
	ev := newEvaluator(v, Options{})
	items, err := ev.all(&scope{b: v.binding()}, sym)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, b := range items {
		if b.item != nil {
			out = append(out, *b.item)
		}
	}
	return out, nil
}

// binding returns the tree of the variables' names: Octopus.Action[A].Name
// is root -> Octopus -> Action -> [A] -> Name.
func (v *Variables) binding() *binding {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.tree != nil {
		return v.tree
	}
	root := &binding{}
	for _, key := range v.names {
		x := v.values[key]
		p := &parser{s: x.name}
		sym, _, ok := p.symbol(0)
		if !ok {
			continue
		}
		b := root
		for _, st := range sym.steps {
			if st.isIndex {
				b = b.indexChild(st.index)
			} else {
				b = b.child(st.ident)
			}
		}
		value := x.value
		b.item, b.name, b.sensitive = &value, x.name, x.sensitive
	}
	v.tree = root
	return root
}

func (v *Variables) dropTree() {
	v.mu.Lock()
	v.tree = nil
	v.mu.Unlock()
}

// A binding is one node of the name tree: its value, if any, its named
// children and its indexed children, in order.
type binding struct {
	item      *string
	name      string // the variable's name, for errors
	sensitive bool
	children  map[string]*binding
	index     map[string]*binding
	order     []*binding
}

func (b *binding) child(name string) *binding {
	key := foldName(name)
	if c, ok := b.children[key]; ok {
		return c
	}
	if b.children == nil {
		b.children = map[string]*binding{}
	}
	c := &binding{}
	b.children[key] = c
	return c
}

// indexChild's value is its index until a variable sets it, so that
// #{each a in Octopus.Action}#{a}#{/each} lists the indexes.
func (b *binding) indexChild(index string) *binding {
	key := foldName(index)
	if c, ok := b.index[key]; ok {
		return c
	}
	if b.index == nil {
		b.index = map[string]*binding{}
	}
	idx := index
	c := &binding{item: &idx}
	b.index[key] = c
	b.order = append(b.order, c)
	return c
}

func (b *binding) lookup(name string) *binding { return b.children[foldName(name)] }

func (b *binding) lookupIndex(index string) *binding { return b.index[foldName(index)] }

func textBinding(s string, from *binding) *binding {
	b := &binding{item: &s}
	if from != nil {
		b.sensitive, b.name = from.sensitive, from.name
	}
	return b
}
