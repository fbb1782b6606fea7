package packages

import "regexp"

// Octopus splits a package file name, without its extension, into ID and
// version at the first '.' after which the rest is a version: the ID is
// word characters joined by '.', '_' or '-', the version one to four
// numbers joined by '.', then a SemVer pre-release ("-beta.1") and build
// metadata ("+sha.5114f85"). So "Acme.Web.1.2.3" is Acme.Web 1.2.3 and
// "Acme.Core.1.0.0.0-bugfix" is Acme.Core 1.0.0.0-bugfix.
var (
	idPattern      = regexp.MustCompile(`^\w+([_.-]\w+)*$`)
	versionPattern = regexp.MustCompile(`^\d+(\.\d+){0,3}(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)
)

// SplitIDVersion splits base (a file name without its extension) into
// package ID and version; ok is false when it holds no version.
func SplitIDVersion(base string) (id, version string, ok bool) {
	for i := 0; i < len(base); i++ {
		if base[i] != '.' {
			continue
		}
		id, version = base[:i], base[i+1:]
		if idPattern.MatchString(id) && versionPattern.MatchString(version) {
			return id, version, true
		}
	}
	return "", "", false
}
