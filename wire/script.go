package wire

import "bytes"

// NormalizeScript is what Calamari's EnsureValidUnixFile does to a bash
// script before bash reads it: a UTF-8 byte order mark is dropped and
// CRLF line ends become LF (a lone CR stays). Scripts saved on Windows
// then run as written. The
// controller reads the shebang of the normalised script, the runner writes
// it so.
func NormalizeScript(b []byte) []byte {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	if !bytes.Contains(b, []byte("\r\n")) {
		return b
	}
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}

// ErrorOutputFailure is the result message of a script that exited 0
// but wrote to its error output while Octopus.Action.FailScriptOnErrorOutput
// was True.
const ErrorOutputFailure = "The script returned zero exit code but had error output (Octopus.Action.FailScriptOnErrorOutput is True)"
