//go:build linux

package agent

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The programs that run on the worker host as the SSH user (heartbeat,
// watchdog, follower, artifact packer) touch files in the work directory,
// which the step's container writes as root at the same time. A symlink,
// FIFO or device node planted there must not make them read, write or
// wait on anything else: they open through an os.Root of the work
// directory, which refuses a path that leaves it at any component
// (checked at open, so nothing can be swapped in between), and accept
// regular files only.

// errNotRegular: the path inside the work directory is not a regular file.
var errNotRegular = errors.New("not a regular file")

// openInWorkDir opens rel inside workDir, refusing any path that resolves
// outside it and anything but a regular file; with O_NOFOLLOW, a symlink
// as the last component too. O_NONBLOCK keeps a FIFO from blocking the
// open; it changes nothing for a regular file.
func openInWorkDir(workDir, rel string, flag int, perm os.FileMode) (*os.File, error) {
	root, err := os.OpenRoot(workDir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if flag&syscall.O_NOFOLLOW != 0 {
		// os.Root resolves symlinks itself, inside the root only; this
		// keeps O_NOFOLLOW's meaning for the last component too (one
		// swapped in after the check could lead only inside the root).
		if fi, err := root.Lstat(rel); err == nil && fi.Mode()&os.ModeSymlink != 0 {
			return nil, &os.PathError{Op: "open", Path: rel, Err: syscall.ELOOP}
		}
	}
	f, err := root.OpenFile(rel, flag|syscall.O_NONBLOCK, perm)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, &os.PathError{Op: "open", Path: rel, Err: errNotRegular}
	}
	return f, nil
}

// readExitCode reads an exit file inside workDir: a small number, read
// from a regular file inside it only.
func readExitCode(workDir, rel string) (int, error) {
	f, err := openInWorkDir(workDir, rel, os.O_RDONLY, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 32))
	if err != nil {
		return 0, err
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, errors.New("the exit file holds no number")
	}
	return code, nil
}
