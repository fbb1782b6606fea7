package remote

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cuttle-sh/cuttle/transport"
)

// gcListScript lists what cuttle may have left on a worker, one item a
// line: "container ID STATE STEP STARTED", "workdir NAME MTIME",
// "bundle NAME MTIME", "temp PATH MTIME", "build REF CREATED-UNIX".
//
//go:embed scripts/gc-list.sh
var gcListScript string

// GCPlan is what gc will remove on one worker, and what it keeps.
type GCPlan struct {
	Containers []string // container IDs
	WorkDirs   []string // names under ~/.cuttle/work
	Bundles    []string // digests under ~/.cuttle/bundles
	Temps      []string // absolute paths
	Builds     []string // image references
	// Records are per-run records whose step is over: removed last, once
	// what they list (work dir, container) is gone.
	Records []string
	Kept    []string // "what: why", for the report
}

// heartbeatFresh is how recently a live controller has touched its step's
// heartbeat file when the file does not say its window: it beats at least
// every 30 s.
const heartbeatFresh = 2 * time.Minute

// PlanGC decides, from the listing, what to remove: containers that are
// not running and started before the cut-off; work directories older than
// it whose step has no running container; bundles other than keepDigest
// unused since the cut-off; stale uploads; builds older than it. A running
// step's container and work directory are never removed.
func PlanGC(listing []byte, olderThan time.Duration, keepDigest string) GCPlan {
	var p GCPlan
	now := time.Now()
	sc := bufio.NewScanner(bytes.NewReader(listing))
	type item struct{ f []string }
	var items []item
	running := map[string]bool{}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		if f[0] == "now" {
			if s, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				now = time.Unix(s, 0) // the worker's clock decides ages
			}
			continue
		}
		if f[0] == "container" && len(f) >= 4 && f[2] == "running" {
			running[f[3]] = true
		}
		items = append(items, item{f})
	}
	// A step whose controller beat within its reattach window is in
	// progress, even before its container exists (uploading, pulling),
	// and may yet be reattached to: its worker's watchdog removes it when
	// the window passes.
	for _, it := range items {
		if f := it.f; f[0] == "workdir" && len(f) >= 4 {
			window := heartbeatFresh
			if len(f) >= 5 {
				if w, err := time.ParseDuration(f[4]); err == nil && w > 0 {
					window = w
				}
			}
			if hb, err := strconv.ParseInt(f[3], 10, 64); err == nil && hb > 0 && now.Sub(time.Unix(hb, 0)) < window {
				running[f[1]] = true
			}
		}
	}
	cut := now.Add(-olderThan)
	unix := func(s string) time.Time {
		n, _ := strconv.ParseInt(s, 10, 64)
		return time.Unix(n, 0)
	}
	for _, it := range items {
		f := it.f
		switch {
		case f[0] == "container" && len(f) >= 4:
			started := time.Time{}
			if len(f) >= 5 {
				started, _ = time.Parse(time.RFC3339, f[4])
			}
			switch {
			case f[2] == "running":
				p.Kept = append(p.Kept, "container "+f[1]+": step "+f[3]+" is running")
			case running[f[3]]:
				// Created but not started yet, or between restarts: its
				// controller beats, so the step is in progress.
				p.Kept = append(p.Kept, "container "+f[1]+": step "+f[3]+" is in progress")
			case started.After(cut):
				p.Kept = append(p.Kept, "container "+f[1]+": younger than the cut-off")
			default:
				p.Containers = append(p.Containers, f[1])
			}
		case f[0] == "workdir" && len(f) >= 3:
			switch {
			case running[f[1]]:
				p.Kept = append(p.Kept, "work directory "+f[1]+": its step is running")
			case unix(f[2]).After(cut):
				p.Kept = append(p.Kept, "work directory "+f[1]+": younger than the cut-off")
			default:
				p.WorkDirs = append(p.WorkDirs, f[1])
			}
		case f[0] == "record" && len(f) >= 3:
			if !running[f[1]] && !unix(f[2]).After(cut) {
				p.Records = append(p.Records, f[1])
			}
		case f[0] == "bundle" && len(f) >= 3:
			if f[1] != keepDigest && !unix(f[2]).After(cut) {
				p.Bundles = append(p.Bundles, f[1])
			}
		case f[0] == "temp" && len(f) >= 3:
			// Dead uploads go after an hour even under a longer cut-off.
			if !unix(f[2]).After(later(cut, now.Add(-time.Hour))) {
				p.Temps = append(p.Temps, f[1])
			}
		case f[0] == "build" && len(f) >= 3:
			if !unix(f[2]).After(cut) {
				p.Builds = append(p.Builds, f[1])
			}
		}
	}
	return p
}

// gcRemoveScript removes what the plan lists, reporting each failure.
// $1 home; then groups introduced by the markers --containers, --workdirs,
// --bundles, --temps, --builds, --records (records last).
//
//go:embed scripts/gc-remove.sh
var gcRemoveScript string

// GC lists and removes what cuttle left on a worker; it returns the lines
// "removed ..." and "failed ..." and the plan's kept items.
func GC(ctx context.Context, sh Shell, olderThan time.Duration, keepDigest string) (removed, failed, kept []string, err error) {
	var out bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", gcListScript}, Stdout: &out}); err != nil {
		return nil, nil, nil, fmt.Errorf("listing: %w", err)
	}
	var home bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", `printf %s "$HOME"`}, Stdout: &home}); err != nil {
		return nil, nil, nil, err
	}
	p := PlanGC(out.Bytes(), olderThan, keepDigest)
	args := []string{"sh", "-c", gcRemoveScript, "sh", home.String()}
	for _, g := range []struct {
		flag  string
		items []string
	}{{"--containers", p.Containers}, {"--workdirs", p.WorkDirs}, {"--bundles", p.Bundles}, {"--temps", p.Temps}, {"--builds", p.Builds}, {"--records", p.Records}} {
		if len(g.items) > 0 {
			args = append(append(args, g.flag), g.items...)
		}
	}
	var res bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: args, Stdout: &res}); err != nil {
		return nil, nil, p.Kept, fmt.Errorf("removing: %w", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(res.String()), "\n") {
		switch {
		case strings.HasPrefix(line, "removed "):
			removed = append(removed, strings.TrimPrefix(line, "removed "))
		case strings.HasPrefix(line, "failed "):
			failed = append(failed, strings.TrimPrefix(line, "failed "))
		}
	}
	return removed, failed, p.Kept, nil
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
