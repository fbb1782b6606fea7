//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/wire"
)

// testPackage is a tar.gz package's bytes and the spec that names it.
func testPackage(t *testing.T, home string, ms []member) ([]byte, PackageSpec) {
	t.Helper()
	data, err := os.ReadFile(archive(t, wire.FormatTarGz, ms))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	work := filepath.Join(t.TempDir(), "work")
	os.Mkdir(work, 0o755)
	return data, PackageSpec{
		Home: home, SHA256: hex.EncodeToString(sum[:]), WorkDir: work, Name: "Web", Extract: true, Limits: DefaultLimits,
		Meta: wire.PackageMeta{ID: "Acme.Web", Version: "1.0.0", FileName: "Acme.Web.1.0.0.tar.gz"},
	}
}

func get(t *testing.T, p PackageSpec) (line string, rest []byte) {
	t.Helper()
	var out bytes.Buffer
	if err := PackageGet(p, &out); err != nil {
		t.Fatal(err)
	}
	l, r, _ := bytes.Cut(out.Bytes(), []byte("\n"))
	return string(l), r
}

// inWorkDir gives p a fresh work directory.
func inWorkDir(t *testing.T, p PackageSpec) PackageSpec {
	p.WorkDir = filepath.Join(t.TempDir(), "work")
	os.Mkdir(p.WorkDir, 0o755)
	return p
}

func TestPackageCache(t *testing.T) {
	home := t.TempDir()
	data, p := testPackage(t, home, []member{{name: "deploy.sh", body: "echo v1\n", mode: 0o755}})
	if line, _ := get(t, p); line != wire.PackageMiss {
		t.Fatalf("empty cache: %q, want %q", line, wire.PackageMiss)
	}
	if err := PackagePut(p, "", 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(p.WorkDir, "Web", "deploy.sh")); err != nil || string(b) != "echo v1\n" {
		t.Fatalf("placed: %q, %v", b, err)
	}
	for _, dir := range []string{filepath.Join(home, wire.PackagesDir), filepath.Join(home, wire.PackagesDir, p.SHA256)} {
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v %v, want mode 0700", dir, fi.Mode(), err)
		}
	}
	// A second step: a hit, placed unopened this time.
	p2 := inWorkDir(t, p)
	p2.Extract = false
	if line, _ := get(t, p2); line != wire.PackageHit {
		t.Fatalf("second get: %q, want %q", line, wire.PackageHit)
	}
	if b, err := os.ReadFile(filepath.Join(p2.WorkDir, "Web.tar.gz")); err != nil || !bytes.Equal(b, data) {
		t.Errorf("placed unopened: %d bytes, %v", len(b), err)
	}
	if entries, _ := os.ReadDir(filepath.Join(home, wire.PackagesDir)); len(entries) != 1 {
		t.Errorf("cache holds %d entries, want 1 (no temporary left)", len(entries))
	}
}

func TestPackagePutWrongDigest(t *testing.T) {
	home := t.TempDir()
	data, p := testPackage(t, home, []member{{name: "a", body: "x"}})
	data[len(data)/2] ^= 1
	err := PackagePut(p, "", 0, bytes.NewReader(data))
	if err == nil || !strings.Contains(err.Error(), "has sha256") {
		t.Fatalf("err %v, want a digest mismatch", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(home, wire.PackagesDir)); len(entries) != 0 {
		t.Errorf("cache holds %d entries after a bad upload", len(entries))
	}
	if _, err := os.Lstat(filepath.Join(p.WorkDir, "Web")); err == nil {
		t.Error("a package that failed its check was placed")
	}
}

// TestPackageCacheTampered: a cached file someone changed is dropped and
// sent again, never placed.
func TestPackageCacheTampered(t *testing.T) {
	home := t.TempDir()
	data, p := testPackage(t, home, []member{{name: "a", body: "x"}})
	if err := PackagePut(p, "", 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	cached := filepath.Join(home, wire.PackagesDir, p.SHA256, wire.PackageFile)
	os.WriteFile(cached, []byte("changed"), 0o600)
	p = inWorkDir(t, p)
	if line, _ := get(t, p); line != wire.PackageMiss {
		t.Fatalf("tampered entry: %q, want %q", line, wire.PackageMiss)
	}
	if _, err := os.Lstat(filepath.Join(p.WorkDir, "Web")); err == nil {
		t.Error("the tampered package was placed")
	}
}

func TestPackageDelta(t *testing.T) {
	home := t.TempDir()
	big := strings.Repeat("line of a large file that stays the same\n", 20000)
	v1, p1 := testPackage(t, home, []member{{name: "app.txt", body: big + "v1\n"}})
	if err := PackagePut(p1, "", 0, bytes.NewReader(v1)); err != nil {
		t.Fatal(err)
	}
	// Uncompressed, so that a small change stays small in the file.
	v2 := tarBytes(t, []member{{name: "app.txt", body: big + "v2\n"}})
	sum := sha256.Sum256(v2)
	p2 := inWorkDir(t, p1)
	p2.SHA256, p2.Meta.Version, p2.Meta.FileName = hex.EncodeToString(sum[:]), "2.0.0", "Acme.Web.2.0.0.tar"
	line, rest := get(t, p2)
	base, ok := strings.CutPrefix(line, wire.PackageBase)
	if !ok || base != p1.SHA256 {
		t.Fatalf("get v2: %q, want %q%s", line, wire.PackageBase, p1.SHA256)
	}
	sig, err := wire.ReadSignature(bufio.NewReader(bytes.NewReader(rest)))
	if err != nil {
		t.Fatal(err)
	}
	delta, err := wire.Delta(sig, v2)
	if err != nil {
		t.Fatal(err)
	}
	// v1 is gzip'd and v2 is not, so this delta carries most of v2: the
	// point here is the path, not the saving (the benchmark measures that).
	if err := PackagePut(p2, base, int64(len(v2)), bytes.NewReader(delta)); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(p2.WorkDir, "Web", "app.txt")); err != nil || !strings.HasSuffix(string(b), "v2\n") {
		t.Fatalf("placed from the delta: %d bytes, %v", len(b), err)
	}
	// v3 against v2, both plain tar: a small delta.
	v3 := tarBytes(t, []member{{name: "app.txt", body: big + "v3\n"}})
	sum = sha256.Sum256(v3)
	p3 := inWorkDir(t, p2)
	p3.SHA256, p3.Meta.Version = hex.EncodeToString(sum[:]), "3.0.0"
	line, rest = get(t, p3)
	if line != wire.PackageBase+p2.SHA256 {
		t.Fatalf("get v3: %q, want the latest version v2 as base", line)
	}
	sig, _ = wire.ReadSignature(bytes.NewReader(rest))
	delta, _ = wire.Delta(sig, v3)
	if len(delta) > len(v3)/10 {
		t.Errorf("delta %d bytes for a %d-byte file with one line changed", len(delta), len(v3))
	}
	if err := PackagePut(p3, p2.SHA256, int64(len(v3)), bytes.NewReader(delta)); err != nil {
		t.Fatal(err)
	}
	// A delta against the wrong base fails the digest check.
	p4 := inWorkDir(t, p3)
	sum = sha256.Sum256([]byte("other"))
	p4.SHA256 = hex.EncodeToString(sum[:])
	if err := PackagePut(p4, p2.SHA256, 1<<20, bytes.NewReader(delta)); err == nil || !strings.Contains(err.Error(), "has sha256") {
		t.Errorf("wrong base: err %v, want a digest mismatch", err)
	}
}

// TestPackagePutRace: steps (and controllers) that send the same package
// to one worker at once each get it placed, and the cache ends with one
// whole entry and no temporaries, as TestInstallBundleRace showed for
// bundles.
func TestPackagePutRace(t *testing.T) {
	home := t.TempDir()
	data, p := testPackage(t, home, []member{{name: "a", body: strings.Repeat("x", 100000)}})
	const n = 8
	errs := make([]error, n)
	specs := make([]PackageSpec, n)
	var wg sync.WaitGroup
	for i := range n {
		specs[i] = inWorkDir(t, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = PackagePut(specs[i], "", 0, bytes.NewReader(data))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("put %d: %v", i, err)
		}
		if _, err := os.Stat(filepath.Join(specs[i].WorkDir, "Web", "a")); err != nil {
			t.Errorf("put %d: not placed: %v", i, err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(home, wire.PackagesDir))
	if len(entries) != 1 || entries[0].Name() != p.SHA256 {
		t.Errorf("cache holds %v, want only %s", entries, p.SHA256)
	}
}

func TestPackageSpecCheck(t *testing.T) {
	_, good := testPackage(t, t.TempDir(), []member{{name: "a"}})
	for _, bad := range []func(*PackageSpec){
		func(p *PackageSpec) { p.Name = ".." },
		func(p *PackageSpec) { p.Name = "a/b" },
		func(p *PackageSpec) { p.SHA256 = "../../etc" },
		func(p *PackageSpec) { p.Meta.FileName = "../x.zip" },
		func(p *PackageSpec) { p.Meta.FileName = "x.exe" },
	} {
		p := good
		bad(&p)
		if err := PackagePut(p, "", 0, strings.NewReader("")); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

// TestPackageGC: past the cap, the least recently used entries go first;
// the one just placed and any used in the last minutes stay.
func TestPackageGC(t *testing.T) {
	cache := t.TempDir()
	now := time.Now()
	mk := func(name string, size int, used time.Duration) {
		dir := filepath.Join(cache, name)
		os.Mkdir(dir, 0o700)
		os.WriteFile(filepath.Join(dir, wire.PackageFile), make([]byte, size), 0o600)
		os.Chtimes(dir, now.Add(-used), now.Add(-used))
	}
	sha := func(c byte) string { return strings.Repeat(string(c), 64) }
	mk(sha('a'), 100, 3*time.Hour) // oldest
	mk(sha('b'), 100, 2*time.Hour)
	mk(sha('c'), 100, time.Hour)
	mk(sha('d'), 100, 4*time.Hour) // oldest of all, but the one kept
	mk(sha('e'), 100, time.Minute) // in use
	os.Mkdir(filepath.Join(cache, ".tmp-dead"), 0o700)
	os.Chtimes(filepath.Join(cache, ".tmp-dead"), now.Add(-2*time.Hour), now.Add(-2*time.Hour))
	os.Mkdir(filepath.Join(cache, ".tmp-live"), 0o700)

	removed, err := PackageGC(cache, 250, sha('d'), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{".tmp-dead", sha('a'), sha('b'), sha('c')}
	if strings.Join(removed, " ") != strings.Join(want, " ") {
		t.Errorf("removed %v, want %v", removed, want)
	}
	for _, name := range []string{sha('d'), sha('e'), ".tmp-live"} {
		if _, err := os.Stat(filepath.Join(cache, name)); err != nil {
			t.Errorf("%s was removed", name)
		}
	}
	// Under the cap nothing goes.
	if removed, _ := PackageGC(cache, 1000, "", 0); len(removed) != 0 {
		t.Errorf("under the cap, removed %v", removed)
	}
}

// TestShareTree: others get the owner's bits, the sticky bit stays, and
// a symlink (which may point anywhere) is not followed.
func TestShareTree(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "outside")
	os.WriteFile(outside, nil, 0o600)
	os.MkdirAll(filepath.Join(dir, "bin"), 0o750)
	os.WriteFile(filepath.Join(dir, "bin/run.sh"), nil, 0o750)
	os.WriteFile(filepath.Join(dir, "ro"), nil, 0o400)
	os.Mkdir(filepath.Join(dir, "tmp"), 0o700)
	os.Chmod(filepath.Join(dir, "tmp"), 0o700|os.ModeSticky)
	os.Symlink(outside, filepath.Join(dir, "link"))
	if err := shareTree(dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{"bin": 0o757 | os.ModeDir, "bin/run.sh": 0o757, "ro": 0o404, "tmp": 0o707 | os.ModeDir | os.ModeSticky} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode(), want)
		}
	}
	if fi, _ := os.Stat(outside); fi.Mode().Perm() != 0o600 {
		t.Errorf("a symlink's target outside was changed: %v", fi.Mode())
	}
}
