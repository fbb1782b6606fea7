package remote

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/transport"
)

// gcListScript lists what cuttle may have left on a worker, one item a
// line (a heartbeat file is read only when it is a regular file: the step
// writes its work directory, and a FIFO there would block the listing):
// "container ID STATE STEP STARTED", "workdir NAME MTIME HEARTBEAT
// WINDOW", "cfg NAME MTIME", "record NAME MTIME", "bundle NAME MTIME",
// "temp PATH MTIME", "build REF CREATED-UNIX", "package SHA256 LAST-USED".
const gcListScript = `set -u
echo "now $(date +%s)"
docker ps -a --filter label=io.cuttle.step --filter "label=io.cuttle.home=$HOME" --format 'container {{.ID}} {{.State}} {{.Label "io.cuttle.step"}} {{.Label "io.cuttle.started"}}' 2>/dev/null
for d in "$HOME"/.cuttle/work/*; do [ -e "$d" ] && echo "workdir ${d##*/} $(stat -c %Y "$d") $(stat -c %Y "$d/.cuttle-heartbeat" 2>/dev/null || echo 0) $(h=$d/.cuttle-heartbeat; [ -f "$h" ] && [ ! -L "$h" ] && head -c 32 "$h" 2>/dev/null | tr -cd '0-9a-z.')"; done
for d in "$HOME"/.cuttle/cfg/*; do [ -e "$d" ] && echo "cfg ${d##*/} $(stat -c %Y "$d")"; done
for f in "$HOME"/.cuttle/runs/*.json; do [ -e "$f" ] && { r=${f##*/}; echo "record ${r%.json} $(stat -c %Y "$f")"; }; done
for d in "$HOME"/.cuttle/bundles/*; do [ -e "$d" ] && echo "bundle ${d##*/} $(stat -c %Y "$d")"; done
for d in "$HOME"/.cuttle/packages/*; do [ -d "$d" ] && echo "package ${d##*/} $(stat -c %Y "$d")"; done
for d in "$HOME"/.cuttle/bundles/.tmp-* "$HOME"/.cuttle/bundles/.upload-* "$HOME"/.cuttle/bundles/..upload-* "$HOME"/.cuttle/packages/.tmp-*; do [ -e "$d" ] && echo "temp $d $(stat -c %Y "$d")"; done
docker image ls --filter 'reference=cuttle-build/*' --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | while read -r ref; do
  echo "build $ref $(date -d "$(docker image inspect --format '{{.Created}}' "$ref")" +%s 2>/dev/null || echo 0)"
done
`

// GCPlan is what gc will remove on one worker, and what it keeps.
type GCPlan struct {
	Containers []string // container IDs
	WorkDirs   []string // names under ~/.cuttle/work
	// Configs are private Docker configs (names under ~/.cuttle/cfg) that
	// a pull or build cut short left.
	Configs []string
	Bundles []string // digests under ~/.cuttle/bundles
	// Packages are cached packages (sha256 names under ~/.cuttle/packages)
	// no step has used since the cut-off.
	Packages []string
	Temps    []string // absolute paths
	Builds   []string // image references
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
	if len(f) < 3 {
		return
	}
	switch f[0] {
	case "container":
		if len(f) >= 4 {
			g.container(f)
		}
	case "workdir":
		g.workDir(f)
	case "cfg", "record":
		if !g.running[f[1]] && g.old(f[2]) {
			if f[0] == "cfg" {
				g.p.Configs = append(g.p.Configs, f[1])
			} else {
				g.p.Records = append(g.p.Records, f[1])
			}
		}
	case "bundle":
		if f[1] != g.keepDigest && g.old(f[2]) {
			g.p.Bundles = append(g.p.Bundles, f[1])
		}
	case "package":
		if g.old(f[2]) {
			g.p.Packages = append(g.p.Packages, f[1])
		} else {
			g.p.Kept = append(g.p.Kept, "package "+f[1]+": used since the cut-off")
		}
	case "temp":
		// Dead uploads go after an hour even under a longer cut-off.
		n, _ := strconv.ParseInt(f[2], 10, 64)
		if !time.Unix(n, 0).After(later(g.cut, g.now.Add(-time.Hour))) {
			g.p.Temps = append(g.p.Temps, f[1])
		}
	case "build":
		if g.old(f[2]) {
			g.p.Builds = append(g.p.Builds, f[1])
		}
	}
}

// workDir sorts a "workdir NAME MTIME ..." item.
func (g *gcPlanner) workDir(f []string) {
	switch {
	case g.running[f[1]]:
		g.p.Kept = append(g.p.Kept, "work directory "+f[1]+": its step is running")
	case !g.old(f[2]):
		g.p.Kept = append(g.p.Kept, "work directory "+f[1]+": younger than the cut-off")
	default:
		g.p.WorkDirs = append(g.p.WorkDirs, f[1])
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

// gcRemoveScript removes what the plan lists, reporting each item as
// "removed ..." or "failed ...: REASON". A work directory that rm cannot
// empty (files the step's container left as root) is reported "left
// NAME: REASON", for the same root fallback as a step's own cleanup. $1
// home; then groups introduced by the markers --containers, --workdirs,
// --configs, --bundles, --packages, --temps, --builds, --records.
const gcRemoveScript = `set -u
home=$1; shift
nl='
'
# why OUTPUT: the last line a failed command printed.
why() { r=${1%"$nl"}; r=${r##*"$nl"}; printf '%s' "${r:-no message}"; }
mode=
for a in "$@"; do
  case "$a" in --containers|--workdirs|--configs|--bundles|--packages|--temps|--builds|--records) mode=$a; continue ;; esac
  case "$mode" in
    # -v: the anonymous volumes the step created go with its container
    --containers) if out=$(docker rm -f -v "$a" 2>&1); then echo "removed container $a"; else echo "failed container $a: $(why "$out")"; fi ;;
    --workdirs) w=$home/.cuttle/work/$a; out=$(rm -rf "$w" 2>&1)
      if [ -e "$w" ]; then echo "left $a: $(why "$out")"; else echo "removed workdir $a"; fi ;;
    --configs) if out=$(rm -rf "$home/.cuttle/cfg/$a" 2>&1); then echo "removed docker config $a"; else echo "failed docker config $a: $(why "$out")"; fi ;;
    # a bundle leaves by one rename, so no step sees half of one; it is read-only
    --bundles) t="$home/.cuttle/bundles/.tmp-gc-$a"
      if out=$({ mv -T "$home/.cuttle/bundles/$a" "$t" && chmod -R u+w "$t" && rm -rf "$t"; } 2>&1); then echo "removed bundle $a"; else echo "failed bundle $a: $(why "$out")"; fi ;;
    # a cached package leaves by one rename too: a step that opened it reads on
    --packages) t="$home/.cuttle/packages/.tmp-gc-$a"
      if out=$({ mv -T "$home/.cuttle/packages/$a" "$t" && rm -rf "$t"; } 2>&1); then echo "removed package $a"; else echo "failed package $a: $(why "$out")"; fi ;;
    --temps) chmod -R u+w "$a" 2>/dev/null
      if out=$(rm -rf "$a" 2>&1); then echo "removed temp $a"; else echo "failed temp $a: $(why "$out")"; fi ;;
    --builds) if out=$(docker rmi "$a" 2>&1); then echo "removed image $a"; else echo "failed image $a: $(why "$out")"; fi ;;
    --records)
      # A record goes only when what it lists is gone.
      if [ -e "$home/.cuttle/work/$a" ]; then echo "failed record $a: its work directory remains"
      elif docker inspect "cuttle-$a" >/dev/null 2>&1; then echo "failed record $a: its container remains"
      elif out=$(rm -f "$home/.cuttle/runs/$a.json" 2>&1); then echo "removed record $a"
      else echo "failed record $a: $(why "$out")"; fi ;;
  esac
done
`

// GC lists and removes what cuttle left on a worker; it returns the lines
// "removed ..." and "failed ...: REASON" and the plan's kept items. A
// work directory holding files its vanished container left as root is
// removed as a step's own cleanup would: as root in a throwaway
// container, running b's runner (checked first, and uploaded or replaced
// when it is missing or was changed).
func GC(ctx context.Context, sh Shell, olderThan time.Duration, b bundle.Bundle) (removed, failed, kept []string, err error) {
	p, err := GCPlanOn(ctx, sh, olderThan, b.Digest)
	if err != nil {
		return nil, nil, nil, err
	}
	var home bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", `printf %s "$HOME"`}, Stdout: &home}); err != nil {
		return nil, nil, nil, err
	}
	remove := func(groups ...gcGroup) error {
		args := []string{"sh", "-c", gcRemoveScript, "sh", home.String()}
		for _, g := range groups {
			if len(g.items) > 0 {
				args = append(append(args, g.flag), g.items...)
			}
		}
		if len(args) == 5 {
			return nil
		}
		var res bytes.Buffer
		if err := sh.Run(ctx, &transport.Cmd{Args: args, Stdout: &res}); err != nil {
			return fmt.Errorf("removing: %w", err)
		}
		for _, line := range strings.Split(strings.TrimSpace(res.String()), "\n") {
			switch {
			case strings.HasPrefix(line, "removed "):
				removed = append(removed, strings.TrimPrefix(line, "removed "))
			case strings.HasPrefix(line, "failed "):
				failed = append(failed, strings.TrimPrefix(line, "failed "))
			case strings.HasPrefix(line, "left "):
				name, why, _ := strings.Cut(strings.TrimPrefix(line, "left "), ": ")
				if err := gcAsRoot(ctx, sh, home.String(), name, b); err != nil {
					failed = append(failed, "workdir "+name+": "+why+"; as root: "+err.Error())
				} else {
					removed = append(removed, "workdir "+name+" (as root: its container had left files the SSH user cannot remove)")
				}
			}
		}
		return nil
	}
	if err := remove(gcGroup{"--containers", p.Containers}, gcGroup{"--workdirs", p.WorkDirs}, gcGroup{"--configs", p.Configs},
		gcGroup{"--bundles", p.Bundles}, gcGroup{"--packages", p.Packages}, gcGroup{"--temps", p.Temps}, gcGroup{"--builds", p.Builds}); err != nil {
		return removed, failed, p.Kept, err
	}
	// Records last, once what they list is gone.
	err = remove(gcGroup{"--records", p.Records})
	return removed, failed, p.Kept, err
}

// GCPlanOn lists what cuttle left on a worker and plans what GC would
// remove there, removing nothing (gc --dry-run).
func GCPlanOn(ctx context.Context, sh Shell, olderThan time.Duration, keepDigest string) (GCPlan, error) {
	var out bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", gcListScript}, Stdout: &out}); err != nil {
		return GCPlan{}, fmt.Errorf("listing: %w", err)
	}
	return PlanGC(out.Bytes(), olderThan, keepDigest), nil
}

// Lines are the plan's items as gc --dry-run prints them: "container ID",
// "workdir NAME", ..., then "kept WHAT: WHY".
func (p GCPlan) Lines() []string {
	var out []string
	for _, g := range []struct {
		what  string
		items []string
	}{{"container", p.Containers}, {"workdir", p.WorkDirs}, {"docker config", p.Configs}, {"bundle", p.Bundles},
		{"package", p.Packages}, {"upload", p.Temps}, {"built image", p.Builds}, {"record", p.Records}} {
		for _, it := range g.items {
			out = append(out, "would remove "+g.what+" "+it)
		}
	}
	for _, k := range p.Kept {
		out = append(out, "kept "+k)
	}
	return out
}

type gcGroup struct {
	flag  string
	items []string
}

// checkBundleScript checks a bundle before gc's root fallback or attach
// runs it. $1 bundle dir, $2 sums.
const checkBundleScript = bundleCheckFunc + `bundle_check "$1" "$2" ""
echo "bundle=$bundle"
`

// gcAsRoot removes the work directory name, which holds files the SSH
// user cannot remove, with removeAsRoot: in a container of any image on
// the worker (the runner is static, so any will do) running b's runner,
// checked (and uploaded or replaced) first.
func gcAsRoot(ctx context.Context, sh Shell, home, name string, b bundle.Bundle) error {
	if b.Digest == "" {
		return fmt.Errorf("this cuttle has no runner to remove them with: set CUTTLE_RUNNER to a static linux build of cuttle")
	}
	facts := Facts{Home: home, Ticket: "gc-" + name}
	var out bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", checkBundleScript, "sh", facts.BundleDir(b.Digest), b.Sums}, Stdout: &out}); err != nil {
		return fmt.Errorf("checking the bundle: %w", err)
	}
	facts.BundleState = parseKV(out.Bytes())["bundle"]
	if err := NewController().readyBundle(ctx, sh, b, facts, nil, *zerolog.Ctx(ctx)); err != nil {
		return err
	}
	out.Reset()
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"docker", "image", "ls", "-q"}, Stdout: &out}); err != nil {
		return fmt.Errorf("docker image ls: %w", err)
	}
	image, _, _ := strings.Cut(strings.TrimSpace(out.String()), "\n")
	if image == "" {
		return fmt.Errorf("no image on the worker to run the removal in: pull any image (docker pull busybox) and run gc again")
	}
	return removeAsRoot(ctx, sh, runPlan{StepID: name, Home: home, WorkDir: home + "/.cuttle/work/" + name, BundleDir: facts.BundleDir(b.Digest), Image: image})
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
