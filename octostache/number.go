package octostache

import (
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Numbers are read and written as .NET does in the en-US culture: the
// standard format strings (C, D, E, F, G, N, P, R, X) and custom ones
// (0.00, #,##0, 0%, ...).

var (
	decimalText = regexp.MustCompile(`^[+-]?([0-9][0-9,]*)?(\.[0-9]*)?$`)
	doubleText  = regexp.MustCompile(`^[+-]?([0-9][0-9,]*)?(\.[0-9]*)?([eE][+-]?[0-9]+)?$`)
	intText     = regexp.MustCompile(`^[+-]?[0-9]+$`)
)

// number is a decimal value; scale is the number of decimals written by
// default (decimal keeps them: 23.40 stays 23.40).
type number struct {
	r       *big.Rat
	scale   int
	integer bool // an int: D and X apply
	double  bool // a double: R applies, G is shortest
	f       float64
}

func hasDigit(s string) bool { return strings.ContainsAny(s, "0123456789") }

// parseDecimal is decimal.TryParse (NumberStyles.Number).
func parseDecimal(s string) (number, bool) {
	s = strings.TrimSpace(s)
	if !decimalText.MatchString(s) || !hasDigit(s) {
		return number{}, false
	}
	s = strings.ReplaceAll(s, ",", "")
	r, ok := new(big.Rat).SetString(strings.TrimSuffix(s, "."))
	if !ok {
		return number{}, false
	}
	scale := 0
	if _, frac, found := strings.Cut(s, "."); found {
		scale = len(frac)
	}
	return number{r: r, scale: scale}, true
}

// parseDouble is double.TryParse (NumberStyles.Float | AllowThousands).
func parseDouble(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	switch s {
	case "NaN":
		return math.NaN(), true
	case "Infinity", "∞", "+Infinity":
		return math.Inf(1), true
	case "-Infinity", "-∞":
		return math.Inf(-1), true
	}
	if !doubleText.MatchString(s) || !hasDigit(s) {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
	return f, err == nil
}

func doubleNumber(f float64) (number, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return number{double: true, f: f}, true
	}
	r, _ := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	return number{r: r, double: true, f: f}, true
}

// formatFilter is Format: "Format fmt" reads the value as a decimal, else
// as a date; "Format Type fmt" names the type (Int32, Double, Decimal,
// DateTime, DateTimeOffset).
func formatFilter(env *filterEnv, in *string, opts []string) *string {
	if in == nil || len(opts) == 0 || len(opts) > 2 {
		return nil
	}
	var out string
	var ok bool
	if len(opts) == 1 {
		if n, isNum := parseDecimal(*in); isNum {
			out, ok = n.format(opts[0])
		} else if d, isDate := parseDateTimeOffset(*in, env.loc); isDate {
			out, ok = d.format(opts[0], env.loc)
		}
	} else {
		f := opts[1]
		switch strings.ToLower(opts[0]) {
		case "int", "int32":
			if s := strings.TrimSpace(*in); intText.MatchString(s) {
				if i, err := strconv.ParseInt(s, 10, 32); err == nil {
					out, ok = number{r: new(big.Rat).SetInt64(i), integer: true}.format(f)
				}
			}
		case "double":
			if v, isNum := parseDouble(*in); isNum {
				n, _ := doubleNumber(v)
				out, ok = n.format(f)
			}
		case "decimal":
			if n, isNum := parseDecimal(*in); isNum {
				out, ok = n.format(f)
			}
		case "date", "datetime":
			if d, isDate := parseDateTime(*in, env.loc); isDate {
				out, ok = d.format(f, env.loc)
			}
		case "datetimeoffset":
			if d, isDate := parseDateTimeOffset(*in, env.loc); isDate {
				out, ok = d.format(f, env.loc)
			}
		}
	}
	if !ok {
		return nil
	}
	return &out
}

// digits rounds |r| to frac decimals, half away from zero, and returns the
// integer and fraction digits.
func digits(r *big.Rat, frac int) (intPart, fracPart string) {
	a := new(big.Rat).Abs(r)
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(frac)), nil)
	a.Mul(a, new(big.Rat).SetInt(scale))
	q, rem := new(big.Int).QuoRem(a.Num(), a.Denom(), new(big.Int))
	if rem.Mul(rem, big.NewInt(2)).Cmp(a.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	s := q.String()
	if len(s) <= frac {
		s = strings.Repeat("0", frac-len(s)+1) + s
	}
	return s[:len(s)-frac], s[len(s)-frac:]
}

func group(intPart string) string {
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// format writes n with a .NET numeric format string; ok is false where
// .NET throws a FormatException.
func (n number) format(f string) (string, bool) {
	if n.r == nil { // NaN and infinities
		return formatDouble(n.f), true
	}
	if f == "" {
		f = "G"
	}
	if c := f[0] | 0x20; len(f) <= 3 && c >= 'a' && c <= 'z' {
		prec := -1
		if len(f) > 1 {
			p, err := strconv.Atoi(f[1:])
			if err != nil {
				return n.custom(f)
			}
			prec = p
		}
		return n.standard(f[0], prec)
	}
	return n.custom(f)
}

// standard writes n with a standard format: the letter f (C, F, N, P, D,
// X, E, G or R, either case) and a precision (-1: the default).
func (n number) standard(f byte, prec int) (string, bool) {
	def := func(d int) int {
		if prec < 0 {
			return d
		}
		return prec
	}
	switch c := f | 0x20; c {
	case 'c':
		s, zero := n.fixed(def(2), true)
		return n.signed("$"+s, zero), true
	case 'f':
		s, zero := n.fixed(def(2), false)
		return n.signed(s, zero), true
	case 'n':
		s, zero := n.fixed(def(2), true)
		return n.signed(s, zero), true
	case 'p':
		p := number{r: new(big.Rat).Mul(n.r, big.NewRat(100, 1))}
		s, zero := p.fixed(def(2), true)
		return n.signed(s+"%", zero), true
	case 'd':
		if !n.integer {
			return "", false
		}
		i, _ := digits(n.r, 0)
		return n.signed(padZeros(i, prec), false), true
	case 'x':
		if !n.integer {
			return "", false
		}
		s := strconv.FormatUint(uint64(uint32(n.r.Num().Int64())), 16)
		if f == 'X' {
			s = strings.ToUpper(s)
		}
		return padZeros(s, prec), true
	case 'e':
		return n.exponent(def(6), f == 'E', 3, true), true
	case 'g', 'r':
		return n.general(c, prec), true
	}
	return "", false
}

// general writes n with the G or R format (c, lower case).
func (n number) general(c byte, prec int) string {
	if n.double {
		if prec <= 0 || c == 'r' {
			return formatDouble(n.f)
		}
		return formatDouble(roundSignificant(n.f, prec))
	}
	if prec <= 0 {
		s, _ := n.fixed(n.scale, false)
		return n.signed(s, false)
	}
	return formatDouble(roundSignificant(n.float(), prec))
}

// fixed writes n's digits with frac decimals, grouped or not; zero
// reports whether every digit written is 0.
func (n number) fixed(frac int, grouped bool) (s string, zero bool) {
	i, fr := digits(n.r, frac)
	zero = strings.Trim(i+fr, "0") == ""
	if grouped {
		i = group(i)
	}
	if frac > 0 {
		i += "." + fr
	}
	return i, zero
}

// signed puts a minus before s when n is negative and s not all zeros.
func (n number) signed(s string, isZero bool) string {
	if n.r.Sign() < 0 && !isZero {
		return "-" + s
	}
	return s
}

// padZeros pads s with leading zeros to width.
func padZeros(s string, width int) string {
	if len(s) < width {
		return strings.Repeat("0", width-len(s)) + s
	}
	return s
}

func (n number) float() float64 { f, _ := n.r.Float64(); return f }

func roundSignificant(f float64, digits int) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'e', digits-1, 64), 64)
	return v
}

// exponent writes d.dddE+ddd.
func (n number) exponent(prec int, upper bool, expDigits int, plus bool) string {
	s := strconv.FormatFloat(n.float(), 'e', prec, 64)
	mant, exp, _ := strings.Cut(s, "e")
	x, _ := strconv.Atoi(exp)
	sign := "+"
	if x < 0 {
		sign, x = "-", -x
	} else if !plus {
		sign = ""
	}
	e := "e"
	if upper {
		e = "E"
	}
	xs := strconv.Itoa(x)
	if len(xs) < expDigits {
		xs = strings.Repeat("0", expDigits-len(xs)) + xs
	}
	return mant + e + sign + xs
}

// custom writes a custom format such as #,##0.00 or 0.0%, with up to three
// sections for positive, negative and zero values.
func (n number) custom(f string) (string, bool) {
	sec, r, neg := n.section(splitSections(f))
	l := parseCustom(sec)
	ip, fp := l.digits(r)
	if strings.Trim(ip+fp, "0") == "" {
		neg = false
	}
	return writeCustom(sec, ip, fp, neg)
}

// section picks the custom format's section for n: the second for a
// negative value (written without its sign), the third for zero. r is
// the value to write.
func (n number) section(sections []string) (sec string, r *big.Rat, neg bool) {
	sec, r, neg = sections[0], n.r, n.r.Sign() < 0
	switch {
	case n.r.Sign() == 0 && len(sections) > 2:
		sec = sections[2]
	case neg && len(sections) > 1:
		sec, r, neg = sections[1], new(big.Rat).Abs(n.r), false
	}
	return sec, r, neg
}

// customLayout is what a custom format section asks for: placeholders,
// grouping, scaling and percent.
type customLayout struct {
	intHolders, intZeros, fracHolders, fracZeros int
	grouping                                     bool
	percent, scaleBy                             int
}

// parseCustom reads a custom format section's placeholders, point,
// grouping, scaling and percent.
func parseCustom(sec string) customLayout {
	l := customLayout{intZeros: -1}
	point, lastWasHolder := false, false
	for i := 0; i < len(sec); i++ {
		switch c := sec[i]; c {
		case '0', '#':
			l.holder(c, point)
			lastWasHolder = true
			continue
		case '.':
			point = true
		case ',':
			if lastWasHolder && !point {
				l.scaleBy++
				continue
			}
		case '%':
			l.percent++
		case '\\':
			i++
		case '\'', '"':
			if end := strings.IndexByte(sec[i+1:], c); end >= 0 {
				i += end + 1
			}
		}
		lastWasHolder = false
	}
	return l
}

// holder counts a 0 or # placeholder, after the point or before it. A
// comma between placeholders groups rather than scales.
func (l *customLayout) holder(c byte, point bool) {
	if point {
		l.fracHolders++
		if c == '0' {
			l.fracZeros = l.fracHolders
		}
		return
	}
	if c == '0' && l.intZeros < 0 {
		l.intZeros = l.intHolders
	}
	l.intHolders++
	if l.scaleBy > 0 {
		l.grouping, l.scaleBy = true, 0
	}
}

// digits are r's integer and fraction digits as the layout writes them.
func (l customLayout) digits(r *big.Rat) (ip, fp string) {
	minInt := 0
	if l.intZeros >= 0 {
		minInt = l.intHolders - l.intZeros
	}
	v := new(big.Rat).Set(r)
	for range l.percent {
		v.Mul(v, big.NewRat(100, 1))
	}
	for range l.scaleBy {
		v.Quo(v, big.NewRat(1000, 1))
	}
	ip, fp = digits(v, l.fracHolders)
	ip = strings.TrimLeft(ip, "0")
	if len(ip) < minInt {
		ip = strings.Repeat("0", minInt-len(ip)) + ip
	}
	if l.grouping {
		ip = group(ip)
	}
	for len(fp) > l.fracZeros && strings.HasSuffix(fp, "0") {
		fp = fp[:len(fp)-1]
	}
	return ip, fp
}

// writeCustom writes the section with the digits ip and fp in its
// placeholders and its literal text around them.
func writeCustom(sec, ip, fp string, neg bool) (string, bool) {
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	point, wroteInt, fi := false, false, 0
	for i := 0; i < len(sec); i++ {
		switch c := sec[i]; c {
		case '0', '#':
			if point {
				if fi < len(fp) {
					b.WriteByte(fp[fi])
				}
				fi++
			} else if !wroteInt {
				b.WriteString(ip)
				wroteInt = true
			}
		case '.':
			point = true
			if len(fp) > 0 {
				b.WriteByte('.')
			}
		case ',':
		case '\\':
			if i+1 < len(sec) {
				b.WriteByte(sec[i+1])
				i++
			}
		case '\'', '"':
			end := strings.IndexByte(sec[i+1:], c)
			if end < 0 {
				return "", false
			}
			b.WriteString(sec[i+1 : i+1+end])
			i += end + 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func splitSections(f string) []string {
	var out []string
	start := 0
	var quote byte
	for i := 0; i < len(f); i++ {
		switch c := f[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '\\':
			i++
		case c == ';':
			out = append(out, f[start:i])
			start = i + 1
		}
	}
	return append(out, f[start:])
}
