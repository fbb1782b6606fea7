package packages

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The cases of Calamari's PackageNameFixture (each name with each
// extension) and the samples its extractor tests use, as behaviour.
func TestSplitIDVersion(t *testing.T) {
	tests := []struct {
		file, id, version string
	}{
		{"foo.1.0.0", "foo", "1.0.0"},
		{"foo.1.0.0-tag", "foo", "1.0.0-tag"},
		{"foo.1.0.0-tag-release.tag", "foo", "1.0.0-tag-release.tag"},
		{"foo.1.0.0+buildmeta", "foo", "1.0.0+buildmeta"},
		{"foo.1.0.0-tag-release.tag+buildmeta", "foo", "1.0.0-tag-release.tag+buildmeta"},
		{"MyPackage.1.0.8-cat+jat", "MyPackage", "1.0.8-cat+jat"},
		{"Acme.Web.1.2.3", "Acme.Web", "1.2.3"},
		{"Acme.Core.1.0.0.0-bugfix", "Acme.Core", "1.0.0.0-bugfix"},
		{"Acme.Core.1.0.1+ace8cda", "Acme.Core", "1.0.1+ace8cda"},
		{"example.0.0.1", "example", "0.0.1"},
		{"Acme.2.Web.1.0", "Acme.2.Web", "1.0"}, // "2.Web.1.0" is no version: go on
		{"blah-1.0.0", "blah-1", "0.0"},         // '-' joins ID words; the split is at a '.'
		{"foo.1.2.3.4.5", "foo.1", "2.3.4.5"},   // at most four numbers
		{"ChurchBulletin.Database.1.0.0-beta.2", "ChurchBulletin.Database", "1.0.0-beta.2"},
	}
	for _, ext := range []string{".zip", ".nupkg", ".tar", ".tar.gz", ".tar.bz2"} {
		for _, tc := range tests {
			t.Run(tc.file+ext, func(t *testing.T) {
				f, err := FormatOf(tc.file + ext)
				if err != nil {
					t.Fatal(err)
				}
				if f.Extension() != ext {
					t.Errorf("extension %q, want %q", f.Extension(), ext)
				}
				id, version, ok := SplitIDVersion(strings.TrimSuffix(tc.file+ext, f.Extension()))
				if !ok || id != tc.id || version != tc.version {
					t.Errorf("got %q %q %v, want %q %q", id, version, ok, tc.id, tc.version)
				}
			})
		}
	}
}

func TestSplitIDVersionNone(t *testing.T) {
	for _, base := range []string{"noversion", "", ".1.0.0", "foo.", "foo.x", "foo.1.0.0-", "foo.1.0.0+", "foo..1.0"} {
		if id, v, ok := SplitIDVersion(base); ok {
			t.Errorf("%q: split into %q %q; want no version", base, id, v)
		}
	}
}

func TestParseFlag(t *testing.T) {
	const digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	tests := []struct {
		name, flag string
		want       Spec
		wantErr    string
	}{
		{name: "local zip", flag: "Web=build/Acme.Web.1.2.3.zip",
			want: Spec{Name: "Web", Source: Source{Kind: Local, Path: "build/Acme.Web.1.2.3.zip"}, Extract: true, ID: "Acme.Web", Version: "1.2.3"}},
		{name: "options", flag: "Db=migrator.tgz,extract=false,id=Acme.Db,version=2.0.0-rc.1",
			want: Spec{Name: "Db", Source: Source{Kind: Local, Path: "migrator.tgz"}, ID: "Acme.Db", Version: "2.0.0-rc.1"}},
		{name: "version only fills the id from the name", flag: "X=Acme.Tool.3.1.tar.xz,version=9",
			want: Spec{Name: "X", Source: Source{Kind: Local, Path: "Acme.Tool.3.1.tar.xz"}, Extract: true, ID: "Acme.Tool", Version: "9"}},
		{name: "https", flag: "Web=https://files.example.com/a/Acme.Web.1.0.0.nupkg#sha256=" + strings.ToUpper(digest),
			want: Spec{Name: "Web", Source: Source{Kind: HTTPS, URL: "https://files.example.com/a/Acme.Web.1.0.0.nupkg", SHA256: digest}, Extract: true, ID: "Acme.Web", Version: "1.0.0"}},
		{name: "oci tag", flag: "Chart=oci://127.0.0.1:5000/charts/acme-web:1.4.0,feed=local",
			want: Spec{Name: "Chart", Source: Source{Kind: OCI, Registry: "127.0.0.1:5000", Repository: "charts/acme-web", Reference: "1.4.0"}, Extract: true, ID: "acme-web", Version: "1.4.0", Feed: "local"}},
		{name: "oci digest needs a version", flag: "C=oci://r.example/x@sha256:" + digest, wantErr: "give version="},
		{name: "oci digest", flag: "C=oci://r.example/x@sha256:" + digest + ",version=1",
			want: Spec{Name: "C", Source: Source{Kind: OCI, Registry: "r.example", Repository: "x", Reference: "sha256:" + digest}, Extract: true, ID: "x", Version: "1"}},
		{name: "oci acquired by the worker", flag: "Chart=oci://r.example/charts/web:1.4.0,acquisition=worker",
			want: Spec{Name: "Chart", Source: Source{Kind: OCI, Registry: "r.example", Repository: "charts/web", Reference: "1.4.0"}, Extract: true, ID: "web", Version: "1.4.0", Acquisition: AcquireWorker}},
		{name: "https acquired by the controller", flag: "Web=https://h/Acme.Web.1.0.0.zip#sha256=" + digest + ",acquisition=controller",
			want: Spec{Name: "Web", Source: Source{Kind: HTTPS, URL: "https://h/Acme.Web.1.0.0.zip", SHA256: digest}, Extract: true, ID: "Acme.Web", Version: "1.0.0", Acquisition: AcquireController}},
		{name: "a local archive is not acquired by the worker", flag: "W=Acme.1.0.zip,acquisition=worker", wantErr: "a local archive is on the controller"},
		{name: "unknown acquisition", flag: "W=https://h/Acme.1.0.zip#sha256=" + digest + ",acquisition=target", wantErr: `acquisition "target": want controller or worker`},
		{name: "https without digest", flag: "W=https://h/Acme.1.0.zip", wantErr: "append #sha256=HEX"},
		{name: "https bad digest", flag: "W=https://h/Acme.1.0.zip#sha256=abc", wantErr: "not 64 hex digits"},
		{name: "https credentials refused, not echoed", flag: "W=https://user:hunter2@h/Acme.1.0.zip#sha256=" + digest, wantErr: "credentials"},
		{name: "http refused", flag: "W=http://h/Acme.1.0.zip", wantErr: "scheme http is not supported"},
		{name: "oci without tag", flag: "C=oci://r/x", wantErr: "name a tag or digest"},
		{name: "oci credentials", flag: "C=oci://u:hunter2@r/x:1", wantErr: "name a feed"},
		{name: "unknown archive", flag: "W=Acme.1.0.rar", wantErr: "not a known archive"},
		{name: "no version", flag: "W=tools.zip", wantErr: "give id= and version="},
		{name: "bad name", flag: "../x=Acme.1.0.zip", wantErr: "package name"},
		{name: "no equals", flag: "Acme.1.0.zip", wantErr: "want NAME=SOURCE"},
		{name: "unknown option", flag: "W=Acme.1.0.zip,exract=false", wantErr: `unknown option "exract"`},
		{name: "bad extract", flag: "W=Acme.1.0.zip,extract=maybe", wantErr: "want true or false"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFlag(tc.flag)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// FuzzParseFlag: any flag parses into a valid spec or a clear error,
// never a panic, and a password in it is never echoed.
func FuzzParseFlag(f *testing.F) {
	f.Add("Web=Acme.Web.1.2.3.zip,extract=false")
	f.Add("C=oci://r:5000/a/b@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")
	f.Add("W=https://u:p@h/x.1.0.tgz#sha256=00")
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseFlag(s)
		if err != nil {
			if strings.Contains(s, "://u:hunter2@") && strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error echoes the password: %v", err)
			}
			return
		}
		if ValidName(sp.Name) != nil || sp.ID == "" || sp.Version == "" || sp.Source.Kind == 0 {
			t.Fatalf("accepted an incomplete spec %+v", sp)
		}
	})
}
