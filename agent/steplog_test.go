//go:build linux

package agent

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/wire"
)

func TestLogCipherResumesAtAnyOffset(t *testing.T) {
	key := make([]byte, wire.LogKeySize)
	rand.Read(key)
	plain := make([]byte, 1000)
	rand.Read(plain)
	whole, _ := wire.LogCipher(key, wire.StreamStdout, 0)
	enc := make([]byte, len(plain))
	whole.XORKeyStream(enc, plain)
	for _, off := range []int64{0, 1, 15, 16, 17, 333, 999} {
		s, err := wire.LogCipher(key, wire.StreamStdout, off)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(plain)-int(off))
		s.XORKeyStream(got, enc[off:])
		if !bytes.Equal(got, plain[off:]) {
			t.Errorf("offset %d: resumed decryption differs", off)
		}
	}
	other, _ := wire.LogCipher(key, wire.StreamStderr, 0)
	enc2 := make([]byte, len(plain))
	other.XORKeyStream(enc2, plain)
	if bytes.Equal(enc, enc2) {
		t.Error("stdout and stderr share a key stream")
	}
}

// follow runs Follow into an Unframer, looking at the container every
// millisecond, with the engine's answers given by state.
func follow(t *testing.T, spec FollowSpec, state func() containerState) (code int, out, errb *bytes.Buffer, u *wire.Unframer) {
	t.Helper()
	spec.CheckEvery = time.Millisecond
	spec.state = func(string) containerState { return state() }
	out, errb = &bytes.Buffer{}, &bytes.Buffer{}
	u = &wire.Unframer{Stdout: out, Stderr: errb}
	code = Follow(spec, wire.NewFramer(u))
	return code, out, errb, u
}

func TestFollowSendsTheRestThenStops(t *testing.T) {
	wd := t.TempDir()
	dir := filepath.Join(wd, wire.LogDir)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, wire.StdoutLog), []byte("0123456789"), 0o644)
	// The rest arrives while Follow runs: on its third look at the
	// container.
	looks := 0
	code, out, errb, u := follow(t, FollowSpec{WorkDir: wd, Container: "c", StdoutFrom: 4, StderrFrom: 1}, func() containerState {
		if looks++; looks == 3 {
			f, _ := os.OpenFile(filepath.Join(dir, wire.StdoutLog), os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte("abc"))
			f.Close()
			os.WriteFile(filepath.Join(dir, wire.StderrLog), []byte("err"), 0o644)
			writeExit(dir, 7, -1, -1)
		}
		return containerUp
	})
	if code != wire.FollowDone {
		t.Fatalf("Follow = %d", code)
	}
	if out.String() != "456789abc" || errb.String() != "rr" {
		t.Errorf("stdout %q stderr %q, want %q %q", out.String(), errb.String(), "456789abc", "rr")
	}
	if got, ok := u.ExitCode(); !ok || got != 7 {
		t.Errorf("exit frame %d (%v), want 7", got, ok)
	}
}

func TestFollowGivesUpWhenTheContainerIsGone(t *testing.T) {
	code, _, _, u := follow(t, FollowSpec{WorkDir: t.TempDir(), Container: "c"}, func() containerState { return containerGone })
	if code != wire.FollowNoExit {
		t.Fatalf("Follow = %d, want %d", code, wire.FollowNoExit)
	}
	if _, ok := u.ExitCode(); ok {
		t.Error("an exit code was sent for a step that never wrote one")
	}
}

// TestFollowWaitsForTheEngine: an engine that stops answering (a dockerd
// restart with live-restore) does not end the follow; the step's own end
// does.
func TestFollowWaitsForTheEngine(t *testing.T) {
	wd := t.TempDir()
	dir := filepath.Join(wd, wire.LogDir)
	os.MkdirAll(dir, 0o755)
	looks := 0
	code, out, _, u := follow(t, FollowSpec{WorkDir: wd, Container: "c", EngineWait: time.Minute}, func() containerState {
		switch looks++; {
		case looks <= 20:
			return engineAway
		case looks == 25:
			os.WriteFile(filepath.Join(dir, wire.StdoutLog), []byte("after"), 0o644)
			writeExit(dir, 3, -1, -1)
		}
		return containerUp
	})
	if code != wire.FollowDone || out.String() != "after" {
		t.Fatalf("Follow = %d after %d looks, stdout %q; want %d and the output written after the engine came back", code, looks, out, wire.FollowDone)
	}
	if got, ok := u.ExitCode(); !ok || got != 3 {
		t.Errorf("exit frame %d (%v), want 3", got, ok)
	}
}

func TestFollowGivesUpOnAnEngineAwayTooLong(t *testing.T) {
	looks := 0
	start := time.Now()
	code, _, _, _ := follow(t, FollowSpec{WorkDir: t.TempDir(), Container: "c", EngineWait: 50 * time.Millisecond}, func() containerState {
		looks++
		return engineAway
	})
	if code != wire.FollowEngineAway {
		t.Fatalf("Follow = %d, want %d", code, wire.FollowEngineAway)
	}
	// It waited for the engine, looking again, rather than giving up at
	// the first unanswered look, and not before EngineWait passed.
	if looks < 2 || time.Since(start) < 50*time.Millisecond {
		t.Errorf("gave up after %d looks and %s, want to wait out the 50ms engine wait", looks, time.Since(start))
	}
}

// TestRemoveStepWaitsForTheEngine: the dead man's switch keeps trying
// while the engine does not answer, and removes the work directory and
// the record only once the container is gone.
func TestRemoveStepWaitsForTheEngine(t *testing.T) {
	home := t.TempDir()
	wd := filepath.Join(home, "work", "s1")
	rec := filepath.Join(home, "runs", "s1.json")
	os.MkdirAll(wd, 0o755)
	os.MkdirAll(filepath.Dir(rec), 0o755)
	os.WriteFile(rec, []byte("{}"), 0o644)
	asked, stops := 0, 0
	r := stepRemover{giveUp: time.Minute, firstWait: time.Millisecond, stop: func(string) { stops++ }, state: func(string) containerState {
		asked++
		if asked < 3 {
			if _, err := os.Stat(wd); err != nil {
				t.Error("work directory removed while the container may still run")
			}
			return engineAway
		}
		return containerGone
	}}
	r.remove("cuttle-no-such-container-for-test", wd)
	if asked != 3 || stops != 3 {
		t.Errorf("engine asked %d times and told to stop %d times, want 3 and 3 (away, away, gone)", asked, stops)
	}
	if fileExistsT(wd) || fileExistsT(rec) {
		t.Errorf("left: work dir %v, record %v", fileExistsT(wd), fileExistsT(rec))
	}
}

func fileExistsT(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func TestMasksFileRoundTrip(t *testing.T) {
	wd := t.TempDir()
	os.MkdirAll(filepath.Join(wd, wire.LogDir), 0o755)
	key := make([]byte, wire.LogKeySize)
	rand.Read(key)
	vars := []wire.Variable{{Name: "A", Value: "plain"}, {Name: "S", Value: "hunter2-secret", Sensitive: true}}
	if err := writeMasks(wd, key, vars); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(wd, wire.LogDir, wire.MasksFile))
	if bytes.Contains(b, []byte("hunter2")) {
		t.Fatal("the masks file holds the secret in clear")
	}
	got, err := wire.DecryptMasks(key, b)
	if err != nil || len(got) != 1 || got[0] != "hunter2-secret" {
		t.Fatalf("wire.DecryptMasks = %q, %v", got, err)
	}
	other := make([]byte, wire.LogKeySize)
	if _, err := wire.DecryptMasks(other, b); err == nil {
		t.Error("a wrong key decrypted the masks file")
	}
}

// frameWatch passes frames to u and closes seen once done(u) holds.
type frameWatch struct {
	u    *wire.Unframer
	done func(*wire.Unframer) bool
	seen chan struct{}
	once sync.Once
}

func (w *frameWatch) Write(p []byte) (int, error) {
	n, err := w.u.Write(p)
	if w.done(w.u) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func exitSent(u *wire.Unframer) bool { _, ok := u.ExitCode(); return ok }

// Beside docker run (--while-running), a follower that sent the step's
// end stays until its input closes: the controller closes its session
// with the commands that follow, and a session that ended by itself
// would cost the controller a message in reply (a turn at 50 ms RTT).
func TestFollowWhileRunningWaitsForItsSessionToClose(t *testing.T) {
	wd := t.TempDir()
	dir := filepath.Join(wd, wire.LogDir)
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, wire.StdoutLog), []byte("out"), 0o644)
	writeExit(dir, 0, -1, -1)
	in, closeIn := io.Pipe()
	w := &frameWatch{u: &wire.Unframer{Stdout: io.Discard, Stderr: io.Discard}, done: exitSent, seen: make(chan struct{})}
	returned := make(chan int, 1)
	go func() {
		returned <- Main(t.Context(), []string{"follow", "--workdir", wd, "--container", "c", "--while-running"}, Stdio{In: in, Out: w, Err: io.Discard})
	}()
	<-w.seen
	select {
	case code := <-returned:
		t.Fatalf("follow ended (exit %d) after the exit frame, before its input closed", code)
	case <-time.After(200 * time.Millisecond):
	}
	closeIn.Close()
	if code := <-returned; code != wire.FollowDone {
		t.Errorf("follow = %d, want %d", code, wire.FollowDone)
	}
}

// With the container looked at only every hour, output and the exit file
// written while the follower runs are read, and end the follow. This does
// not prove the inotify wake-up (the write comes before the follower's
// waits have grown, and it passes without the wake-up);
// TestLogWatchWakesOnChanges does.
func TestFollowReadsWhatIsWrittenWhileItRuns(t *testing.T) {
	wd := t.TempDir()
	dir := filepath.Join(wd, wire.LogDir)
	os.MkdirAll(dir, 0o755)
	log := filepath.Join(dir, wire.StdoutLog)
	os.WriteFile(log, []byte("first"), 0o644)
	u := &wire.Unframer{Stdout: &bytes.Buffer{}, Stderr: io.Discard}
	fw := &frameWatch{u: u, done: func(*wire.Unframer) bool { return true }, seen: make(chan struct{})}
	spec := FollowSpec{WorkDir: wd, Container: "c", CheckEvery: time.Hour,
		state: func(string) containerState { return containerUp }}
	done := make(chan int, 1)
	go func() { done <- Follow(spec, wire.NewFramer(fw)) }()
	<-fw.seen
	f, _ := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	f.Write([]byte(" second"))
	f.Close()
	writeExit(dir, 5, -1, -1)
	select {
	case code := <-done:
		if code != wire.FollowDone {
			t.Fatalf("Follow = %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the follower did not wake when the logs changed")
	}
	if got := u.Stdout.(*bytes.Buffer).String(); got != "first second" {
		t.Errorf("stdout %q", got)
	}
	if code, ok := u.ExitCode(); !ok || code != 5 {
		t.Errorf("exit frame %d (%v), want 5", code, ok)
	}
}

// The follower's waits end when the log directory changes: its creation
// in the work directory, then a write to a log in it.
func TestLogWatchWakesOnChanges(t *testing.T) {
	wd := t.TempDir()
	w := watchLogs(wd)
	if w == nil {
		t.Skip("no inotify here")
	}
	defer w.close()
	dir := filepath.Join(wd, wire.LogDir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if !w.wait(30*time.Second, nil) {
		t.Fatal("the log directory's creation did not end the wait")
	}
	for w.wait(0, nil) { // what else is queued
	}
	if err := os.WriteFile(filepath.Join(dir, wire.StdoutLog), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !w.wait(30*time.Second, nil) {
		t.Fatal("a write to a log did not end the wait")
	}
}
