//go:build linux

package agent

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/wire"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

// putStream is the stream files-put reads: header, bytes, sha256 line.
func putStream(files map[string]string, sumOf func(string) string) io.Reader {
	var b bytes.Buffer
	for p, body := range files {
		h, _ := json.Marshal(wire.PackHeader{Path: p, Size: int64(len(body))})
		fmt.Fprintf(&b, "%s\n%s%s\n", h, body, "sha256 "+sumOf(body))
	}
	return &b
}

func sha(s string) string { x := sha256.Sum256([]byte(s)); return hex.EncodeToString(x[:]) }

func TestFilesGet(t *testing.T) {
	wd := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret.json")
	writeTree(t, wd, map[string]string{
		"web/config/app.json": "#{Db}", "web/config/deep/x.json": "deep", "web/readme.txt": "no",
	})
	os.WriteFile(outside, []byte("outside"), 0o600)
	if err := os.Symlink(outside, filepath.Join(wd, "web/config/link.json")); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := FilesGet(wd, []string{"web/config/*.json", "web/**/*.json", "nothing/*.json"}, &out); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(&out)
	line, _ := r.ReadBytes('\n')
	var m wire.FileMatches
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	want := []wire.PatternMatch{
		{Pattern: "web/config/*.json", Paths: []string{"web/config/app.json"}},
		{Pattern: "web/**/*.json", Paths: []string{"web/config/app.json", "web/config/deep/x.json"}},
		{Pattern: "nothing/*.json"},
	}
	if !reflect.DeepEqual(m.Patterns, want) {
		t.Fatalf("matches = %+v, want %+v (a symlink is never matched)", m.Patterns, want)
	}
	rest, _ := io.ReadAll(r)
	if !strings.Contains(string(rest), "#{Db}") || !strings.Contains(string(rest), "deep") || strings.Contains(string(rest), "outside") {
		t.Fatalf("pack stream %q: want both matched files and nothing from outside", rest)
	}
	if err := FilesGet(wd, []string{"../*"}, io.Discard); err == nil {
		t.Fatal("a pattern leading out of the work directory was accepted")
	}
}

func TestFilesPut(t *testing.T) {
	wd := t.TempDir()
	writeTree(t, wd, map[string]string{"web/app.json": "#{Db}", "web/other.json": "keep"})
	os.Chmod(filepath.Join(wd, "web/app.json"), 0o751)
	if err := FilesPut(wd, putStream(map[string]string{"web/app.json": "db1"}, sha)); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(wd, "web/app.json"))
	fi, _ := os.Stat(filepath.Join(wd, "web/app.json"))
	if string(b) != "db1" || fi.Mode().Perm() != 0o751 {
		t.Fatalf("web/app.json = %q mode %v, want db1 mode 0751", b, fi.Mode().Perm())
	}

	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "x"), []byte("x"), 0o644)
	os.Symlink(outside, filepath.Join(wd, "out"))
	for name, in := range map[string]io.Reader{
		"escape":       putStream(map[string]string{"../x": "evil"}, sha),
		"through link": putStream(map[string]string{"out/x": "evil"}, sha),
		"new file":     putStream(map[string]string{"web/new.json": "evil"}, sha),
		"bad sum":      putStream(map[string]string{"web/other.json": "evil"}, func(string) string { return sha("other") }),
	} {
		if err := FilesPut(wd, in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(outside, "x")); string(b) != "x" {
		t.Fatalf("a file outside the work directory was written: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(wd, "web/other.json")); string(b) != "keep" {
		t.Fatalf("a refused content replaced the file: %q", b)
	}
	if _, err := os.Stat(filepath.Join(wd, "web/new.json")); err == nil {
		t.Fatal("files-put created a file that was not there")
	}
	left, _ := filepath.Glob(filepath.Join(wd, "web/.cuttle-substitute-*"))
	if len(left) > 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}
