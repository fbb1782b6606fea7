package remote

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStepIDPrefix: a step id's prefix carries 8 random bytes, so two
// steps started by one controller in the same second differ in more than
// their counter, and the id stays a valid ticket name.
func TestStepIDPrefix(t *testing.T) {
	at := time.Date(2026, 12, 1, 19, 22, 51, 0, time.UTC)
	a, err := stepIDPrefix(at)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := stepIDPrefix(at)
	shape := regexp.MustCompile(`^20261201192251-[0-9]+-([0-9a-f]{16})$`)
	ma, mb := shape.FindStringSubmatch(a), shape.FindStringSubmatch(b)
	if ma == nil || mb == nil {
		t.Fatalf("prefixes %q, %q: want <time>-<pid>-<16 hex>", a, b)
	}
	if ma[1] == mb[1] {
		t.Errorf("two prefixes share their random part %s", ma[1])
	}
	if id := a + "-1"; len(id) > 64 || strings.ContainsAny(id, "/. ") {
		t.Errorf("step id %q is not a usable ticket and file name", id)
	}
}

// TestDirName: names that SafeName maps to one directory get directories
// of their own; names it leaves alone stay as they are.
func TestDirName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		a, b  string
		equal bool
	}{
		{name: "slash against underscore", a: "build/x", b: "build_x"},
		{name: "dot against dot-dot", a: ".", b: ".."},
		{name: "dot against the fallback name", a: ".", b: "artifact"},
		{name: "leading dots", a: ".hidden", b: "hidden"},
		{name: "trailing space", a: "deploy ", b: "deploy"},
		{name: "backslash and colon", a: `C:\x`, b: "C__x"},
		{name: "control character", a: "a\nb", b: "a_b"},
		{name: "long names cut at the same place", a: strings.Repeat("x", 210) + "1", b: strings.Repeat("x", 210) + "2"},
		{name: "a name shaped like a changed one", a: "build/x", b: DirName("build/x")},
		{name: "one name", a: "deploy web", b: "deploy web", equal: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			da, db := DirName(tc.a), DirName(tc.b)
			if (da == db) != tc.equal {
				t.Errorf("DirName(%q) = %q, DirName(%q) = %q", tc.a, da, tc.b, db)
			}
			for _, d := range []string{da, db} {
				if d != SafeName(d) && !hasDirNameSuffix(d) || strings.ContainsAny(d, "/\\\x00\n") || d == "." || d == ".." || len(d) > 255 {
					t.Errorf("DirName gave %q: not one safe file name", d)
				}
			}
		})
	}
	for _, same := range []string{"deploy", "build_x", "web-01", "Ünïcode ok"} {
		if got := DirName(same); got != same {
			t.Errorf("DirName(%q) = %q, want it unchanged", same, got)
		}
	}
}
