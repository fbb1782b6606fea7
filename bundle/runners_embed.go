//go:build embedrunners

package bundle

import _ "embed"

// The runners `make runners` builds (cmd/cuttle-runner, gzip -n): built
// into the controller by `make build`, which sets the embedrunners tag.
// They are strings, so they stay in the binary's read-only data until
// read: a process touches only the runner it uploads or hashes (copying
// both, 5.6 MB, cost every command about 1,400 page faults).
var (
	//go:embed runners/linux-amd64.gz
	runnerAMD64 string
	//go:embed runners/linux-arm64.gz
	runnerARM64 string
)

func embeddedRunners() map[string]string {
	return map[string]string{"amd64": runnerAMD64, "arm64": runnerARM64}
}
