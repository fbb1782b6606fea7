package octostache

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSensitiveVariablesAreRefused(t *testing.T) {
	v := NewVariables("Plain", "ok", "Indirect", "#{Password}", "Config", `{"db": "#{Password}"}`)
	v.SetSensitive("Password", "hunter2")
	for _, tc := range []struct{ name, template string }{
		{"direct", "echo #{Password}"},
		{"any case", "echo #{password | ToUpper}"},
		{"through another variable", "echo #{Indirect}"},
		{"through JSON", "echo #{Config.db}"},
		{"in a condition", "#{if Password == \"x\"}yes#{/if}"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := v.Render(tc.template, Options{RefuseSensitive: true})
			var serr *SensitiveError
			if !errors.As(err, &serr) || serr.Name != "Password" {
				t.Fatalf("err = %v, want a SensitiveError naming Password", err)
			}
			if r.Text != "" || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the secret leaked: text %q, error %q", r.Text, err)
			}
		})
	}
	if r, err := v.Render("echo #{Plain}", Options{RefuseSensitive: true}); err != nil || r.Text != "echo ok" {
		t.Fatalf("plain variable: %q, %v", r.Text, err)
	}
	if s, err := v.Evaluate("#{Indirect}"); err != nil || s != "hunter2" {
		t.Fatalf("without RefuseSensitive: %q, %v", s, err)
	}
}

func TestParseErrorNamesThePosition(t *testing.T) {
	tpl := "line one\n  x #{Foo | ToUpper\nmore"
	s, err := Evaluate(tpl, NewVariables("Foo", "bar"))
	var perr *ParseError
	if !errors.As(err, &perr) {
		t.Fatalf("err = %v, want a ParseError", err)
	}
	if perr.Line != 2 || perr.Column != 5 || s != tpl {
		t.Fatalf("error at %d:%d (%v), text %q; want 2:5 and the template unchanged", perr.Line, perr.Column, err, s)
	}
	if !strings.Contains(err.Error(), "line 2, column 5") {
		t.Fatalf("message %q does not name the position", err)
	}
	r, err := NewVariables("Foo", "bar").Render(tpl, Options{Lenient: true})
	if err != nil || r.Text != tpl {
		t.Fatalf("lenient: %q, %v", r.Text, err)
	}
}

func TestUnresolvedAndLoopErrors(t *testing.T) {
	s, err := Evaluate("a #{Missing} b", NewVariables())
	var uerr *UnresolvedError
	if !errors.As(err, &uerr) || s != "a #{Missing} b" || len(uerr.Tokens) != 1 || uerr.Tokens[0] != "#{Missing}" {
		t.Fatalf("%q, %v", s, err)
	}
	s, err = Evaluate("x #{A}", NewVariables("A", "#{B}", "B", "#{a}"))
	var lerr *LoopError
	if !errors.As(err, &lerr) || strings.Join(lerr.Chain, ">") != "A>B>A" || s != "x #{A}" {
		t.Fatalf("%q, %v", s, err)
	}
}

func TestSubstituteFile(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "app.conf")
	if err := os.WriteFile(src, append(utf8BOM, "host=#{Host}\nport=#{Port}\n"...), 0o640); err != nil {
		t.Fatal(err)
	}
	v := NewVariables("Host", "db01")
	err := SubstituteFile(src, "", v, Options{Lenient: true})
	var uerr *UnresolvedError
	if !errors.As(err, &uerr) {
		t.Fatalf("err = %v, want the unresolved #{Port}", err)
	}
	b, _ := os.ReadFile(src)
	if string(b) != string(utf8BOM)+"host=db01\nport=#{Port}\n" {
		t.Fatalf("file = %q", b)
	}
	if fi, _ := os.Stat(src); fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode = %v", fi.Mode())
	}
	v.SetSensitive("Port", "5432")
	if err := SubstituteFile(src, filepath.Join(dir, "out"), v, Options{RefuseSensitive: true}); err == nil {
		t.Fatal("a sensitive variable was written to a file")
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); !os.IsNotExist(err) {
		t.Fatalf("target written despite the error: %v", err)
	}
}

// largeTemplate is 1 MiB of text with 1,000 substitutions of 50 variables.
func largeTemplate() (string, *Variables) {
	v := NewVariables()
	for i := range 50 {
		v.Set(fmt.Sprintf("Var%d", i), fmt.Sprintf("value-%d", i))
	}
	filler := strings.Repeat("echo some text in a deployment script; ", 27)[:1040]
	var b strings.Builder
	for i := range 1000 {
		b.WriteString(filler)
		fmt.Fprintf(&b, "#{Var%d}", i%50)
	}
	return b.String(), v
}

func BenchmarkLargeTemplate(b *testing.B) {
	tpl, v := largeTemplate()
	b.SetBytes(int64(len(tpl)))
	for b.Loop() {
		if _, err := v.Evaluate(tpl); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLargeTemplateReplacer is the peer: a plain find-and-replace of
// the same names, what cuttle did before.
func BenchmarkLargeTemplateReplacer(b *testing.B) {
	tpl, _ := largeTemplate()
	var pairs []string
	for i := range 50 {
		pairs = append(pairs, fmt.Sprintf("#{Var%d}", i), fmt.Sprintf("value-%d", i))
	}
	r := strings.NewReplacer(pairs...)
	b.SetBytes(int64(len(tpl)))
	for b.Loop() {
		_ = r.Replace(tpl)
	}
}

func BenchmarkSmallTemplate(b *testing.B) {
	v := NewVariables("Location", "World")
	for b.Loop() {
		if s, _ := v.Evaluate("Hello, #{Location}!"); s != "Hello, World!" {
			b.Fatal(s)
		}
	}
}

func FuzzEvaluate(f *testing.F) {
	for _, s := range []string{"#{Foo}", "##{Foo}", "#{if A == \"x\"}y#{else}z#{/if}", "#{each a in L}#{a}#{/each}",
		"#{calc (A+2)*3}", "#{J.k[0] | ToUpper}", "#{A[#{B}].C | Replace a b}", "plain # text ##", "#{", "#{Foo | Indent \\\"# \\\"}"} {
		f.Add(s)
	}
	v := NewVariables("Foo", "bar", "A", "1", "B", "#{A}", "L", "x,y", "J", `{"k":["v"]}`, "Loop", "#{Loop}")
	f.Fuzz(func(t *testing.T, tpl string) {
		for _, lenient := range []bool{false, true} {
			r, _ := v.Render(tpl, Options{Lenient: lenient})
			if !strings.Contains(tpl, "#{") && r.Text != tpl {
				t.Fatalf("a template without #{ changed: %q -> %q", tpl, r.Text)
			}
		}
	})
}
