package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckSubstitute(t *testing.T) {
	no := false
	s := RunbookStep{Packages: []PackageRef{{Name: "web"}, {Name: "db"}, {Name: "raw", Extract: &no}}}
	for _, ok := range []string{"web/config/*.json", "db/**/*.sql", "*/appsettings.json"} {
		if err := s.CheckSubstitute(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for p, want := range map[string]string{
		"../etc/passwd":     "outside the work directory",
		"/etc/passwd":       "relative to the work directory",
		"raw/x.json":        "start the pattern with one of web, db",
		"site/config.json":  "site is not an extracted package",
		"web/[unclosed.txt": "syntax error",
	} {
		err := s.CheckSubstitute(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one saying %q", p, err, want)
		}
	}
	if err := (RunbookStep{}).CheckSubstitute("web/a.json"); err == nil || !strings.Contains(err.Error(), "no extracted package") {
		t.Errorf("a step without packages: %v", err)
	}
}

func TestParametersGivenTwice(t *testing.T) {
	cfg := &Config{Pools: map[string]Pool{"linux": {}}}
	p := filepath.Join(t.TempDir(), "rb.yaml")
	os.WriteFile(p, []byte(`steps:
  - name: s
    pool: linux
    container: {image: alpine}
    packages: [{name: web, source: w.zip}]
    parameters: a
    script: {package: web, file: d.sh, parameters: b}
`), 0o644)
	if _, err := LoadRunbook(p, cfg); err == nil || !strings.Contains(err.Error(), "parameters are given twice") {
		t.Errorf("LoadRunbook: %v", err)
	}
}
