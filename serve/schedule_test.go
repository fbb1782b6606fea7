package serve

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/config"
)

func TestParserSchedules(t *testing.T) {
	from := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC) // a Saturday, in winter
	tests := []struct {
		schedule string
		want     []time.Time // the next runs after from
	}{
		{"0 3 * * *", []time.Time{time.Date(2026, 1, 10, 3, 0, 0, 0, time.UTC), time.Date(2026, 1, 11, 3, 0, 0, 0, time.UTC)}},
		// Six fields: the first is seconds.
		{"30 0 3 * * *", []time.Time{time.Date(2026, 1, 10, 3, 0, 30, 0, time.UTC)}},
		{"*/15 * * * * *", []time.Time{from.Add(15 * time.Second), from.Add(30 * time.Second)}},
		// Weekdays and months.
		{"0 9 * * MON-FRI", []time.Time{time.Date(2026, 1, 12, 9, 0, 0, 0, time.UTC), time.Date(2026, 1, 13, 9, 0, 0, 0, time.UTC)}},
		{"0 0 1 FEB *", []time.Time{time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}},
		// CRON_TZ: 03:00 in Berlin is 02:00 UTC in winter, 01:00 in summer.
		{"CRON_TZ=Europe/Berlin 0 3 * * *", []time.Time{time.Date(2026, 1, 10, 2, 0, 0, 0, time.UTC)}},
		{"CRON_TZ=Europe/Berlin 0 3 1 7 *", []time.Time{time.Date(2026, 7, 1, 1, 0, 0, 0, time.UTC)}},
		{"CRON_TZ=America/New_York 0 0 12 * * *", []time.Time{time.Date(2026, 1, 10, 17, 0, 0, 0, time.UTC)}},
		{"@hourly", []time.Time{from.Add(time.Hour), from.Add(2 * time.Hour)}},
		{"@every 30s", []time.Time{from.Add(30 * time.Second), from.Add(time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.schedule, func(t *testing.T) {
			s, err := Parser.Parse(tt.schedule)
			if err != nil {
				t.Fatal(err)
			}
			at := from
			for i, want := range tt.want {
				at = s.Next(at)
				if !at.Equal(want) {
					t.Fatalf("run %d at %s, want %s", i+1, at.UTC(), want)
				}
			}
		})
	}
	for _, bad := range []string{"0 3 * *", "0 0 3 * * * *", "61 * * * *", "0 25 * * *", "CRON_TZ=Nowhere/Atlantis 0 3 * * *", "@fortnightly", "every 5m"} {
		if _, err := Parser.Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

const stepsYAML = `
steps:
  - {name: a, worker: w1, container: {image: alpine:3}, script: {inline: 'true'}}
`

func TestLoadRunbooks(t *testing.T) {
	cfg := &config.Config{Workers: map[string]config.Worker{"w1": {Host: "h"}}}
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"nightly.yaml": "schedule: 'CRON_TZ=Europe/Berlin 0 3 * * *'" + stepsYAML,
		"hourly.yml":   "name: every-hour\nschedule: '@hourly'" + stepsYAML,
		"manual.yaml":  stepsYAML,
		"notes.txt":    "not a runbook",
		"seconds.yaml": "schedule: '*/10 * * * * *'" + stepsYAML,
	})
	rbs, err := LoadRunbooks(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rb := range rbs {
		names = append(names, rb.Name)
	}
	if got := strings.Join(names, ","); got != "every-hour,nightly,seconds" {
		t.Errorf("runbooks %s; want the scheduled ones, by file name", got)
	}

	tests := []struct{ name, file, text, want string }{
		{"a bad schedule names the file", "bad.yaml", "schedule: '0 3 * *'" + stepsYAML, `bad.yaml: schedule "0 3 * *": `},
		{"an unknown zone", "tz.yaml", "schedule: 'CRON_TZ=Nowhere/Atlantis 0 3 * * *'" + stepsYAML, "Nowhere/Atlantis"},
		{"an invalid runbook", "invalid.yaml", "schedule: '@hourly'\nsteps: []\n", "invalid.yaml: no steps"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{tt.file: tt.text})
			if _, err := LoadRunbooks(dir, cfg); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	empty := t.TempDir()
	writeFiles(t, empty, map[string]string{"manual.yaml": stepsYAML})
	if _, err := LoadRunbooks(empty, cfg); err == nil || err.Error() != "no runbook with a schedule: in "+empty {
		t.Errorf("no scheduled runbook: %v", err)
	}
}
