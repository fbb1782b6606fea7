//go:build integration

package integration

import (
	"context"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// TestPackageAcquiredDuringPull: a step's package is acquired while its
// image is pulled, and placed for the image's non-root USER afterwards.
// The proof orders events, it times nothing: the registry (behind a
// gate) answers the pull only once the worker has asked for the package,
// and the package server answers the worker only once the pull has
// reached the registry. A step that did one after the other, either way
// round, would wait at a gate until the guard let it through, and fail
// here. The image's USER, read by the pull's own inspect, is whom
// package-place shares the files with: the script, as that user, writes
// among them.
func TestPackageAcquiredDuringPull(t *testing.T) {
	t.Parallel()
	tok := uniq(t)
	built := "cuttle-test/nonroot-pull:" + tok
	if err := testenv.DockerBuild(t.Context(), built, "FROM "+env.image+"\nUSER app\n"); err != nil {
		t.Fatal(err)
	}
	repoTag := "team/nonroot-" + tok + ":1"
	_, err := env.registry.Push(built, repoTag)
	exec.Command("docker", "rmi", built).Run()
	if err != nil {
		t.Fatal(err)
	}
	// Only a step that hangs waits this long; one that passes never does.
	guard, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	pullReached, pkgAsked := make(chan struct{}), make(chan struct{})
	var reachOnce, askOnce sync.Once
	var pullWaitedInVain, pkgWaitedInVain atomic.Bool

	gate, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Close()
	go func() {
		for {
			c, err := gate.Accept()
			if err != nil {
				return
			}
			reachOnce.Do(func() { close(pullReached) })
			go func() {
				defer c.Close()
				select {
				case <-pkgAsked:
				case <-guard.Done():
					pullWaitedInVain.Store(true)
				}
				u, err := net.Dial("tcp", env.registry.Addr)
				if err != nil {
					return
				}
				defer u.Close()
				go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, u)
			}()
		}
	}()
	ref := gate.Addr().String() + "/" + repoTag
	t.Cleanup(func() { exec.Command("docker", "rmi", ref).Run() })

	dir := t.TempDir()
	file := writePackage(t, dir, "Acme.Pull.1.0.0.tar.gz", []pkgEntry{
		{name: "bin/run.sh", body: "#!/bin/sh\necho ran as $(id -u)\n", mode: 0o750},
		{name: "config/app.json", body: "{}", mode: 0o640},
	})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-pullReached:
		case <-guard.Done():
			pkgWaitedInVain.Store(true)
		}
		askOnce.Do(func() { close(pkgAsked) })
		http.ServeFile(w, r, file)
	}))
	defer srv.Close()
	cfg := workerFeedConfig(t, dir, srv, "")

	r := runWithPassword(t, env.registry.Password, append(append(workerArgs(), registryArgs()...), "--config", cfg,
		"--image", ref, "--pull", "always", "--package", "Web="+srv.URL+"/Acme.Pull.1.0.0.tar.gz#sha256="+fileSHA(t, file),
		"--inline", `set -e; Web/bin/run.sh; echo '{"a":1}' > Web/config/app.json; cat Web/config/app.json; mkdir Web/logs; echo done`)...)
	if pullWaitedInVain.Load() || pkgWaitedInVain.Load() {
		t.Errorf("the pull waited for the package in vain: %v; the package for the pull: %v: they did not overlap", pullWaitedInVain.Load(), pkgWaitedInVain.Load())
	}
	if r.code != 0 || !strings.Contains(r.stdout, "ran as 1000") || !strings.Contains(r.stdout, `{"a":1}`) || !strings.Contains(r.stdout, "done") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if acquiredOf(t, r, "Web") != "worker" {
		t.Errorf("report %s: want the package acquired by the worker", r.report.Raw)
	}
	assertNothingLeft(t, r)
}

// TestPackageDownloadCapped: a package the worker downloads itself that
// is larger than defaults.package_max_download_mb is refused (exit 125,
// the script does not run), the error names the setting, and nothing of
// the download is left in the worker's cache.
func TestPackageDownloadCapped(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	noise := make([]byte, 3<<19) // 1.5 MiB that gzip cannot shrink
	rand.Read(noise)
	file := writePackage(t, dir, "Acme.Big.1.0.0.tar.gz", []pkgEntry{{name: "noise", body: string(noise), mode: 0o644}})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, file) }))
	defer srv.Close()
	cfg := workerFeedConfig(t, dir, srv, "defaults: {package_max_download_mb: 1}\n")
	r := runCuttle(t, append(workerArgs(), "--config", cfg, "--image", env.image, "--pull", "never",
		"--package", "Big="+srv.URL+"/Acme.Big.1.0.0.tar.gz#sha256="+fileSHA(t, file), "--inline", "echo the script ran")...)
	if r.code != 125 || strings.Contains(r.stdout, "the script ran") || !strings.Contains(r.stderr, "package_max_download_mb") {
		t.Fatalf("exit %d, want 125 naming defaults.package_max_download_mb\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	assertNothingLeft(t, r)
	assertNoCacheTemporaries(t, fileSHA(t, file))
}

// workerFeedConfig writes a cuttle.yaml into dir, starting with head,
// whose feed has the worker download from srv, trusting its certificate
// (its own CA); it returns the file's path.
func workerFeedConfig(t *testing.T, dir string, srv *httptest.Server, head string) string {
	t.Helper()
	ca := filepath.Join(dir, "ca.pem")
	cfg := filepath.Join(dir, "cuttle.yaml")
	host := strings.TrimPrefix(srv.URL, "https://")
	body := head + fmt.Sprintf("feeds:\n  files: {registry: %q, acquisition: worker, ca_file: %s}\n", host, ca)
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}
