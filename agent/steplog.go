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
	open := func(stream byte, name string) (*logWriter, error) {
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
	out, err := open(wire.StreamStdout, wire.StdoutLog)
	if err != nil {
		return nil, err
	}
	errw, err := open(wire.StreamStderr, wire.StderrLog)
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
// reattached. It polls: a poll works on every filesystem.
//
// Once docker run is over it looks at the container every second: gone
// without an exit file ends the follow (FollowNoExit); an engine that
// does not answer is waited for, up to EngineWait, as the container may
// go on without it.
func Follow(spec FollowSpec, out *wire.Framer) int {
	dir := filepath.Join(spec.WorkDir, wire.LogDir)
	streams := []*followed{
		{workDir: spec.WorkDir, rel: filepath.Join(wire.LogDir, wire.StdoutLog), off: spec.StdoutFrom, w: out.Stdout()},
		{workDir: spec.WorkDir, rel: filepath.Join(wire.LogDir, wire.StderrLog), off: spec.StderrFrom, w: out.Stderr()},
	}
	defer func() {
		for _, s := range streams {
			if s.f != nil {
				s.f.Close()
			}
		}
	}()
	drain := func() bool {
		for _, s := range streams {
			if err := s.copy(); err != nil {
				return false
			}
		}
		return true
	}
	exited := func() bool {
		_, err := os.Lstat(filepath.Join(dir, wire.ExitFile))
		return err == nil
	}
	// Short polls: this is how the step's output streams live.
	const maxPoll = 25 * time.Millisecond
	poll := time.Millisecond
	lastCheck := time.Now()
	var awaySince time.Time
	started := spec.Started
	checkEvery, state := cmp.Or(spec.CheckEvery, time.Second), spec.state
	if state == nil {
		state = dockerState
	}
	for {
		before := streams[0].off + streams[1].off
		done := exited()
		if !drain() {
			return wire.FollowFailed
		}
		if done {
			// The exit file is written after the logs are closed.
			if !drain() {
				return wire.FollowFailed
			}
			code, err := readExitFile(spec.WorkDir)
			if err != nil || out.Exit(code) != nil {
				return wire.FollowFailed
			}
			return wire.FollowDone
		}
		if started != nil {
			select {
			case <-started:
				started = nil // docker run is over: look now
				lastCheck = time.Time{}
			default:
			}
		}
		if started == nil && time.Since(lastCheck) >= checkEvery {
			lastCheck = time.Now()
			switch state(spec.Container) {
			case containerUp:
				awaySince = time.Time{}
			case engineAway:
				if awaySince.IsZero() {
					awaySince = time.Now()
				}
				if spec.EngineWait > 0 && time.Since(awaySince) > spec.EngineWait && !exited() {
					drain()
					return wire.FollowEngineAway
				}
			case containerGone:
				if exited() {
					continue
				}
				drain()
				return wire.FollowNoExit
			}
		}
		if streams[0].off+streams[1].off > before {
			poll = time.Millisecond // output is flowing
			continue
		}
		time.Sleep(poll)
		poll = min(poll*2, maxPoll)
	}
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
