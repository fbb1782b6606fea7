package octostache

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"
)

var (
	htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;", "/", "&#x2F;")
	xmlEscaper  = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")
	jsonEscaper = strings.NewReplacer(`"`, `\"`, "\r", `\r`, "\t", `\t`, "\n", `\n`, `\`, `\\`)
	yamlNewline = regexp.MustCompile(`(?:\r?\n)+`)
)

func htmlEscape(s string) string { return htmlEscaper.Replace(s) }
func xmlEscape(s string) string  { return xmlEscaper.Replace(s) }
func jsonEscape(s string) string { return jsonEscaper.Replace(s) }

// yamlSingleQuoteEscape doubles quotes, and adds a line break to each run
// of line breaks, since YAML folds one break inside single quotes into a
// space.
func yamlSingleQuoteEscape(s string) string {
	s = yamlNewline.ReplaceAllStringFunc(s, func(m string) string {
		if strings.HasPrefix(m, "\r") {
			return "\r\n" + m
		}
		return "\n" + m
	})
	return strings.ReplaceAll(s, "'", "''")
}

// eachUnit maps each UTF-16 code unit of s, as .NET sees a string's
// characters.
func eachUnit(s string, f func(u uint16, i int) string) string {
	var b strings.Builder
	for i, u := range utf16.Encode([]rune(s)) {
		b.WriteString(f(u, i))
	}
	return b.String()
}

func unitText(u uint16) string { return string(utf16.Decode([]uint16{u})) }

func unicodeEscape(u uint16) string { return fmt.Sprintf(`\u%04x`, u) }

func yamlDoubleQuoteEscape(s string) string {
	return eachUnit(s, func(u uint16, _ int) string {
		switch u {
		case '\r':
			return `\r`
		case '\n':
			return `\n`
		case '\t':
			return `\t`
		case '\\':
			return `\\`
		case '"':
			return `\"`
		}
		if u >= 0x20 && u <= 0x7e {
			return unitText(u)
		}
		return unicodeEscape(u)
	})
}

func propertiesCommon(u uint16) string {
	switch u {
	case '\\':
		return `\\`
	case '\r':
		return `\r`
	case '\n':
		return `\n`
	case '\t':
		return `\t`
	}
	if u < 0xff {
		return unitText(u)
	}
	return unicodeEscape(u)
}

func propertiesKeyEscape(s string) string {
	return eachUnit(s, func(u uint16, _ int) string {
		switch u {
		case ' ', ':', '=':
			return `\` + unitText(u)
		}
		return propertiesCommon(u)
	})
}

func propertiesValueEscape(s string) string {
	return eachUnit(s, func(u uint16, i int) string {
		if u == ' ' && i == 0 {
			return `\ `
		}
		return propertiesCommon(u)
	})
}

const (
	unreserved = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
	reserved   = ":/?#[]@!$&'()*+,;="
)

func percentEscape(s, keep string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(keep, s[i]) >= 0 {
			b.WriteByte(s[i])
		} else {
			fmt.Fprintf(&b, "%%%02X", s[i])
		}
	}
	return b.String()
}

// uriEscape escapes what may not appear in a URI (.NET's EscapeUriString).
func uriEscape(s string) string { return percentEscape(s, unreserved+reserved) }

// uriDataEscape escapes all but unreserved characters (.NET's
// EscapeDataString).
func uriDataEscape(s string) string { return percentEscape(s, unreserved) }

var markdown = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough, extension.Linkify))

func markdownToHTML(s string) string {
	var b bytes.Buffer
	if err := markdown.Convert([]byte(strings.TrimSpace(s)), &b); err != nil {
		return ""
	}
	return b.String() + "\n"
}
