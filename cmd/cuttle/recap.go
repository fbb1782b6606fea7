package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// writeRecap prints, after a runbook, each step on each worker with its
// status, exit code and duration, as Ansible's PLAY RECAP does, and the
// totals: on stderr, so that stdout stays the scripts' output.
func writeRecap(w io.Writer, steps []stepReport) {
	if len(steps) == 0 {
		return
	}
	var counts = map[string]int{}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECAP\tWORKER\tSTATUS\tEXIT\tDURATION")
	for _, s := range steps {
		status, exit, dur := "ok", fmt.Sprint(s.ExitCode), (time.Duration(s.DurationMS) * time.Millisecond).String()
		switch {
		case s.Skipped:
			status, exit, dur = "skipped", "-", "-"
		case s.Error != "":
			status = "error"
		case s.ExitCode != 0:
			status = "failed"
		}
		counts[status]++
		worker, _, _ := strings.Cut(s.Worker, " (")
		if worker == "" {
			worker = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, worker, status, exit, dur)
	}
	tw.Flush()
	fmt.Fprintf(w, "ok=%d failed=%d error=%d skipped=%d\n", counts["ok"], counts["failed"], counts["error"], counts["skipped"])
}
