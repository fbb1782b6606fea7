// Package shellquote turns an argv into one line for a POSIX shell.
//
// It is the only place in cuttle where a remote command line is built:
// everything that reaches sshd as a string goes through Join.
package shellquote

import (
	"errors"
	"strings"
)

// ErrNUL is returned for a word containing a NUL byte, which no shell
// command line can carry.
var ErrNUL = errors.New("shellquote: argument contains a NUL byte")

// Join quotes every word for a POSIX shell and joins them with spaces.
// Words made only of characters that are never special are left bare, so
// logs stay readable; everything else is single-quoted.
func Join(args ...string) (string, error) {
	var b strings.Builder
	for i, a := range args {
		if strings.IndexByte(a, 0) >= 0 {
			return "", ErrNUL
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		quoteTo(&b, a)
	}
	return b.String(), nil
}

func quoteTo(b *strings.Builder, s string) {
	if s != "" && isBare(s) {
		b.WriteString(s)
		return
	}
	b.WriteByte('\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(`'\''`)
		s = s[i+1:]
	}
	b.WriteString(s)
	b.WriteByte('\'')
}

// isBare reports whether s needs no quoting. Only a conservative set of
// characters qualifies; '=' and ':' are safe except at the start of a word
// in some shells' tilde rules, so '~' is excluded entirely.
func isBare(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == '/' || c == ',' || c == '+' || c == '@' || c == '%':
		case (c == '=' || c == ':') && i > 0:
		default:
			return false
		}
	}
	return true
}
