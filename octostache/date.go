package octostache

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dates are read and written as .NET does in the en-US culture, which is
// what Octopus's filters use: DateTime.TryParse, and the standard and
// custom format strings (yyyy-MM-dd, HH:mm, O, ...).

type dateKind int

const (
	kindUnspecified dateKind = iota
	kindUTC
	kindLocal
)

// netDate is a .NET DateTime (offset false) or DateTimeOffset.
type netDate struct {
	t      time.Time // the wall clock, in the zone of its offset
	kind   dateKind
	offset bool
}

var dateLayouts = []string{
	"2006-1-2T15:04:05.9999999Z07:00", "2006-1-2T15:04:05Z07:00", "2006-1-2T15:04Z07:00",
	"2006-1-2T15:04:05.9999999", "2006-1-2T15:04:05", "2006-1-2T15:04",
	"2006-1-2 15:04:05.9999999Z07:00", "2006-1-2 15:04:05Z07:00", "2006-1-2 15:04:05.9999999",
	"2006-1-2 15:04:05", "2006-1-2 15:04", "2006-1-2 3:04:05 PM", "2006-1-2 3:04 PM", "2006-1-2",
	"2006/1/2 15:04:05.9999999", "2006/1/2 15:04:05", "2006/1/2 15:04", "2006/1/2 3:04:05 PM", "2006/1/2 3:04 PM", "2006/1/2",
	"1/2/2006 15:04:05.9999999", "1/2/2006 15:04:05", "1/2/2006 15:04", "1/2/2006 3:04:05 PM", "1/2/2006 3:04 PM", "1/2/2006",
	"Mon, 2 Jan 2006 15:04:05 GMT", "Mon, 2 Jan 2006 15:04:05 MST", "2 Jan 2006 15:04:05", "2 Jan 2006 15:04", "2 Jan 2006",
	"2 January 2006 15:04:05", "2 January 2006", "Jan 2, 2006 15:04:05", "Jan 2, 2006", "January 2, 2006 15:04:05",
	"January 2, 2006", "Monday, January 2, 2006 3:04:05 PM", "Monday, January 2, 2006 3:04 PM", "Monday, January 2, 2006",
}

// parseDate reads a date; zone is "" (none given), "Z" or "offset".
func parseDate(s string, loc *time.Location) (t time.Time, zone string, ok bool) {
	s = strings.TrimSpace(s)
	for _, layout := range dateLayouts {
		var err error
		if strings.Contains(layout, "Z07:00") || strings.HasSuffix(layout, "GMT") || strings.HasSuffix(layout, "MST") {
			t, err = time.Parse(layout, s)
			if err == nil {
				if _, off := t.Zone(); off == 0 && (strings.HasSuffix(s, "Z") || strings.HasSuffix(s, "GMT") || strings.HasSuffix(s, "UTC")) {
					return t.UTC(), "Z", true
				}
				return t, "offset", true
			}
			continue
		}
		if t, err = time.ParseInLocation(layout, s, loc); err == nil {
			return t, "", true
		}
	}
	return time.Time{}, "", false
}

// parseDateTime is DateTime.TryParse: a date with a zone is converted to
// local time.
func parseDateTime(s string, loc *time.Location) (netDate, bool) {
	t, zone, ok := parseDate(s, loc)
	if !ok {
		return netDate{}, false
	}
	if zone != "" {
		return netDate{t: t.In(loc), kind: kindLocal}, true
	}
	return netDate{t: t}, true
}

// parseDateTimeOffset is DateTimeOffset.TryParse: a date without a zone is
// in local time.
func parseDateTimeOffset(s string, loc *time.Location) (netDate, bool) {
	t, _, ok := parseDate(s, loc)
	return netDate{t: t, offset: true}, ok
}

func nowDate(utc bool) builtin {
	return func(env *filterEnv, in *string, opts []string) *string {
		if in != nil || len(opts) > 1 {
			return nil
		}
		d := netDate{t: env.now().In(env.loc)}
		if utc {
			d = netDate{t: env.now().UTC(), kind: kindUTC}
		}
		format := "O"
		if len(opts) == 1 {
			format = opts[0]
		}
		s, ok := d.format(format, env.loc)
		if !ok {
			return nil
		}
		return &s
	}
}

// addSpan is AddHours and AddDays: a date without a zone stays without
// one, a UTC date stays UTC, and an explicit offset is kept.
func addSpan(unit time.Duration) builtin {
	return func(env *filterEnv, in *string, opts []string) *string {
		if in == nil || len(opts) != 1 {
			return nil
		}
		n, ok := parseDouble(opts[0])
		if !ok || n > 1e7 || n < -1e7 {
			return nil
		}
		d := time.Duration(n * float64(unit))
		t, zone, ok := parseDate(*in, env.loc)
		if !ok {
			return nil
		}
		var nd netDate
		switch zone {
		case "":
			nd = netDate{t: t.Add(d)}
		case "Z":
			nd = netDate{t: t.Add(d), kind: kindUTC}
		default:
			nd = netDate{t: t.Add(d), offset: true}
		}
		s, _ := nd.format("O", env.loc)
		return &s
	}
}

var standardDateFormats = map[byte]string{
	'd': "M/d/yyyy", 'D': "dddd, MMMM d, yyyy", 'f': "dddd, MMMM d, yyyy h:mm tt", 'F': "dddd, MMMM d, yyyy h:mm:ss tt",
	'g': "M/d/yyyy h:mm tt", 'G': "M/d/yyyy h:mm:ss tt", 'm': "MMMM d", 'M': "MMMM d", 't': "h:mm tt", 'T': "h:mm:ss tt",
	'y': "MMMM yyyy", 'Y': "MMMM yyyy", 's': "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
}

// offsetOf is the offset "z" shows: a DateTimeOffset's own, zero for a
// UTC DateTime, else the local zone's.
func (d netDate) offsetOf(loc *time.Location) int {
	switch {
	case d.offset:
		_, off := d.t.Zone()
		return off
	case d.kind == kindUTC:
		return 0
	}
	_, off := d.t.In(loc).Zone()
	return off
}

// format writes d with a .NET date format string; ok is false where .NET
// throws a FormatException.
func (d netDate) format(f string, loc *time.Location) (string, bool) {
	if len(f) == 1 {
		switch f[0] {
		case 'o', 'O':
			if d.offset {
				f = "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffzzz"
			} else {
				f = "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK"
			}
		case 'r', 'R':
			d = d.utc(loc)
			f = "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'"
		case 'u':
			d = d.utc(loc)
			f = "yyyy'-'MM'-'dd HH':'mm':'ss'Z'"
		case 'U':
			d = d.utc(loc)
			f = standardDateFormats['F']
		default:
			std, ok := standardDateFormats[f[0]]
			if !ok {
				return "", false
			}
			f = std
		}
	}
	return d.custom(f, loc)
}

func (d netDate) utc(loc *time.Location) netDate {
	if d.kind == kindUTC {
		return d
	}
	if d.offset || d.kind == kindLocal {
		return netDate{t: d.t.UTC(), kind: kindUTC}
	}
	// An unspecified time is taken as local, as .NET does.
	t := time.Date(d.t.Year(), d.t.Month(), d.t.Day(), d.t.Hour(), d.t.Minute(), d.t.Second(), d.t.Nanosecond(), loc)
	return netDate{t: t.UTC(), kind: kindUTC}
}

// custom writes d with a .NET custom date format; ok is false where .NET
// throws a FormatException.
func (d netDate) custom(f string, loc *time.Location) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(f); {
		c := f[i]
		n := 1
		for i+n < len(f) && f[i+n] == c {
			n++
		}
		handled, ok := d.field(&b, c, n, loc)
		if !handled {
			n, ok = d.literal(&b, f, i, loc)
		}
		if !ok {
			return "", false
		}
		i += n
	}
	return b.String(), true
}

// field writes the date or time field that the letter c repeated n times
// stands for; handled is false when c is no such letter.
func (d netDate) field(b *strings.Builder, c byte, n int, loc *time.Location) (handled, ok bool) {
	t := d.t
	switch c {
	case 'd':
		numberOrName(b, n, t.Day(), t.Weekday().String())
	case 'M':
		numberOrName(b, n, int(t.Month()), t.Month().String())
	case 'f', 'F':
		return true, fraction(b, t, c == 'F', n)
	case 'g':
		b.WriteString("A.D.")
	case 'h':
		h := t.Hour() % 12
		if h == 0 {
			h = 12
		}
		fmt.Fprintf(b, "%0*d", min(n, 2), h)
	case 'H':
		fmt.Fprintf(b, "%0*d", min(n, 2), t.Hour())
	case 'm':
		fmt.Fprintf(b, "%0*d", min(n, 2), t.Minute())
	case 's':
		fmt.Fprintf(b, "%0*d", min(n, 2), t.Second())
	case 't':
		ampm := "AM"
		if t.Hour() >= 12 {
			ampm = "PM"
		}
		b.WriteString(ampm[:min(n, 2)])
	case 'y':
		year(b, t.Year(), n)
	case 'z':
		writeOffset(b, d.offsetOf(loc), n)
	default:
		return false, true
	}
	return true, true
}

// numberOrName writes a day or month: as a number for 1 or 2 letters,
// else its name, abbreviated for 3.
func numberOrName(b *strings.Builder, n, num int, name string) {
	switch n {
	case 1, 2:
		fmt.Fprintf(b, "%0*d", n, num)
	case 3:
		b.WriteString(name[:3])
	default:
		b.WriteString(name)
	}
}

// fraction writes n digits of t's second fraction; trim (F) drops
// trailing zeros, and the point before them when none is left.
func fraction(b *strings.Builder, t time.Time, trim bool, n int) bool {
	if n > 7 {
		return false
	}
	frac := fmt.Sprintf("%09d", t.Nanosecond())[:n]
	if trim {
		frac = strings.TrimRight(frac, "0")
		if frac == "" && strings.HasSuffix(b.String(), ".") {
			s := b.String()
			b.Reset()
			b.WriteString(s[:len(s)-1])
		}
	}
	b.WriteString(frac)
	return true
}

// year writes y with n letters: y is the year in the century without a
// leading zero, yy with one, more the full year padded to n digits.
func year(b *strings.Builder, y, n int) {
	switch n {
	case 1:
		b.WriteString(strconv.Itoa(y % 100))
	case 2:
		fmt.Fprintf(b, "%02d", y%100)
	default:
		fmt.Fprintf(b, "%0*d", n, y)
	}
}

// literal writes what f holds at i that is not a field (K, separators,
// quoted text, escapes, other characters) and returns how many bytes of
// f it took.
func (d netDate) literal(b *strings.Builder, f string, i int, loc *time.Location) (n int, ok bool) {
	switch c := f[i]; c {
	case 'K':
		switch {
		case d.offset || d.kind == kindLocal:
			writeOffset(b, d.offsetOf(loc), 3)
		case d.kind == kindUTC:
			b.WriteByte('Z')
		}
	case '\'', '"':
		end := strings.IndexByte(f[i+1:], c)
		if end < 0 {
			return 0, false
		}
		b.WriteString(f[i+1 : i+1+end])
		return end + 2, true
	case '%':
		if i+1 >= len(f) || f[i+1] == '%' {
			return 0, false
		}
	case '\\':
		if i+1 >= len(f) {
			return 0, false
		}
		b.WriteByte(f[i+1])
		return 2, true
	default:
		b.WriteByte(c)
	}
	return 1, true
}

func writeOffset(b *strings.Builder, off, n int) {
	sign := '+'
	if off < 0 {
		sign, off = '-', -off
	}
	h, m := off/3600, off%3600/60
	switch n {
	case 1:
		fmt.Fprintf(b, "%c%d", sign, h)
	case 2:
		fmt.Fprintf(b, "%c%02d", sign, h)
	default:
		fmt.Fprintf(b, "%c%02d:%02d", sign, h, m)
	}
}
