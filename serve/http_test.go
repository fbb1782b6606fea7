package serve

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/fleet"
	"github.com/cuttle-sh/cuttle/remote"
)

func get(t *testing.T, srv *httptest.Server, path string) (*http.Response, string) {
	t.Helper()
	resp, err := srv.Client().Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// httpServer serves a started Server whose schedules do not fire during
// the test, with two runs in its history.
func httpServer(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	rbs := []*config.Runbook{
		{Name: "nightly", Schedule: "CRON_TZ=Europe/Berlin 0 3 1 1 *"},
		{Name: `<b>"odd"\name</b>`, Schedule: "0 0 1 1 *"},
	}
	s, ctx, _ := testServer(t, func(_ context.Context, rb *config.Runbook, out io.Writer) ([]fleet.StepResult, error) {
		io.WriteString(out, "log of "+rb.Name+"\n")
		phases := remote.Phases{{Name: remote.PhasePreflight, Duration: 200 * time.Millisecond}, {Name: remote.PhaseScript, Duration: 2 * time.Second}}
		return []fleet.StepResult{{Step: "probe", Worker: "w1", Result: remote.Result{Phases: phases}}}, nil
	}, rbs...)
	s.Start(ctx)
	t.Cleanup(s.Stop)
	s.runOnce(s.runCtx, rbs[0])
	s.runOnce(s.runCtx, rbs[1])
	s.Metrics.Skip(rbs[1].Name)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return s, srv
}

func TestHealthz(t *testing.T) {
	_, srv := httpServer(t)
	resp, body := get(t, srv, "/healthz")
	if resp.StatusCode != http.StatusOK || body != "ok\n" {
		t.Errorf("/healthz: %d %q", resp.StatusCode, body)
	}
}

func TestMetricsParse(t *testing.T) {
	s, srv := httpServer(t)
	resp, body := get(t, srv, "/metrics")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8") {
		t.Fatalf("/metrics: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v\n%s", err, body)
	}
	odd := `<b>"odd"\name</b>`
	lastOK := map[string]float64{}
	for _, r := range recent(t, s, 10) {
		lastOK[r.Runbook] = float64(r.Start.Unix())
	}
	want := map[string]struct {
		typ     dto.MetricType
		samples map[string]float64 // labels (name=value,...) -> value, or a histogram's count
	}{
		"cuttle_runs_total": {dto.MetricType_COUNTER, map[string]float64{
			"runbook=nightly,status=succeeded": 1, "runbook=" + odd + ",status=succeeded": 1}},
		"cuttle_runs_skipped_total":       {dto.MetricType_COUNTER, map[string]float64{"runbook=" + odd: 1}},
		"cuttle_worker_steps_total":       {dto.MetricType_COUNTER, map[string]float64{"status=succeeded,worker=w1": 2}},
		"cuttle_serve_start_time_seconds": {dto.MetricType_GAUGE, map[string]float64{"": float64(s.started.Unix())}},
		"cuttle_runs_running":             {dto.MetricType_GAUGE, map[string]float64{"": 0}},
		"cuttle_run_duration_seconds": {dto.MetricType_HISTOGRAM, map[string]float64{
			"runbook=nightly": 1, "runbook=" + odd: 1}},
		"cuttle_step_duration_seconds":       {dto.MetricType_HISTOGRAM, map[string]float64{"status=succeeded,worker=w1": 2}},
		"cuttle_step_phase_duration_seconds": {dto.MetricType_HISTOGRAM, map[string]float64{"phase=preflight": 2, "phase=script": 2}},
		"cuttle_runbook_last_success_timestamp_seconds": {dto.MetricType_GAUGE, map[string]float64{
			"runbook=nightly": lastOK["nightly"], "runbook=" + odd: lastOK[odd]}},
		"cuttle_runbook_last_run_status": {dto.MetricType_GAUGE, map[string]float64{
			"runbook=nightly,status=succeeded": 1, "runbook=nightly,status=failed": 0, "runbook=nightly,status=interrupted": 0,
			"runbook=" + odd + ",status=succeeded": 1, "runbook=" + odd + ",status=failed": 0, "runbook=" + odd + ",status=interrupted": 0}},
	}
	for name, w := range want {
		f := families[name]
		if f == nil {
			t.Errorf("no family %s", name)
			continue
		}
		if f.GetType() != w.typ || f.GetHelp() == "" {
			t.Errorf("%s: type %v, help %q", name, f.GetType(), f.GetHelp())
		}
		if diff := cmp.Diff(w.samples, samples(f)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	if len(lastOK) != 2 {
		t.Errorf("runs recorded for %v", lastOK)
	}
	// The standard collectors.
	for _, name := range []string{"go_goroutines", "process_start_time_seconds"} {
		if families[name] == nil {
			t.Errorf("no family %s", name)
		}
	}
}

func TestIndexPage(t *testing.T) {
	s, srv := httpServer(t)
	resp, body := get(t, srv, "/")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("/: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sched, _ := Parser.Parse("CRON_TZ=Europe/Berlin 0 3 1 1 *")
	next := sched.Next(time.Now()).Format(time.RFC3339)
	for _, want := range []string{
		"<td>nightly</td><td>custom <code>CRON_TZ=Europe/Berlin 0 3 1 1 *</code></td><td>" + next + `</td><td class="succeeded">succeeded</td><td>`,
		`<form method="post" action="/runbooks/nightly/run"><button>Run now</button></form>`,
		"<p>No run is going.</p>",
		// Names are escaped.
		"<td>&lt;b&gt;&#34;odd&#34;\\name&lt;/b&gt;</td>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<b>") {
		t.Errorf("a runbook name reached the page unescaped:\n%s", body)
	}
	for _, r := range recent(t, s, 10) {
		if !strings.Contains(body, `<td><a href="/runs/`+r.ID+`">`+r.ID+`</a></td>`) || !strings.Contains(body, `<td class="succeeded">succeeded</td></tr>`) {
			t.Errorf("run %s is not listed:\n%s", r.ID, body)
		}
	}
	if resp, _ := get(t, srv, "/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/nope: %d", resp.StatusCode)
	}
}

func TestRunLog(t *testing.T) {
	s, srv := httpServer(t)
	r := recent(t, s, 1)[0]
	resp, body := get(t, srv, "/runs/"+r.ID+"/log")
	if resp.StatusCode != http.StatusOK || body != "log of "+r.Runbook+"\n" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("log of %s: %d %q %s", r.ID, resp.StatusCode, body, resp.Header.Get("Content-Type"))
	}
	// Only logs of recorded runs are served.
	os.WriteFile(s.Store.LogPath("stray"), []byte("not a run"), 0o600)
	for _, id := range []string{"stray", "nosuch", "..%2Fruns.jsonl", "..%2F..%2Fetc%2Fpasswd"} {
		if resp, body := get(t, srv, "/runs/"+id+"/log"); resp.StatusCode != http.StatusNotFound {
			t.Errorf("/runs/%s/log: %d %q", id, resp.StatusCode, body)
		}
	}
}

func TestListen(t *testing.T) {
	ln, err := Listen(t.Context(), "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	// Beyond loopback only with a token.
	if _, err := Listen(t.Context(), "0.0.0.0:0", false); err == nil || !strings.Contains(err.Error(), "not a loopback address: give a token (--token-file FILE or $CUTTLE_SERVE_TOKEN)") {
		t.Errorf("0.0.0.0 without a token: %v", err)
	}
	ln, err = Listen(t.Context(), "0.0.0.0:0", true)
	if err != nil {
		t.Fatalf("0.0.0.0 with a token: %v", err)
	}
	ln.Close()
	if _, err := Listen(t.Context(), "127.0.0.1:notaport", false); err == nil || !strings.HasPrefix(err.Error(), "--listen 127.0.0.1:notaport: ") {
		t.Errorf("a bad address: %v", err)
	}
}
