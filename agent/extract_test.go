//go:build linux

package agent

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/cuttle-sh/cuttle/wire"
)

// member is one archive entry a test writes.
type member struct {
	name, body, link string
	mode             int64
	kind             byte // tar typeflag; 0: regular file
}

func tarBytes(t *testing.T, ms []member) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, m := range ms {
		h := &tar.Header{Name: m.name, Mode: m.mode, Typeflag: m.kind, Linkname: m.link, Size: int64(len(m.body)), Format: tar.FormatPAX}
		if h.Typeflag == 0 {
			h.Typeflag = tar.TypeReg
		}
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(m.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func zipBytes(t *testing.T, ms []member) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, m := range ms {
		h := &zip.FileHeader{Name: m.name, Method: zip.Deflate}
		mode := fs.FileMode(m.mode)
		switch m.kind {
		case tar.TypeSymlink:
			mode |= fs.ModeSymlink
			m.body = m.link
		case tar.TypeDir:
			mode |= fs.ModeDir
		}
		if m.mode != 0 || m.kind != 0 {
			h.SetMode(mode)
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(m.body))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// archive writes ms as format into a file and returns its path.
func archive(t *testing.T, format wire.ArchiveFormat, ms []member) string {
	t.Helper()
	var data []byte
	if format == wire.FormatZip {
		data = zipBytes(t, ms)
	} else {
		data = tarBytes(t, ms)
	}
	var b bytes.Buffer
	switch format {
	case wire.FormatTarGz:
		gz := gzip.NewWriter(&b)
		gz.Write(data)
		gz.Close()
		data = b.Bytes()
	case wire.FormatTarXz:
		xw, err := xz.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		xw.Write(data)
		xw.Close()
		data = b.Bytes()
	case wire.FormatTarBz:
		// The standard library reads bzip2 only: the bzip2 program writes.
		cmd := exec.Command("bzip2", "-c")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("bzip2 (install the bzip2 package): %v", err)
		}
		data = out
	}
	p := filepath.Join(t.TempDir(), "pkg."+string(format))
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExtractEachFormat(t *testing.T) {
	ms := []member{
		{name: "bin/", kind: tar.TypeDir, mode: 0o755},
		{name: "bin/deploy.sh", body: "#!/bin/sh\necho hi\n", mode: 0o755},
		{name: "config/app.json", body: `{"a":1}`, mode: 0o640},
		{name: "setuid-tool", body: "x", mode: 0o4755},
		{name: "setgid-tool", body: "x", mode: 0o2750},
		{name: "current", kind: tar.TypeSymlink, link: "config/app.json"},
	}
	for _, format := range []wire.ArchiveFormat{wire.FormatZip, wire.FormatTar, wire.FormatTarGz, wire.FormatTarBz, wire.FormatTarXz} {
		t.Run(string(format), func(t *testing.T) {
			dest := filepath.Join(t.TempDir(), "Web")
			if err := Extract(archive(t, format, ms), format, dest, DefaultLimits); err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]fs.FileMode{
				"bin/deploy.sh": 0o755, "config/app.json": 0o640, "setuid-tool": 0o755, "setgid-tool": 0o750,
			} {
				fi, err := os.Lstat(filepath.Join(dest, name))
				if err != nil {
					t.Fatal(err)
				}
				// Mode() shows set-uid and set-gid too: they must be gone.
				if got := fi.Mode() &^ fs.ModeType; got != want {
					t.Errorf("%s: mode %v, want %v", name, got, want)
				}
			}
			if b, err := os.ReadFile(filepath.Join(dest, "current")); err != nil || string(b) != `{"a":1}` {
				t.Errorf("through the symlink: %q, %v", b, err)
			}
		})
	}
}

func TestExtractRefuses(t *testing.T) {
	tests := []struct {
		name    string
		format  wire.ArchiveFormat
		ms      []member
		lim     Limits
		wantErr string
	}{
		{name: "zip slip", format: wire.FormatZip, ms: []member{{name: "../evil", body: "x"}}, wantErr: `".."`},
		{name: "zip slip deeper", format: wire.FormatZip, ms: []member{{name: "a/../../evil", body: "x"}}, wantErr: `".."`},
		{name: "zip slip backslash", format: wire.FormatZip, ms: []member{{name: `..\evil`, body: "x"}}, wantErr: `".."`},
		{name: "tar slip", format: wire.FormatTar, ms: []member{{name: "../evil", body: "x"}}, wantErr: `".."`},
		{name: "absolute", format: wire.FormatTar, ms: []member{{name: "/tmp/evil", body: "x"}}, wantErr: "absolute"},
		{name: "symlink out, absolute", format: wire.FormatTar, ms: []member{{name: "l", kind: tar.TypeSymlink, link: "/etc"}}, wantErr: "points outside"},
		{name: "symlink out, relative", format: wire.FormatTar, ms: []member{{name: "a/l", kind: tar.TypeSymlink, link: "../../x"}}, wantErr: "points outside"},
		{name: "zip symlink out", format: wire.FormatZip, ms: []member{{name: "l", kind: tar.TypeSymlink, link: "../x"}}, wantErr: "points outside"},
		{name: "hard link out", format: wire.FormatTar, ms: []member{{name: "h", kind: tar.TypeLink, link: "../outside"}}, wantErr: `".."`},
		{name: "device", format: wire.FormatTar, ms: []member{{name: "d", kind: tar.TypeChar}}, wantErr: "device"},
		{name: "size bomb", format: wire.FormatTarGz, ms: []member{{name: "big", body: strings.Repeat("0", 1<<20)}}, lim: Limits{MaxBytes: 1 << 16, MaxEntries: 10}, wantErr: "more than 65536 bytes"},
		{name: "zip size bomb", format: wire.FormatZip, ms: []member{{name: "a", body: strings.Repeat("0", 40000)}, {name: "b", body: strings.Repeat("0", 40000)}}, lim: Limits{MaxBytes: 65536, MaxEntries: 10}, wantErr: "more than 65536 bytes"},
		{name: "too many entries", format: wire.FormatTar, ms: []member{{name: "a"}, {name: "b"}, {name: "c"}}, lim: Limits{MaxBytes: 1 << 20, MaxEntries: 2}, wantErr: "more than 2 entries"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.lim == (Limits{}) {
				tc.lim = DefaultLimits
			}
			parent := t.TempDir()
			dest := filepath.Join(parent, "work", "Web")
			os.Mkdir(filepath.Dir(dest), 0o755)
			err := Extract(archive(t, tc.format, tc.ms), tc.format, dest, tc.lim)
			if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want a refusal saying %q", err, tc.wantErr)
			}
			for _, p := range []string{filepath.Join(parent, "evil"), filepath.Join(parent, "work", "evil"), "/tmp/evil"} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s was written", p)
				}
			}
		})
	}
}

// TestExtractWriteThroughSymlink: a symlink inside the directory that an
// attacker points out after the check, or a later entry that writes
// through a symlink to a directory outside, lands nothing outside.
func TestExtractWriteThroughSymlink(t *testing.T) {
	parent := t.TempDir()
	outside := filepath.Join(parent, "outside")
	os.Mkdir(outside, 0o755)
	dest := filepath.Join(parent, "Web")
	// Writing through a link to inside is refused too: the second case
	// would otherwise make a symlink whose "../outside" is relative to
	// the root, not to "sub".
	tests := [][]member{
		{{name: "in", kind: tar.TypeSymlink, link: "."}, {name: "in/../../outside/x", body: "x"}},
		{{name: "sub/", kind: tar.TypeDir}, {name: "sub/l", kind: tar.TypeSymlink, link: ".."}, {name: "sub/l/l2", kind: tar.TypeSymlink, link: "../outside"}},
	}
	for i, ms := range tests {
		d := dest + string(rune('a'+i))
		if err := Extract(archive(t, wire.FormatTar, ms), wire.FormatTar, d, DefaultLimits); !errors.Is(err, ErrRefused) {
			t.Errorf("case %d: err %v, want a refusal", i, err)
		}
		if entries, _ := os.ReadDir(outside); len(entries) > 0 {
			t.Errorf("case %d: %d entries written outside", i, len(entries))
		}
	}
	// A planted symlink out: os.Root refuses to write through it.
	d := filepath.Join(parent, "planted")
	ms := []member{{name: "x/f", body: "x"}}
	p := archive(t, wire.FormatTar, ms)
	os.Mkdir(filepath.Join(parent, "planted-tmp"), 0o755)
	x := &extractor{lim: DefaultLimits, dirs: map[string]fs.FileMode{}, real: map[string]bool{}}
	os.Mkdir(d, 0o755)
	os.Symlink(outside, filepath.Join(d, "x"))
	root, err := os.OpenRoot(d)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	x.root = root
	err = x.tar(p, wire.FormatTar)
	if !errors.Is(err, ErrRefused) {
		t.Errorf("writing through a planted symlink: err %v, want a refusal", err)
	}
	if _, err := os.Lstat(filepath.Join(outside, "f")); err == nil {
		t.Error("wrote through the planted symlink")
	}
}

func TestExtractRepeatedName(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "Web")
	ms := []member{{name: "a", body: "old"}, {name: "l", kind: tar.TypeSymlink, link: "a"}, {name: "l", body: "new"}}
	if err := Extract(archive(t, wire.FormatTar, ms), wire.FormatTar, dest, DefaultLimits); err != nil {
		t.Fatal(err)
	}
	// The second "l" replaced the symlink, not written through it.
	if b, _ := os.ReadFile(filepath.Join(dest, "a")); string(b) != "old" {
		t.Errorf("a = %q: written through the symlink", b)
	}
	if fi, err := os.Lstat(filepath.Join(dest, "l")); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("l: %v %v, want a regular file", fi, err)
	}
}

// FuzzExtract: any tar or zip extracts or is refused; nothing lands
// outside the destination and no symlink in it points outside.
func FuzzExtract(f *testing.F) {
	for _, ms := range [][]member{
		{{name: "a/b", body: "x"}, {name: "l", kind: tar.TypeSymlink, link: "a/b"}},
		{{name: "../x", body: "x"}},
		{{name: "s", kind: tar.TypeSymlink, link: "."}, {name: "s/t", kind: tar.TypeSymlink, link: ".."}},
	} {
		f.Add(tarBytes(&testing.T{}, ms), false)
		f.Add(zipBytes(&testing.T{}, ms), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, isZip bool) {
		parent := t.TempDir()
		file := filepath.Join(parent, "pkg")
		os.WriteFile(file, data, 0o600)
		format := wire.FormatTar
		if isZip {
			format = wire.FormatZip
		}
		dest := filepath.Join(parent, "Web")
		Extract(file, format, dest, Limits{MaxBytes: 1 << 20, MaxEntries: 100})
		entries, _ := os.ReadDir(parent)
		for _, e := range entries {
			if e.Name() != "pkg" && e.Name() != "Web" {
				t.Fatalf("%s written beside the destination", e.Name())
			}
		}
		filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			target, _ := os.Readlink(p)
			resolved := filepath.Join(filepath.Dir(p), target)
			if rel, err := filepath.Rel(dest, resolved); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				t.Fatalf("symlink %s -> %s points outside", p, target)
			}
			return nil
		})
	})
}
