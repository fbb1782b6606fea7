//go:build linux

package agent

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/wire"
)

// TestHostSideOpensStayInWorkDir: what the step's script plants in its
// work directory (a symlink out of it, a symlink to a directory out of
// it, a FIFO) never makes the host-side programs write or read anything
// outside it, nor block.
func TestHostSideOpensStayInWorkDir(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "authorized_keys")
	const precious = "ssh-ed25519 AAAA the worker user's key\n"
	os.WriteFile(outside, []byte(precious), 0o600)
	unchanged := func(t *testing.T) {
		t.Helper()
		if b, _ := os.ReadFile(outside); string(b) != precious {
			t.Fatalf("the file outside the work directory became %q", b)
		}
	}

	t.Run("heartbeat through a symlink", func(t *testing.T) {
		wd := t.TempDir()
		hb := filepath.Join(wd, ".cuttle-heartbeat")
		os.Symlink(outside, hb)
		if err := Heartbeat(strings.NewReader(""), hb, "c", wd, time.Minute, false); err == nil {
			t.Error("the heartbeat wrote through a symlink out of the work directory")
		}
		if err := touch(wd, ".cuttle-heartbeat"); err == nil {
			t.Error("touch went through a symlink out of the work directory")
		}
		unchanged(t)
	})
	t.Run("heartbeat through a symlink inside", func(t *testing.T) {
		// Even a symlink that stays inside is not written through.
		wd := t.TempDir()
		os.WriteFile(filepath.Join(wd, "target"), []byte("x"), 0o644)
		os.Symlink("target", filepath.Join(wd, ".cuttle-heartbeat"))
		if err := touch(wd, ".cuttle-heartbeat"); err == nil {
			t.Error("touch followed a symlink")
		}
	})
	t.Run("heartbeat normal", func(t *testing.T) {
		wd := t.TempDir()
		hb := filepath.Join(wd, ".cuttle-heartbeat")
		if err := Heartbeat(strings.NewReader("\n\n"), hb, "c", wd, time.Minute, false); err != nil {
			t.Fatal(err)
		}
		old := time.Now().Add(-time.Hour)
		os.Chtimes(hb, old, old)
		if err := touch(wd, ".cuttle-heartbeat"); err != nil {
			t.Fatal(err)
		}
		if fi, err := os.Stat(hb); err != nil || time.Since(fi.ModTime()) > time.Minute {
			t.Errorf("touch did not refresh the heartbeat: %v %v", fi.ModTime(), err)
		}
		if b, _ := os.ReadFile(hb); string(b) != "1m0s\n" {
			t.Errorf("heartbeat file holds %q", b)
		}
	})
	for _, plant := range []struct {
		name  string
		plant func(wd string)
	}{
		{"log through a symlink", func(wd string) {
			os.Mkdir(filepath.Join(wd, wire.LogDir), 0o755)
			os.Symlink(outside, filepath.Join(wd, wire.LogDir, wire.StdoutLog))
		}},
		{"log directory through a symlink", func(wd string) {
			os.WriteFile(filepath.Join(filepath.Dir(outside), wire.StdoutLog), []byte(precious), 0o600)
			os.Symlink(filepath.Dir(outside), filepath.Join(wd, wire.LogDir))
		}},
	} {
		t.Run(plant.name, func(t *testing.T) {
			wd := t.TempDir()
			plant.plant(wd)
			var sent bytes.Buffer
			s := &followed{workDir: wd, rel: filepath.Join(wire.LogDir, wire.StdoutLog), w: &sent}
			if err := s.copy(); err == nil || sent.Len() > 0 {
				t.Errorf("the follower sent %q (err %v) from outside the work directory", sent.String(), err)
			}
		})
	}
	t.Run("exit file a FIFO", func(t *testing.T) {
		wd := t.TempDir()
		os.Mkdir(filepath.Join(wd, wire.LogDir), 0o755)
		if err := syscall.Mkfifo(filepath.Join(wd, wire.LogDir, wire.ExitFile), 0o644); err != nil {
			t.Skip(err)
		}
		done := make(chan error, 1)
		go func() { _, err := readExitFile(wd); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Error("a FIFO was read as the exit file")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("reading a FIFO planted as the exit file blocked")
		}
	})
	t.Run("exit file through a symlink", func(t *testing.T) {
		wd := t.TempDir()
		os.Mkdir(filepath.Join(wd, wire.LogDir), 0o755)
		os.Symlink("/dev/zero", filepath.Join(wd, wire.LogDir, wire.ExitFile))
		if _, err := readExitFile(wd); err == nil {
			t.Error("a symlink to /dev/zero was read as the exit file")
		}
	})
}

// TestHeartbeatWatchEndsWithIt: once Heartbeat has returned, its watch
// for the step's files no longer ends the process when they go (a test
// binary, or any caller that goes on, was ended by os.Exit after the
// first interval).
func TestHeartbeatWatchEndsWithIt(t *testing.T) {
	wd := t.TempDir()
	hb := filepath.Join(wd, ".cuttle-heartbeat")
	if err := Heartbeat(strings.NewReader("\n"), hb, "c", wd, time.Second, false); err != nil {
		t.Fatal(err)
	}
	os.Remove(hb)
	time.Sleep(1500 * time.Millisecond) // past the watch's 1 s interval: with it still running, os.Exit(0) panics here
}
