//go:build linux

package remote

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/agent"
)

// A pack stream from the worker side is received whole; escapes through
// symlinks and absolute paths are refused there and skipped here.
func TestPackRoundTrip(t *testing.T) {
	wd := t.TempDir()
	os.WriteFile(filepath.Join(wd, "report.txt"), []byte("all good\n"), 0o644)
	os.WriteFile(filepath.Join(wd, "empty"), nil, 0o644)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("not yours"), 0o600)
	os.Symlink(secret, filepath.Join(wd, "escape"))
	os.Mkdir(filepath.Join(wd, "dir"), 0o755)
	reqs := []artifactRequest{{Path: "report.txt"}, {Path: "escape"}, {Path: secret}, {Path: "dir"}, {Path: filepath.Join(wd, "empty"), Name: "renamed"}, {Path: "report.txt"}}
	var paths []string
	for _, r := range reqs {
		paths = append(paths, r.Path)
	}
	var stream bytes.Buffer
	if err := agent.Pack(wd, paths, &stream); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stream.String(), "not yours") {
		t.Fatal("the pack stream carries a file outside the work directory")
	}
	local := t.TempDir()
	var logs bytes.Buffer
	arts, err := receivePack(bufio.NewReader(&stream), reqs, local, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, a := range arts {
		b, _ := os.ReadFile(a.Path)
		got = append(got, a.Name+"="+string(b))
	}
	if want := "report.txt=all good\n,renamed=,report-2.txt=all good\n"; strings.Join(got, ",") != want {
		t.Errorf("artifacts %q, want %q", strings.Join(got, ","), want)
	}
	if n := strings.Count(logs.String(), "artifact refused"); n != 3 {
		t.Errorf("%d refusals logged, want 3:\n%s", n, logs.String())
	}
	if _, err := os.Stat(filepath.Join(local, "escape")); err == nil {
		t.Error("the escaping symlink's target landed on the controller")
	}
}

// A stream cut short or with a wrong checksum leaves no artifact behind.
func TestReceivePackDamaged(t *testing.T) {
	wd := t.TempDir()
	os.WriteFile(filepath.Join(wd, "a"), []byte("0123456789"), 0o644)
	var stream bytes.Buffer
	agent.Pack(wd, []string{"a"}, &stream)
	for name, damaged := range map[string]string{
		"truncated": stream.String()[:stream.Len()-80],
		"bit flip":  strings.Replace(stream.String(), "0123", "0124", 1),
	} {
		local := t.TempDir()
		_, err := receivePack(bufio.NewReader(strings.NewReader(damaged)), []artifactRequest{{Path: "a"}}, local, zerolog.Nop())
		if err == nil {
			t.Errorf("%s: no error", name)
		}
		if es, _ := os.ReadDir(local); len(es) != 0 {
			t.Errorf("%s: left %v", name, es)
		}
	}
}
