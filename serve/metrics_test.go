package serve

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// metricsText is m in Prometheus' text format.
func metricsText(t *testing.T, m *Metrics) string {
	t.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

// samples maps a family's label sets (name=value,... sorted) to values:
// a counter's or gauge's value, a histogram's sample count.
func samples(f *dto.MetricFamily) map[string]float64 {
	got := map[string]float64{}
	for _, m := range f.GetMetric() {
		var labels []string
		for _, l := range m.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(labels)
		got[strings.Join(labels, ",")] = m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return got
}

// TestMetricsSeed: after a restart the last status and last success come
// from the history, so an alert on them does not fire or clear by itself.
func TestMetricsSeed(t *testing.T) {
	m := NewMetrics()
	ok := time.Unix(1_800_000_000, 0)
	m.Seed(map[string]RunbookStatus{
		"nightly": {LastStatus: StatusFailed, LastStart: ok.Add(time.Hour), LastSuccess: ok},
		"new":     {LastStatus: StatusInterrupted},
	})
	text := metricsText(t, m)
	for _, line := range []string{
		`cuttle_runbook_last_success_timestamp_seconds{runbook="nightly"} 1.8e+09`,
		`cuttle_runbook_last_run_status{runbook="nightly",status="failed"} 1`,
		`cuttle_runbook_last_run_status{runbook="nightly",status="succeeded"} 0`,
		`cuttle_runbook_last_run_status{runbook="new",status="interrupted"} 1`,
	} {
		if !strings.Contains(text, line+"\n") {
			t.Errorf("metrics lack %s:\n%s", line, text)
		}
	}
	if strings.Contains(text, `last_success_timestamp_seconds{runbook="new"}`) {
		t.Errorf("a runbook that never succeeded has a last success:\n%s", text)
	}
}

// TestWorkersChecked: the periodic workers check sets each worker's
// health gauge, at start and on each period.
func TestWorkersChecked(t *testing.T) {
	checked := make(chan struct{})
	n := 0
	s, ctx, _ := testServer(t, nil)
	s.CheckEvery = time.Millisecond
	s.CheckWorkers = func(context.Context) map[string]bool {
		n++
		if n == 2 {
			close(checked)
		}
		return map[string]bool{"w1": true, "w2": n == 1}
	}
	s.Start(ctx)
	<-checked
	s.Stop()
	m := metricsText(t, s.Metrics)
	for _, line := range []string{`cuttle_worker_healthy{worker="w1"} 1`, `cuttle_worker_healthy{worker="w2"} 0`} {
		if !strings.Contains(m, line+"\n") {
			t.Errorf("metrics lack %s:\n%s", line, m)
		}
	}
}
