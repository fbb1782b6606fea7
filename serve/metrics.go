package serve

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cuttle-sh/cuttle/remote"
)

// Metrics are serve's Prometheus metrics, in a registry of their own
// (with the Go and process collectors) served on /metrics.
type Metrics struct {
	// Registry holds every metric below.
	Registry *prometheus.Registry

	runs         *prometheus.CounterVec   // runbook, status
	skipped      *prometheus.CounterVec   // runbook
	runDuration  *prometheus.HistogramVec // runbook
	steps        *prometheus.CounterVec   // worker, status
	stepDuration *prometheus.HistogramVec // worker, status
	phases       *prometheus.HistogramVec // phase
	lastStatus   *prometheus.GaugeVec     // runbook, status
	lastSuccess  *prometheus.GaugeVec     // runbook
	running      prometheus.Gauge
	workerUp     *prometheus.GaugeVec // worker
	started      prometheus.Gauge
}

// durationBuckets span a quick probe to a long deployment, in seconds.
var durationBuckets = []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200}

// phaseBuckets span a cached preflight to a long pull or script.
var phaseBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800}

var finishedStatuses = []string{StatusSucceeded, StatusFailed, StatusInterrupted}

// NewMetrics returns the metrics, registered.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cuttle_runs_total",
			Help: "Finished runbook runs by status."}, []string{"runbook", "status"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cuttle_runs_skipped_total",
			Help: "Scheduled runs skipped because the previous run of the runbook was still going."}, []string{"runbook"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cuttle_run_duration_seconds",
			Help: "Duration of finished runs.", Buckets: durationBuckets}, []string{"runbook"}),
		steps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "cuttle_worker_steps_total",
			Help: "Steps run per worker by status."}, []string{"worker", "status"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cuttle_step_duration_seconds",
			Help: "Duration of steps per worker, as the worker measured them.", Buckets: durationBuckets}, []string{"worker", "status"}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "cuttle_step_phase_duration_seconds",
			Help:    "How long each phase of a step took (connect, preflight, bundle, image, packages, start, script, output, reattach, artifacts, cleanup).",
			Buckets: phaseBuckets}, []string{"phase"}),
		lastStatus: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cuttle_runbook_last_run_status",
			Help: "1 for the status of the runbook's last finished run, 0 for the other statuses."}, []string{"runbook", "status"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cuttle_runbook_last_success_timestamp_seconds",
			Help: "When the runbook's last successful run started, in Unix seconds."}, []string{"runbook"}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cuttle_runs_running", Help: "Runs in progress."}),
		workerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "cuttle_worker_healthy",
			Help: "1 if the last periodic workers check (--check-workers-every) found the worker healthy, else 0."}, []string{"worker"}),
		started: prometheus.NewGauge(prometheus.GaugeOpts{Name: "cuttle_serve_start_time_seconds", Help: "When this server started, in Unix seconds."}),
	}
	m.Registry.MustRegister(m.runs, m.skipped, m.runDuration, m.steps, m.stepDuration, m.phases, m.lastStatus, m.lastSuccess, m.running, m.workerUp, m.started,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the metrics in the format the scraper asks for.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Started records when the server started.
func (m *Metrics) Started(t time.Time) { m.started.Set(float64(t.Unix())) }

// Seed sets each runbook's last status and last success from the
// history, so that a restart does not reset what alerts watch.
func (m *Metrics) Seed(rbs map[string]RunbookStatus) {
	for name, st := range rbs {
		m.setLast(name, st.LastStatus)
		if !st.LastSuccess.IsZero() {
			m.lastSuccess.WithLabelValues(name).Set(float64(st.LastSuccess.Unix()))
		}
	}
}

func (m *Metrics) setLast(runbook, status string) {
	for _, s := range finishedStatuses {
		v := 0.0
		if s == status {
			v = 1
		}
		m.lastStatus.WithLabelValues(runbook, s).Set(v)
	}
}

// Begin counts a run in progress; Observe counts it out.
func (m *Metrics) Begin() { m.running.Inc() }

// Observe records a finished run.
func (m *Metrics) Observe(r Run) {
	m.running.Dec()
	m.runs.WithLabelValues(r.Runbook, r.Status).Inc()
	m.runDuration.WithLabelValues(r.Runbook).Observe(r.Duration.Seconds())
	m.setLast(r.Runbook, r.Status)
	if r.Status == StatusSucceeded {
		m.lastSuccess.WithLabelValues(r.Runbook).Set(float64(r.Start.Unix()))
	}
	for _, s := range r.Steps {
		if s.Skipped {
			continue
		}
		status := StatusSucceeded
		if s.ExitCode != 0 || s.Error != "" {
			status = StatusFailed
		}
		m.steps.WithLabelValues(s.Worker, status).Inc()
		m.stepDuration.WithLabelValues(s.Worker, status).Observe(s.Duration.Seconds())
	}
}

// ObservePhases records how long each phase of a step took.
func (m *Metrics) ObservePhases(phases []remote.Phase) {
	for _, p := range phases {
		m.phases.WithLabelValues(p.Name).Observe(p.Duration.Seconds())
	}
}

// Skip records a run not started because the previous one still ran.
func (m *Metrics) Skip(runbook string) { m.skipped.WithLabelValues(runbook).Inc() }

// Workers records a workers check: per worker, whether it is healthy.
func (m *Metrics) Workers(healthy map[string]bool) {
	for w, ok := range healthy {
		v := 0.0
		if ok {
			v = 1
		}
		m.workerUp.WithLabelValues(w).Set(v)
	}
}
