package packages

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cuttle-sh/cuttle/internal/secret"
)

func TestAcquireHTTPS(t *testing.T) {
	body := []byte("the package's bytes")
	sum := sha256.Sum256(body)
	digest := hex.EncodeToString(sum[:])
	var gets atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		w.Write(body)
	}))
	defer srv.Close()
	store := &Store{Client: srv.Client()}
	defer store.Close()

	sp, err := ParseFlag("W=" + srv.URL + "/Acme.Web.1.0.0.zip#sha256=" + digest)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		f, err := store.Acquire(t.Context(), sp, nil)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(f.Path); string(b) != string(body) || f.SHA256 != digest || f.Size != int64(len(body)) || f.Name != "Acme.Web.1.0.0.zip" {
			t.Errorf("got %+v holding %q", f, b)
		}
	}
	if gets.Load() != 1 {
		t.Errorf("%d downloads, want 1 per run", gets.Load())
	}

	wrong, _ := ParseFlag("W=" + srv.URL + "/Acme.Web.2.0.0.zip#sha256=" + strings.Repeat("0", 64))
	if _, err := store.Acquire(t.Context(), wrong, nil); err == nil || !strings.Contains(err.Error(), "not the "+strings.Repeat("0", 64)) {
		t.Errorf("a download with another digest: err %v, want a mismatch", err)
	}
	if left, _ := filepath.Glob(filepath.Join(store.tmp, "*"+strings.Repeat("0", 64)+"*")); len(left) > 0 {
		t.Errorf("the mismatched download was kept: %v", left)
	}
	// The default client does not trust the test server's own CA.
	if _, err := (&Store{}).Acquire(t.Context(), sp, nil); err == nil {
		t.Error("an untrusted TLS server was accepted")
	}
}

func TestAcquireLocal(t *testing.T) {
	p := filepath.Join(t.TempDir(), "Acme.Web.1.0.0.zip")
	os.WriteFile(p, []byte("zip"), 0o600)
	sp, err := ParseFlag("W=" + p)
	if err != nil {
		t.Fatal(err)
	}
	var store Store
	f, err := store.Acquire(t.Context(), sp, nil)
	sum := sha256.Sum256([]byte("zip"))
	if err != nil || f.SHA256 != hex.EncodeToString(sum[:]) || f.Size != 3 || f.Path != p {
		t.Errorf("got %+v, %v", f, err)
	}
	missing, _ := ParseFlag("W=" + filepath.Join(t.TempDir(), "Acme.Gone.1.0.zip"))
	if _, err := store.Acquire(t.Context(), missing, nil); err == nil || !strings.Contains(err.Error(), "package W") {
		t.Errorf("a missing file: err %v, want one naming the package", err)
	}
}

// TestAcquireHTTPSWithFeedCredentials: an https source's feed credentials
// go as basic authentication; a refusal says whether to add credentials
// or to check them, and keeps nothing.
func TestAcquireHTTPSWithFeedCredentials(t *testing.T) {
	body := []byte("a private package")
	sum := sha256.Sum256(body)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="packages"`)
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		w.Write(body)
	}))
	defer srv.Close()
	sp, err := ParseFlag("W=" + srv.URL + "/Acme.Web.1.0.0.zip#sha256=" + hex.EncodeToString(sum[:]))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		auth *Auth
		want string
	}{
		{"none", nil, "the server wants credentials: add a feed"},
		{"wrong", &Auth{Username: "ci", Password: secret.New("nope")}, "refused the feed's credentials"},
	} {
		store := &Store{Client: srv.Client()}
		if _, err := store.Acquire(t.Context(), sp, tc.auth); err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "nope") {
			t.Errorf("%s: err %v, want %q", tc.name, err, tc.want)
		}
		if left, _ := filepath.Glob(filepath.Join(store.tmp, "*")); store.tmp == "" || len(left) > 0 {
			t.Errorf("%s: the refused download left %v", tc.name, left)
		}
		store.Close()
	}
	store := &Store{Client: srv.Client()}
	defer store.Close()
	f, err := store.Acquire(t.Context(), sp, &Auth{Username: "ci", Password: secret.New("s3cret")})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f.Path); string(b) != string(body) {
		t.Errorf("downloaded %q", b)
	}
}

// TestAcquireRedirectKeepsCredentialsHome: a redirect within the server
// keeps the feed's credentials; one to another port of the same host gets
// none (Go's client would send them), and one to plain http is refused
// before anything is sent there.
func TestAcquireRedirectKeepsCredentialsHome(t *testing.T) {
	body := []byte("a private package")
	sum := sha256.Sum256(body)
	var plainGot atomic.Int32
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { plainGot.Add(1) }))
	defer plain.Close()
	var otherAuth atomic.Value
	other := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherAuth.Store(r.Header.Get("Authorization"))
		w.Write(body)
	}))
	defer other.Close()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != "s3cret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		switch r.URL.Path {
		case "/here/Acme.Web.1.0.0.zip":
			http.Redirect(w, r, "/there/Acme.Web.1.0.0.zip", http.StatusFound)
		case "/there/Acme.Web.1.0.0.zip":
			w.Write(body)
		case "/port/Acme.Web.1.0.0.zip":
			http.Redirect(w, r, other.URL+"/Acme.Web.1.0.0.zip", http.StatusFound)
		case "/plain/Acme.Web.1.0.0.zip":
			http.Redirect(w, r, plain.URL+"/Acme.Web.1.0.0.zip", http.StatusFound)
		}
	}))
	defer srv.Close()
	auth := &Auth{Username: "ci", Password: secret.New("s3cret")}
	get := func(path string) error {
		sp, err := ParseFlag("W=" + srv.URL + path + "#sha256=" + hex.EncodeToString(sum[:]))
		if err != nil {
			t.Fatal(err)
		}
		store := &Store{Client: srv.Client()}
		defer store.Close()
		_, err = store.Acquire(t.Context(), sp, auth)
		return err
	}
	if err := get("/here/Acme.Web.1.0.0.zip"); err != nil {
		t.Errorf("a redirect within the server: %v", err)
	}
	if err := get("/port/Acme.Web.1.0.0.zip"); err != nil || otherAuth.Load() != "" {
		t.Errorf("a redirect to another port: err %v, Authorization sent there %q, want none", err, otherAuth.Load())
	}
	if err := get("/plain/Acme.Web.1.0.0.zip"); err == nil || !strings.Contains(err.Error(), "redirected from https") || plainGot.Load() != 0 {
		t.Errorf("a redirect to http: err %v, %d requests there, want a refusal and none", err, plainGot.Load())
	}
}
