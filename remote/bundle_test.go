package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/transport"
)

// TestInstallBundleRace runs the install script from many processes at
// once, as concurrent steps of one or several controllers do, while a
// reader watches the bundle: once complete, its runner never disappears,
// and every installer succeeds leaving one flat copy and no temporaries.
func TestInstallBundleRace(t *testing.T) {
	if _, err := exec.LookPath("mv"); err != nil {
		t.Skip("no mv")
	}
	d := t.TempDir()
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", d).Run() }) // bundles are read-only
	const digest = "abc123"
	const installers = 24
	stop := make(chan struct{})
	var gone atomic.Int64
	var seen atomic.Bool
	var readerDone sync.WaitGroup
	readerDone.Add(1)
	go func() {
		defer readerDone.Done()
		runner := filepath.Join(d, digest, "cuttle")
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := os.Stat(runner); err == nil {
				seen.Store(true)
			} else if seen.Load() {
				gone.Add(1)
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, installers)
	for i := range installers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			up := filepath.Join(d, fmt.Sprintf(".upload-%d-cuttle", i))
			if err := os.WriteFile(up, []byte("runner"), 0o644); err != nil {
				errs <- err
				return
			}
			out, err := exec.Command("sh", "-c", installBundleScript, "sh", d, digest, "", up, "cuttle").CombinedOutput()
			if err != nil {
				errs <- fmt.Errorf("installer %d: %v: %s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(stop)
	readerDone.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := gone.Load(); n > 0 {
		t.Errorf("the complete bundle's runner vanished %d times while others installed", n)
	}
	entries, err := os.ReadDir(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != digest {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("bundles dir holds %v, want only %s", names, digest)
	}
	inside, _ := os.ReadDir(filepath.Join(d, digest))
	var names []string
	for _, e := range inside {
		names = append(names, e.Name())
	}
	if len(names) != 2 || names[0] != ".complete" || names[1] != "cuttle" {
		t.Errorf("bundle holds %v, want [.complete cuttle]", names)
	}
}

// TestInstallBundleLeftoverInTheWay: an incomplete directory at the
// bundle's name is neither used nor removed; the install names it and the
// fix, and leaves no temporary behind.
func TestInstallBundleLeftoverInTheWay(t *testing.T) {
	d := t.TempDir()
	leftover := filepath.Join(d, "abc123")
	if err := os.MkdirAll(filepath.Join(leftover, "junk"), 0o755); err != nil {
		t.Fatal(err)
	}
	up := filepath.Join(d, ".upload-cuttle")
	if err := os.WriteFile(up, []byte("runner"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sh", "-c", installBundleScript, "sh", d, "abc123", "", up, "cuttle").CombinedOutput()
	if err == nil {
		t.Fatalf("install succeeded over an incomplete directory: %s", out)
	}
	if want := "rm -rf " + leftover; !strings.Contains(string(out), want) {
		t.Errorf("error %q does not give the fix %q", out, want)
	}
	if _, err := os.Stat(filepath.Join(leftover, "junk")); err != nil {
		t.Errorf("the leftover was touched: %v", err)
	}
	entries, _ := os.ReadDir(d)
	if len(entries) != 1 {
		t.Errorf("bundles dir holds %d entries, want only the leftover", len(entries))
	}
}

// countingShell counts uploads; each takes a moment, so concurrent steps
// overlap.
type countingShell struct {
	uploads atomic.Int64
	fail    atomic.Bool
}

func (c *countingShell) Run(context.Context, *transport.Cmd) error { return nil }
func (c *countingShell) Upload(_ context.Context, _ string, r io.Reader, _ fs.FileMode) error {
	io.Copy(io.Discard, r)
	c.uploads.Add(1)
	time.Sleep(20 * time.Millisecond)
	if c.fail.Load() {
		return errors.New("link lost")
	}
	return nil
}
func (c *countingShell) Download(context.Context, string, io.Writer) (int64, string, error) {
	return 0, "", errors.New("not used")
}
func (c *countingShell) RealPath(_ context.Context, p string) (string, error) { return p, nil }
func (c *countingShell) Lstat(context.Context, string) (fs.FileInfo, error) {
	return nil, errors.New("not used")
}
func (c *countingShell) String() string { return "deploy@counting:22" }

// TestConcurrentStepsShareOneBundleUpload: ten steps of one process that
// all find the bundle missing on the same worker send it once.
func TestConcurrentStepsShareOneBundleUpload(t *testing.T) {
	runner := filepath.Join(t.TempDir(), "cuttle")
	os.WriteFile(runner, []byte("runner"), 0o755)
	b := bundle.Bundle{Digest: strings.Repeat("b", 64), RunnerPath: runner}
	perUpload := int64(1 + len(bundle.HelperFiles()))
	sh := &countingShell{}
	c := NewController()
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.ensureBundle(t.Context(), sh, b, Facts{Home: "/h", Ticket: "T"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := sh.uploads.Load(); got != perUpload {
		t.Errorf("%d files sent, want %d (one bundle)", got, perUpload)
	}
	// Nothing in flight any more: a later step that finds the bundle gone
	// sends it again.
	if _, err := c.ensureBundle(t.Context(), sh, b, Facts{Home: "/h", Ticket: "T"}); err != nil {
		t.Fatal(err)
	}
	if got := sh.uploads.Load(); got != 2*perUpload {
		t.Errorf("%d files sent after a later step, want %d", got, 2*perUpload)
	}
	// A failed shared upload: each waiting step tries on its own.
	sh.fail.Store(true)
	var failed atomic.Int64
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.ensureBundle(t.Context(), sh, b, Facts{Home: "/h", Ticket: "T"}); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 3 {
		t.Errorf("%d of 3 steps failed on a broken link", failed.Load())
	}
}
