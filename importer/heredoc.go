package importer

import (
	"strings"
	"unicode/utf8"
)

// heredoc reads <<MARKER or <<-MARKER up to the line holding only
// MARKER, as Octopus's OCL does: the content has no final newline, lines
// are joined with \r\n when they ended so, and <<- removes the
// indentation the content lines share, but no more than the marker
// line's.
func (p *oclParser) heredoc() (string, error) {
	at := p.pos()
	p.next()
	p.next() // <<
	strip := false
	if p.peek() == '-' {
		strip = true
		p.next()
	}
	start := p.off
	for !p.eof() && !isSpace(p.peek()) {
		p.next()
	}
	marker := p.src[start:p.off]
	if marker == "" {
		return "", p.errf(at, "heredoc needs a marker: <<-EOT")
	}
	for !p.eof() && p.peek() != '\n' && isSpace(p.peek()) {
		p.next()
	}
	if p.eof() || p.peek() != '\n' {
		return "", p.errf(p.pos(), "heredoc <<%s: the text starts on the next line", marker)
	}
	p.next()
	lines, endIndent, crlf, err := p.heredocLines(marker, at)
	if err != nil {
		return "", err
	}
	if strip {
		stripIndent(lines, endIndent)
	}
	sep := "\n"
	if crlf {
		sep = "\r\n"
	}
	return strings.Join(lines, sep), nil
}

// heredocLines reads a heredoc's lines up to the one holding only marker
// (left before its newline), and that line's indent; crlf says the lines
// ended in CRLF.
func (p *oclParser) heredocLines(marker string, at Pos) (lines []string, endIndent int, crlf bool, err error) {
	for {
		if p.eof() {
			return nil, 0, false, p.errf(at, "heredoc not closed: add a line holding only %s", marker)
		}
		end := strings.IndexByte(p.src[p.off:], '\n')
		line := p.src[p.off:]
		if end >= 0 {
			line = p.src[p.off : p.off+end]
		}
		if strings.TrimSpace(line) == marker {
			endIndent = leadingSpace(line)
			// Leave the newline after the marker to the body.
			for range len(strings.TrimRight(line, " \t\r")) {
				p.next()
			}
			break
		}
		for range utf8.RuneCountInString(line) {
			p.next()
		}
		if end >= 0 {
			p.next()
		}
		if strings.HasSuffix(line, "\r") {
			crlf = true
			line = strings.TrimSuffix(line, "\r")
		}
		lines = append(lines, line)
	}
	return lines, endIndent, crlf, nil
}

// stripIndent removes, for <<-, the indent common to lines and the
// closing marker's line.
func stripIndent(lines []string, endIndent int) {
	indent := endIndent
	for _, l := range lines {
		if n := leadingSpace(l); n < len(l) && n < indent {
			indent = n
		}
	}
	for i, l := range lines {
		if len(l) <= indent {
			lines[i] = ""
		} else {
			lines[i] = l[indent:]
		}
	}
}

// leadingSpace counts the whitespace bytes a line starts with.
func leadingSpace(l string) int {
	return len(l) - len(strings.TrimLeft(l, " \t\v\f"))
}
