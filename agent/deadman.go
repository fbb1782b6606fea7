//go:build linux

package agent

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Heartbeat is the worker-side half of the dead man's switch. It runs on
// the worker host, in a session the controller keeps open for the step: it
// touches file each time a byte arrives on in (the controller sends one
// every interval), and first starts the watchdog, detached, which removes
// the step once file has not been touched for window. When the controller
// vanishes, or the link dies silently, no more bytes come.
func Heartbeat(in io.Reader, file, container, workDir string, window time.Duration, startWatchdog bool) error {
	// The file is in the work directory, which the step writes: it is
	// written and touched only through openInWorkDir, never through a
	// symlink the script planted there.
	dir, name := filepath.Dir(file), filepath.Base(file)
	// The window goes in the file: gc keeps a step whose controller may
	// still come back within it.
	f, err := openInWorkDir(dir, name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(window.String() + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if startWatchdog {
		if err := startDog(file, container, workDir, window); err != nil {
			return err
		}
	}
	// A session whose link died silently may never end; the heartbeat
	// goes when the step's files do. The watch ends with Heartbeat (a
	// caller that goes on must not be ended by it later).
	done := make(chan struct{})
	defer close(done)
	go func() {
		every := min(max(window/10, time.Second), 30*time.Second)
		for {
			select {
			case <-done:
				return
			case <-time.After(every):
			}
			if _, err := os.Stat(file); err != nil {
				os.Exit(0)
			}
		}
	}()
	r := bufio.NewReader(in)
	for {
		if _, err := r.ReadByte(); err != nil {
			return nil // the controller closed the session, or it died
		}
		if err := touch(dir, name); err != nil {
			return nil // cleanup removed the work directory
		}
	}
}

// startDog starts the watchdog detached from this session.
func startDog(file, container, workDir string, window time.Duration) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	dog := exec.Command(self, "step-runner", "watchdog", "--file", file,
		"--container", container, "--workdir", workDir, "--window", window.String())
	dog.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives this session
	if err := dog.Start(); err != nil {
		return err
	}
	return dog.Process.Release()
}

// touch sets the heartbeat file's times to now, through an open file
// (O_NOFOLLOW, regular files only), creating it when it is missing.
func touch(dir, name string) error {
	f, err := openInWorkDir(dir, name, os.O_CREATE|os.O_WRONLY|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	now := syscall.NsecToTimeval(time.Now().UnixNano())
	err = syscall.Futimes(int(f.Fd()), []syscall.Timeval{now, now})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Watchdog waits until the heartbeat file goes stale for window, then
// removes the step's container and work directory. It exits quietly when
// the file disappears: the controller cleaned up as usual.
func Watchdog(file, container, workDir string, window time.Duration) {
	poll := min(max(window/10, 100*time.Millisecond), 5*time.Second)
	for {
		time.Sleep(poll)
		st, err := os.Lstat(file) // a symlink's own time: it cannot be kept fresh from outside
		if err != nil {
			return
		}
		if time.Since(st.ModTime()) >= window {
			break
		}
	}
	stepRemover{giveUp: watchdogGiveUp, firstWait: time.Second, state: dockerState, stop: dockerStopRemove}.remove(container, workDir)
}

// watchdogGiveUp bounds how long a watchdog waits for an engine that does
// not answer; gc removes what is left after that.
const watchdogGiveUp = 24 * time.Hour

// stepRemover removes a step whose controller is gone.
type stepRemover struct {
	giveUp    time.Duration // how long an engine that does not answer is retried
	firstWait time.Duration // the backoff's first wait; it doubles up to a minute
	state     func(container string) containerState
	stop      func(container string) // stop and remove it, as far as the engine lets
}

// dockerStopRemove stops the container, then removes it. Stop first: the
// runner forwards the signal to the script, then hands the work directory
// back to the SSH user, so it can go.
func dockerStopRemove(container string) {
	exec.Command("docker", "stop", "-t", "10", container).Run()
	exec.Command("docker", "rm", "-f", "-v", container).Run() // -v: its anonymous volumes too
}

// remove stops and removes the container, retrying with backoff while
// the engine does not answer (its container may run on), then the work
// directory and the run's record.
func (r stepRemover) remove(container, workDir string) {
	deadline := time.Now().Add(r.giveUp)
	for wait := r.firstWait; ; wait = min(wait*2, time.Minute) {
		r.stop(container)
		if r.state(container) == containerGone {
			break
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(wait)
	}
	if os.RemoveAll(workDir) == nil {
		// The per-run record: <home>/.cuttle/runs/<step id>.json, with
		// the work directory at <home>/.cuttle/work/<step id>.
		os.Remove(filepath.Join(filepath.Dir(filepath.Dir(workDir)), "runs", filepath.Base(workDir)+".json"))
	}
}
