package octostache

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// portedCase is one case of Octostache's own test suite, converted to data
// under testdata/cases (one file per fixture). Source names the fixture and
// method it comes from.
type portedCase struct {
	Name       string      `json:"name"`
	Source     string      `json:"source"`
	Template   string      `json:"template"`
	Vars       [][]*string `json:"vars"`
	Want       *string     `json:"want"`
	WantNull   bool        `json:"want_null"`
	WantOneOf  []string    `json:"want_one_of"`
	Error      string      `json:"error"` // "", none, any, unresolved, loop
	Unresolved []string    `json:"unresolved"`
	Loop       string      `json:"loop"`
	Lenient    bool        `json:"lenient"`
	// StripQuotes removes " from the result before comparing, as the C#
	// test does where Octostache quotes filter options it echoes.
	StripQuotes bool            `json:"strip_quotes"`
	Trim        bool            `json:"trim"`
	Kind        string          `json:"kind"` // "" (evaluate), truthy, get, raw, flag, int, require, indexes, args, string, parse, roundtrip, yaml
	Var         string          `json:"var"`
	Default     bool            `json:"default"`
	WantTruthy  *bool           `json:"want_truthy"`
	WantFlag    *bool           `json:"want_flag"`
	WantInt     json.RawMessage `json:"want_int"`
	WantSet     []string        `json:"want_set"`
	WantHas     []string        `json:"want_contains"`
	WantAbsent  []string        `json:"want_absent"`
	WantParseOK *bool           `json:"want_parse_ok"`
	WantKey     *string         `json:"want_key"`
	Extensions  []string        `json:"extensions"`
	Now         string          `json:"now"`
	Zone        string          `json:"zone"`
	Note        string          `json:"note"`
}

func (c portedCase) id() string {
	fixture, _, _ := strings.Cut(c.Source, ".")
	return fixture + "/" + c.Name
}

func loadCases(t *testing.T) []portedCase {
	t.Helper()
	files, err := filepath.Glob("testdata/cases/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no ported cases in testdata/cases: %v", err)
	}
	var all []portedCase
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cs []portedCase
		if err := json.Unmarshal(b, &cs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		all = append(all, cs...)
	}
	return all
}

// knownFailures reads the names listed in KNOWN_FAILURES.md as "- `name`".
func knownFailures(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("testdata/KNOWN_FAILURES.md")
	if err != nil {
		t.Fatal(err)
	}
	text, _, _ := strings.Cut(string(b), "\n## Cases changed")
	out := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^- `([^`]+)`:?(.*)$").FindAllStringSubmatch(text, -1) {
		out[m[1]] = strings.TrimSpace(m[2])
	}
	return out
}

var testExtensions = map[string]Filter{
	"testFunc": func(in *string, opts []string) *string {
		if in == nil || len(opts) > 0 {
			return nil
		}
		return str(strings.ToLower(*in))
	},
	"supercoolfunc": func(in *string, _ []string) *string {
		var parts []string
		for _, r := range strings.ToUpper(*in) {
			parts = append(parts, strconv.Itoa(int(r)-64))
		}
		return str(strings.Join(parts, "-"))
	},
}

// TestOctostacheSuite runs every ported case. A case listed in
// KNOWN_FAILURES.md must fail (so the list stays true), every other case
// must pass, and at least 95% must pass.
func TestOctostacheSuite(t *testing.T) {
	cases := loadCases(t)
	known := knownFailures(t)
	seen := map[string]bool{}
	passed := 0
	for _, c := range cases {
		id := c.id()
		if seen[id] {
			t.Fatalf("two cases are named %s", id)
		}
		seen[id] = true
		err := c.run()
		_, isKnown := known[id]
		switch {
		case err == nil && isKnown:
			t.Errorf("%s passes but is listed in KNOWN_FAILURES.md: remove it from the list", id)
		case err != nil && !isKnown:
			t.Errorf("%s (%s): %v", id, c.Source, err)
		}
		if err == nil {
			passed++
		}
	}
	for id := range known {
		if !seen[id] {
			t.Errorf("KNOWN_FAILURES.md lists %s, which is not a case", id)
		}
	}
	rate := float64(passed) / float64(len(cases))
	t.Logf("ported Octostache cases: %d of %d pass (%.1f%%)", passed, len(cases), 100*rate)
	if rate < 0.95 {
		t.Errorf("only %.1f%% of the ported cases pass; want at least 95%%", 100*rate)
	}
}

func (c portedCase) variables() *Variables {
	v := &Variables{}
	for _, kv := range c.Vars {
		if kv[1] == nil {
			v.SetNull(*kv[0])
		} else {
			v.Set(*kv[0], *kv[1])
		}
	}
	return v
}

func (c portedCase) options() (Options, error) {
	opt := Options{Lenient: c.Lenient, Filters: map[string]Filter{}}
	for _, e := range c.Extensions {
		opt.Filters[e] = testExtensions[e]
	}
	if c.Now != "" {
		now, err := time.Parse(time.RFC3339Nano, c.Now)
		if err != nil {
			return opt, err
		}
		opt.Now = func() time.Time { return now }
	}
	if c.Zone != "" {
		d, err := time.Parse("-07:00", c.Zone)
		if err != nil {
			return opt, err
		}
		_, off := d.Zone()
		opt.Location = time.FixedZone(c.Zone, off)
	}
	return opt, nil
}

func want(c portedCase, got string) error {
	if c.Want == nil {
		return fmt.Errorf("case has no expected text")
	}
	if got != *c.Want {
		return fmt.Errorf("got %q, want %q", got, *c.Want)
	}
	return nil
}

func (c portedCase) run() error {
	v := c.variables()
	switch c.Kind {
	case "":
		return c.evaluate(v)
	case "truthy":
		r, err := v.Render(c.Template, Options{})
		got := err == nil && len(r.Unresolved) == 0 && !r.Null && truthy(r.Text)
		if got != *c.WantTruthy {
			return fmt.Errorf("truthy = %v, want %v", got, *c.WantTruthy)
		}
	case "get", "require":
		get := func(name string) (string, error) { s, _, err := v.Get(name); return s, err }
		if c.Kind == "require" {
			get = v.Require
		}
		got, err := get(c.Var)
		if c.Error == "any" {
			if err == nil {
				return fmt.Errorf("no error")
			}
			if c.Want == nil {
				return nil
			}
		} else if err != nil {
			return err
		}
		return want(c, got)
	case "raw":
		got, _ := v.Raw(c.Var)
		return want(c, got)
	case "flag":
		if got := v.Flag(c.Var, c.Default); got != *c.WantFlag {
			return fmt.Errorf("flag = %v, want %v", got, *c.WantFlag)
		}
	case "int":
		n, ok := v.Int(c.Var)
		got := "null"
		if ok {
			got = strconv.Itoa(n)
		}
		if got != string(c.WantInt) {
			return fmt.Errorf("int = %s, want %s", got, c.WantInt)
		}
	case "indexes":
		got, err := v.Indexes(c.Template)
		if err != nil {
			return err
		}
		slices.Sort(got)
		w := slices.Clone(c.WantSet)
		slices.Sort(w)
		if !slices.Equal(got, w) {
			return fmt.Errorf("indexes = %q, want %q", got, w)
		}
	case "args":
		t, err := Parse(c.Template)
		if err != nil {
			return err
		}
		got := t.ArgumentNames()
		for _, n := range c.WantHas {
			if !slices.Contains(got, n) {
				return fmt.Errorf("argument names %q lack %q", got, n)
			}
		}
		for _, n := range c.WantAbsent {
			if slices.Contains(got, n) {
				return fmt.Errorf("argument names %q hold %q", got, n)
			}
		}
	case "string":
		t, err := Parse(c.Template)
		if err != nil {
			return err
		}
		return want(c, t.String())
	case "parse":
		ok := true
		if !c.Lenient {
			_, err := Parse(c.Template)
			ok = err == nil
		}
		if ok != *c.WantParseOK {
			return fmt.Errorf("parsed = %v, want %v", ok, *c.WantParseOK)
		}
	case "roundtrip":
		t, err := Parse(c.Template)
		if err != nil {
			return err
		}
		whole := t.String()
		if whole == "" {
			return fmt.Errorf("empty template text")
		}
		for _, n := range t.nodes {
			if s := n.String(); strings.TrimSpace(s) != "" {
				whole = strings.ReplaceAll(whole, s, "")
			}
		}
		if rest := strings.TrimSpace(strings.ReplaceAll(whole, "\r\n", "")); rest != "" {
			return fmt.Errorf("left after removing each token: %q", rest)
		}
	case "yaml":
		r, err := v.Render(c.Template, Options{})
		if err != nil {
			return err
		}
		var doc struct {
			Key string `yaml:"Key"`
		}
		if err := yaml.Unmarshal([]byte(r.Text), &doc); err != nil {
			return fmt.Errorf("%q does not read as YAML: %w", r.Text, err)
		}
		if doc.Key != *c.WantKey {
			return fmt.Errorf("YAML %q reads as %q, want %q", r.Text, doc.Key, *c.WantKey)
		}
	default:
		return fmt.Errorf("unknown kind %q", c.Kind)
	}
	return nil
}

func (c portedCase) evaluate(v *Variables) error {
	opt, err := c.options()
	if err != nil {
		return err
	}
	r, err := v.Render(c.Template, opt)
	switch c.Error {
	case "loop":
		var loop *LoopError
		if !errors.As(err, &loop) {
			return fmt.Errorf("error = %v, want a loop", err)
		}
		if got := strings.Join(loop.Chain, " -> "); got != c.Loop {
			return fmt.Errorf("loop %q, want %q", got, c.Loop)
		}
		return nil
	case "any":
		if err == nil && len(r.Unresolved) == 0 {
			return fmt.Errorf("no error")
		}
	case "unresolved":
		if err != nil || !slices.Equal(r.Unresolved, c.Unresolved) {
			return fmt.Errorf("unresolved %q (%v), want %q", r.Unresolved, err, c.Unresolved)
		}
	case "none":
		if err != nil || len(r.Unresolved) > 0 {
			return fmt.Errorf("error %v, unresolved %q", err, r.Unresolved)
		}
	default:
		if err != nil {
			var perr *ParseError
			if !errors.As(err, &perr) {
				return err
			}
		}
	}
	if r.Null != c.WantNull {
		return fmt.Errorf("null = %v, want %v (text %q)", r.Null, c.WantNull, r.Text)
	}
	if c.WantNull {
		return nil
	}
	got := r.Text
	if c.StripQuotes {
		got = strings.ReplaceAll(got, `"`, "")
	}
	if c.Trim {
		got = strings.TrimSpace(got)
	}
	if c.WantOneOf != nil {
		if !slices.Contains(c.WantOneOf, got) {
			return fmt.Errorf("got %q, want one of %q", got, c.WantOneOf)
		}
		return nil
	}
	return want(c, got)
}
