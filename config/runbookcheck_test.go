package config

import (
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
