package agent

import (
	"encoding/json"
	"os"
	"path/filepath"

	"github.com/cuttle-sh/cuttle/wire"
)

// writeMasks records the payload's sensitive values in the masks file.
func writeMasks(workDir string, key []byte, vars []wire.Variable) error {
	values := []string{}
	for _, v := range vars {
		if v.Sensitive && v.Value != "" {
			values = append(values, v.Value)
		}
	}
	b, err := json.Marshal(values)
	if err != nil {
		return err
	}
	s, err := wire.LogCipher(key, wire.StreamMasks, 0)
	if err != nil {
		return err
	}
	s.XORKeyStream(b, b)
	// Readable like the logs: it is ciphertext, and the SSH user (not the
	// container's) reads it.
	return os.WriteFile(filepath.Join(workDir, wire.LogDir, wire.MasksFile), b, 0o644)
}
