//go:build linux

package agent

import (
	"cmp"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cuttle-sh/cuttle/wire"
)

// stepLogs are the step's two output logs.
type stepLogs struct{ out, err *logWriter }

// logWriter appends to one log through its key stream; the pump and the
// runner's own messages share it, in order.
type logWriter struct {
	mu     sync.Mutex
	f      *os.File
	stream cipher.Stream
	buf    []byte
	err    error
}

func openLogs(workDir string, key []byte) (*stepLogs, error) {
	dir := filepath.Join(workDir, wire.LogDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	newLog := func(stream byte, name string) (*logWriter, error) {
		s, err := wire.LogCipher(key, stream, 0)
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, err
		}
		return &logWriter{f: f, stream: s}, nil
	}
	out, err := newLog(wire.StreamStdout, wire.StdoutLog)
	if err != nil {
		return nil, err
	}
	errw, err := newLog(wire.StreamStderr, wire.StderrLog)
	if err != nil {
		out.f.Close()
		return nil, err
	}
	return &stepLogs{out: out, err: errw}, nil
}

func (l *logWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return 0, l.err
	}
	if cap(l.buf) < len(p) {
		l.buf = make([]byte, len(p))
	}
	enc := l.buf[:len(p)]
	l.stream.XORKeyStream(enc, p)
	_, l.err = l.f.Write(enc)
	if l.err != nil {
		return 0, l.err
	}
	return len(p), nil
}

func (s *stepLogs) close() {
	s.out.f.Close()
	s.err.f.Close()
}

// pump copies what the script prints into its log (or elsewhere).
type pump struct {
	r, w *os.File
	log  io.Writer
	// exited is set when the script has ended: reads then stop after a
	// quiet spell, since a background process may hold the pipe forever.
	exited *atomic.Bool
}

// newPump makes a pipe whose write end (p.w) is the script's output.
func newPump(log io.Writer, exited *atomic.Bool) (*pump, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	return &pump{r: r, w: w, log: log, exited: exited}, nil
}

func (p *pump) run() error {
	buf := make([]byte, 64<<10)
	var logErr error
	for {
		if p.exited.Load() {
			_ = p.r.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		}
		n, err := p.r.Read(buf)
		if n > 0 && logErr == nil {
			if _, logErr = p.log.Write(buf[:n]); logErr != nil {
				// Keep draining the pipe so the script is not blocked.
				logErr = fmt.Errorf("writing the output log: %w", logErr)
			}
		}
		if err != nil {
			p.r.Close()
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
				return logErr
			}
			return err
		}
	}
}

// writeExit records code in dir's exit file, whole or not at all, owned by
// uid:gid when they are given.
func writeExit(dir string, code, uid, gid int) error {
	tmp := filepath.Join(dir, wire.ExitFile+".part")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(code)+"\n"), 0o644); err != nil {
		return err
	}
	if uid >= 0 && os.Geteuid() == 0 {
		_ = os.Lchown(tmp, uid, gid)
	}
	return os.Rename(tmp, filepath.Join(dir, wire.ExitFile))
}

// FollowSpec says what to follow.
type FollowSpec struct {
	WorkDir, Container     string
	StdoutFrom, StderrFrom int64
	// Started, when set, stays open while the step's own docker run is in
	// progress (in another session of the same controller): the container
	// is not looked at before it closes, as it may not exist yet.
	Started <-chan struct{}
	// EngineWait is how long an engine that does not answer is waited
	// for (a dockerd restart with live-restore keeps the container
	// running); zero waits for as long as it takes.
	EngineWait time.Duration
	// CheckEvery is how often the container is looked at once docker run
	// is over (default a second).
	CheckEvery time.Duration
	// state tells what the engine says of the container (default: ask
	// docker); tests answer for it.
	state func(container string) containerState
}

// Follow sends the step's logs from the given offsets (the ciphertext, as
// stored) as frames to out until the runner's exit file appears, then
// sends the rest and the exit code and returns FollowDone. It runs on the
// worker host, beside the step's docker run or for a controller that
// reattached. It polls, woken early by inotify where the kernel has it: a
// poll works on every filesystem.
//
// Once docker run is over it looks at the container every second: gone
// without an exit file ends the follow (FollowNoExit); an engine that
// does not answer is waited for, up to EngineWait, as the container may
// go on without it.
func Follow(spec FollowSpec, out *wire.Framer) int {
	f := newLogFollow(spec, out)
	defer f.close()
	// Short polls: this is how the step's output streams live. With
	// inotify the logs' changes wake it, and it looks on its own only as
	// often as it looks at the container.
	maxWait := 25 * time.Millisecond
	w := watchLogs(spec.WorkDir)
	defer w.close()
	if w != nil {
		maxWait = max(maxWait, f.checkEvery)
	}
	poll := time.Millisecond
	for {
		before := f.sent()
		done := f.exited()
		if !f.drain() {
			return wire.FollowFailed
		}
		if done {
			return f.finish()
		}
		code, end, again := f.watch()
		switch {
		case end:
			return code
		case again:
			continue
		case f.sent() > before:
			poll = time.Millisecond // output is flowing
			continue
		}
		w.wait(poll, f.started)
		poll = min(poll*2, maxWait)
	}
}

// logFollow is Follow's state: the two streams and what it saw of the
// container.
type logFollow struct {
	spec       FollowSpec
	out        *wire.Framer
	streams    []*followed
	started    <-chan struct{}
	lastCheck  time.Time
	awaySince  time.Time
	checkEvery time.Duration
	state      func(container string) containerState
}

func newLogFollow(spec FollowSpec, out *wire.Framer) *logFollow {
	f := &logFollow{spec: spec, out: out, started: spec.Started, lastCheck: time.Now(),
		checkEvery: cmp.Or(spec.CheckEvery, time.Second), state: spec.state,
		streams: []*followed{
			{workDir: spec.WorkDir, rel: filepath.Join(wire.LogDir, wire.StdoutLog), off: spec.StdoutFrom, w: out.Stdout()},
			{workDir: spec.WorkDir, rel: filepath.Join(wire.LogDir, wire.StderrLog), off: spec.StderrFrom, w: out.Stderr()},
		}}
	if f.state == nil {
		f.state = dockerState
	}
	return f
}

func (f *logFollow) close() {
	for _, s := range f.streams {
		if s.f != nil {
			s.f.Close()
		}
	}
}

// sent is how many bytes of both streams were sent.
func (f *logFollow) sent() int64 { return f.streams[0].off + f.streams[1].off }

// drain sends what the logs hold; false when that failed.
func (f *logFollow) drain() bool {
	for _, s := range f.streams {
		if err := s.copy(); err != nil {
			return false
		}
	}
	return true
}

// exited reports whether the runner's exit file is there.
func (f *logFollow) exited() bool {
	_, err := os.Lstat(filepath.Join(f.spec.WorkDir, wire.LogDir, wire.ExitFile))
	return err == nil
}

// finish sends the rest and the exit code once the exit file is there.
func (f *logFollow) finish() int {
	// The exit file is written after the logs are closed.
	if !f.drain() {
		return wire.FollowFailed
	}
	code, err := readExitFile(f.spec.WorkDir)
	if err != nil || f.out.Exit(code) != nil {
		return wire.FollowFailed
	}
	return wire.FollowDone
}

// watch looks at the container, once docker run is over and at most
// every checkEvery. end: the follow ends with code; again: the container
// is gone but the exit file came meanwhile, so look again at once.
func (f *logFollow) watch() (code int, end, again bool) {
	if f.started != nil {
		select {
		case <-f.started:
			f.started = nil // docker run is over: look now
			f.lastCheck = time.Time{}
		default:
		}
	}
	if f.started != nil || time.Since(f.lastCheck) < f.checkEvery {
		return 0, false, false
	}
	f.lastCheck = time.Now()
	switch f.state(f.spec.Container) {
	case containerUp:
		f.awaySince = time.Time{}
	case engineAway:
		if f.awaySince.IsZero() {
			f.awaySince = time.Now()
		}
		if f.spec.EngineWait > 0 && time.Since(f.awaySince) > f.spec.EngineWait && !f.exited() {
			f.drain()
			return wire.FollowEngineAway, true, false
		}
	case containerGone:
		if f.exited() {
			return 0, false, true
		}
		f.drain()
		return wire.FollowNoExit, true, false
	}
	return 0, false, false
}

// readExitFile returns the exit code the runner recorded in workDir.
func readExitFile(workDir string) (int, error) {
	return readExitCode(workDir, filepath.Join(wire.LogDir, wire.ExitFile))
}

// followed is one log being sent: rel inside workDir.
type followed struct {
	workDir, rel string
	off          int64
	f            *os.File
	w            io.Writer
}

// copy sends what was appended since the last call; a log not created
// yet is empty.
func (s *followed) copy() error {
	if s.f == nil {
		f, err := openInWorkDir(s.workDir, s.rel, os.O_RDONLY, 0)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := f.Seek(s.off, io.SeekStart); err != nil {
			f.Close()
			return err
		}
		s.f = f
	}
	n, err := io.Copy(s.w, s.f)
	s.off += n
	return err
}

type containerState int

const (
	containerGone containerState = iota
	containerUp
	engineAway
)

// dockerState asks the engine about a container.
func dockerState(name string) containerState {
	out, err := exec.Command("docker", "inspect", "--format", "{{.State.Running}}", name).Output()
	if err == nil {
		if strings.TrimSpace(string(out)) == "true" {
			return containerUp
		}
		return containerGone
	}
	// No such container, or no engine to ask: the engine's own version
	// tells which, without reading error texts.
	if exec.Command("docker", "version", "--format", "{{.Server.Version}}").Run() != nil {
		return engineAway
	}
	return containerGone
}
