//go:build linux

package agent

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func mainT(t *testing.T, stdin string, args ...string) (code int, out, errOut string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(context.Background(), args, Stdio{In: strings.NewReader(stdin), Out: &o, Err: &e})
	return code, o.String(), e.String()
}

func TestMainBase64RoundTrip(t *testing.T) {
	code, enc, _ := mainT(t, "a secret\n", "base64")
	if code != 0 || enc != "YSBzZWNyZXQK" {
		t.Fatalf("base64: code %d, %q", code, enc)
	}
	code, dec, _ := mainT(t, enc, "base64", "--decode")
	if code != 0 || dec != "a secret\n" {
		t.Fatalf("base64 --decode: code %d, %q", code, dec)
	}
}

func TestMainRefusesBadInvocations(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "a subcommand is required"},
		{[]string{"--follow"}, `unknown subcommand "--follow"`},
		{[]string{"follow", "--heartbeat-file", "x"}, "flag provided but not defined: -heartbeat-file"},
		{[]string{"run", "--owner", "1000"}, `--owner "1000": want UID:GID`},
		{[]string{"remove-contents"}, "want one directory"},
		{[]string{"detect-libc", "extra"}, `unexpected arguments ["extra"]`},
	} {
		code, _, errOut := mainT(t, "", tc.args...)
		if code != exitCannotRun || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: code %d, stderr %q; want %d and %q", tc.args, code, errOut, exitCannotRun, tc.want)
		}
	}
}

func TestMainRemoveContents(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a", "b"} {
		if err := writeScript(dir+"/"+n, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if code, _, errOut := mainT(t, "", "remove-contents", dir); code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	if fileExistsT(dir+"/a") || fileExistsT(dir+"/b") || !fileExistsT(dir) {
		t.Fatal("remove-contents left files behind or removed the directory")
	}
}
