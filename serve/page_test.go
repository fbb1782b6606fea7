package serve

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/fleet"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/remote"
	"net/http/httptest"
)

// TestLiveRun follows a run through the page: it is listed as running,
// its log streams as server-sent events while it runs, "Cancel" ends it
// and its page then shows it interrupted; "Run now" starts one.
func TestLiveRun(t *testing.T) {
	lines, started := make(chan string), make(chan struct{}, 1)
	rb := &config.Runbook{Name: "deploy", Schedule: "0 0 1 1 *"}
	s, ctx, _ := testServer(t, func(ctx context.Context, _ *config.Runbook, out io.Writer) ([]fleet.StepResult, error) {
		started <- struct{}{}
		for {
			select {
			case l := <-lines:
				io.WriteString(out, l)
			case <-ctx.Done():
				return []fleet.StepResult{{Step: "deploy", Worker: "w1", Err: ctx.Err()}}, ctx.Err()
			}
		}
	}, rb)
	s.Start(ctx)
	t.Cleanup(s.Stop)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	// Run now.
	resp, err := srv.Client().PostForm(srv.URL+"/runbooks/deploy/run", nil)
	if err != nil || resp.StatusCode != http.StatusOK { // redirected to the page
		t.Fatalf("Run now: %v %v", resp, err)
	}
	<-started
	running := s.runningRuns()
	if len(running) != 1 {
		t.Fatalf("%d runs running", len(running))
	}
	id := running[0].run.ID
	if _, body := get(t, srv, "/"); !strings.Contains(body, `<td><a href="/runs/`+id+`">`+id+`</a></td><td>deploy</td>`) ||
		!strings.Contains(body, `action="/runs/`+id+`/cancel"><button>Cancel</button>`) {
		t.Errorf("the running run is not listed:\n%s", body)
	}
	if _, body := get(t, srv, "/runs/"+id); !strings.Contains(body, `new EventSource("/runs/`+id+`/events")`) {
		t.Errorf("the run's page does not follow its log:\n%s", body)
	}

	resp, err = srv.Client().Get(srv.URL + "/runs/" + id + "/events")
	if err != nil || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %v %v", resp, err)
	}
	defer resp.Body.Close()
	events := bufio.NewReader(resp.Body)
	next := func() string { // the next event's data
		t.Helper()
		var data string
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				t.Fatalf("events: %v", err)
			}
			if line == "\n" {
				return data
			}
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				var s string
				if json.Unmarshal([]byte(strings.TrimSpace(d)), &s) == nil {
					data += s
				} else {
					data += "END"
				}
			}
		}
	}
	for _, l := range []string{"[deploy@w1] one\n", "[deploy@w1] two\n"} {
		lines <- l
		if got := next(); got != l {
			t.Errorf("live log event %q, want %q", got, l)
		}
	}
	// Its log so far is served while it runs.
	if _, body := get(t, srv, "/runs/"+id+"/log"); body != "[deploy@w1] one\n[deploy@w1] two\n" {
		t.Errorf("log while running: %q", body)
	}

	resp2, err := srv.Client().PostForm(srv.URL+"/runs/"+id+"/cancel", nil)
	if err != nil || resp2.StatusCode != http.StatusOK {
		t.Fatalf("Cancel: %v %v", resp2, err)
	}
	for got := ""; got != "END"; got = next() {
	}
	r, err := s.Store.Get(t.Context(), id)
	if err != nil || r.Status != StatusInterrupted {
		t.Errorf("after Cancel: %+v %v", r, err)
	}
	if log, _ := s.Store.Log(t.Context(), id); !strings.Contains(string(log), "interrupted: cancelled from the page") {
		t.Errorf("the log does not say the run was cancelled from the page: %q", log)
	}
	if resp, _ := get(t, srv, "/runs/"+id+"/cancel"); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET cancel: %d", resp.StatusCode)
	}
	if resp, _ := srv.Client().PostForm(srv.URL+"/runbooks/nosuch/run", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("Run now of an unknown runbook: %d", resp.StatusCode)
	}
}

// TestRunPage: steps per worker with exit codes, output variables with
// sensitive ones masked, and artifacts.
func TestRunPage(t *testing.T) {
	masks := mask.NewSet()
	masks.Add("hunter2")
	s, _, _ := testServer(t, func(_ context.Context, rb *config.Runbook, out io.Writer) ([]fleet.StepResult, error) {
		io.WriteString(out, "<script>alert(1)</script>\n")
		return []fleet.StepResult{
			{Step: "build", Worker: "w1", Masks: masks, Result: remote.Result{Duration: 4200 * time.Millisecond,
				OutputVariables: map[string]remote.OutputVariable{"Version": {Value: "1.2.3"}, "Token": {Value: "t0k3n", Sensitive: true}, "Url": {Value: "https://ci:hunter2@x"}},
				OutputOrder:     []string{"Version", "Token", "Url"},
				Artifacts:       []remote.Artifact{{Name: "report.txt", Path: "artifacts/report.txt", Size: 12, SHA256: "abc"}}}},
			{Step: "test", Worker: "w2", Result: remote.Result{ExitCode: 3, Duration: 73 * time.Second}},
		}, nil
	})
	s.runOnce(s.runCtx, &config.Runbook{Name: "nightly"})
	id := recent(t, s, 1)[0].ID
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	_, body := get(t, srv, "/runs/"+id)
	for _, want := range []string{
		"<td>build</td><td>w1</td><td>0</td><td>4.2s</td>\n<td>Version = 1.2.3<br>Token = ********<br>Url = ********<br></td>",
		"<td>report.txt (12 bytes, sha256 abc) at artifacts/report.txt<br></td>",
		"<td>test</td><td>w2</td><td>3</td><td>1m13s</td>",
		"&lt;script&gt;alert(1)&lt;/script&gt;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the run's page lacks %s:\n%s", want, body)
		}
	}
	for _, secret := range []string{"t0k3n", "hunter2", "<script>alert"} {
		if strings.Contains(body, secret) {
			t.Errorf("the run's page shows %q:\n%s", secret, body)
		}
	}
	if resp, _ := get(t, srv, "/runs/nosuch"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("/runs/nosuch: %d", resp.StatusCode)
	}
}

func TestToken(t *testing.T) {
	s, srv := httpServer(t)
	s.Token = "s3cret-token"
	for _, path := range []string{"/", "/metrics", "/runs/" + recent(t, s, 1)[0].ID + "/log"} {
		if resp, body := get(t, srv, path); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "log of") {
			t.Errorf("%s without the token: %d", path, resp.StatusCode)
		}
	}
	if resp, _ := get(t, srv, "/healthz"); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz needs the token: %d", resp.StatusCode)
	}
	for _, tt := range []struct {
		name, auth string
		want       int
	}{
		{"right", "Bearer s3cret-token", http.StatusOK},
		{"wrong", "Bearer s3cret-tokem", http.StatusUnauthorized},
		{"prefix", "Bearer s3cret", http.StatusUnauthorized},
		{"not bearer", "Basic s3cret-token", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest("GET", srv.URL+"/", nil)
		req.Header.Set("Authorization", tt.auth)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.want)
		}
	}
	// A browser signs in once; the cookie carries the token.
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if resp, _ := c.PostForm(srv.URL+"/login", url.Values{"token": {"wrong"}}); resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Errorf("a wrong sign-in: %d %v", resp.StatusCode, resp.Cookies())
	}
	resp, err := c.PostForm(srv.URL+"/login", url.Values{"token": {"s3cret-token"}})
	if err != nil || resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 || !resp.Cookies()[0].HttpOnly {
		t.Fatalf("sign-in: %v %v", resp, err)
	}
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.AddCookie(resp.Cookies()[0])
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("with the cookie: %v %v", resp, err)
	}
}

func TestScheduleWords(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"0 3 * * *", "every day at 03:00"},
		{"CRON_TZ=Europe/Berlin 30 7 * * MON-FRI", "Monday to Friday at 07:30 (Europe/Berlin)"},
		{"0 0 9 * * 1", "every Monday at 09:00"},
		{"15 * * * *", "every hour at :15"},
		{"*/5 * * * *", "every 5 minutes"},
		{"@every 30s", "every 30s"},
		{"@hourly", "every hour"},
		{"0 3 1 * *", "on day 1 of every month at 03:00"},
		{"30 0 3 * * *", "custom"},
		{"0 3 * 2 *", "custom"},
		{"0 3,15 * * *", "custom"},
	} {
		if got := ScheduleWords(tt.in); got != tt.want {
			t.Errorf("ScheduleWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850123456 * time.Nanosecond: "850ms", 4234567890 * time.Nanosecond: "4.2s", 73061737905 * time.Nanosecond: "1m13s", 0: "0s",
	} {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}
