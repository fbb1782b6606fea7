package bootstrap

import (
	"cmp"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/json"
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
)

// The step's output is also kept on the worker, so a controller whose link
// dropped can reattach and resume it: the runner writes what the script
// prints to LogDir inside the work directory, encrypted with a key that
// only the controller and the runner hold (it travels in the payload), so
// a secret the script prints is never readable on the worker's disk. The
// ciphertext of byte i is at offset i: the controller resumes from the
// byte it last received.
const (
	LogDir    = ".cuttle"
	StdoutLog = "stdout.log"
	StderrLog = "stderr.log"
	// ExitFile holds the script's exit code, written once the runner has
	// finished with the work directory.
	ExitFile = "exit"
)

// Stream numbers keep the key streams of the two logs and of the masks
// file apart.
const (
	StreamStdout byte = 1
	StreamStderr byte = 2
	StreamMasks  byte = 3
)

// MasksFile, beside the logs and under the same key, holds the step's
// sensitive values (JSON), so a controller that attaches later (a new
// process, after the first was killed) masks them in the output it
// replays; no secret is readable on either machine's disk.
const MasksFile = "masks"

// writeMasks records the payload's sensitive values in the masks file.
func writeMasks(workDir string, key []byte, vars []Variable) error {
	values := []string{}
	for _, v := range vars {
		if v.Sensitive && v.Value != "" {
			values = append(values, v.Value)
		}
	}
	b, err := json.Marshal(values)
	if err != nil {
		return err
	}
	s, err := LogCipher(key, StreamMasks, 0)
	if err != nil {
		return err
	}
	s.XORKeyStream(b, b)
	// Readable like the logs: it is ciphertext, and the SSH user (not the
	// container's) reads it.
	return os.WriteFile(filepath.Join(workDir, LogDir, MasksFile), b, 0o644)
}

// DecryptMasks reads a masks file's content.
func DecryptMasks(key, content []byte) ([]string, error) {
	s, err := LogCipher(key, StreamMasks, 0)
	if err != nil {
		return nil, err
	}
	b := make([]byte, len(content))
	s.XORKeyStream(b, content)
	var values []string
	if err := json.Unmarshal(b, &values); err != nil {
		return nil, fmt.Errorf("the step's masks file does not decrypt with this key (another step's ticket?): %w", err)
	}
	return values, nil
}

// LogKeySize is the length of a step's log key (AES-256).
const LogKeySize = 32

// LogCipher returns the key stream for stream positioned at offset.
func LogCipher(key []byte, stream byte, offset int64) (cipher.Stream, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	iv := make([]byte, aes.BlockSize)
	iv[0] = stream
	binary.BigEndian.PutUint64(iv[8:], uint64(offset/aes.BlockSize))
	s := cipher.NewCTR(block, iv)
	if skip := offset % aes.BlockSize; skip > 0 {
		b := make([]byte, skip)
		s.XORKeyStream(b, b)
	}
	return s, nil
}

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
	dir := filepath.Join(workDir, LogDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	open := func(stream byte, name string) (*logWriter, error) {
		s, err := LogCipher(key, stream, 0)
		if err != nil {
			return nil, err
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, err
		}
		return &logWriter{f: f, stream: s}, nil
	}
	out, err := open(StreamStdout, StdoutLog)
	if err != nil {
		return nil, err
	}
	errw, err := open(StreamStderr, StderrLog)
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
	tmp := filepath.Join(dir, ExitFile+".part")
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(code)+"\n"), 0o644); err != nil {
		return err
	}
	if uid >= 0 && os.Geteuid() == 0 {
		_ = os.Lchown(tmp, uid, gid)
	}
	return os.Rename(tmp, filepath.Join(dir, ExitFile))
}

// Follow exit codes: how a follow ended, when it did not reach the end.
const (
	// FollowDone: the runner wrote its exit file and every byte was sent,
	// then the exit code in an exit frame.
	FollowDone = 0
	// FollowNoExit: the container is gone and never wrote an exit file
	// (killed, out of memory, removed).
	FollowNoExit = 65
	// FollowFailed: the logs could not be read.
	FollowFailed = 66
	// FollowEngineAway: the Docker engine did not answer for longer than
	// the follow's EngineWait, and the step wrote no exit file meanwhile.
	FollowEngineAway = 67
)

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
func Follow(spec FollowSpec, out *Framer) int {
	dir := filepath.Join(spec.WorkDir, LogDir)
	streams := []*followed{
		{workDir: spec.WorkDir, rel: filepath.Join(LogDir, StdoutLog), off: spec.StdoutFrom, w: out.Stdout()},
		{workDir: spec.WorkDir, rel: filepath.Join(LogDir, StderrLog), off: spec.StderrFrom, w: out.Stderr()},
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
		_, err := os.Lstat(filepath.Join(dir, ExitFile))
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
			return FollowFailed
		}
		if done {
			// The exit file is written after the logs are closed.
			if !drain() {
				return FollowFailed
			}
			code, err := readExitFile(spec.WorkDir)
			if err != nil || out.Exit(code) != nil {
				return FollowFailed
			}
			return FollowDone
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
					return FollowEngineAway
				}
			case containerGone:
				if exited() {
					continue
				}
				drain()
				return FollowNoExit
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
	return readExitCode(workDir, filepath.Join(LogDir, ExitFile))
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
