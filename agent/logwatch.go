//go:build linux

package agent

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/cuttle-sh/cuttle/wire"
)

// logWatch wakes the follower when something changes in the step's log
// directory (inotify), so that it need not look every 25 ms: a running
// step's follower then costs no CPU while the step is quiet, and sees
// output as it is written. It watches the work directory until the log
// directory appears. A nil *logWatch (inotify unavailable) waits out the
// whole poll, as before.
type logWatch struct {
	f      *os.File
	fd     int
	wake   chan struct{}
	mu     sync.Mutex
	logDir string
	logWD  int
}

// watchLogs watches workDir's log directory; nil when inotify cannot.
func watchLogs(workDir string) *logWatch {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil
	}
	w := &logWatch{f: os.NewFile(uintptr(fd), "inotify"), fd: fd, wake: make(chan struct{}, 1),
		logDir: filepath.Join(workDir, wire.LogDir), logWD: -1}
	// The work directory is the step's: never follow a link it planted.
	const dirMask = syscall.IN_ONLYDIR | syscall.IN_DONT_FOLLOW
	if _, err := syscall.InotifyAddWatch(fd, workDir, dirMask|syscall.IN_CREATE|syscall.IN_MOVED_TO); err != nil {
		w.f.Close()
		return nil
	}
	w.addLogDir()
	go w.read()
	return w
}

// addLogDir watches the log directory once it exists.
func (w *logWatch) addLogDir() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.logWD >= 0 {
		return
	}
	const mask = syscall.IN_ONLYDIR | syscall.IN_DONT_FOLLOW | syscall.IN_MODIFY | syscall.IN_CREATE |
		syscall.IN_MOVED_TO | syscall.IN_CLOSE_WRITE | syscall.IN_ATTRIB
	if wd, err := syscall.InotifyAddWatch(w.fd, w.logDir, mask); err == nil {
		w.logWD = wd
	}
}

func (w *logWatch) read() {
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return // closed
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			ev := (*syscall.InotifyEvent)(unsafe.Pointer(&buf[off]))
			if ev.Mask&syscall.IN_ISDIR != 0 {
				w.addLogDir()
			}
			off += syscall.SizeofInotifyEvent + int(ev.Len)
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// wait returns after d (false), or sooner when the logs changed or stop
// closed (true).
func (w *logWatch) wait(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	var wake chan struct{}
	if w != nil {
		wake = w.wake
	}
	select {
	case <-t.C:
		return false
	case <-wake:
	case <-stop:
	}
	return true
}

func (w *logWatch) close() {
	if w != nil {
		w.f.Close()
	}
}
