//go:build embedrunners

package bundle

import (
	"embed"
	"strings"
)

// The runners `make runners` builds (cmd/cuttle-runner, gzip -n): built
// into the controller by `make build`, which sets the embedrunners tag.
//
//go:embed runners/linux-*.gz
var runnerFiles embed.FS

func embeddedRunners() map[string][]byte {
	out := map[string][]byte{}
	entries, _ := runnerFiles.ReadDir("runners")
	for _, e := range entries {
		arch := strings.TrimSuffix(strings.TrimPrefix(e.Name(), "linux-"), ".gz")
		out[arch], _ = runnerFiles.ReadFile("runners/" + e.Name())
	}
	return out
}
