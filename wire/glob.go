package wire

import (
	"fmt"
	"path"
	"strings"
)

// CheckPattern reports whether p is a usable substitute_in_files pattern:
// relative to the work directory, slash-separated, without "." or ".."
// segments, each segment a valid path.Match pattern or "**".
func CheckPattern(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("an empty file pattern: name files relative to the work directory, e.g. web/config/*.json")
	case strings.HasPrefix(p, "/") || strings.Contains(p, `\`):
		return fmt.Errorf("file pattern %q: write it relative to the work directory with / (e.g. web/config/*.json)", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("file pattern %q: empty, . and .. segments are not allowed: files outside the work directory cannot be substituted", p)
		}
		if _, err := path.Match(seg, ""); err != nil {
			return fmt.Errorf("file pattern %q: %v", p, err)
		}
	}
	return nil
}

// MatchPattern reports whether rel (slash-separated, relative to the work
// directory) matches pattern: each segment as path.Match, and "**" as
// any number of directories, none included (Octopus's target files
// syntax: config/**/*.json matches config/a.json and config/x/y/a.json).
func MatchPattern(pattern, rel string) bool {
	return matchSegments(strings.Split(pattern, "/"), strings.Split(rel, "/"))
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(name); i++ {
				if matchSegments(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], name[0]); !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// PatternBase is the directory a pattern's matches are all under: its
// segments before the first one with a wildcard ("" for the work
// directory itself).
func PatternBase(pattern string) string {
	segs := strings.Split(pattern, "/")
	for i, s := range segs[:len(segs)-1] {
		if strings.ContainsAny(s, `*?[`) {
			return strings.Join(segs[:i], "/")
		}
	}
	return strings.Join(segs[:len(segs)-1], "/")
}
