package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// report gathers the table and how each row was measured, and writes
// the whole of RESULTS.md: nothing in that file is edited by hand.
type report struct {
	started time.Time
	load    string // /proc/loadavg at the start
	commit  string // what was built: read before the run, as the tree may change during it
	args    []string
	rows    []row
	setup   []string
}

func newReport(args []string) *report {
	return &report{started: time.Now().UTC(), load: loadAvg(), commit: commit(), args: args}
}

// add records a row and prints it at once, so a long run shows progress.
func (r *report) add(x row) {
	r.rows = append(r.rows, x)
	fmt.Println(x.markdown())
}

// method records how a scenario was measured, for the notes under the table.
func (r *report) method(format string, a ...any) {
	r.setup = append(r.setup, fmt.Sprintf(format, a...))
}

func (r *report) failed() bool {
	for _, x := range r.rows {
		if x.err != nil {
			return true
		}
	}
	return false
}

func (r *report) markdown() string {
	var b strings.Builder
	b.WriteString("# cuttle benchmarks\n\n")
	b.WriteString("Written whole by `make bench` (`" + strings.Join(r.args, " ") + "`); the next run overwrites it. " +
		"What the figures mean, and what was tried, is in [NOTES.md](NOTES.md).\n\n")
	fmt.Fprintf(&b, "- When: %s to %s UTC\n", r.started.Format("2006-01-02 15:04"), time.Now().UTC().Format("15:04"))
	fmt.Fprintf(&b, "- Machine: %s, %d cores (`nproc`), Linux %s\n", cpuModel(), runtime.NumCPU(), firstLine(readFile("/proc/sys/kernel/osrelease")))
	fmt.Fprintf(&b, "- Load: the machine is shared with other agents' builds and tests while this runs, so figures move between runs; "+
		"load average (1, 5, 15 min) %s at the start, %s at the end\n", r.load, loadAvg())
	fmt.Fprintf(&b, "- Commit: %s; %s\n", r.commit, runtime.Version())
	fmt.Fprintf(&b, "- Peers: %s; %s; %s\n", version("ssh", "-V"), "Docker "+version("docker", "version", "--format", "{{.Server.Version}}"), version("ansible", "--version"))
	b.WriteString("\nEvery row alternates cuttle and its peer in rounds (a b, b a, ...) in the same run; the ratio column is the median of the per-round ratios, below 1 when cuttle was faster. " +
		"The workers are `sshd -i` processes on loopback, all sharing this machine's one Docker engine.\n\n")
	b.WriteString(tableHead + "\n")
	for _, x := range r.rows {
		b.WriteString(x.markdown() + "\n")
	}
	b.WriteString("\n## How each row is measured\n\n")
	for _, s := range r.setup {
		b.WriteString("- " + s + "\n")
	}
	return b.String()
}

// write replaces path with the report (a temporary file renamed over it).
func (r *report) write(path string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(r.markdown()), 0o644); err != nil {
		return fmt.Errorf("results %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("results %s: %w", path, err)
	}
	return nil
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(l)
}

func loadAvg() string {
	f := strings.Fields(readFile("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

func cpuModel() string {
	for _, l := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// commit names the checked-out commit, and says when the tree differs
// from it (RESULTS.md itself aside, which every run rewrites).
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown (not a git checkout)"
	}
	c := strings.TrimSpace(string(out))
	dirty, _ := exec.Command("git", "status", "--porcelain", "--", ".", ":!"+filepath.Join("bench", "RESULTS.md")).Output()
	if len(strings.TrimSpace(string(dirty))) > 0 {
		c += " with uncommitted changes"
	}
	return c
}

// version is the first line a program prints about its version (OpenSSH
// prints it on stderr), or says it is missing.
func version(name string, args ...string) string {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return name + " not found"
	}
	return firstLine(string(out))
}
