package testenv

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// notPackaged are programs Go code runs that no Debian package brings:
// the Go toolchain itself.
var notPackaged = map[string]bool{"go": true}

// TestProgramsListed fails when Go code in this module executes a program
// (exec.Command, exec.CommandContext or exec.LookPath with a literal name)
// that programs.txt does not list, so a fresh machine would lack it.
func TestProgramsListed(t *testing.T) {
	listed := programs(t)
	have := map[string]bool{}
	for _, p := range listed {
		have[p.Name] = true
	}
	root := filepath.Join("..", "..")
	found := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		for _, name := range executed(t, path) {
			found[name] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) < 10 {
		t.Fatalf("found only %d executed programs (%v): the scan is broken", len(found), found)
	}
	for name, where := range found {
		if !have[name] && !notPackaged[name] {
			t.Errorf("%s runs %q, which scripts/programs.txt does not list: add it with its Debian package", where, name)
		}
	}
}

// executed returns the literal program names path's code passes to
// exec.Command, exec.CommandContext and exec.LookPath.
func executed(t *testing.T, path string) []string {
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if pkg, ok := sel.X.(*ast.Ident); !ok || pkg.Name != "exec" {
			return true
		}
		arg := 0
		switch sel.Sel.Name {
		case "Command", "LookPath":
		case "CommandContext":
			arg = 1
		default:
			return true
		}
		if len(call.Args) <= arg {
			return true
		}
		if lit, ok := call.Args[arg].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil && !strings.Contains(s, "/") {
				names = append(names, s)
			}
		}
		return true
	})
	return names
}

func TestProgramsParse(t *testing.T) {
	ps := programs(t)
	seen := map[string]bool{}
	for _, p := range ps {
		if p.Package == "" || p.Why == "" {
			t.Errorf("%q: want a package and a reason, got %+v", p.Name, p)
		}
		if seen[p.Name] {
			t.Errorf("%q listed twice", p.Name)
		}
		seen[p.Name] = true
	}
	for _, must := range []string{"nft", "sshd", "dockerd", "docker-registry"} {
		if !seen[must] {
			t.Errorf("%s missing from programs.txt", must)
		}
	}
}

// Program is one program the tests, demo or benchmarks execute on this
// machine, and the Debian package that brings it.
type Program struct {
	Name, Package, Why string
}

// programs reads scripts/programs.txt, the one list install-deps.sh
// installs from.
func programs(t *testing.T) []Program {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "scripts", "programs.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var ps []Program
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			t.Fatalf("scripts/programs.txt:%d: want PROGRAM PACKAGE WHY, got %q", i+1, line)
		}
		ps = append(ps, Program{Name: f[0], Package: f[1], Why: strings.Join(f[2:], " ")})
	}
	return ps
}
