//go:build linux

package remote

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestGCRemovesBundleByRenamingFirst runs gc's removal script through sh
// with rm replaced by a shim that records, each time it runs, whether the
// bundle is still at its own path: it must be gone (renamed away in one
// step) before anything deletes a file, so no step ever sees half a bundle.
func TestGCRemovesBundleByRenamingFirst(t *testing.T) {
	home := t.TempDir()
	bundle := filepath.Join(home, ".cuttle", "bundles", "0123abcd")
	if err := os.MkdirAll(filepath.Join(bundle, "helpers"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cuttle", "helpers/octopus.bash", ".complete"} {
		if err := os.WriteFile(filepath.Join(bundle, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shims, log := t.TempDir(), filepath.Join(t.TempDir(), "rm.log")
	realRm, err := exec.LookPath("rm")
	if err != nil {
		t.Fatal(err)
	}
	shim := `#!/bin/sh
if [ -e "$BUNDLE" ]; then echo "bundle present: $*" >> "$LOG"; else echo "bundle gone: $*" >> "$LOG"; fi
exec "$REAL_RM" "$@"
`
	if err := os.WriteFile(filepath.Join(shims, "rm"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", gcRemoveScript, "sh", home, "--bundles", "0123abcd")
	cmd.Env = append(os.Environ(), "PATH="+shims+":"+os.Getenv("PATH"), "BUNDLE="+bundle, "LOG="+log, "REAL_RM="+realRm)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "removed bundle 0123abcd" {
		t.Fatalf("gc script: %v\n%s", err, out)
	}
	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("rm was never run: %v", err)
	}
	for _, c := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
		if !strings.HasPrefix(c, "bundle gone: ") || strings.Contains(c, bundle+" ") || strings.HasSuffix(c, bundle) {
			t.Errorf("rm ran while the bundle was still in place, or on its own path: %s", c)
		}
	}
	left, _ := os.ReadDir(filepath.Dir(bundle))
	if len(left) != 0 {
		t.Errorf("left in bundles/: %v", left)
	}
}

// TestGCListPlantedHeartbeat: a step can make its heartbeat file a FIFO
// or a symlink; gc's listing neither blocks on it nor reads through it.
func TestGCListPlantedHeartbeat(t *testing.T) {
	home := t.TempDir()
	fifo, link := filepath.Join(home, ".cuttle/work/s-fifo"), filepath.Join(home, ".cuttle/work/s-link")
	for _, d := range []string{fifo, link} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(fifo, ".cuttle-heartbeat"), 0o644); err != nil {
		t.Skip(err)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("9999h"), 0o600)
	os.Symlink(secret, filepath.Join(link, ".cuttle-heartbeat"))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", gcListScript)
	cmd.Env = append(os.Environ(), "HOME="+home)
	// A blocked head would keep the pipe open: the whole group goes.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.Output()
	if ctx.Err() != nil {
		t.Fatal("gc's listing blocked on a FIFO planted as a heartbeat file")
	}
	if err != nil {
		t.Fatalf("listing: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "workdir s-") && strings.Contains(line, "9999h") {
			t.Errorf("gc read a heartbeat through a symlink: %q", line)
		}
	}
	if !strings.Contains(string(out), "workdir s-fifo ") || !strings.Contains(string(out), "workdir s-link ") {
		t.Errorf("listing lacks the work directories:\n%s", out)
	}
}

// TestGCPackages: gc's listing names each cached package with the time
// it was last used, and removal takes a package out of the cache (by a
// rename first, then deletion), leaving the others.
func TestGCPackages(t *testing.T) {
	home := t.TempDir()
	cache := filepath.Join(home, ".cuttle/packages")
	for _, sha := range []string{"aaaa", "bbbb"} {
		if err := os.MkdirAll(filepath.Join(cache, sha), 0o700); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(cache, sha, "package"), []byte(sha), 0o600)
	}
	old := time.Now().Add(-48 * time.Hour)
	os.Chtimes(filepath.Join(cache, "aaaa"), old, old)
	cmd := exec.Command("sh", "-c", gcListScript)
	cmd.Env = append(os.Environ(), "HOME="+home, "PATH=/nonexistent:"+os.Getenv("PATH"))
	listing, err := cmd.Output()
	if err != nil {
		t.Fatalf("listing: %v", err)
	}
	p := PlanGC(listing, 24*time.Hour, "")
	if strings.Join(p.Packages, ",") != "aaaa" {
		t.Fatalf("packages to remove = %v, want [aaaa] (listing:\n%s)", p.Packages, listing)
	}
	out, err := exec.Command("sh", "-c", gcRemoveScript, "sh", home, "--packages", "aaaa").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "removed package aaaa" {
		t.Fatalf("remove: %v: %s", err, out)
	}
	left, _ := os.ReadDir(cache)
	if len(left) != 1 || left[0].Name() != "bbbb" {
		t.Errorf("left in the cache: %v, want only bbbb", left)
	}
}
