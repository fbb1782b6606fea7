//go:build integration

package integration

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cuttle-sh/cuttle/internal/testenv"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	orasremote "oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// pkgEntry is one file of a test package.
type pkgEntry struct {
	name, body string
	mode       int64
	link       string // a symlink when set
}

// writePackage writes entries as the archive its name's extension says
// (.zip, .tar or .tar.gz) into dir and returns its path.
func writePackage(t *testing.T, dir, name string, entries []pkgEntry) string {
	t.Helper()
	var b bytes.Buffer
	switch {
	case strings.HasSuffix(name, ".zip"):
		zw := zip.NewWriter(&b)
		for _, e := range entries {
			h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
			h.SetMode(os.FileMode(e.mode))
			w, err := zw.CreateHeader(h)
			if err != nil {
				t.Fatal(err)
			}
			w.Write([]byte(e.body))
		}
		zw.Close()
	default:
		var tb bytes.Buffer
		tw := tar.NewWriter(&tb)
		for _, e := range entries {
			h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
			if e.link != "" {
				h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
			}
			tw.WriteHeader(h)
			if e.link == "" {
				tw.Write([]byte(e.body))
			}
		}
		tw.Close()
		if strings.HasSuffix(name, ".tar.gz") {
			gz := gzip.NewWriter(&b)
			gz.Write(tb.Bytes())
			gz.Close()
		} else {
			b = tb
		}
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func fileSHA(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func packageOf(t *testing.T, r result, name string) reportPackage {
	t.Helper()
	for _, p := range step(t, r).Packages {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("report has no package %s: %s", name, r.report.Raw)
	return reportPackage{}
}

// TestPackagesExtracted: a zip and a tar.gz reach the step extracted in
// $PWD/NAME, with their modes, and Octopus's variables name them; the
// second run finds them in the worker's cache and sends nothing.
func TestPackagesExtracted(t *testing.T) {
	t.Parallel()
	dir, tok := t.TempDir(), uniq(t)
	web := writePackage(t, dir, "Acme.Web.1.2.3.zip", []pkgEntry{
		{name: "bin/deploy.sh", body: "#!/bin/sh\necho deployed " + tok + "\n", mode: 0o755},
		{name: "config/app.json", body: `{"token":"` + tok + `"}`, mode: 0o640},
	})
	db := writePackage(t, dir, "Acme.Db.2.0.0-rc.1.tar.gz", []pkgEntry{
		{name: "migrate.sql", body: "select '" + tok + "';\n", mode: 0o600},
		{name: "tool", body: "#!/bin/sh\necho tool\n", mode: 0o4755},
	})
	script := `set -e
web="#{Octopus.Action.Package[Web].ExtractedPath}"
[ "$web" = "$PWD/Web" ] || { echo "ExtractedPath $web, want $PWD/Web"; exit 10; }
"$web/bin/deploy.sh"
cat "$(get_octopusvariable 'Octopus.Action.Package[Db].ExtractedPath')/migrate.sql"
echo "ids=$(get_octopusvariable 'Octopus.Action.Package[Web].PackageId')/$(get_octopusvariable 'Octopus.Action.Package[Db].PackageVersion')"
stat -c '%a %n' Web/config/app.json Db/migrate.sql Db/tool
`
	args := append(workerArgs(), "--image", env.image, "--pull", "never",
		"--package", "Web="+web, "--package", "Db="+db, "--inline", script)
	r := runCuttle(t, args...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"deployed " + tok, "select '" + tok + "'", "ids=Acme.Web/2.0.0-rc.1",
		"640 Web/config/app.json", "600 Db/migrate.sql", "755 Db/tool"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for name, want := range map[string]reportPackage{
		"Web": {Name: "Web", ID: "Acme.Web", Version: "1.2.3", SHA256: fileSHA(t, web), BytesSent: fileSize(t, web)},
		"Db":  {Name: "Db", ID: "Acme.Db", Version: "2.0.0-rc.1", SHA256: fileSHA(t, db), BytesSent: fileSize(t, db)},
	} {
		if got := packageOf(t, r, name); got != want {
			t.Errorf("first run, report of %s = %+v, want %+v", name, got, want)
		}
	}
	assertNothingLeft(t, r)
	cache := filepath.Join(env.user.Home, ".cuttle/packages")
	if fi, err := os.Stat(filepath.Join(cache, fileSHA(t, web))); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("cache entry: %v %v, want a 0700 directory", fi, err)
	}

	r = runCuttle(t, args...)
	if r.code != 0 {
		t.Fatalf("second run: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, name := range []string{"Web", "Db"} {
		if p := packageOf(t, r, name); p.BytesSent != 0 || !p.Cached {
			t.Errorf("second run, %s: bytes_sent %d cached %v; want 0 and true", name, p.BytesSent, p.Cached)
		}
	}
	assertNothingLeft(t, r)
}

func fileSize(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// TestPackageNotExtracted: extract=false places the file unopened as
// $PWD/NAME.EXT, named by PackageFilePath and PackageFileName.
func TestPackageNotExtracted(t *testing.T) {
	t.Parallel()
	dir, tok := t.TempDir(), uniq(t)
	p := writePackage(t, dir, "Acme.Chart.0.9.0.tar.gz", []pkgEntry{{name: "Chart.yaml", body: "name: " + tok + "\n", mode: 0o644}})
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--package", "Chart="+p+",extract=false",
		"--inline", `f="$(get_octopusvariable 'Octopus.Action.Package[Chart].PackageFilePath')"
echo "name=$(get_octopusvariable 'Octopus.Action.Package[Chart].PackageFileName') id=$(get_octopusvariable Octopus.Action.Package.PackageId)"
[ "$f" = "$PWD/Chart.tar.gz" ] && sha256sum "$f"; [ -e Chart ] && echo extracted; true`)...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if want := fileSHA(t, p); !strings.Contains(r.stdout, want) {
		t.Errorf("the placed file's sha256 is not %s:\n%s", want, r.stdout)
	}
	if !strings.Contains(r.stdout, "name=Chart.tar.gz id=Acme.Chart") || strings.Contains(r.stdout, "extracted") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	assertNothingLeft(t, r)
}

// TestPackageDeltaRun: a new version of a package the worker holds is
// sent as a delta: a small change to a large uncompressed package sends
// a small part of it, and the result is the new version exactly.
func TestPackageDeltaRun(t *testing.T) {
	t.Parallel()
	dir, tok := t.TempDir(), uniq(t)
	big := make([]byte, 4<<20)
	rand.Read(big)
	bigHex := hex.EncodeToString(big) // text: 8 MiB
	v1 := writePackage(t, dir, "Acme.Delta"+tok+".1.0.0.tar", []pkgEntry{{name: "data.txt", body: bigHex + "v1\n", mode: 0o644}})
	v2 := writePackage(t, dir, "Acme.Delta"+tok+".1.0.1.tar", []pkgEntry{{name: "data.txt", body: bigHex + "v2\n", mode: 0o644}})
	run := func(p string) result {
		r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--package", "D="+p,
			"--inline", `tail -c 3 D/data.txt; sha256sum D/data.txt`)...)
		if r.code != 0 {
			t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		assertNothingLeft(t, r)
		return r
	}
	run(v1)
	r := run(v2)
	got := packageOf(t, r, "D")
	if !got.Delta || got.Cached || got.BytesSent == 0 || got.BytesSent > fileSize(t, v2)/20 {
		t.Errorf("second version: %+v; want a delta of at most 5%% of %d bytes", got, fileSize(t, v2))
	}
	sum := sha256.Sum256([]byte(bigHex + "v2\n"))
	if !strings.Contains(r.stdout, "v2") || !strings.Contains(r.stdout, hex.EncodeToString(sum[:])) {
		t.Errorf("the step did not get version 2 exactly:\n%s", r.stdout)
	}
}

// TestPackageZipSlipRefused: an archive with an entry that climbs out of
// its directory, or a symlink out, is refused with 125; the script does
// not run and nothing lands outside.
func TestPackageZipSlipRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		file    string
		entries []pkgEntry
		want    string
	}{
		{"zip slip", "Evil.1.0.0.zip", []pkgEntry{{name: "ok.txt", body: "x", mode: 0o644}, {name: "../../escaped-" + uniq(t), body: "x", mode: 0o644}}, `".."`},
		{"symlink escape", "Evil.1.0.1.tar", []pkgEntry{{name: "l", link: "../../../", mode: 0o777}}, "points outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := writePackage(t, t.TempDir(), tc.file, tc.entries)
			r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--package", "Evil="+p,
				"--inline", "echo the script ran")...)
			if r.code != 125 || strings.Contains(r.stdout, "the script ran") {
				t.Fatalf("exit %d, stdout %q; want 125 and no script", r.code, r.stdout)
			}
			if !strings.Contains(r.stderr, "package refused") || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not say why: %s", r.stderr)
			}
			s := step(t, r)
			for _, e := range tc.entries {
				if strings.HasPrefix(e.name, "../") {
					for _, d := range []string{s.WorkDir, filepath.Dir(s.WorkDir), filepath.Dir(filepath.Dir(s.WorkDir))} {
						if fileExists(filepath.Join(d, filepath.Base(e.name))) {
							t.Errorf("%s was written in %s", e.name, d)
						}
					}
				}
			}
			assertNothingLeft(t, r)
		})
	}
}

// TestPackagesInRunbook: a runbook step's packages: entry, relative to
// the runbook.
func TestPackagesInRunbook(t *testing.T) {
	t.Parallel()
	dir, tok := t.TempDir(), uniq(t)
	writePackage(t, dir, "Acme.Book.3.1.4.tar.gz", []pkgEntry{{name: "hello.txt", body: "hello " + tok + "\n", mode: 0o644},
		{name: "bin/run.sh", body: "echo \"in $(basename \"$PWD\") args=$# [$1] [$2] v=$(get_octopusvariable Octopus.Action.Package.PackageVersion)\"\n", mode: 0o644}})
	cfg := filepath.Join(dir, "cuttle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("workers:\n  w1: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s}\n",
		env.sshd.Port, workerUser, env.key.PrivateFile, env.sshd.KnownHosts)), 0o600)
	rb := filepath.Join(dir, "rb.yaml")
	os.WriteFile(rb, []byte(`steps:
  - name: s
    worker: w1
    container: {image: `+env.image+`, pull: never}
    packages:
      - {name: Book, source: Acme.Book.3.1.4.tar.gz}
    script:
      inline: cat "#{Octopus.Action.Package[Book].ExtractedPath}/hello.txt"; echo "v=#{Octopus.Action.Package.PackageVersion}"
  - name: from-package
    worker: w1
    container: {image: `+env.image+`, pull: never}
    packages:
      - {name: Book, source: Acme.Book.3.1.4.tar.gz}
    script: {package: Book, file: bin/run.sh, parameters: "first 'second word'"}
`), 0o644)
	r := runCuttle(t, "runbook", "run", rb, "--config", cfg)
	if r.code != 0 || !strings.Contains(r.stdout, "hello "+tok) || !strings.Contains(r.stdout, "v=3.1.4") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if len(r.report.Steps) != 2 {
		t.Fatalf("report: %s", r.report.Raw)
	}
	if p := r.report.Steps[0].Packages; len(p) != 1 || p[0].ID != "Acme.Book" || p[0].BytesSent == 0 {
		t.Errorf("report, first step: %+v", p)
	}
	// The script file inside the package runs from its directory, with
	// the parameters as its arguments and the helpers at hand.
	if want := "in Book args=2 [first] [second word] v=3.1.4"; !strings.Contains(r.stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
	}
	if p := r.report.Steps[1].Packages; len(p) != 1 || !p[0].Cached || p[0].BytesSent != 0 {
		t.Errorf("report, second step (same package, same worker): %+v", p)
	}
}

// pushArtifact pushes file to the harness registry as an OCI artifact of
// one layer, as `oras push REF FILE` does, and returns its reference.
func pushArtifact(t *testing.T, repoName, tag, file string) string {
	t.Helper()
	ctx := t.Context()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	store := memory.New()
	layer := content.NewDescriptorFromBytes("application/vnd.oci.image.layer.v1.tar", data)
	layer.Annotations = map[string]string{ocispec.AnnotationTitle: filepath.Base(file)}
	if err := store.Push(ctx, layer, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	desc, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "application/vnd.cuttle.test.package", oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Tag(ctx, desc, tag); err != nil {
		t.Fatal(err)
	}
	repo, err := orasremote.NewRepository(env.registry.Addr + "/" + repoName)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	repo.Client = &auth.Client{Credential: auth.StaticCredential(env.registry.Addr, auth.Credential{Username: env.registry.User, Password: env.registry.Password})}
	if _, err := oras.Copy(ctx, store, tag, repo, tag, oras.DefaultCopyOptions); err != nil {
		t.Fatal(err)
	}
	return "oci://" + env.registry.Addr + "/" + repoName + ":" + tag
}

// ociPackage pushes a chart package to the harness registry as
// repo+token:1.4.0 and writes a cuttle.yaml whose feed has the registry's
// user (the password from CUTTLE_IT_REGISTRY_PW, see runWithPassword).
func ociPackage(t *testing.T, repo string) (tok, file, ref, cfg string) {
	t.Helper()
	dir := t.TempDir()
	tok = uniq(t)
	file = writePackage(t, dir, "acme-chart.1.4.0.tar.gz", []pkgEntry{{name: "Chart.yaml", body: "name: " + tok + "\n", mode: 0o644}})
	ref = pushArtifact(t, repo+tok, "1.4.0", file)
	cfg = filepath.Join(dir, "cuttle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("feeds:\n  charts: {registry: %s, username: %s, password_env: CUTTLE_IT_REGISTRY_PW}\n", env.registry.Addr, env.registry.User)), 0o600)
	return tok, file, ref, cfg
}

// TestPackageFromOCI: an oci:// source is pulled with the credentials of
// the feed whose registry it is (the password from the environment only),
// and reaches the step like any package.
func TestPackageFromOCI(t *testing.T) {
	t.Parallel()
	tok, file, ref, cfg := ociPackage(t, "charts/acme-chart-")
	args := append(workerArgs(), "--config", cfg, "--image", env.image, "--pull", "never", "--package", "Chart="+ref,
		"--inline", `cat "#{Octopus.Action.Package[Chart].ExtractedPath}/Chart.yaml"; echo "id=#{Octopus.Action.Package.PackageId} v=#{Octopus.Action.Package.PackageVersion}"`)
	r := runWithPassword(t, env.registry.Password, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "name: "+tok) || !strings.Contains(r.stdout, "id=acme-chart-"+tok+" v=1.4.0") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if p := packageOf(t, r, "Chart"); p.SHA256 != fileSHA(t, file) || p.BytesSent != fileSize(t, file) {
		t.Errorf("report: %+v", p)
	}
	for _, s := range []string{r.stdout, r.stderr, r.report.Raw} {
		if strings.Contains(s, env.registry.Password) {
			t.Errorf("the feed's password is in the output or report")
		}
	}
	assertNothingLeft(t, r)

	r = runWithPassword(t, "wrong-password", args...)
	if r.code != 125 || !strings.Contains(r.stderr, "package Chart") {
		t.Fatalf("wrong password: exit %d, want 125 naming the package\nstderr: %s", r.code, r.stderr)
	}
}

// TestPackageSubstituteInFiles: --substitute-in-files evaluates the
// matched files of an extracted package with the step's variables,
// sensitive ones included, keeps their mode, leaves other files and
// unknown expressions as written (with a warning), and warns about a
// pattern that matches nothing.
func TestPackageSubstituteInFiles(t *testing.T) {
	t.Parallel()
	dir, tok := t.TempDir(), uniq(t)
	secret := "pw-" + tok
	tmpl := `{"host":"#{Db.Host}","pw":"#{Db.Password}","keep":"#{Nope}","list":"#{each n in Names}#{n};#{/each}"}`
	web := writePackage(t, dir, "Acme.Web.1.0.0.tar.gz", []pkgEntry{
		{name: "config/app.json", body: tmpl, mode: 0o640},
		{name: "config/deep/x.json", body: "deep #{Db.Host}", mode: 0o644},
		{name: "readme.txt", body: "untouched #{Db.Host}", mode: 0o644},
	})
	want := `{"host":"db-` + tok + `","pw":"` + secret + `","keep":"#{Nope}","list":"a;b;"}`
	sum := sha256.Sum256([]byte(want))
	r := runCuttleEnv(t, []string{"CUTTLE_IT_SECRET=" + secret}, append(workerArgs(), "--image", env.image, "--pull", "never",
		"--package", "Web="+web, "--var", "Db.Host=db-"+tok, "--var", "Names=a,b", "--sensitive-var", "Db.Password=CUTTLE_IT_SECRET",
		"--substitute-in-files", "Web/config/**/*.json", "--substitute-in-files", "Web/none/*.xml",
		"--inline", `sha256sum Web/config/app.json; cat Web/config/deep/x.json; echo; cat Web/readme.txt; echo; stat -c '%a %n' Web/config/app.json`)...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, w := range []string{hex.EncodeToString(sum[:]) + "  Web/config/app.json", "deep db-" + tok, "untouched #{Db.Host}", "640 Web/config/app.json"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
		}
	}
	for _, w := range []string{"'#{Nope}'", "no file in the work directory matches Web/none/*.xml"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks the warning %q:\n%s", w, r.stderr)
		}
	}
	if strings.Contains(r.stdout+r.stderr+r.report.Raw, secret) {
		t.Error("the sensitive value appeared in the output or report")
	}
	assertNothingLeft(t, r)

	bad := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--package", "Web="+web,
		"--substitute-in-files", "../../etc/passwd", "--inline", "true")...)
	if bad.code != 125 || !strings.Contains(bad.stderr, "files outside the work directory cannot be substituted") {
		t.Errorf("a pattern out of the work directory: exit %d, stderr %s; want 125 naming the problem", bad.code, bad.stderr)
	}
}

// TestPackageSizeBombRefused: a package that extracts past
// defaults.package_max_extract_mb, or has more entries than
// package_max_entries, is refused (exit 125, the script does not run),
// the error names the setting, and nothing of it is left on the worker.
func TestPackageSizeBombRefused(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "cuttle.yaml")
	if err := os.WriteFile(cfg, []byte("defaults: {package_max_extract_mb: 1, package_max_entries: 5}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var many []pkgEntry
	for i := range 10 {
		many = append(many, pkgEntry{name: fmt.Sprintf("f%d.txt", i), body: "x", mode: 0o644})
	}
	for _, tc := range []struct {
		name, file string
		entries    []pkgEntry
		want       string
	}{
		// 3 MiB of zeros: a few KiB compressed.
		{"bytes", "Bomb.1.0.0.tar.gz", []pkgEntry{{name: "zeros", body: strings.Repeat("\x00", 3<<20), mode: 0o644}}, "package_max_extract_mb"},
		{"entries", "Many.1.0.0.zip", many, "package_max_entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := writePackage(t, t.TempDir(), tc.file, tc.entries)
			if fileSize(t, p) > 64<<10 {
				t.Fatalf("the test package is %d bytes: not a bomb", fileSize(t, p))
			}
			r := runCuttle(t, append(workerArgs(), "--config", cfg, "--image", env.image, "--pull", "never",
				"--package", "Bomb="+p, "--inline", "echo the script ran")...)
			if r.code != 125 || strings.Contains(r.stdout, "the script ran") {
				t.Fatalf("exit %d, stdout %q; want 125 and no script\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			if !strings.Contains(r.stderr, "package refused") || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not name the limit %s: %s", tc.want, r.stderr)
			}
			assertNothingLeft(t, r)
		})
	}
}

// TestPackageNonRootUser: an image with a non-root USER can read, run and
// change an extracted package's files and create files among them, as it
// can the rest of the work directory, and cleanup removes it all.
func TestPackageNonRootUser(t *testing.T) {
	t.Parallel()
	ref := "cuttle-test/nonroot:1"
	if err := testenv.DockerBuild(t.Context(), ref, "FROM "+env.image+"\nUSER app\n"); err != nil {
		t.Fatal(err)
	}
	web := writePackage(t, t.TempDir(), "Acme.Web.1.0.0.tar.gz", []pkgEntry{
		{name: "bin/run.sh", body: "#!/bin/sh\necho ran as $(id -u)\n", mode: 0o750},
		{name: "config/app.json", body: "{}", mode: 0o640},
		{name: "ro/file", body: "r", mode: 0o400},
	})
	r := runCuttle(t, append(workerArgs(), "--image", ref, "--pull", "never", "--package", "Web="+web, "--inline",
		`set -e; Web/bin/run.sh; echo '{"a":1}' > Web/config/app.json; cat Web/config/app.json; mkdir Web/logs; echo x > Web/logs/l; cat Web/ro/file; echo; echo done`)...)
	if r.code != 0 || !strings.Contains(r.stdout, "ran as 1000") || !strings.Contains(r.stdout, `{"a":1}`) || !strings.Contains(r.stdout, "done") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	assertNothingLeft(t, r)
}

// acquiredOf is the report's acquired field of package name in step 0.
func acquiredOf(t *testing.T, r result, name string) string {
	t.Helper()
	var rep struct {
		Steps []struct {
			Packages []struct {
				Name     string `json:"name"`
				Acquired string `json:"acquired"`
			} `json:"packages"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(r.report.Raw), &rep); err != nil || len(rep.Steps) == 0 {
		t.Fatalf("report %q: %v", r.report.Raw, err)
	}
	for _, p := range rep.Steps[0].Packages {
		if p.Name == name {
			return p.Acquired
		}
	}
	t.Fatalf("report has no package %s: %s", name, r.report.Raw)
	return ""
}

// assertNoCacheTemporaries: a failed download left nothing in the
// worker's package cache, not even its temporary directory.
func assertNoCacheTemporaries(t *testing.T, sha string) {
	t.Helper()
	cache := filepath.Join(env.user.Home, ".cuttle/packages")
	entries, _ := os.ReadDir(cache)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") || e.Name() == sha {
			t.Errorf("the worker's cache holds %s after a failed download", e.Name())
		}
	}
}

// trustFileOf writes the TLS test server's certificate, its own CA, into
// dir as ca.pem (a feed's ca_file), and returns that path and the
// server's host:port (a feed's registry).
func trustFileOf(t *testing.T, dir string, srv *httptest.Server) (string, string) {
	t.Helper()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return ca, strings.TrimPrefix(srv.URL, "https://")
}

// TestPackageAcquiredByWorkerHTTPS: with acquisition: worker (the feed's),
// the worker downloads an https package itself, from a TLS server whose
// CA only the feed's ca_file names: the controller neither trusts that
// server nor asks it for anything (one request, the worker's), and
// nothing crosses the SSH link. A second run finds it cached; without
// the CA, or with a wrong digest, the step is refused naming the package
// and nothing is left. Not parallel: it looks at the whole cache.
func TestPackageAcquiredByWorkerHTTPS(t *testing.T) {
	dir, tok := t.TempDir(), uniq(t)
	file := writePackage(t, dir, "Acme.Tls.1.0.0.tar.gz", []pkgEntry{{name: "hello.txt", body: "over tls " + tok + "\n", mode: 0o644}})
	other := writePackage(t, dir, "Acme.Tls.2.0.0.tar.gz", []pkgEntry{{name: "hello.txt", body: "v2 " + tok + "\n", mode: 0o644}})
	var gets atomic.Int64
	var agents sync.Map
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		agents.Store(r.Header.Get("User-Agent"), true)
		http.ServeFile(w, r, filepath.Join(dir, strings.TrimPrefix(r.URL.Path, "/pkgs/")))
	}))
	defer srv.Close()
	ca, host := trustFileOf(t, dir, srv)
	cfg := filepath.Join(dir, "cuttle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("feeds:\n  files: {registry: %q, acquisition: worker, ca_file: %s}\n", host, ca)), 0o600)
	source := srv.URL + "/pkgs/Acme.Tls.1.0.0.tar.gz#sha256=" + fileSHA(t, file)
	run := func(cfg, pkg string) result {
		args := append(workerArgs(), "--image", env.image, "--pull", "never", "--package", pkg,
			"--inline", `cat "#{Octopus.Action.Package[Web].ExtractedPath}/hello.txt"`)
		if cfg != "" {
			args = append(args, "--config", cfg)
		}
		return runCuttle(t, args...)
	}

	r := run(cfg, "Web="+source)
	if r.code != 0 || !strings.Contains(r.stdout, "over tls "+tok) {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	want := reportPackage{Name: "Web", ID: "Acme.Tls", Version: "1.0.0", SHA256: fileSHA(t, file)}
	if got := packageOf(t, r, "Web"); got != want || acquiredOf(t, r, "Web") != "worker" {
		t.Errorf("report %+v acquired %q, want %+v acquired worker (bytes_sent 0)", got, acquiredOf(t, r, "Web"), want)
	}
	if n := gets.Load(); n != 1 {
		t.Errorf("the server had %d requests, want 1 (the worker's)", n)
	}
	if _, ok := agents.Load("cuttle-step-runner"); !ok {
		t.Errorf("no request came from the worker's step runner")
	}
	assertNothingLeft(t, r)

	r = run(cfg, "Web="+source)
	if p := packageOf(t, r, "Web"); r.code != 0 || !p.Cached || p.BytesSent != 0 || gets.Load() != 1 {
		t.Errorf("second run: exit %d, %+v, %d requests, want a cache hit and no new request\nstderr: %s", r.code, p, gets.Load(), r.stderr)
	}

	// The worker does not trust the server without the CA bundle.
	v2 := srv.URL + "/pkgs/Acme.Tls.2.0.0.tar.gz#sha256=" + fileSHA(t, other)
	r = run("", "Web="+v2+",acquisition=worker")
	if r.code != 125 || !strings.Contains(r.stderr, "package Web") || !strings.Contains(r.stderr, "ca_file") || gets.Load() != 1 {
		t.Errorf("no CA: exit %d, %d requests, want 125 naming package Web and ca_file, and no request\nstderr: %s", r.code, gets.Load(), r.stderr)
	}
	assertNothingLeft(t, r)
	assertNoCacheTemporaries(t, fileSHA(t, other))

	// What the server sends is not what the digest names.
	wrong := srv.URL + "/pkgs/Acme.Tls.1.0.0.tar.gz#sha256=" + strings.Repeat("0", 64)
	r = run(cfg, "Web="+wrong)
	if r.code != 125 || !strings.Contains(r.stderr, "package Web") || !strings.Contains(r.stderr, "check the source and its digest") {
		t.Errorf("wrong digest: exit %d, want 125 naming package Web\nstderr: %s", r.code, r.stderr)
	}
	assertNothingLeft(t, r)
	assertNoCacheTemporaries(t, strings.Repeat("0", 64))
}

// TestPackageHTTPSWithFeedCredentials: an https source on a server that
// wants basic authentication gets the credentials of the feed whose
// registry is its host:port, sent on stdin to the worker that downloads it;
// the password shows nowhere, the step does not see it, and without a
// feed, or with a wrong password, the step is refused saying which fix
// applies, with nothing left.
func TestPackageHTTPSWithFeedCredentials(t *testing.T) {
	dir, tok := t.TempDir(), uniq(t)
	const pw = "feed-pw-9d2c41"
	file := writePackage(t, dir, "Acme.Auth.1.0.0.tar.gz", []pkgEntry{{name: "hello.txt", body: "behind auth " + tok + "\n", mode: 0o644}})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ci" || p != pw {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		http.ServeFile(w, r, filepath.Join(dir, strings.TrimPrefix(r.URL.Path, "/pkgs/")))
	}))
	defer srv.Close()
	ca, host := trustFileOf(t, dir, srv)
	withFeed := filepath.Join(dir, "cuttle.yaml")
	os.WriteFile(withFeed, []byte(fmt.Sprintf("feeds:\n  files: {registry: %q, username: ci, password_env: CUTTLE_IT_FEED_PW, acquisition: worker, ca_file: %s}\n", host, ca)), 0o600)
	noCreds := filepath.Join(dir, "nocreds.yaml")
	os.WriteFile(noCreds, []byte(fmt.Sprintf("feeds:\n  files: {registry: %q, acquisition: worker, ca_file: %s}\n", host, ca)), 0o600)
	source := srv.URL + "/pkgs/Acme.Auth.1.0.0.tar.gz#sha256=" + fileSHA(t, file)
	run := func(cfg, password string) result {
		return runCuttleEnv(t, []string{"CUTTLE_IT_FEED_PW=" + password}, append(workerArgs(), "--config", cfg, "--image", env.image, "--pull", "never",
			"--package", "Web="+source, "--inline", `cat "#{Octopus.Action.Package[Web].ExtractedPath}/hello.txt"; env | rev`)...)
	}
	reversed := func(s string) string {
		b := []byte(s)
		slices.Reverse(b)
		return string(b)
	}

	// Refusals first: a later run would find the package in the worker's cache.
	for _, tc := range []struct{ name, cfg, password, want string }{
		{"no credentials", noCreds, "", "the server wants credentials: add a feed"},
		{"a wrong password", withFeed, "wrong-pw-77", "refused the feed's credentials"},
	} {
		r := run(tc.cfg, tc.password)
		if r.code == 0 || !strings.Contains(r.stderr, "package Web") || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "wrong-pw-77") {
			t.Errorf("%s: exit %d, want a failure naming package Web and %q, without the password\nstderr: %s", tc.name, r.code, tc.want, r.stderr)
		}
		assertNothingLeft(t, r)
	}

	r := run(withFeed, pw)
	if r.code != 0 || !strings.Contains(r.stdout, "behind auth "+tok) || acquiredOf(t, r, "Web") != "worker" {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout, reversed(pw)) {
		t.Errorf("the step's environment holds the feed's password")
	}
	for _, s := range []string{r.stdout, r.stderr, r.report.Raw} {
		if strings.Contains(s, pw) {
			t.Errorf("the feed's password is in the output or report")
		}
	}
	assertNothingLeft(t, r)
}

// TestPackageAcquiredByWorkerOCI: with acquisition=worker, the worker
// pulls an OCI artifact from the harness registry itself, with the
// feed's credentials (sent on stdin); the artifact's file name reaches
// the step (placed unopened here), and nothing crosses the link. A wrong
// password fails the step naming the package, and no password shows.
func TestPackageAcquiredByWorkerOCI(t *testing.T) {
	t.Parallel()
	tok, file, ref, cfg := ociPackage(t, "charts/worker-chart-")
	args := append(workerArgs(), "--config", cfg, "--image", env.image, "--pull", "never",
		"--package", "Chart="+ref+",acquisition=worker,extract=false",
		"--inline", `echo "file=#{Octopus.Action.Package[Chart].PackageFileName} id=#{Octopus.Action.Package.PackageId} v=#{Octopus.Action.Package.PackageVersion}"; tar -xzOf "#{Octopus.Action.Package[Chart].PackageFilePath}" Chart.yaml`)
	r := runWithPassword(t, env.registry.Password, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "name: "+tok) || !strings.Contains(r.stdout, "file=Chart.tar.gz id=worker-chart-"+tok+" v=1.4.0") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	want := reportPackage{Name: "Chart", ID: "worker-chart-" + tok, Version: "1.4.0", SHA256: fileSHA(t, file)}
	if got := packageOf(t, r, "Chart"); got != want || acquiredOf(t, r, "Chart") != "worker" {
		t.Errorf("report %+v acquired %q, want %+v acquired worker (bytes_sent 0)", got, acquiredOf(t, r, "Chart"), want)
	}
	for _, s := range []string{r.stdout, r.stderr, r.report.Raw} {
		if strings.Contains(s, env.registry.Password) {
			t.Errorf("the feed's password is in the output or report")
		}
	}
	assertNothingLeft(t, r)

	r = runWithPassword(t, "wrong-password", args...)
	if r.code != 125 || !strings.Contains(r.stderr, "package Chart") || !strings.Contains(r.stderr, "check the feed's username and password") {
		t.Fatalf("wrong password: exit %d, want 125 naming the package and the fix\nstderr: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "wrong-password") {
		t.Errorf("the password is in the error: %s", r.stderr)
	}
	assertNothingLeft(t, r)
}
