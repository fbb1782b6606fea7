//go:build linux

package agent

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/wire"
)

// fetch runs PackageFetch and decodes its answer.
func fetch(t *testing.T, p PackageSpec, req wire.PackageFetch) (wire.PackageFetched, error) {
	t.Helper()
	var out bytes.Buffer
	err := PackageFetch(t.Context(), p, req, &out, nil)
	var got wire.PackageFetched
	if err == nil {
		if jerr := json.Unmarshal(out.Bytes(), &got); jerr != nil {
			t.Fatalf("answer %q: %v", out.String(), jerr)
		}
	}
	return got, err
}

// caOf is the PEM of the test server's certificate, its own CA.
func caOf(srv *httptest.Server) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
}

// assertCacheEmpty: nothing of a failed fetch is left, not even a
// temporary directory.
func assertCacheEmpty(t *testing.T, home string, p PackageSpec) {
	t.Helper()
	if entries, _ := os.ReadDir(filepath.Join(home, wire.PackagesDir)); len(entries) != 0 {
		t.Errorf("the cache holds %d entries after a failed fetch (%s...)", len(entries), entries[0].Name())
	}
	if _, err := os.Lstat(filepath.Join(p.WorkDir, p.Name)); err == nil {
		t.Error("a package that failed was placed")
	}
}

// TestPackageFetchHTTPS: the worker downloads an https source from a
// server whose CA it is given, checks it, caches and places it; the
// second step finds it cached and downloads nothing.
func TestPackageFetchHTTPS(t *testing.T) {
	home := t.TempDir()
	data, p := testPackage(t, home, []member{{name: "deploy.sh", body: "echo v1\n", mode: 0o755}})
	var gets atomic.Int64
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/files/Acme.Web.1.0.0.tar.gz" || r.Header.Get("User-Agent") != userAgent {
			http.NotFound(w, r)
			return
		}
		gets.Add(1)
		w.Write(data)
	}))
	defer srv.Close()
	src := wire.PackageSource{URL: srv.URL + "/files/Acme.Web.1.0.0.tar.gz?token=s3cr3t", SHA256: p.SHA256, FileName: "Acme.Web.1.0.0.tar.gz", CAPEM: caOf(srv)}
	asked := p
	asked.SHA256, asked.Meta.FileName = "", ""
	got, err := fetch(t, asked, wire.PackageFetch{Source: src})
	if err != nil {
		t.Fatal(err)
	}
	want := wire.PackageFetched{SHA256: p.SHA256, FileName: "Acme.Web.1.0.0.tar.gz", Size: int64(len(data))}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answer (-want +got)\n%s", diff)
	}
	if b, err := os.ReadFile(filepath.Join(p.WorkDir, "Web", "deploy.sh")); err != nil || string(b) != "echo v1\n" {
		t.Fatalf("placed: %q, %v", b, err)
	}
	var meta wire.PackageMeta
	b, _ := os.ReadFile(filepath.Join(home, wire.PackagesDir, p.SHA256, wire.PackageMetaFile))
	if json.Unmarshal(b, &meta); meta.ID != "Acme.Web" || meta.FileName != "Acme.Web.1.0.0.tar.gz" {
		t.Errorf("cached meta %+v: want the ID, for a later delta", meta)
	}
	// A later step: the cache has it, nothing is downloaded.
	got, err = fetch(t, inWorkDir(t, asked), wire.PackageFetch{Source: src})
	if err != nil || !got.Cached || gets.Load() != 1 {
		t.Errorf("second fetch: %+v, %v, %d downloads, want a cache hit and 1 download", got, err, gets.Load())
	}
}

// TestPackageFetchHTTPSRefused: an untrusted certificate, a wrong digest
// and a missing file each fail naming the package and the fix, with
// nothing left behind, and no message shows the URL's query.
func TestPackageFetchHTTPSRefused(t *testing.T) {
	_, p := testPackage(t, t.TempDir(), []member{{name: "a", body: "x"}})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/Acme.Web.1.0.0.tar.gz" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("not the package"))
	}))
	defer srv.Close()
	good := wire.PackageSource{URL: srv.URL + "/Acme.Web.1.0.0.tar.gz?sig=s3cr3t", SHA256: p.SHA256, FileName: "Acme.Web.1.0.0.tar.gz", CAPEM: caOf(srv)}
	tests := []struct {
		name    string
		src     func(s wire.PackageSource) wire.PackageSource
		want    string
		refused bool
	}{
		{"no CA bundle: the server is not trusted", func(s wire.PackageSource) wire.PackageSource { s.CAPEM = ""; return s },
			"give that CA's certificate (PEM) as ca_file", false},
		{"a CA bundle without certificates", func(s wire.PackageSource) wire.PackageSource { s.CAPEM = "junk"; return s },
			"holds no PEM certificate", false},
		{"the download is not the digest's file", func(s wire.PackageSource) wire.PackageSource { return s },
			"check the source and its digest", true},
		{"no such file", func(s wire.PackageSource) wire.PackageSource {
			s.URL = srv.URL + "/gone/Acme.Web.1.0.0.tar.gz?sig=s3cr3t"
			return s
		}, "404 Not Found: check the URL", false},
		{"plain http", func(s wire.PackageSource) wire.PackageSource {
			s.URL = strings.Replace(s.URL, "https:", "http:", 1)
			return s
		}, "not an https:// URL", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			p := inWorkDir(t, p)
			p.Home = home
			_, err := fetch(t, p, wire.PackageFetch{Source: tc.src(good)})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "package Web") {
				t.Fatalf("err %v, want one naming package Web and %q", err, tc.want)
			}
			if errors.Is(err, ErrRefused) != tc.refused {
				t.Errorf("refused (the step's input is at fault) = %v, want %v", !tc.refused, tc.refused)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("the URL's query is in the error: %v", err)
			}
			assertCacheEmpty(t, home, p)
		})
	}
}

// TestPackageFetchRedirectToHTTP: an https source that redirects to plain
// http is refused.
func TestPackageFetchRedirectToHTTP(t *testing.T) {
	_, p := testPackage(t, t.TempDir(), []member{{name: "a", body: "x"}})
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("x")) }))
	defer plain.Close()
	srv := httptest.NewTLSServer(http.RedirectHandler(plain.URL+"/Acme.Web.1.0.0.tar.gz", http.StatusFound))
	defer srv.Close()
	src := wire.PackageSource{URL: srv.URL + "/Acme.Web.1.0.0.tar.gz", SHA256: p.SHA256, FileName: "Acme.Web.1.0.0.tar.gz", CAPEM: caOf(srv)}
	if _, err := fetch(t, p, wire.PackageFetch{Source: src}); err == nil || !strings.Contains(err.Error(), "redirected from https") {
		t.Fatalf("err %v, want the redirect to http refused", err)
	}
	assertCacheEmpty(t, p.Home, p)
}

// TestPackageFetchHTTPSWithFeedCredentials: the feed's credentials, read
// from stdin's request, go to an https source as basic authentication; a
// refusal says whether to add or to check them, without the password, and
// leaves nothing behind.
func TestPackageFetchHTTPSWithFeedCredentials(t *testing.T) {
	data, p := testPackage(t, t.TempDir(), []member{{name: "deploy.sh", body: "echo v1\n", mode: 0o755}})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, pw, ok := r.BasicAuth(); !ok || u != "ci" || pw != "s3cr3t" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write(data)
	}))
	defer srv.Close()
	src := wire.PackageSource{URL: srv.URL + "/Acme.Web.1.0.0.tar.gz", SHA256: p.SHA256, FileName: "Acme.Web.1.0.0.tar.gz", CAPEM: caOf(srv)}
	for _, tc := range []struct {
		name, user, pass, want string
	}{
		{"none", "", "", "the server wants credentials: add a feed"},
		{"wrong", "ci", "wrong-pw", "refused the feed's credentials"},
	} {
		home := t.TempDir()
		q := inWorkDir(t, p)
		q.Home = home
		_, err := fetch(t, q, wire.PackageFetch{Source: src, Username: tc.user, Password: tc.pass})
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "wrong-pw") {
			t.Errorf("%s: err %v, want %q and no password", tc.name, err, tc.want)
		}
		assertCacheEmpty(t, home, q)
	}
	got, err := fetch(t, p, wire.PackageFetch{Source: src, Username: "ci", Password: "s3cr3t"})
	if err != nil || got.SHA256 != p.SHA256 {
		t.Fatalf("with the feed's credentials: %+v, %v", got, err)
	}
	if b, err := os.ReadFile(filepath.Join(p.WorkDir, "Web", "deploy.sh")); err != nil || string(b) != "echo v1\n" {
		t.Errorf("placed: %q, %v", b, err)
	}
}

// TestPackageFetchProgress: a download writes progress lines that end at
// the file's size, with the size the server gave; a cached package
// downloads nothing and writes none.
func TestPackageFetchProgress(t *testing.T) {
	data, p := testPackage(t, t.TempDir(), []member{{name: "big.bin", body: strings.Repeat("x", 1<<20), mode: 0o644}})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(data) }))
	defer srv.Close()
	src := wire.PackageSource{URL: srv.URL + "/Acme.Web.1.0.0.tar.gz", SHA256: p.SHA256, FileName: "Acme.Web.1.0.0.tar.gz", CAPEM: caOf(srv)}
	var out, progress bytes.Buffer
	if err := PackageFetch(t.Context(), p, wire.PackageFetch{Source: src}, &out, &progress); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(progress.String(), "\n"), "\n")
	done, total, ok := wire.ParseFetchProgress(lines[len(lines)-1])
	if !ok || done != int64(len(data)) || total != int64(len(data)) {
		t.Errorf("last progress line %q, want %d of %d", lines[len(lines)-1], len(data), len(data))
	}
	progress.Reset()
	if err := PackageFetch(t.Context(), inWorkDir(t, p), wire.PackageFetch{Source: src}, &out, &progress); err != nil || progress.Len() != 0 {
		t.Errorf("cached: err %v, progress %q, want none", err, progress.String())
	}
}

// TestPackageFetchCredentialsStayHome: the worker sends the feed's
// credentials after a redirect within the server, but not to another
// port of the same host (Go's client would).
func TestPackageFetchCredentialsStayHome(t *testing.T) {
	data, p := testPackage(t, t.TempDir(), []member{{name: "a", body: "x"}})
	var otherAuth atomic.Value
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherAuth.Store(r.Header.Get("Authorization"))
		w.Write(data)
	}))
	defer other.Close()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, pw, ok := r.BasicAuth(); !ok || u != "ci" || pw != "s3cr3t" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/here/Acme.Web.1.0.0.tar.gz":
			http.Redirect(w, r, "/there/Acme.Web.1.0.0.tar.gz", http.StatusFound)
		case "/there/Acme.Web.1.0.0.tar.gz":
			w.Write(data)
		default:
			http.Redirect(w, r, other.URL+"/Acme.Web.1.0.0.tar.gz", http.StatusFound)
		}
	}))
	defer srv.Close()
	for _, path := range []string{"/here/Acme.Web.1.0.0.tar.gz", "/port/Acme.Web.1.0.0.tar.gz"} {
		q := inWorkDir(t, p)
		q.Home = t.TempDir()
		src := wire.PackageSource{URL: srv.URL + path, SHA256: p.SHA256, FileName: "Acme.Web.1.0.0.tar.gz", CAPEM: caOf(srv)}
		if _, err := fetch(t, q, wire.PackageFetch{Source: src, Username: "ci", Password: "s3cr3t"}); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
	if got := otherAuth.Load(); got != "" {
		t.Errorf("Authorization sent to another port: %q, want none", got)
	}
}

// TestFetchProgressThrottles: with a read every 100 ms, a line goes out
// on the first read, then at most every 250 ms, and at the end; the
// counts only grow and the last is the whole download.
func TestFetchProgressThrottles(t *testing.T) {
	clock := time.Unix(0, 0)
	var lines bytes.Buffer
	f := &fetchProgress{r: iotest.OneByteReader(strings.NewReader("0123456789")), w: &lines, total: 10,
		now: func() time.Time { clock = clock.Add(100 * time.Millisecond); return clock }}
	if b, err := io.ReadAll(f); err != nil || string(b) != "0123456789" {
		t.Fatalf("read %q, %v", b, err)
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSuffix(lines.String(), "\n"), "\n") {
		done, total, ok := wire.ParseFetchProgress(l)
		if !ok || total != 10 {
			t.Fatalf("line %q", l)
		}
		got = append(got, strconv.FormatInt(done, 10))
	}
	// Reads at 100, 200, ... ms: a line at the first (1 byte), then each
	// third read (4, 7, 10 bytes), and at EOF (10 again).
	if want := []string{"1", "4", "7", "10", "10"}; !slices.Equal(got, want) {
		t.Errorf("progress at %v bytes, want %v", got, want)
	}
}
