package octostache

import (
	"regexp"
	"strconv"
	"strings"
)

// version is a version as Octopus reads one: an optional v, up to four
// numbers, a pre-release (prefix and counter) and metadata.
type version struct {
	major, minor, patch, revision          string
	release, releasePrefix, releaseCounter string
	metadata                               string
}

// Lazy parts take as little as they can, so the pre-release prefix ends at
// its first separator.
var versionPattern = regexp.MustCompile(`^\s*(?:\s*(?:v|V)?\s*([0-9]+)\b\s*(?:\.\s*([0-9]+)\b\s*)?(?:\.\s*([0-9]+)\b\s*)?(?:\.\s*([0-9]+)\b\s*)?)?` +
	`(?:[.\-_\\])?(([A-Za-z0-9]*?)(?:[.\-_\\]([A-Za-z0-9.\-_\\]*?)?)?)?(?:\+([A-Za-z0-9_\-.\\+]*?))?\s*$`)

func parseVersion(s string) (version, bool) {
	if strings.TrimSpace(s) == "" {
		return version{}, false
	}
	m := versionPattern.FindStringSubmatch(s)
	if m == nil {
		return version{}, false
	}
	num := func(x string) (string, bool) {
		if x == "" {
			return "0", true
		}
		n, err := strconv.ParseInt(x, 10, 32)
		return strconv.FormatInt(n, 10), err == nil
	}
	v := version{release: m[5], releasePrefix: m[6], releaseCounter: m[7], metadata: m[8]}
	var ok [4]bool
	v.major, ok[0] = num(m[1])
	v.minor, ok[1] = num(m[2])
	v.patch, ok[2] = num(m[3])
	v.revision, ok[3] = num(m[4])
	return v, ok[0] && ok[1] && ok[2] && ok[3]
}

func versionPart(part func(version) string) func(*string, []string) *string {
	return func(in *string, _ []string) *string {
		if in == nil {
			return nil
		}
		v, ok := parseVersion(*in)
		if !ok {
			return nil
		}
		return str(part(v))
	}
}
