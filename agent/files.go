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
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cuttle-sh/cuttle/wire"
)

// FilesGet writes, for substitute_in_files, the files under workDir that
// patterns match: a wire.FileMatches line, then a pack stream of every
// matched regular file (symlinks are not followed, so nothing outside
// the work directory is read). It fails when they exceed
// wire.MaxSubstituted.
func FilesGet(workDir string, patterns []string, out io.Writer) error {
	var m wire.FileMatches
	all := map[string]bool{}
	for _, p := range patterns {
		if err := wire.CheckPattern(p); err != nil {
			return err
		}
		paths, err := matchFiles(workDir, p)
		if err != nil {
			return err
		}
		m.Patterns = append(m.Patterns, wire.PatternMatch{Pattern: p, Paths: paths})
		for _, rel := range paths {
			all[rel] = true
		}
	}
	list := make([]string, 0, len(all))
	var total int64
	for rel := range all {
		fi, err := os.Lstat(filepath.Join(workDir, rel))
		if err != nil {
			return err
		}
		total += fi.Size()
		list = append(list, rel)
	}
	if total > wire.MaxSubstituted {
		return fmt.Errorf("substitute_in_files: the matched files hold %d MiB, over the %d MiB a step may substitute: narrow the patterns", total>>20, wire.MaxSubstituted>>20)
	}
	sort.Strings(list)
	line, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err := out.Write(append(line, '\n')); err != nil {
		return err
	}
	return Pack(workDir, list, out)
}

// matchFiles lists the regular files under workDir that pattern matches,
// walking only below the pattern's fixed directories.
func matchFiles(workDir, pattern string) ([]string, error) {
	base := wire.PatternBase(pattern)
	var paths []string
	err := filepath.WalkDir(filepath.Join(workDir, filepath.FromSlash(base)), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(workDir, p)
		if err != nil {
			return err
		}
		if rel = filepath.ToSlash(rel); wire.MatchPattern(pattern, rel) {
			paths = append(paths, rel)
		}
		return nil
	})
	return paths, err
}

// FilesPut reads a pack stream of new contents for files in workDir
// (those FilesGet sent) and replaces each file whole: written beside it
// and renamed over it inside the work directory's os.Root, with the
// mode it had. A path outside the work directory, or one that is not an
// existing regular file, is refused before anything is written.
func FilesPut(workDir string, in io.Reader) error {
	root, err := os.OpenRoot(workDir)
	if err != nil {
		return err
	}
	defer root.Close()
	r := bufio.NewReader(io.LimitReader(in, wire.MaxSubstituted+1<<20))
	for {
		line, err := r.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("substitute_in_files: the stream of new contents ended early")
		}
		var h wire.PackHeader
		if err := json.Unmarshal(line, &h); err != nil {
			return fmt.Errorf("substitute_in_files: garbled stream: %v", err)
		}
		if err := putFile(root, r, h); err != nil {
			return fmt.Errorf("substitute_in_files: %s: %w", h.Path, err)
		}
	}
}

func putFile(root *os.Root, r *bufio.Reader, h wire.PackHeader) error {
	if wire.CheckPattern(h.Path) != nil || strings.ContainsAny(h.Path, "*?[") || h.Size < 0 || h.Size > wire.MaxSubstituted {
		return errors.New("not a file of the work directory")
	}
	fi, err := root.Lstat(h.Path)
	if err != nil || !fi.Mode().IsRegular() {
		return errors.New("not an existing regular file of the work directory")
	}
	tmp := path.Join(path.Dir(h.Path), ".cuttle-substitute-"+path.Base(h.Path))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, sum), io.LimitReader(r, h.Size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != h.Size {
		err = fmt.Errorf("got %d of %d bytes", n, h.Size)
	}
	if err == nil {
		trailer, rerr := r.ReadString('\n')
		if rerr != nil || strings.TrimSpace(trailer) != "sha256 "+hex.EncodeToString(sum.Sum(nil)) {
			err = errors.New("the content's sha256 does not match")
		}
	}
	if err == nil {
		err = root.Chmod(tmp, fi.Mode().Perm())
	}
	if err == nil {
		err = root.Rename(tmp, h.Path)
	}
	if err != nil {
		root.Remove(tmp)
	}
	return err
}
