package remote

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
	"time"
)

// stepIDRandomBytes is how much of a step id is random: a container or
// work directory name cannot be guessed from the time and the
// controller's pid, so another step cannot name it (--volumes-from,
// --pid container:..., a path under ~/.cuttle/work).
const stepIDRandomBytes = 8

// stepIDPrefix starts a step id: the time (UTC), the controller's pid and
// stepIDRandomBytes from crypto/rand, in hex. The preflight appends
// "-<n>", the first free number from this process's counter, which it
// claims with the step's record. The id names the container (cuttle-<id>),
// the work directory, the record and the Docker config directory.
func stepIDPrefix(started time.Time) (string, error) {
	r := make([]byte, stepIDRandomBytes)
	if _, err := rand.Read(r); err != nil {
		return "", err
	}
	return started.UTC().Format("20060102150405") + "-" + strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(r), nil
}

// configDir is the step's private DOCKER_CONFIG: outside the work
// directory and every other mount, so the step's container never sees the
// feed's credentials. It lives only while a pull or build needs it.
func configDir(home, stepID string) string { return home + "/.cuttle/cfg/" + stepID }

// dirNameSuffixLen is the number of hex digits of sha256 that DirName
// appends.
const dirNameSuffixLen = 12

// DirName is SafeName for a directory shared by a run's steps (a step's or
// a worker's artifacts directory): distinct names never share one. When
// SafeName changes a name, or the name already ends like DirName's
// suffix, "~" and 12 hex digits of the name's sha256 are appended, so
// "build/x" (build_x~<hash>) and "build_x" (build_x), or "." and "..",
// land apart.
func DirName(s string) string {
	safe := SafeName(s)
	if safe == s && !hasDirNameSuffix(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return safe + "~" + hex.EncodeToString(sum[:])[:dirNameSuffixLen]
}

// hasDirNameSuffix reports whether s ends in "~" and dirNameSuffixLen hex
// digits, as DirName's changed names do.
func hasDirNameSuffix(s string) bool {
	i := len(s) - dirNameSuffixLen - 1
	if i < 0 || s[i] != '~' {
		return false
	}
	return strings.Trim(s[i+1:], "0123456789abcdef") == ""
}
