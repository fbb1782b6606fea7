package serve

import (
	"fmt"
	"strconv"
	"strings"
)

var dayNames = map[string]string{"0": "Sunday", "1": "Monday", "2": "Tuesday", "3": "Wednesday", "4": "Thursday", "5": "Friday", "6": "Saturday", "7": "Sunday",
	"SUN": "Sunday", "MON": "Monday", "TUE": "Tuesday", "WED": "Wednesday", "THU": "Thursday", "FRI": "Friday", "SAT": "Saturday"}

// ScheduleWords says a schedule in words for the common shapes (every
// day, weekdays, one weekday, every hour, every N minutes, @every); for
// others it says "custom", and the page shows the expression beside it.
func ScheduleWords(schedule string) string {
	tz := ""
	if strings.HasPrefix(schedule, "CRON_TZ=") || strings.HasPrefix(schedule, "TZ=") {
		zone, rest, _ := strings.Cut(schedule, " ")
		tz, schedule = " ("+zone[strings.Index(zone, "=")+1:]+")", strings.TrimSpace(rest)
	}
	if words, ok := macroWords(schedule); ok {
		return words + tz
	}
	if d, ok := strings.CutPrefix(schedule, "@every "); ok {
		return "every " + d + tz
	}
	f := strings.Fields(schedule)
	if len(f) == 6 {
		if f[0] != "0" {
			return "custom"
		}
		f = f[1:]
	}
	if len(f) != 5 || f[3] != "*" {
		return "custom"
	}
	return cronWords(f[0], f[1], f[2], strings.ToUpper(f[4]), tz)
}

// macroWords says one of cron's @ schedules in words.
func macroWords(schedule string) (string, bool) {
	switch schedule {
	case "@hourly":
		return "every hour", true
	case "@daily", "@midnight":
		return "every day at 00:00", true
	case "@weekly":
		return "every Sunday at 00:00", true
	case "@monthly":
		return "on the 1st of every month at 00:00", true
	case "@yearly", "@annually":
		return "every 1 January at 00:00", true
	}
	return "", false
}

// cronWords says a five-field schedule (any month) in words, or "custom".
func cronWords(minute, hour, dom, dow, tz string) string {
	if n, ok := strings.CutPrefix(minute, "*/"); ok && hour == "*" && dom == "*" && dow == "*" {
		return "every " + n + " minutes" + tz
	}
	m, errM := strconv.Atoi(minute)
	if errM != nil || m > 59 {
		return "custom"
	}
	if hour == "*" && dom == "*" && dow == "*" {
		return fmt.Sprintf("every hour at :%02d", m) + tz
	}
	h, errH := strconv.Atoi(hour)
	if errH != nil || h > 23 {
		return "custom"
	}
	at := fmt.Sprintf(" at %02d:%02d", h, m) + tz
	switch {
	case dom == "*" && dow == "*":
		return "every day" + at
	case dom == "*" && (dow == "MON-FRI" || dow == "1-5"):
		return "Monday to Friday" + at
	case dom == "*" && dayNames[dow] != "":
		return "every " + dayNames[dow] + at
	case dow == "*":
		if d, err := strconv.Atoi(dom); err == nil && d >= 1 && d <= 31 {
			return fmt.Sprintf("on day %d of every month", d) + at
		}
	}
	return "custom"
}
