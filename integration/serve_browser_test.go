//go:build integration

package integration

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browser starts Debian's chromium, headless, with a fresh profile, and
// returns a chromedp context on it. Without chromium the test is skipped,
// except under CI (CI=true), where it must run.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed (Debian package chromium): run scripts/install-deps.sh")
		}
		t.Skip("chromium is not installed (Debian package chromium)")
	}
	opts := []chromedp.ExecAllocatorOption{chromedp.ExecPath(path), chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("headless", true), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true)}
	actx, cancel := chromedp.NewExecAllocator(t.Context(), opts...)
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(cancel)
	return ctx
}

// TestServePageInBrowser drives the status page in headless Chromium:
// "Run now" starts a run that appears among the running ones; on its
// page, log lines the run writes appear while it is still running
// (server-sent events), before the page reloads at its end.
func TestServePageInBrowser(t *testing.T) {
	t.Parallel()
	ctx := browser(t)
	// Scheduled once a year: only "Run now" runs it in the test.
	cfg, rbDir := serveFiles(t, "slow", "0 0 1 1 *", `for i in $(seq 1 20); do echo "line-$i"; sleep 0.3; done`)
	cmd, base := startServe(t, "--config", cfg, "--runbooks", rbDir, "--state", t.TempDir())
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
		t.Fatal(err)
	}
	// The form's post answers with a redirect to the index page:
	// RunResponse waits for that navigation.
	if resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`form[action="/runbooks/slow/run"] button`), chromedp.NodeVisible)); err != nil || resp.Status != 200 {
		t.Fatalf("pressing Run now: %v", err)
	}
	// The run starts beside the redirect: the running table is read
	// again until it lists it (the index page does not refresh itself).
	var href string
	deadline := time.Now().Add(30 * time.Second)
	for href == "" {
		if err := chromedp.Do(ctx, chromedp.Navigate(base+"/")); err != nil {
			t.Fatal(err)
		}
		// The first table after the "Running" heading, if any.
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const a = document.querySelector('h2:nth-of-type(2) + table a[href^="/runs/"]'); return a ? a.getAttribute("href") : "" })()`))
		if err != nil {
			t.Fatal(err)
		}
		href = got
		if time.Now().After(deadline) {
			t.Fatal("the run started with Run now is not listed as running within 30s")
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(base+href)); err != nil {
		t.Fatal(err)
	}
	first, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("#log")))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, m := range regexp.MustCompile(`line-(\d+)`).FindAllStringSubmatch(first, -1) {
		seen, _ = strconv.Atoi(m[1])
	}
	if seen >= 18 {
		t.Fatalf("the run was nearly over when its page loaded: %q", first)
	}
	// Two lines past those the page loaded with, while it still says
	// running: they came over the event stream.
	want := "line-" + strconv.Itoa(seen+2) + "\n"
	live := fmt.Sprintf(`document.querySelector("h1 span").textContent === "running" && document.getElementById("log").textContent.includes(%q)`, want)
	if err := waitJS(ctx, live, 30*time.Second); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS("body")))
		t.Fatalf("%q did not appear live: %v\n%s", want, err, text)
	}
	// At its end the page reloads with the finished run.
	done := `document.querySelector("h1 span").textContent === "succeeded" && document.getElementById("log").textContent.includes("line-20")`
	if err := waitJS(ctx, done, 60*time.Second); err != nil {
		t.Fatalf("the finished run's page: %v", err)
	}
}

// waitJS evaluates expr in the page until it is true, within timeout.
// Unlike chromedp.Poll it outlives a reload of the page, which the run
// page does when the run ends.
func waitJS(ctx context.Context, expr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s is not true within %v (last error: %v)", expr, timeout, err)
		}
		time.Sleep(100 * time.Millisecond) // polling the browser, bounded by the deadline
	}
}
