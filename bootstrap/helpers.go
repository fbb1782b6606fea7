package bootstrap

import _ "embed"

// Helper file names inside a bundle.
const (
	HelpersBash = "octopus.bash"
	HelpersSh   = "octopus.sh"
	// HelpersCommon is sourced by both, from beside them.
	HelpersCommon = "octopus-common.sh"
)

//go:embed helpers/octopus.bash
var helpersBash []byte

//go:embed helpers/octopus.sh
var helpersSh []byte

//go:embed helpers/octopus-common.sh
var helpersCommon []byte

// BundleFile is one file of a bundle besides the runner.
type BundleFile struct {
	Name string
	Data []byte
}

// HelperFiles are the helper scripts shipped in every bundle.
func HelperFiles() []BundleFile {
	return []BundleFile{{HelpersBash, helpersBash}, {HelpersSh, helpersSh}, {HelpersCommon, helpersCommon}}
}
