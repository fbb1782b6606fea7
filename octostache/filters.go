package octostache

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
)

// filterEnv is what filters may depend on besides their input.
type filterEnv struct {
	now func() time.Time
	loc *time.Location
}

type builtin func(env *filterEnv, in *string, opts []string) *string

// builtins are Octostache's filters, by lower-case name. Each returns nil
// where Octostache's returns null: the expression is then left as written.
var builtins map[string]builtin

func init() {
	plain := func(f func(in *string, opts []string) *string) builtin {
		return func(_ *filterEnv, in *string, opts []string) *string { return f(in, opts) }
	}
	builtins = map[string]builtin{
		"tolower":                 plain(noOpts(strings.ToLower)),
		"toupper":                 plain(noOpts(strings.ToUpper)),
		"tobase64":                plain(toBase64),
		"frombase64":              plain(fromBase64),
		"htmlescape":              plain(noOpts(htmlEscape)),
		"xmlescape":               plain(noOpts(xmlEscape)),
		"jsonescape":              plain(noOpts(jsonEscape)),
		"yamlsinglequoteescape":   plain(noOpts(yamlSingleQuoteEscape)),
		"yamldoublequoteescape":   plain(noOpts(yamlDoubleQuoteEscape)),
		"propertieskeyescape":     plain(noOpts(propertiesKeyEscape)),
		"propertiesvalueescape":   plain(noOpts(propertiesValueEscape)),
		"uriescape":               plain(noOpts(uriEscape)),
		"uridataescape":           plain(noOpts(uriDataEscape)),
		"markdown":                plain(noOpts(markdownToHTML)),
		"markdowntohtml":          plain(noOpts(markdownToHTML)),
		"nowdate":                 nowDate(false),
		"nowdateutc":              nowDate(true),
		"addhours":                addSpan(time.Hour),
		"adddays":                 addSpan(24 * time.Hour),
		"format":                  formatFilter,
		"match":                   plain(oneOpt(matchRegex)),
		"startswith":              plain(oneOpt(func(s, o string) *string { return boolText(strings.HasPrefix(s, o)) })),
		"endswith":                plain(oneOpt(func(s, o string) *string { return boolText(strings.HasSuffix(s, o)) })),
		"contains":                plain(oneOpt(func(s, o string) *string { return boolText(strings.Contains(s, o)) })),
		"replace":                 plain(replaceRegex),
		"substring":               plain(substring),
		"truncate":                plain(truncate),
		"trim":                    plain(trim),
		"indent":                  plain(indent),
		"uripart":                 plain(uriPart),
		"append":                  plain(func(in *string, opts []string) *string { return join(in, opts, false) }),
		"prepend":                 plain(func(in *string, opts []string) *string { return join(in, opts, true) }),
		"md5":                     plain(hashFilter(md5.New)),
		"sha1":                    plain(hashFilter(sha1.New)),
		"sha256":                  plain(hashFilter(sha256.New)),
		"sha384":                  plain(hashFilter(sha512.New384)),
		"sha512":                  plain(hashFilter(sha512.New)),
		"null":                    plain(func(*string, []string) *string { return nil }),
		"versionmajor":            plain(versionPart(func(v version) string { return v.major })),
		"versionminor":            plain(versionPart(func(v version) string { return v.minor })),
		"versionpatch":            plain(versionPart(func(v version) string { return v.patch })),
		"versionrevision":         plain(versionPart(func(v version) string { return v.revision })),
		"versionprerelease":       plain(versionPart(func(v version) string { return v.release })),
		"versionprereleaseprefix": plain(versionPart(func(v version) string { return v.releasePrefix })),
		"versionprereleasecounter": plain(versionPart(func(v version) string {
			return v.releaseCounter
		})),
		"versionmetadata": plain(versionPart(func(v version) string { return v.metadata })),
	}
}

func str(s string) *string { return &s }

func boolText(b bool) *string { return str(strconv.FormatBool(b)) }

// noOpts is a filter that takes no options and needs an input.
func noOpts(f func(string) string) func(*string, []string) *string {
	return func(in *string, opts []string) *string {
		if in == nil || len(opts) > 0 {
			return nil
		}
		return str(f(*in))
	}
}

// oneOpt is a filter that takes exactly one option and needs an input.
func oneOpt(f func(s, opt string) *string) func(*string, []string) *string {
	return func(in *string, opts []string) *string {
		if in == nil || len(opts) != 1 {
			return nil
		}
		return f(*in, opts[0])
	}
}

// encodeText turns text into bytes: UTF-8, or UTF-16LE for "unicode".
func encodeText(s, encoding string) ([]byte, bool) {
	switch strings.ToLower(encoding) {
	case "utf8", "utf-8":
		return []byte(s), true
	case "unicode":
		units := utf16.Encode([]rune(s))
		b := make([]byte, 2*len(units))
		for i, u := range units {
			b[2*i], b[2*i+1] = byte(u), byte(u>>8)
		}
		return b, true
	}
	return nil, false
}

func decodeText(b []byte, encoding string) (string, bool) {
	switch strings.ToLower(encoding) {
	case "utf8", "utf-8":
		return strings.ToValidUTF8(string(b), "\uFFFD"), true
	case "unicode":
		units := make([]uint16, len(b)/2)
		for i := range units {
			units[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
		}
		s := string(utf16.Decode(units))
		if len(b)%2 == 1 {
			s += "\uFFFD"
		}
		return s, true
	}
	return "", false
}

func encodingOpt(opts []string) string {
	if len(opts) == 0 {
		return "utf8"
	}
	return opts[0]
}

func toBase64(in *string, opts []string) *string {
	if in == nil || len(opts) > 1 {
		return nil
	}
	b, ok := encodeText(*in, encodingOpt(opts))
	if !ok {
		return nil
	}
	return str(base64.StdEncoding.EncodeToString(b))
}

func fromBase64(in *string, opts []string) *string {
	if in == nil || len(opts) > 1 {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(*in), ""))
	if err != nil {
		return nil
	}
	s, ok := decodeText(b, encodingOpt(opts))
	if !ok {
		return nil
	}
	return &s
}

func matchRegex(s, pattern string) *string {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil
	}
	return boolText(re.MatchString(s))
}

func replaceRegex(in *string, opts []string) *string {
	if in == nil || len(opts) == 0 {
		return nil
	}
	re, err := regexp.Compile(opts[0])
	if err != nil {
		return nil
	}
	repl := ""
	if len(opts) > 1 {
		repl = opts[1]
	}
	s := *in
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		b.WriteString(s[last:m[0]])
		expandReplacement(&b, re, s, m, repl)
		last = m[1]
	}
	b.WriteString(s[last:])
	return str(b.String())
}

// expandReplacement writes a .NET regular expression replacement: $1,
// ${name}, $$, $&, $`, $', $+ and $_.
func expandReplacement(b *strings.Builder, re *regexp.Regexp, s string, m []int, repl string) {
	for i := 0; i < len(repl); i++ {
		if repl[i] != '$' || i+1 == len(repl) {
			b.WriteByte(repl[i])
			continue
		}
		text, used, ok := substitution(re, s, m, repl, i)
		if !ok {
			b.WriteByte('$') // not a substitution: a plain $
			continue
		}
		b.WriteString(text)
		i += used
	}
}

// substitution is what the $ at repl[i] stands for in the match m of re
// in s, and how many bytes after the $ it takes; ok is false when the $
// starts no substitution.
func substitution(re *regexp.Regexp, s string, m []int, repl string, i int) (text string, used int, ok bool) {
	group := func(n int) string {
		if n < 0 || 2*n+1 >= len(m) || m[2*n] < 0 {
			return ""
		}
		return s[m[2*n]:m[2*n+1]]
	}
	switch c := repl[i+1]; {
	case c == '$':
		return "$", 1, true
	case c == '&':
		return group(0), 1, true
	case c == '`':
		return s[:m[0]], 1, true
	case c == '\'':
		return s[m[1]:], 1, true
	case c == '_':
		return s, 1, true
	case c == '+':
		return group(re.NumSubexp()), 1, true
	case c == '{':
		n, end := namedGroup(re, repl[i:])
		return group(n), end, n >= 0
	case c >= '0' && c <= '9':
		n, length := numberedGroup(re, repl[i:])
		return group(n), length, n >= 0
	}
	return "", 0, false
}

// namedGroup reads ${name} or ${number} at the start of repl: the group
// it names (-1: none) and the offset of its closing brace.
func namedGroup(re *regexp.Regexp, repl string) (n, end int) {
	end = strings.IndexByte(repl, '}')
	name := ""
	if end > 0 {
		name = repl[2:end]
	}
	n, err := strconv.Atoi(name)
	if err != nil {
		n = re.SubexpIndex(name)
	}
	if end < 0 || n < 0 || n > re.NumSubexp() {
		return -1, 0
	}
	return n, end
}

// numberedGroup reads $N at the start of repl: the longest run of digits
// that names a group (-1: none) and its length.
func numberedGroup(re *regexp.Regexp, repl string) (n, length int) {
	best, bestLen := -1, 0
	for j := 1; j < len(repl) && repl[j] >= '0' && repl[j] <= '9'; j++ {
		if n, err := strconv.Atoi(repl[1 : j+1]); err == nil && n <= re.NumSubexp() {
			best, bestLen = n, j
		}
	}
	return best, bestLen
}

// .NET counts string lengths in UTF-16 code units; so do Substring and
// Truncate.
func units(s string) []uint16 { return utf16.Encode([]rune(s)) }

func unitString(u []uint16) string { return string(utf16.Decode(u)) }

func substring(in *string, opts []string) *string {
	if in == nil || len(opts) == 0 || len(opts) > 2 {
		return nil
	}
	n := make([]int, len(opts))
	for i, o := range opts {
		v, err := strconv.ParseInt(strings.TrimSpace(o), 10, 32)
		if err != nil || v < 0 {
			return nil
		}
		n[i] = int(v)
	}
	u := units(*in)
	start, length := 0, n[0]
	if len(n) == 2 {
		start, length = n[0], n[1]
	}
	if start > len(u) {
		return nil
	}
	length = min(length, len(u)-start)
	return str(unitString(u[start : start+length]))
}

func truncate(in *string, opts []string) *string {
	if in == nil || len(opts) == 0 {
		return nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(opts[0]), 10, 32)
	if err != nil || n < 0 {
		return nil
	}
	suffix := "..."
	if len(opts) > 1 {
		suffix = opts[1]
	}
	u := units(*in)
	if int(n) >= len(u) {
		return in
	}
	return str(unitString(u[:n]) + suffix)
}

func trim(in *string, opts []string) *string {
	if in == nil {
		return nil
	}
	if len(opts) == 0 {
		return str(strings.TrimFunc(*in, unicode.IsSpace))
	}
	switch strings.ToLower(opts[0]) {
	case "start":
		return str(strings.TrimLeftFunc(*in, unicode.IsSpace))
	case "end":
		return str(strings.TrimRightFunc(*in, unicode.IsSpace))
	}
	return nil
}

var indentSizes = regexp.MustCompile(`^(([0-9]{1,3})?/)?([0-9]{1,3})$`)

// indent indents every line: "Indent" (four spaces), "Indent 2", "Indent
// /2" (later lines only), "Indent 3/2", "Indent //" (a prefix), "Indent
// first later".
func indent(in *string, opts []string) *string {
	if in == nil {
		return nil
	}
	if *in == "" {
		return in
	}
	spaces := func(s string) (string, bool) {
		n, err := strconv.Atoi(s)
		return strings.Repeat(" ", n), err == nil && n <= 255
	}
	first, later := "    ", "    "
	switch len(opts) {
	case 0:
	case 1:
		first, later = opts[0], opts[0]
		if m := indentSizes.FindStringSubmatch(opts[0]); m != nil {
			l, okLater := spaces(m[3])
			switch {
			case m[1] == "" && okLater:
				first, later = l, l
			case m[1] != "" && m[2] == "" && okLater:
				first, later = "", l
			case m[1] != "":
				if f, okFirst := spaces(m[2]); okFirst && okLater {
					first, later = f, l
				}
			}
		}
	case 2:
		first, later = opts[0], opts[1]
	default:
		return nil
	}
	return str(first + strings.ReplaceAll(*in, "\n", "\n"+later))
}

func join(in *string, opts []string, prepend bool) *string {
	if len(opts) == 0 {
		return nil
	}
	extra := strings.Join(opts, "")
	switch {
	case in == nil:
		return &extra
	case prepend:
		return str(extra + *in)
	}
	return str(*in + extra)
}

// hashFilter is Md5, Sha1...: options are an encoding of the input (utf8,
// unicode or base64) and a digest size in bytes, in either order.
func hashFilter(h func() hash.Hash) func(*string, []string) *string {
	return func(in *string, opts []string) *string {
		if in == nil || len(opts) > 2 {
			return nil
		}
		encoding, size := "utf8", 0
		sizeOf := func(s string) (int, bool) {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
			return int(n), err == nil && n > 0
		}
		validEncoding := func(s string) bool {
			switch strings.ToLower(s) {
			case "utf8", "utf-8", "unicode", "base64":
				return true
			}
			return false
		}
		switch {
		case len(opts) == 0:
		case len(opts) >= 1:
			if n, ok := sizeOf(opts[0]); ok {
				size = n
				if len(opts) == 2 {
					if !validEncoding(opts[1]) {
						return nil
					}
					encoding = opts[1]
				}
			} else {
				if !validEncoding(opts[0]) {
					return nil
				}
				encoding = opts[0]
				if len(opts) == 2 {
					if size, ok = sizeOf(opts[1]); !ok {
						return nil
					}
				}
			}
		}
		var data []byte
		if strings.EqualFold(encoding, "base64") {
			var err error
			if data, err = base64.StdEncoding.DecodeString(*in); err != nil {
				return nil
			}
		} else {
			data, _ = encodeText(*in, encoding)
		}
		d := h()
		d.Write(data)
		sum := d.Sum(nil)
		if size > 0 && size < len(sum) {
			sum = sum[:size]
		}
		return str(hex.EncodeToString(sum))
	}
}
