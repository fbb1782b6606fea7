//go:build linux

package agent

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/cuttle-sh/cuttle/wire"
)

// Pack writes the requested artifacts to w, each as a JSON header line,
// its bytes and a sha256 line, in one stream: the controller collects
// every artifact in the command that also cleans up. It runs on the worker
// host after the container has ended. A path that resolves outside
// workDir (symlinks included), or is not a regular file, is refused in
// its header and never read.
func Pack(workDir string, paths []string, out io.Writer) error {
	w := bufio.NewWriterSize(out, 64<<10)
	realWD, err := filepath.EvalSymlinks(workDir)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	for _, p := range paths {
		h := wire.PackHeader{Path: p}
		f, size, real, err := openInside(realWD, workDir, p)
		if err != nil {
			h.Error = err.Error()
			if err := enc.Encode(h); err != nil {
				return err
			}
			continue
		}
		h.Real, h.Size = real, size
		if err := enc.Encode(h); err != nil {
			f.Close()
			return err
		}
		sum := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, sum), io.LimitReader(f, size))
		f.Close()
		if err != nil {
			return err
		}
		if n != size {
			// Shrunk while read: the stream's framing is lost.
			return fmt.Errorf("%s shrank from %d to %d bytes while it was sent", real, size, n)
		}
		fmt.Fprintf(w, "sha256 %s\n", hex.EncodeToString(sum.Sum(nil)))
	}
	return w.Flush()
}

// openInside opens p (relative to workDir unless absolute) if it resolves
// to a regular file inside realWD.
func openInside(realWD, workDir, p string) (*os.File, int64, string, error) {
	if !filepath.IsAbs(p) {
		p = filepath.Join(workDir, p)
	}
	real, err := filepath.EvalSymlinks(filepath.Clean(p))
	if err != nil || !strings.HasPrefix(real, realWD+"/") {
		return nil, 0, "", fmt.Errorf("not a file inside the work directory (artifacts must be written under $PWD; symlinks out of it are not followed)")
	}
	// Opened through the work directory's os.Root: a directory on the way
	// swapped for a symlink after the check above still cannot lead out.
	rel, _ := filepath.Rel(realWD, real)
	f, err := openInWorkDir(realWD, rel, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if errors.Is(err, errNotRegular) {
		return nil, 0, "", err
	}
	if err != nil {
		return nil, 0, "", fmt.Errorf("cannot be read: %v", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, "", fmt.Errorf("cannot be read: %v", err)
	}
	return f, fi.Size(), real, nil
}
