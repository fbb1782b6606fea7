package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Variable is a step variable as the runner receives it.
type Variable struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Sensitive bool   `json:"sensitive,omitempty"`
}

// Payload is what the controller sends the runner on the container's
// stdin (docker run -i): never in argv, the environment or a file, so a
// sensitive value is in no `ps`, `docker inspect` or disk.
type Payload struct {
	Variables []Variable `json:"variables"`
	// LogKey, when set, has the runner keep the script's output in the
	// work directory, encrypted with it, for a controller that reattaches.
	LogKey []byte `json:"log_key,omitempty"`
	// Script, when set, is written to the script file in the work
	// directory before it runs: it rides with the variables instead of
	// costing an upload.
	Script []byte `json:"script,omitempty"`
	// FailOnErrorOutput fails a script that exits 0 after writing to its
	// error output (Octopus.Action.FailScriptOnErrorOutput).
	FailOnErrorOutput bool `json:"fail_on_error_output,omitempty"`
	// Proxy is the worker's proxy setting; the runner turns it into the
	// script's HTTP_PROXY, HTTPS_PROXY and NO_PROXY (ProxyEnvironment).
	// Nil behaves as a setting with nothing set, as in Tentacle.
	Proxy *Proxy `json:"proxy,omitempty"`
}

// MaxPayload bounds what the runner reads from stdin.
const MaxPayload = 64 << 20

// ReadPayload reads the payload; an empty stdin is an empty payload.
func ReadPayload(r io.Reader) (Payload, error) {
	var p Payload
	b, err := io.ReadAll(io.LimitReader(r, MaxPayload+1))
	if err != nil {
		return p, fmt.Errorf("reading variables from stdin: %w", err)
	}
	if len(b) > MaxPayload {
		return p, fmt.Errorf("variables exceed %d MiB", MaxPayload>>20)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return p, nil
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("variables payload: %w", err)
	}
	return p, nil
}
