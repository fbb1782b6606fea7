package bundle

import (
	_ "embed"

	"github.com/cuttle-sh/cuttle/wire"
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
	return []BundleFile{{wire.HelpersBash, helpersBash}, {wire.HelpersSh, helpersSh}, {wire.HelpersCommon, helpersCommon}}
}
