package bootstrap

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
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

// escapeForShell writes s with every byte outside [A-Za-z0-9_.-] as an
// octal escape that POSIX printf %b decodes, so names and values travel
// as single whitespace-free words. NUL cannot live in a shell variable
// and is dropped.
func escapeForShell(b *bytes.Buffer, s string) {
	if s == "" {
		b.WriteString(`\0`)
		return
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == 0:
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(b, `\0%03o`, c)
		}
	}
}

// shellLines is the variables as the helpers read them: "name value\n".
func shellLines(vars []Variable) []byte {
	var b bytes.Buffer
	for _, v := range vars {
		escapeForShell(&b, v.Name)
		b.WriteByte(' ')
		escapeForShell(&b, v.Value)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Base64 encodes (or decodes) r to w, as the helpers'
// encode_servicemessagevalue needs, without openssl or base64 in the image.
func Base64(r io.Reader, w io.Writer, decode bool) error {
	b, err := io.ReadAll(io.LimitReader(r, MaxPayload))
	if err != nil {
		return err
	}
	if decode {
		out, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b)))
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	_, err = io.WriteString(w, base64.StdEncoding.EncodeToString(b))
	return err
}
