package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func stage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "doc"), 0o755)
	os.WriteFile(filepath.Join(dir, "cuttle"), []byte("binary"), 0o755)
	os.WriteFile(filepath.Join(dir, "doc", "README.md"), []byte("read me"), 0o600)
	return dir
}

func TestArchivesAreReproducible(t *testing.T) {
	mtime := time.Unix(1764633600, 0)
	for _, name := range []string{"cuttle-v1-linux-amd64.tar.gz", "cuttle-v1-windows-amd64.zip"} {
		t.Run(name, func(t *testing.T) {
			var runs [][]byte
			for i := 0; i < 2; i++ {
				// Different stage folders, times and modes on disk: the
				// archive must not depend on them.
				dir := stage(t)
				os.Chtimes(filepath.Join(dir, "cuttle"), time.Now(), time.Unix(int64(i)*1000, 0))
				out := filepath.Join(t.TempDir(), name)
				if err := pack(out, dir, mtime); err != nil {
					t.Fatal(err)
				}
				b, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				runs = append(runs, b)
			}
			if !bytes.Equal(runs[0], runs[1]) {
				t.Fatal("two packs of the same files differ")
			}
			got := list(t, name, runs[0])
			want := map[string]string{"cuttle-v1-" + strings.Split(name, "-")[2] + "-amd64/cuttle": "binary 755",
				"cuttle-v1-" + strings.Split(name, "-")[2] + "-amd64/doc/README.md": "read me 644"}
			if len(got) != len(want) {
				t.Errorf("entries %q, want %q", got, want)
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s: %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

// list reads an archive into name -> "content mode", checking the time.
func list(t *testing.T, name string, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	if strings.HasSuffix(name, ".zip") {
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			rc, _ := f.Open()
			data, _ := io.ReadAll(rc)
			out[f.Name] = string(data) + " " + octal(f.Mode().Perm())
		}
		return out
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.ModTime.Unix() != 1764633600 || h.Uid != 0 || h.Uname != "" {
			t.Errorf("%s: time %v, owner %d %q", h.Name, h.ModTime, h.Uid, h.Uname)
		}
		data, _ := io.ReadAll(tr)
		out[h.Name] = string(data) + " " + octal(os.FileMode(h.Mode).Perm())
	}
}

func octal(m os.FileMode) string { return strconv.FormatUint(uint64(m), 8) }

func TestPackRefusesAndLeavesNothing(t *testing.T) {
	dir := stage(t)
	os.Symlink("/etc/passwd", filepath.Join(dir, "link"))
	outDir := t.TempDir()
	for _, c := range []struct{ out, want string }{
		{filepath.Join(outDir, "a.tar.gz"), "not a regular file"},
		{filepath.Join(outDir, "a.rar"), "must end in .tar.gz or .zip"},
	} {
		err := pack(c.out, dir, time.Unix(0, 0))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("pack %s: %v, want %q", c.out, err, c.want)
		}
	}
	if left, _ := os.ReadDir(outDir); len(left) > 0 {
		t.Errorf("left in the output folder: %v", left)
	}
}
