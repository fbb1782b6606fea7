package serve

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHistorySurvivesRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	h, err := OpenHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Recent(10); len(got) != 0 {
		t.Fatalf("a new history has %d runs", len(got))
	}
	start := time.Date(2026, 12, 1, 19, 14, 45, 0, time.UTC)
	runs := []Run{
		{ID: "r1", Runbook: "heartbeat", Start: start, Duration: 1500 * time.Millisecond, Status: "succeeded",
			Steps: []StepRecord{{Name: "probe", Worker: "w1"}, {Name: "notify", Skipped: true}}},
		{ID: "r2", Runbook: "flaky", Start: start.Add(time.Minute), Duration: time.Second, Status: "failed",
			Steps: []StepRecord{{Name: "flaky", Worker: "w1", ExitCode: 2, Error: "boom"}}},
		{ID: "r3", Runbook: "heartbeat", Start: start.Add(2 * time.Minute), Status: "interrupted"},
	}
	for _, r := range runs {
		if err := h.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []struct {
		path string
		mode os.FileMode
	}{{filepath.Join(dir, "runs.jsonl"), 0o600}, {filepath.Join(dir, "logs"), 0o700 | os.ModeDir}} {
		if fi, err := os.Stat(p.path); err != nil || fi.Mode() != p.mode {
			t.Errorf("%s: %v, %v; want mode %v", p.path, fi.Mode(), err, p.mode)
		}
	}
	// A line cut short by a crash is skipped; the rest loads.
	f, _ := os.OpenFile(filepath.Join(dir, "runs.jsonl"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"id":"r4","runbook":"cut`)
	f.Close()

	reopened, err := OpenHistory(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []Run{runs[2], runs[1], runs[0]} // newest first
	if diff := cmp.Diff(want, reopened.Recent(10)); diff != "" {
		t.Errorf("after a restart (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want[:2], reopened.Recent(2)); diff != "" {
		t.Errorf("Recent(2) (-want +got):\n%s", diff)
	}
	if r, ok := reopened.Get("r2"); !ok || r.Status != "failed" {
		t.Errorf("Get(r2) = %+v, %v", r, ok)
	}
	if _, ok := reopened.Get("r4"); ok {
		t.Error("the cut line was loaded")
	}
	if got := reopened.LogPath("r2"); got != filepath.Join(dir, "logs", "r2.log") {
		t.Errorf("LogPath = %s", got)
	}
}

func TestOpenHistoryErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := OpenHistory(file); err == nil {
		t.Error("a state directory that is a file: no error")
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "runs.jsonl"), 0o700) // unreadable as a file
	h, err := OpenHistory(dir)
	if err == nil {
		if err := h.Append(Run{ID: "x"}); err == nil {
			t.Error("appending to a runs.jsonl that is a directory: no error")
		}
	}
}
