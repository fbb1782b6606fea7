package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/cuttle-sh/cuttle"

// listed is one package of `go list -deps`.
type listed struct {
	std     bool
	imports []string
}

// deps lists pkg and everything it imports, for GOOS=linux (the worker's).
func deps(t *testing.T, pkg string) map[string]listed {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}|{{.Standard}}|{{join .Imports " "}}`, pkg)
	cmd.Env = append(cmd.Environ(), "GOOS=linux", "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	m := map[string]listed{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.SplitN(line, "|", 3)
		m[f[0]] = listed{std: f[1] == "true", imports: strings.Fields(f[2])}
	}
	return m
}

// TestImportRules keeps the two programs apart: the worker side (agent)
// and the controller share only the wire contract.
func TestImportRules(t *testing.T) {
	allowed := func(pkg string, ok func(dep string) bool) {
		for dep, l := range deps(t, module+"/"+pkg) {
			if dep != module+"/"+pkg && !l.std && !ok(dep) {
				t.Errorf("%s depends on %s: it may import only %s", pkg, dep, map[string]string{
					"agent": "package wire, golang.org/x/sys, github.com/ulikunitz/xz (.tar.xz packages) and the standard library",
					"wire":  "the standard library",
				}[pkg])
			}
		}
	}
	allowed("wire", func(string) bool { return false })
	allowed("agent", func(dep string) bool {
		return dep == module+"/wire" || strings.HasPrefix(dep, "golang.org/x/sys/") || strings.HasPrefix(dep, "github.com/ulikunitz/xz")
	})

	agent := module + "/agent"
	for dep, l := range deps(t, module+"/cmd/cuttle") {
		for _, imp := range l.imports {
			if imp == agent && dep != module+"/cmd/cuttle" {
				t.Errorf("%s imports agent: only cmd/cuttle's step-runner entry point may (package remote drives the worker through wire)", dep)
			}
		}
	}
	if _, ok := deps(t, module+"/remote")[agent]; ok {
		t.Error("remote depends on agent: it may share only package wire with it")
	}

	// cmd/cuttle hands step-runner to agent.Main and uses nothing else.
	files, _ := filepath.Glob("*.go")
	used := map[string]bool{}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(token.NewFileSet(), f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && id.Name == "agent" {
					used[f+": agent."+sel.Sel.Name] = true
				}
			}
			return true
		})
	}
	var names []string
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	if want := []string{"main.go: agent.Main", "main.go: agent.Stdio"}; strings.Join(names, ",") != strings.Join(want, ",") {
		t.Errorf("cmd/cuttle uses %q from agent; want only %q", names, want)
	}
}
