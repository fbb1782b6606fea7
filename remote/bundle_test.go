package remote

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
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
			out, err := exec.Command("sh", "-c", installBundleScript, "sh", d, digest, up, "cuttle").CombinedOutput()
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
	out, err := exec.Command("sh", "-c", installBundleScript, "sh", d, "abc123", up, "cuttle").CombinedOutput()
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
