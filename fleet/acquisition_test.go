package fleet

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/wire"
)

// testCA writes a CA certificate (PEM) into dir and returns its path and
// contents.
func testCA(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cuttle test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, string(b)
}

// TestPackageRefsAcquisition: acquisition: worker (the package's, or its
// feed's) makes the plan's package one the worker fetches, with the CA
// bundle's contents; the controller acquires everything else.
func TestPackageRefsAcquisition(t *testing.T) {
	const digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	dir := t.TempDir()
	caPath, caPEM := testCA(t, dir)
	os.WriteFile(filepath.Join(dir, "junk.pem"), []byte("not a certificate"), 0o644)
	cfg := &config.Config{Feeds: map[string]config.Feed{
		"files":  {Registry: "files.example.com", Acquisition: "worker", CAFile: caPath},
		"charts": {Registry: "r.example:5000", Username: "ci", PasswordEnv: "CUTTLE_TEST_FEED_PW"},
	}}
	t.Setenv("CUTTLE_TEST_FEED_PW", "pw")
	https := "https://files.example.com/a/Acme.Web.1.0.0.zip#sha256=" + digest
	other := "https://other.example/Acme.Web.1.0.0.zip#sha256=" + digest
	tests := []struct {
		name    string
		ref     config.PackageRef
		want    *wire.PackageSource
		wantErr string
	}{
		{name: "the feed whose registry is the URL's host says worker, with its CA",
			ref:  config.PackageRef{Name: "Web", Source: https},
			want: &wire.PackageSource{URL: "https://files.example.com/a/Acme.Web.1.0.0.zip", SHA256: digest, FileName: "Acme.Web.1.0.0.zip", CAPEM: caPEM}},
		{name: "the package overrides its feed", ref: config.PackageRef{Name: "Web", Source: https, Acquisition: "controller"}},
		{name: "no feed: the controller", ref: config.PackageRef{Name: "Web", Source: other}},
		{name: "oci by the worker, its own CA relative to the runbook",
			ref:  config.PackageRef{Name: "Chart", Source: "oci://r.example:5000/charts/web:1.4.0", Acquisition: "worker", CAFile: "ca.pem"},
			want: &wire.PackageSource{Registry: "r.example:5000", Repository: "charts/web", Reference: "1.4.0", CAPEM: caPEM}},
		{name: "ca_file without worker acquisition", ref: config.PackageRef{Name: "Web", Source: other, CAFile: "ca.pem"},
			wantErr: "ca_file is for acquisition: worker"},
		{name: "ca_file that is no certificate", ref: config.PackageRef{Name: "Web", Source: other, Acquisition: "worker", CAFile: "junk.pem"},
			wantErr: "holds no PEM certificate"},
		{name: "ca_file missing", ref: config.PackageRef{Name: "Web", Source: other, Acquisition: "worker", CAFile: "gone.pem"},
			wantErr: "ca_file"},
		{name: "a local archive", ref: config.PackageRef{Name: "Web", Source: "Acme.Web.1.0.0.zip", Acquisition: "worker"},
			wantErr: "a local archive is on the controller"},
		{name: "unknown acquisition", ref: config.PackageRef{Name: "Web", Source: https, Acquisition: "target"},
			wantErr: `acquisition "target"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pkgs, err := packageRefs(cfg, []config.PackageRef{tc.ref}, dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "package "+tc.ref.Name) {
					t.Fatalf("err %v, want one naming the package and %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, pkgs[0].Fetch); diff != "" {
				t.Errorf("Fetch (-want +got)\n%s", diff)
			}
		})
	}
}

// TestPackageRefsFeedCredentials: an https source gets the credentials of
// the feed named, or of the feed whose registry is the URL's host[:port],
// as an oci source gets its registry's; a URL on another host gets none,
// and a feed named for a source on another server is refused.
func TestPackageRefsFeedCredentials(t *testing.T) {
	const digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	t.Setenv("CUTTLE_TEST_FEED_PW", "pw")
	cfg := &config.Config{Feeds: map[string]config.Feed{
		"files":  {Registry: "files.example.com:8443", Username: "ci", PasswordEnv: "CUTTLE_TEST_FEED_PW"},
		"charts": {Registry: "r.example:5000", Username: "helm", PasswordEnv: "CUTTLE_TEST_FEED_PW"},
	}}
	for _, tc := range []struct {
		name, source, feed, wantUser, wantErr string
	}{
		{"an https URL on the feed's host:port", "https://files.example.com:8443/a/Acme.Web.1.0.0.zip#sha256=" + digest, "", "ci", ""},
		{"an https URL on another port", "https://files.example.com/a/Acme.Web.1.0.0.zip#sha256=" + digest, "", "", ""},
		{"an https URL with its feed named", "https://FILES.example.com:8443/Acme.Web.1.0.0.zip#sha256=" + digest, "files", "ci", ""},
		{"a feed named for another server's URL", "https://cdn.example/Acme.Web.1.0.0.zip#sha256=" + digest, "files", "", "feed files holds credentials for files.example.com:8443, not for cdn.example"},
		{"a feed named for another registry's artifact", "oci://evil.example/charts/web:1.4.0", "charts", "", "feed charts holds credentials for r.example:5000"},
		{"an oci source", "oci://r.example:5000/charts/web:1.4.0", "", "helm", ""},
		{"a local archive", "Acme.Web.1.0.0.zip", "", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pkgs, err := packageRefs(cfg, []config.PackageRef{{Name: "Web", Source: tc.source, Feed: tc.feed}}, t.TempDir())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "package Web") {
					t.Fatalf("err %v, want one naming package Web and %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f := pkgs[0].Feed
			switch {
			case tc.wantUser == "" && f != nil:
				t.Errorf("credentials of %s given to %s", f.Registry, tc.source)
			case tc.wantUser != "" && (f == nil || f.Username != tc.wantUser || f.Password.Reveal() != "pw"):
				t.Errorf("feed %+v, want user %s with its password", f, tc.wantUser)
			}
		})
	}
}
