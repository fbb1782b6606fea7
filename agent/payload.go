package agent

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/cuttle-sh/cuttle/wire"
)

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
func shellLines(vars []wire.Variable) []byte {
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
	b, err := io.ReadAll(io.LimitReader(r, wire.MaxPayload))
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
