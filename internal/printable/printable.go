// Package printable makes text from a worker safe to show in the
// controller's logs and terminal: control characters (which could move
// the cursor, forge a log line or write the clipboard) become visible
// escapes.
package printable

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// String returns s with every control or otherwise invisible character
// (C0 and C1 controls, DEL, bidirectional overrides) written as a Go
// escape (\n, \x1b, \u202e), and each byte of invalid UTF-8 as \xNN; s
// itself when it holds none. Use it for a log message or field: one line.
func String(s string) string { return escape(s, false) }

// Text is String keeping newlines and tabs: for text printed as it is,
// over several lines, such as an error's.
func Text(s string) string { return escape(s, true) }

func escape(s string, lines bool) string {
	unsafe := func(r rune, size int) bool {
		return r == utf8.RuneError && size == 1 || r != ' ' && !unicode.IsPrint(r) && !(lines && (r == '\n' || r == '\t'))
	}
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unsafe(r, size) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafe(r, size):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
