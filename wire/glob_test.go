package wire

import "testing"

func TestMatchPattern(t *testing.T) {
	for _, c := range []struct {
		pattern, rel string
		want         bool
	}{
		{"web/config/*.json", "web/config/app.json", true},
		{"web/config/*.json", "web/config/x/app.json", false},
		{"web/config/*.json", "web/app.json", false},
		{"web/**/*.json", "web/app.json", true},
		{"web/**/*.json", "web/a/b/app.json", true},
		{"web/**/*.json", "web/a/b/app.xml", false},
		{"**", "any/depth/file", true},
		{"web/appsettings.json", "web/appsettings.json", true},
		{"web/appsettings.json", "web/appsettings.json.bak", false},
		{"web/app?.[jy]son", "web/app1.json", true},
	} {
		if got := MatchPattern(c.pattern, c.rel); got != c.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", c.pattern, c.rel, got, c.want)
		}
	}
}

func TestCheckPattern(t *testing.T) {
	for _, ok := range []string{"web/config/*.json", "**/*.config", "a"} {
		if err := CheckPattern(ok); err != nil {
			t.Errorf("CheckPattern(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/etc/passwd", "../x", "web/../../x", "web//x", "./web", `web\x`, "web/[a"} {
		if err := CheckPattern(bad); err == nil {
			t.Errorf("CheckPattern(%q) accepted a pattern that must be refused", bad)
		}
	}
}

func TestPatternBase(t *testing.T) {
	for p, want := range map[string]string{
		"web/config/*.json": "web/config", "web/**/*.json": "web", "*.json": "", "web/a.json": "web", "w*/a": "",
	} {
		if got := PatternBase(p); got != want {
			t.Errorf("PatternBase(%q) = %q, want %q", p, got, want)
		}
	}
}
