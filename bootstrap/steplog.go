package bootstrap

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
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

// Stream numbers keep the two logs' key streams apart.
const (
	StreamStdout byte = 1
	StreamStderr byte = 2
)

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

// pump copies what the script prints to the log (encrypted) and then to
// out. The log comes first, so it always holds at least what the
// controller received. Once out fails (the controller's link is gone) only
// the log is written.
type pump struct {
	r, w   *os.File
	log    *os.File
	stream cipher.Stream
	out    io.Writer
	// exited is set when the script has ended: reads then stop after a
	// quiet spell, since a background process may hold the pipe forever.
	exited *atomic.Bool
}

// newPump creates the log name in workDir's LogDir and a pipe whose write
// end (p.w) is the script's output.
func newPump(workDir string, key []byte, stream byte, name string, out io.Writer, exited *atomic.Bool) (*pump, error) {
	dir := filepath.Join(workDir, LogDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	s, err := LogCipher(key, stream, 0)
	if err != nil {
		return nil, err
	}
	log, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		log.Close()
		return nil, err
	}
	return &pump{r: r, w: w, log: log, stream: s, out: out, exited: exited}, nil
}

func (p *pump) run() error {
	buf := make([]byte, 32<<10)
	enc := make([]byte, len(buf))
	var logErr error
	outOK := true
	for {
		if p.exited.Load() {
			_ = p.r.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		}
		n, err := p.r.Read(buf)
		if n > 0 {
			if logErr == nil {
				p.stream.XORKeyStream(enc[:n], buf[:n])
				if _, logErr = p.log.Write(enc[:n]); logErr != nil {
					// Keep streaming: only reattach loses its copy.
					fmt.Fprintf(os.Stderr, "%swriting the output log: %v (reattaching to this step will not be possible)\n", RunnerErrorPrefix, logErr)
				}
			}
			if outOK {
				if _, werr := p.out.Write(buf[:n]); werr != nil {
					outOK = false
				}
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
	// FollowDone: the runner wrote its exit file and every byte was sent.
	FollowDone = 0
	// FollowNoExit: the container is gone and never wrote an exit file
	// (killed, out of memory, removed).
	FollowNoExit = 65
	// FollowFailed: the logs could not be read.
	FollowFailed = 66
)

// Follow sends the step's logs from the given offsets (the ciphertext, as
// stored) to stdout and stderr until the runner's exit file appears, then
// sends the rest and returns FollowDone. It runs on the worker host, in
// the session of a controller that reattached. It polls: a reattached
// controller is not the live path, and a poll works on every filesystem.
func Follow(workDir, container string, stdoutFrom, stderrFrom int64, stdout, stderr io.Writer) int {
	killStaleClients(container)
	dir := filepath.Join(workDir, LogDir)
	streams := []*followed{
		{path: filepath.Join(dir, StdoutLog), off: stdoutFrom, w: stdout},
		{path: filepath.Join(dir, StderrLog), off: stderrFrom, w: stderr},
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
	poll := 20 * time.Millisecond
	lastCheck := time.Now()
	for {
		_, exitErr := os.Stat(filepath.Join(dir, ExitFile))
		if !drain() {
			return FollowFailed
		}
		if exitErr == nil {
			// The exit file is written after the logs are closed.
			if !drain() {
				return FollowFailed
			}
			return FollowDone
		}
		if time.Since(lastCheck) >= time.Second {
			lastCheck = time.Now()
			if !containerRunning(container) {
				if _, err := os.Stat(filepath.Join(dir, ExitFile)); err == nil {
					continue
				}
				drain()
				return FollowNoExit
			}
		}
		time.Sleep(poll)
		poll = min(poll*2, 250*time.Millisecond)
	}
}

type followed struct {
	path string
	off  int64
	f    *os.File
	w    io.Writer
}

// copy sends what was appended since the last call; a log not created
// yet is empty.
func (s *followed) copy() error {
	if s.f == nil {
		f, err := os.Open(s.path)
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

func containerRunning(name string) bool {
	out, err := exec.Command("docker", "inspect", "--format", "{{.State.Running}}", name).Output()
	return err == nil && strings.TrimSpace(string(out)) == "true"
}

// killStaleClients kills this user's `docker run --name container` clients:
// the one the lost link left behind may sit on output nobody reads, and
// the engine then holds the container's output back until it goes. The
// container is unaffected (it runs with --sig-proxy=false).
func killStaleClients(container string) {
	uid := os.Getuid()
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat("/proc/"+e.Name(), &st) != nil || int(st.Uid) != uid {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if isDockerRunOf(strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"), container) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// isDockerRunOf reports whether argv is `docker run ... --name container`.
func isDockerRunOf(argv []string, container string) bool {
	if len(argv) < 4 || filepath.Base(argv[0]) != "docker" || argv[1] != "run" {
		return false
	}
	for i := 2; i+1 < len(argv); i++ {
		if argv[i] == "--" {
			return false
		}
		if argv[i] == "--name" && argv[i+1] == container {
			return true
		}
	}
	return false
}
