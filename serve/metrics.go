package serve

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Metrics counts runs for /metrics, in Prometheus' text format.
type Metrics struct {
	mu           sync.Mutex
	runs         map[[2]string]int // runbook, status
	skipped      map[string]int
	durationSum  map[string]float64
	durationN    map[string]int
	stepsWorkers map[[2]string]int // worker, status
}

// NewMetrics returns empty counters.
func NewMetrics() *Metrics {
	return &Metrics{runs: map[[2]string]int{}, skipped: map[string]int{}, durationSum: map[string]float64{},
		durationN: map[string]int{}, stepsWorkers: map[[2]string]int{}}
}

// Observe records a finished run.
func (m *Metrics) Observe(r Run) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs[[2]string{r.Runbook, r.Status}]++
	m.durationSum[r.Runbook] += r.Duration.Seconds()
	m.durationN[r.Runbook]++
	for _, s := range r.Steps {
		if s.Skipped {
			continue
		}
		status := "succeeded"
		if s.ExitCode != 0 || s.Error != "" {
			status = "failed"
		}
		m.stepsWorkers[[2]string{s.Worker, status}]++
	}
}

// Skip records a run not started because the previous one still ran.
func (m *Metrics) Skip(runbook string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.skipped[runbook]++
}

func label(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

// Write prints the metrics.
func (m *Metrics) Write(w io.Writer, started time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(w, "# HELP cuttle_runs_total Finished runbook runs by status.\n# TYPE cuttle_runs_total counter\n")
	for _, k := range sortedPairs(m.runs) {
		fmt.Fprintf(w, "cuttle_runs_total{runbook=\"%s\",status=\"%s\"} %d\n", label(k[0]), label(k[1]), m.runs[k])
	}
	fmt.Fprintf(w, "# HELP cuttle_runs_skipped_total Scheduled runs skipped because the previous run was still going.\n# TYPE cuttle_runs_skipped_total counter\n")
	for _, rb := range sortedKeys(m.skipped) {
		fmt.Fprintf(w, "cuttle_runs_skipped_total{runbook=\"%s\"} %d\n", label(rb), m.skipped[rb])
	}
	fmt.Fprintf(w, "# HELP cuttle_run_duration_seconds Duration of finished runs.\n# TYPE cuttle_run_duration_seconds summary\n")
	for _, rb := range sortedKeys(m.durationN) {
		fmt.Fprintf(w, "cuttle_run_duration_seconds_sum{runbook=\"%s\"} %g\n", label(rb), m.durationSum[rb])
		fmt.Fprintf(w, "cuttle_run_duration_seconds_count{runbook=\"%s\"} %d\n", label(rb), m.durationN[rb])
	}
	fmt.Fprintf(w, "# HELP cuttle_worker_steps_total Steps run per worker by status.\n# TYPE cuttle_worker_steps_total counter\n")
	for _, k := range sortedPairs(m.stepsWorkers) {
		fmt.Fprintf(w, "cuttle_worker_steps_total{worker=\"%s\",status=\"%s\"} %d\n", label(k[0]), label(k[1]), m.stepsWorkers[k])
	}
	fmt.Fprintf(w, "# HELP cuttle_serve_start_time_seconds When this server started.\n# TYPE cuttle_serve_start_time_seconds gauge\ncuttle_serve_start_time_seconds %d\n", started.Unix())
}

func sortedKeys[V any](m map[string]V) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	sort.Strings(k)
	return k
}

func sortedPairs(m map[[2]string]int) [][2]string {
	var k [][2]string
	for x := range m {
		k = append(k, x)
	}
	sort.Slice(k, func(i, j int) bool { return k[i][0]+"\x00"+k[i][1] < k[j][0]+"\x00"+k[j][1] })
	return k
}
