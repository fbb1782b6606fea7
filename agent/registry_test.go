//go:build linux

package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/wire"
)

// fakeRegistry serves one artifact of one layer, as oras pushes it, at
// acme/web:1.0.0, behind basic or bearer authentication.
type fakeRegistry struct {
	bearer     bool
	user, pass string
	layer      []byte // what the blob endpoint sends
	digest     string // the layer's digest in the manifest
	title      string
	layers     int // how many layers the manifest lists (0: 1)
	index      bool
	blobs      atomic.Int64
	tokens     atomic.Int64
}

func (f *fakeRegistry) manifest() []byte {
	if f.index {
		return []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"digest":"sha256:aa"},{"digest":"sha256:bb"}]}`)
	}
	l := map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": f.digest, "size": len(f.layer),
		"annotations": map[string]string{titleAnnotation: f.title}}
	n := max(f.layers, 1)
	ls := make([]any, n)
	for i := range ls {
		ls[i] = l
	}
	b, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"artifactType": "application/vnd.cuttle.test", "layers": ls})
	return b
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/token" {
		f.tokens.Add(1)
		if u, p, ok := r.BasicAuth(); !ok || u != f.user || p != f.pass {
			http.Error(w, "bad credentials", http.StatusUnauthorized)
			return
		}
		if r.URL.Query().Get("scope") != "repository:acme/web:pull" || r.URL.Query().Get("service") != "fake" {
			http.Error(w, "bad scope", http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, `{"token":"tok-1"}`)
		return
	}
	if !f.authorized(r) {
		if f.bearer {
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="fake",scope="repository:acme/web:pull"`)
		} else {
			w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
		}
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	switch r.URL.Path {
	case "/v2/acme/web/manifests/1.0.0":
		if !strings.Contains(r.Header.Get("Accept"), "application/vnd.oci.image.manifest.v1+json") {
			http.Error(w, "no manifest type accepted", http.StatusNotAcceptable)
			return
		}
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Write(f.manifest())
	case "/v2/acme/web/blobs/" + f.digest:
		f.blobs.Add(1)
		w.Write(f.layer)
	default:
		http.NotFound(w, r)
	}
}

func (f *fakeRegistry) authorized(r *http.Request) bool {
	if f.bearer {
		return r.Header.Get("Authorization") == "Bearer tok-1"
	}
	u, p, ok := r.BasicAuth()
	return ok && u == f.user && p == f.pass
}

// newFakeRegistry serves data as the artifact acme/web:1.0.0 on the
// loopback (so over plain http).
func newFakeRegistry(t *testing.T, data []byte, bearer bool) (*fakeRegistry, wire.PackageSource) {
	t.Helper()
	sum := sha256.Sum256(data)
	f := &fakeRegistry{bearer: bearer, user: "ci", pass: "registry-pass", layer: data,
		digest: "sha256:" + hex.EncodeToString(sum[:]), title: "Acme.Web.1.0.0.tar.gz"}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, wire.PackageSource{Registry: strings.TrimPrefix(srv.URL, "http://"), Repository: "acme/web", Reference: "1.0.0"}
}

// TestPackageFetchOCI: the worker pulls a one-layer artifact, through the
// registry's basic or bearer challenge, checks the layer against its
// digest, caches and places it under the file name of its title; a later
// step reads the manifest again but not the layer.
func TestPackageFetchOCI(t *testing.T) {
	for _, bearer := range []bool{false, true} {
		t.Run(map[bool]string{false: "basic", true: "bearer"}[bearer], func(t *testing.T) {
			home := t.TempDir()
			data, p := testPackage(t, home, []member{{name: "Chart.yaml", body: "name: web\n", mode: 0o644}})
			reg, src := newFakeRegistry(t, data, bearer)
			asked := p
			asked.SHA256, asked.Meta.FileName = "", ""
			req := wire.PackageFetch{Source: src, Username: "ci", Password: "registry-pass"}
			got, err := fetch(t, asked, req)
			if err != nil {
				t.Fatal(err)
			}
			want := wire.PackageFetched{SHA256: p.SHA256, FileName: "Acme.Web.1.0.0.tar.gz", Size: int64(len(data))}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("answer (-want +got)\n%s", diff)
			}
			if b, err := os.ReadFile(filepath.Join(p.WorkDir, "Web", "Chart.yaml")); err != nil || string(b) != "name: web\n" {
				t.Fatalf("placed: %q, %v", b, err)
			}
			if bearer && reg.tokens.Load() != 1 {
				t.Errorf("%d tokens fetched, want 1 (reused for the layer)", reg.tokens.Load())
			}
			got, err = fetch(t, inWorkDir(t, asked), req)
			if err != nil || !got.Cached || reg.blobs.Load() != 1 {
				t.Errorf("second fetch: %+v, %v, %d layer downloads, want a cache hit and 1", got, err, reg.blobs.Load())
			}
		})
	}
}

// TestPackageFetchOCIRefused: wrong credentials, none, a layer that is
// not its digest, an index, several layers, a title that is no archive
// and a digest reference the manifest does not match fail naming the
// package and the fix, and leave nothing; the password is in no message.
func TestPackageFetchOCIRefused(t *testing.T) {
	tests := []struct {
		name    string
		bearer  bool
		change  func(f *fakeRegistry, req *wire.PackageFetch)
		want    string
		refused bool
	}{
		{"wrong password, basic", false, func(_ *fakeRegistry, r *wire.PackageFetch) { r.Password = "wrong-pass" },
			"401 Unauthorized: check the feed's username and password", false},
		{"wrong password, bearer", true, func(_ *fakeRegistry, r *wire.PackageFetch) { r.Password = "wrong-pass" },
			"a token from http://", false},
		{"no credentials", false, func(_ *fakeRegistry, r *wire.PackageFetch) { r.Username, r.Password = "", "" },
			"the registry asks for credentials: name a feed", false},
		{"the layer is not its digest", true, func(f *fakeRegistry, _ *wire.PackageFetch) { f.layer = append(f.layer, 'x') },
			"check the source and its digest", true},
		{"an index", false, func(f *fakeRegistry, _ *wire.PackageFetch) { f.index = true }, "is an index of 2 manifests", false},
		{"two layers", false, func(f *fakeRegistry, _ *wire.PackageFetch) { f.layers = 2 }, "has 2 layers", false},
		{"a title that is no archive", false, func(f *fakeRegistry, _ *wire.PackageFetch) { f.title = "notes.txt" },
			"is not a package archive", false},
		{"no such tag", false, func(_ *fakeRegistry, r *wire.PackageFetch) { r.Source.Reference = "9.9.9" },
			"404 Not Found: check the repository and the tag", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			data, p := testPackage(t, home, []member{{name: "a", body: "x"}})
			reg, src := newFakeRegistry(t, data, tc.bearer)
			req := wire.PackageFetch{Source: src, Username: "ci", Password: "registry-pass"}
			tc.change(reg, &req)
			_, err := fetch(t, p, req)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "package Web") {
				t.Fatalf("err %v, want one naming package Web and %q", err, tc.want)
			}
			if errors.Is(err, ErrRefused) != tc.refused {
				t.Errorf("refused = %v, want %v", !tc.refused, tc.refused)
			}
			if strings.Contains(err.Error(), "registry-pass") || strings.Contains(err.Error(), "wrong-pass") {
				t.Errorf("a password is in the error: %v", err)
			}
			assertCacheEmpty(t, home, p)
		})
	}
}

// TestPackageFetchOCIDigestReference: a reference by manifest digest is
// checked against the manifest the registry sends.
func TestPackageFetchOCIDigestReference(t *testing.T) {
	home := t.TempDir()
	data, p := testPackage(t, home, []member{{name: "a", body: "x"}})
	reg, src := newFakeRegistry(t, data, false)
	sum := sha256.Sum256(reg.manifest())
	src.Reference = "sha256:" + hex.EncodeToString(sum[:])
	// The fake serves manifests by tag only: route the digest to it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = strings.Replace(r.URL.Path, "/manifests/"+src.Reference, "/manifests/1.0.0", 1)
		reg.ServeHTTP(w, r)
	}))
	defer srv.Close()
	src.Registry = strings.TrimPrefix(srv.URL, "http://")
	req := wire.PackageFetch{Source: src, Username: "ci", Password: "registry-pass"}
	if _, err := fetch(t, p, req); err != nil {
		t.Fatalf("the manifest of the digest named: %v", err)
	}
	reg.title = "Acme.Web.1.0.0.zip" // the manifest changes; the digest named does not
	if _, err := fetch(t, inWorkDir(t, p), req); err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "a manifest of another digest") {
		t.Fatalf("another manifest under the digest: %v, want it refused", err)
	}
}

func TestParseChallenge(t *testing.T) {
	tests := []struct {
		name, header, scheme string
		params               map[string]string
	}{
		{"bearer as Docker Hub sends it", `Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:samalba/my-app:pull,push"`,
			"Bearer", map[string]string{"realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:samalba/my-app:pull,push"}},
		{"basic", `Basic realm="Registry Realm"`, "Basic", map[string]string{"realm": "Registry Realm"}},
		{"unquoted values, spaces, keys in any case", `Bearer  Realm=https://a/token , service=svc`, "Bearer",
			map[string]string{"realm": "https://a/token", "service": "svc"}},
		{"an escaped quote", `Basic realm="a \"b\" c"`, "Basic", map[string]string{"realm": `a "b" c`}},
		{"an unterminated quote", `Bearer realm="https://a`, "Bearer", map[string]string{"realm": "https://a"}},
		{"empty", ``, "", map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scheme, params := parseChallenge(tc.header)
			if scheme != tc.scheme {
				t.Errorf("scheme %q, want %q", scheme, tc.scheme)
			}
			if diff := cmp.Diff(tc.params, params); diff != "" {
				t.Errorf("params (-want +got)\n%s", diff)
			}
		})
	}
}

func FuzzParseChallenge(f *testing.F) {
	f.Add(`Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a:pull"`)
	f.Add(`Basic realm="a \"b\""`)
	f.Fuzz(func(t *testing.T, h string) {
		scheme, params := parseChallenge(h)
		if len(scheme) > len(h) {
			t.Fatalf("scheme %q longer than the header %q", scheme, h)
		}
		for k, v := range params {
			if len(k)+len(v) > len(h) {
				t.Fatalf("param %q=%q longer than the header %q", k, v, h)
			}
		}
	})
}
