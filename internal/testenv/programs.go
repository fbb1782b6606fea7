package testenv

import (
	_ "embed"
	"fmt"
	"strings"
)

//go:embed programs.txt
var programsTxt string

// Program is one program the tests, demo or benchmarks execute on this
// machine, and the Debian package that brings it.
type Program struct {
	Name, Package, Why string
}

// Programs reads programs.txt, the one list scripts/install-deps.sh
// installs from.
func Programs() ([]Program, error) {
	var ps []Program
	for i, line := range strings.Split(programsTxt, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 3 {
			return nil, fmt.Errorf("programs.txt:%d: want PROGRAM PACKAGE WHY, got %q", i+1, line)
		}
		ps = append(ps, Program{Name: f[0], Package: f[1], Why: strings.Join(f[2:], " ")})
	}
	return ps, nil
}
