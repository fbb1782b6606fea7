//go:build linux

package agent

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/wire"
)

func placementOf(p PackageSpec) wire.PackagePlacement {
	return wire.PackagePlacement{Name: p.Name, SHA256: p.SHA256, Meta: p.Meta, Extract: p.Extract}
}

// TestPackagePlaceAfterCacheOnly: acquisition with CacheOnly fills the
// cache and places nothing (a put, then a hit); package-place then places
// the package, for another user with share, and names one the cache
// does not hold instead of failing.
func TestPackagePlaceAfterCacheOnly(t *testing.T) {
	home := t.TempDir()
	data, p := testPackage(t, home, []member{{name: "bin/run.sh", body: "echo hi\n", mode: 0o700}})
	p.CacheOnly = true
	if err := PackagePut(p, "", 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if line, _ := get(t, p); line != wire.PackageHit {
		t.Fatalf("get after the put: %q, want a hit", line)
	}
	if entries, _ := os.ReadDir(p.WorkDir); len(entries) != 0 {
		t.Fatalf("a cache-only acquisition placed %s", entries[0].Name())
	}
	gone := placementOf(p)
	gone.Name, gone.SHA256 = "Other", strings.Repeat("0", 64)
	var out bytes.Buffer
	if err := PackagePlace(home, p.WorkDir, true, []wire.PackagePlacement{gone, placementOf(p)}, &out); err != nil {
		t.Fatal(err)
	}
	if want := wire.PackageGone + "Other\n"; out.String() != want {
		t.Errorf("package-place said %q, want %q", out.String(), want)
	}
	fi, err := os.Stat(filepath.Join(p.WorkDir, "Web", "bin", "run.sh"))
	if err != nil || fi.Mode().Perm() != 0o707 {
		t.Errorf("placed file: %v %v, want mode 0707 (shared with the image's user)", fi, err)
	}
	// Without share the owner's bits stay the owner's.
	p2 := inWorkDir(t, p)
	if err := PackagePlace(home, p2.WorkDir, false, []wire.PackagePlacement{placementOf(p2)}, &out); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(p2.WorkDir, "Web", "bin", "run.sh")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("placed without share: %v %v, want mode 0700", fi, err)
	}
}

// TestPackagePlaceKeepsLimits: package-place extracts within the step's
// limits, as the acquisition's own placement does.
func TestPackagePlaceKeepsLimits(t *testing.T) {
	home := t.TempDir()
	data, p := testPackage(t, home, []member{{name: "a", body: "1", mode: 0o644}, {name: "b", body: "2", mode: 0o644}})
	p.CacheOnly = true
	if err := PackagePut(p, "", 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	pl := placementOf(p)
	pl.MaxEntries = 1
	err := PackagePlace(home, p.WorkDir, false, []wire.PackagePlacement{pl}, &bytes.Buffer{})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "package_max_entries") {
		t.Errorf("err %v, want the entry limit's refusal", err)
	}
}

// TestPackageFetchCapped: a download past its limit is refused, naming
// the setting to raise, and nothing of it is kept.
func TestPackageFetchCapped(t *testing.T) {
	home := t.TempDir()
	data, p := testPackage(t, home, []member{{name: "big", body: strings.Repeat("x", 1<<16), mode: 0o644}})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(data) }))
	defer srv.Close()
	src := wire.PackageSource{URL: srv.URL + "/Acme.Web.1.0.0.tar.gz", SHA256: p.SHA256, FileName: "Acme.Web.1.0.0.tar.gz", CAPEM: caOf(srv)}
	p.MaxDownload = int64(len(data)) - 1
	_, err := fetch(t, p, wire.PackageFetch{Source: src})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "defaults.package_max_download_mb") {
		t.Fatalf("err %v, want a refusal naming defaults.package_max_download_mb", err)
	}
	assertCacheEmpty(t, home, p)
	// At the limit exactly, it passes.
	p.MaxDownload = int64(len(data))
	if _, err := fetch(t, p, wire.PackageFetch{Source: src}); err != nil {
		t.Fatal(err)
	}
}
