//go:build unix

package serve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// lockDir takes dir's serve.lock with flock, so that one process at a
// time uses the SQLite history there. The kernel drops the lock when the
// process ends, however it ends; release drops it earlier.
func lockDir(dir string) (release func() error, err error) {
	path := filepath.Join(dir, "serve.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory lock %s: %w", path, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("state directory %s is in use by another cuttle serve (pid %s holds %s): stop that one, or give this one its own --state",
				dir, orUnknown(strings.TrimSpace(string(holder))), path)
		}
		return nil, fmt.Errorf("state directory lock %s: %w", path, err)
	}
	// The pid is only for the message above; the lock is the flock.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f.Close, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
