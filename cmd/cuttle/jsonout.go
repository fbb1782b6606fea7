package main

import (
	"encoding/json"
	goio "io"

	"github.com/cuttle-sh/cuttle/config"
)

// jsonOutput reads --output: false for text, true for json.
func jsonOutput(fl *config.Flags) (bool, error) {
	switch out := orDefault(fl.String("output"), "text"); out {
	case "text":
		return false, nil
	case "json":
		return true, nil
	default:
		return false, inputError("--output %q: want text or json", out)
	}
}

// writeJSON writes v indented, as the other --output json commands do.
func writeJSON(w goio.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
