package serve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/windows"
)

// lockDir takes dir's serve.lock with LockFileEx, so that one process at
// a time uses the SQLite history there. Windows drops the lock when the
// process ends; release drops it earlier.
func lockDir(dir string) (release func() error, err error) {
	path := filepath.Join(dir, "serve.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("state directory lock %s: %w", path, err)
	}
	var ol windows.Overlapped
	err = windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &ol)
	if err != nil {
		f.Close()
		if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
			return nil, fmt.Errorf("state directory %s is in use by another cuttle serve (it holds %s): stop that one, or give this one its own --state", dir, path)
		}
		return nil, fmt.Errorf("state directory lock %s: %w", path, err)
	}
	return f.Close, nil
}
