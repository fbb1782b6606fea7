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
	neg := n.r.Sign() < 0
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
		def := func(d int) int {
			if prec < 0 {
				return d
			}
			return prec
		}
		sign := func(s string, isZero bool) string {
			if neg && !isZero {
				return "-" + s
			}
			return s
		}
		fixed := func(frac int, grouped bool) (string, bool) {
			i, fr := digits(n.r, frac)
			zero := strings.Trim(i+fr, "0") == ""
			if grouped {
				i = group(i)
			}
			if frac > 0 {
				i += "." + fr
			}
			return i, zero
		}
		switch c {
		case 'c':
			s, zero := fixed(def(2), true)
			return sign("$"+s, zero), true
		case 'f':
			s, zero := fixed(def(2), false)
			return sign(s, zero), true
		case 'n':
			s, zero := fixed(def(2), true)
			return sign(s, zero), true
		case 'p':
			p := number{r: new(big.Rat).Mul(n.r, big.NewRat(100, 1))}
			i, fr := digits(p.r, def(2))
			s := group(i)
			if def(2) > 0 {
				s += "." + fr
			}
			return sign(s+"%", strings.Trim(i+fr, "0") == ""), true
		case 'd':
			if !n.integer {
				return "", false
			}
			i, _ := digits(n.r, 0)
			if len(i) < prec {
				i = strings.Repeat("0", prec-len(i)) + i
			}
			return sign(i, false), true
		case 'x':
			if !n.integer {
				return "", false
			}
			v := n.r.Num().Int64()
			s := strconv.FormatUint(uint64(uint32(v)), 16)
			if f[0] == 'X' {
				s = strings.ToUpper(s)
			}
			if len(s) < prec {
				s = strings.Repeat("0", prec-len(s)) + s
			}
			return s, true
		case 'e':
			return n.exponent(def(6), f[0] == 'E', 3, true), true
		case 'g', 'r':
			if n.double {
				if prec <= 0 || c == 'r' {
					return formatDouble(n.f), true
				}
				return formatDouble(roundSignificant(n.f, prec)), true
			}
			if prec <= 0 {
				s, _ := fixed(n.scale, false)
				return sign(s, false), true
			}
			return formatDouble(roundSignificant(n.float(), prec)), true
		}
		return "", false
	}
	return n.custom(f)
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
	sections := splitSections(f)
	sec := sections[0]
	neg := n.r.Sign() < 0
	r := n.r
	switch {
	case n.r.Sign() == 0 && len(sections) > 2:
		sec = sections[2]
	case neg && len(sections) > 1:
		sec, r, neg = sections[1], new(big.Rat).Abs(n.r), false
	}
	// Read the section: placeholders, point, grouping, scaling, percent.
	intHolders, intZeros, fracHolders, fracZeros := 0, -1, 0, 0
	point, grouping, percent, scaleBy := false, false, 0, 0
	lastWasHolder := false
	for i := 0; i < len(sec); i++ {
		switch c := sec[i]; c {
		case '0', '#':
			if point {
				fracHolders++
				if c == '0' {
					fracZeros = fracHolders
				}
			} else {
				if c == '0' && intZeros < 0 {
					intZeros = intHolders
				}
				intHolders++
				if scaleBy > 0 {
					grouping, scaleBy = true, 0
				}
			}
			lastWasHolder = true
			continue
		case '.':
			point = true
		case ',':
			if lastWasHolder && !point {
				scaleBy++
				continue
			}
		case '%':
			percent++
		case '\\':
			i++
		case '\'', '"':
			if end := strings.IndexByte(sec[i+1:], c); end >= 0 {
				i += end + 1
			}
		}
		lastWasHolder = false
	}
	minInt := 0
	if intZeros >= 0 {
		minInt = intHolders - intZeros
	}
	v := new(big.Rat).Set(r)
	for range percent {
		v.Mul(v, big.NewRat(100, 1))
	}
	for range scaleBy {
		v.Quo(v, big.NewRat(1000, 1))
	}
	ip, fp := digits(v, fracHolders)
	if strings.Trim(ip+fp, "0") == "" {
		neg = false
	}
	ip = strings.TrimLeft(ip, "0")
	if len(ip) < minInt {
		ip = strings.Repeat("0", minInt-len(ip)) + ip
	}
	if grouping {
		ip = group(ip)
	}
	for len(fp) > fracZeros && strings.HasSuffix(fp, "0") {
		fp = fp[:len(fp)-1]
	}
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
