package bootstrap

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestLogCipherResumesAtAnyOffset(t *testing.T) {
	key := make([]byte, LogKeySize)
	rand.Read(key)
	plain := make([]byte, 1000)
	rand.Read(plain)
	whole, _ := LogCipher(key, StreamStdout, 0)
	enc := make([]byte, len(plain))
	whole.XORKeyStream(enc, plain)
	for _, off := range []int64{0, 1, 15, 16, 17, 333, 999} {
		s, err := LogCipher(key, StreamStdout, off)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(plain)-int(off))
		s.XORKeyStream(got, enc[off:])
		if !bytes.Equal(got, plain[off:]) {
			t.Errorf("offset %d: resumed decryption differs", off)
		}
	}
	other, _ := LogCipher(key, StreamStderr, 0)
	enc2 := make([]byte, len(plain))
	other.XORKeyStream(enc2, plain)
	if bytes.Equal(enc, enc2) {
		t.Error("stdout and stderr share a key stream")
	}
}

func TestFollowSendsTheRestThenStops(t *testing.T) {
	wd := t.TempDir()
	dir := filepath.Join(wd, LogDir)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, StdoutLog), []byte("0123456789"), 0o644)
	go func() {
		time.Sleep(100 * time.Millisecond)
		f, _ := os.OpenFile(filepath.Join(dir, StdoutLog), os.O_APPEND|os.O_WRONLY, 0)
		f.Write([]byte("abc"))
		f.Close()
		os.WriteFile(filepath.Join(dir, StderrLog), []byte("err"), 0o644)
		writeExit(dir, 7, -1, -1)
	}()
	var out, errb bytes.Buffer
	if code := Follow(wd, "no-such-container", 4, 1, nil, &out, &errb); code != FollowDone {
		t.Fatalf("Follow = %d", code)
	}
	if out.String() != "456789abc" || errb.String() != "rr" {
		t.Errorf("stdout %q stderr %q, want %q %q", out.String(), errb.String(), "456789abc", "rr")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ExitFile)); string(b) != "7\n" {
		t.Errorf("exit file %q", b)
	}
}

func TestFollowGivesUpWhenTheContainerIsGone(t *testing.T) {
	wd := t.TempDir()
	start := time.Now()
	if code := Follow(wd, "cuttle-no-such-container-for-test", 0, 0, nil, &bytes.Buffer{}, &bytes.Buffer{}); code != FollowNoExit {
		t.Fatalf("Follow = %d, want %d", code, FollowNoExit)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s to notice", d)
	}
}
