package wire

// RunnerErrorPrefix starts every message of the runner's own, so the
// controller can tell the runner's failures from the script's.
const RunnerErrorPrefix = "cuttle runner: "

// ExitCodeNoShell is returned when the image lacks the shell the script
// needs. It is distinct from what shells use (126, 127).
const ExitCodeNoShell = 125

// Helper file names inside a bundle, beside the runner: the runner sources
// the one for the script's syntax.
const (
	HelpersBash = "octopus.bash"
	HelpersSh   = "octopus.sh"
	// HelpersCommon is sourced by both, from beside them.
	HelpersCommon = "octopus-common.sh"
)
