package remote

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cuttle-sh/cuttle/transport"
)

// gcListScript lists what cuttle may have left on a worker, one item a
// line: "container ID STATE STEP STARTED", "workdir NAME MTIME",
// "bundle NAME MTIME", "temp PATH MTIME", "build REF CREATED-UNIX".
const gcListScript = `set -u
echo "now $(date +%s)"
docker ps -a --filter label=io.cuttle.step --filter "label=io.cuttle.home=$HOME" --format 'container {{.ID}} {{.State}} {{.Label "io.cuttle.step"}} {{.Label "io.cuttle.started"}}' 2>/dev/null
for d in "$HOME"/.cuttle/work/*; do [ -e "$d" ] && echo "workdir ${d##*/} $(stat -c %Y "$d") $(stat -c %Y "$d/.cuttle-heartbeat" 2>/dev/null || echo 0) $(head -c 32 "$d/.cuttle-heartbeat" 2>/dev/null | tr -cd '0-9a-z.')"; done
for f in "$HOME"/.cuttle/runs/*.json; do [ -e "$f" ] && { r=${f##*/}; echo "record ${r%.json} $(stat -c %Y "$f")"; }; done
for d in "$HOME"/.cuttle/bundles/*; do [ -e "$d" ] && echo "bundle ${d##*/} $(stat -c %Y "$d")"; done
for d in "$HOME"/.cuttle/bundles/.tmp-* "$HOME"/.cuttle/bundles/.upload-* "$HOME"/.cuttle/bundles/..upload-*; do [ -e "$d" ] && echo "temp $d $(stat -c %Y "$d")"; done
docker image ls --filter 'reference=cuttle-build/*' --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | while read -r ref; do
  echo "build $ref $(date -d "$(docker image inspect --format '{{.Created}}' "$ref")" +%s 2>/dev/null || echo 0)"
done
`

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
	now, items, running := parseGCListing(listing)
	markBeating(items, now, running)
	g := gcPlanner{now: now, cut: now.Add(-olderThan), running: running, keepDigest: keepDigest}
	for _, f := range items {
		g.add(f)
	}
	return g.p
}

// parseGCListing splits gcListScript's output into its items, the
// worker's clock and the steps with a running container.
func parseGCListing(listing []byte) (now time.Time, items [][]string, running map[string]bool) {
	now = time.Now()
	running = map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(listing))
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
		items = append(items, f)
	}
	return now, items, running
}

// markBeating adds to running the steps whose controller beat within
// their reattach window: such a step is in progress, even before its
// container exists (uploading, pulling), and may yet be reattached to:
// its worker's watchdog removes it when the window passes.
func markBeating(items [][]string, now time.Time, running map[string]bool) {
	for _, f := range items {
		if f[0] != "workdir" || len(f) < 4 {
			continue
		}
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

// gcPlanner sorts the listing's items into a GCPlan.
type gcPlanner struct {
	p          GCPlan
	now, cut   time.Time
	running    map[string]bool
	keepDigest string
}

// old reports whether the unix time s is not after the cut-off.
func (g *gcPlanner) old(s string) bool {
	n, _ := strconv.ParseInt(s, 10, 64)
	return !time.Unix(n, 0).After(g.cut)
}

func (g *gcPlanner) add(f []string) {
	p := &g.p
	switch {
	case f[0] == "container" && len(f) >= 4:
		g.container(f)
	case f[0] == "workdir" && len(f) >= 3:
		switch {
		case g.running[f[1]]:
			p.Kept = append(p.Kept, "work directory "+f[1]+": its step is running")
		case !g.old(f[2]):
			p.Kept = append(p.Kept, "work directory "+f[1]+": younger than the cut-off")
		default:
			p.WorkDirs = append(p.WorkDirs, f[1])
		}
	case f[0] == "record" && len(f) >= 3:
		if !g.running[f[1]] && g.old(f[2]) {
			p.Records = append(p.Records, f[1])
		}
	case f[0] == "bundle" && len(f) >= 3:
		if f[1] != g.keepDigest && g.old(f[2]) {
			p.Bundles = append(p.Bundles, f[1])
		}
	case f[0] == "temp" && len(f) >= 3:
		// Dead uploads go after an hour even under a longer cut-off.
		n, _ := strconv.ParseInt(f[2], 10, 64)
		if !time.Unix(n, 0).After(later(g.cut, g.now.Add(-time.Hour))) {
			p.Temps = append(p.Temps, f[1])
		}
	case f[0] == "build" && len(f) >= 3:
		if g.old(f[2]) {
			p.Builds = append(p.Builds, f[1])
		}
	}
}

// container sorts a "container ID STATE STEP STARTED" item.
func (g *gcPlanner) container(f []string) {
	p := &g.p
	started := time.Time{}
	if len(f) >= 5 {
		started, _ = time.Parse(time.RFC3339, f[4])
	}
	switch {
	case f[2] == "running":
		p.Kept = append(p.Kept, "container "+f[1]+": step "+f[3]+" is running")
	case g.running[f[3]]:
		// Created but not started yet, or between restarts: its
		// controller beats, so the step is in progress.
		p.Kept = append(p.Kept, "container "+f[1]+": step "+f[3]+" is in progress")
	case started.After(g.cut):
		p.Kept = append(p.Kept, "container "+f[1]+": younger than the cut-off")
	default:
		p.Containers = append(p.Containers, f[1])
	}
}

// gcRemoveScript removes what the plan lists, reporting each failure.
// $1 home; then groups introduced by the markers --containers, --workdirs,
// --bundles, --temps, --builds, --records (records last).
const gcRemoveScript = `set -u
home=$1; shift
mode=
for a in "$@"; do
  case "$a" in --containers|--workdirs|--bundles|--temps|--builds|--records) mode=$a; continue ;; esac
  case "$mode" in
    --containers) docker rm -f "$a" >/dev/null 2>&1 && echo "removed container $a" || echo "failed container $a" ;;
    --workdirs) rm -rf "$home/.cuttle/work/$a" 2>/dev/null; [ -e "$home/.cuttle/work/$a" ] && echo "failed workdir $a" || echo "removed workdir $a" ;;
    # a bundle leaves by one rename, so no step sees half of one
    --bundles) t="$home/.cuttle/bundles/.tmp-gc-$a"; mv -T "$home/.cuttle/bundles/$a" "$t" && rm -rf "$t" && echo "removed bundle $a" || echo "failed bundle $a" ;;
    --temps) rm -rf "$a" && echo "removed temp $a" || echo "failed temp $a" ;;
    --builds) docker rmi "$a" >/dev/null 2>&1 && echo "removed image $a" || echo "failed image $a (in use?)" ;;
    --records)
      # A record goes only when what it lists is gone.
      if [ -e "$home/.cuttle/work/$a" ] || docker inspect "cuttle-$a" >/dev/null 2>&1; then echo "failed record $a (its work directory or container remains)"
      else rm -f "$home/.cuttle/runs/$a.json" && echo "removed record $a"; fi ;;
  esac
done
`

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
