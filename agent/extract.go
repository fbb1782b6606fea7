//go:build linux

package agent

import (
	"archive/tar"
	"archive/zip"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/ulikunitz/xz"

	"github.com/cuttle-sh/cuttle/wire"
)

// An archive comes from whoever built the package: hostile until shown
// otherwise. Extract writes only through an os.Root of the destination,
// which refuses any path that resolves outside it at any component
// (checked at each open, so nothing can be swapped in between); on top of
// that it refuses entries that name a place outside (absolute, "..") and
// symlinks that point outside, so what the step finds in the directory
// stays inside it too. Files are created O_EXCL, so an entry never writes
// through a symlink an earlier entry left.

// ErrRefused: an archive was refused; nothing more of it is extracted.
var ErrRefused = errors.New(wire.PackageRefused)

// Limits bound what one archive may extract.
type Limits struct {
	// MaxBytes is the total size of the files; MaxEntries how many
	// entries (files, directories, links) there may be.
	MaxBytes   int64
	MaxEntries int
}

// DefaultLimits: 4 GiB in 100 000 entries.
var DefaultLimits = Limits{MaxBytes: 4 << 30, MaxEntries: 100_000}

// entry is one archive member, whatever the format.
type entry struct {
	name   string
	mode   fs.FileMode // permission and sticky bits; set-uid and set-gid are never kept
	kind   byte        // tar's Typeflag (zip's mapped onto it)
	link   string      // symlink or hard link target
	size   int64
	reader func() (io.ReadCloser, error)
}

// extractor writes entries into one destination.
type extractor struct {
	root    *os.Root
	lim     Limits
	entries int
	written int64
	dirs    map[string]fs.FileMode
	real    map[string]bool // directories made or checked: no symlink on the way
}

// Extract extracts the archive at file, of the given format, into dest,
// which it creates (it must not exist).
func Extract(file string, format wire.ArchiveFormat, dest string, lim Limits) error {
	if err := os.Mkdir(dest, 0o755); err != nil {
		return err
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return err
	}
	defer root.Close()
	x := &extractor{root: root, lim: lim, dirs: map[string]fs.FileMode{}, real: map[string]bool{}}
	if format == wire.FormatZip {
		err = x.zip(file)
	} else {
		err = x.tar(file, format)
	}
	if err != nil {
		return err
	}
	// Directory modes last: a read-only directory must not stop the
	// files inside it.
	for dir, mode := range x.dirs {
		if err := root.Chmod(dir, mode); err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
	}
	return nil
}

func (x *extractor) zip(file string) error {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return fmt.Errorf("%w: not a readable zip archive: %v", ErrRefused, err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		m := f.Mode()
		e := entry{name: strings.ReplaceAll(f.Name, `\`, "/"), mode: m & (fs.ModePerm | fs.ModeSticky),
			kind: tar.TypeReg, size: int64(f.UncompressedSize64), reader: f.Open}
		switch {
		case m.IsDir() || strings.HasSuffix(e.name, "/"):
			e.kind = tar.TypeDir
		case m&fs.ModeSymlink != 0:
			e.kind = tar.TypeSymlink
			rc, err := f.Open()
			if err != nil {
				return fmt.Errorf("%s: %w", f.Name, err)
			}
			target, err := io.ReadAll(io.LimitReader(rc, 4096))
			rc.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", f.Name, err)
			}
			e.link = string(target)
		case !m.IsRegular():
			e.kind = 0 // a device or pipe: refused below
		}
		if m.Perm() == 0 && e.kind == tar.TypeReg {
			e.mode |= 0o644 // made on a system without Unix modes
		} else if m.Perm() == 0 && e.kind == tar.TypeDir {
			e.mode |= 0o755
		}
		if err := x.add(e); err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) tar(file string, format wire.ArchiveFormat) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	switch format {
	case wire.FormatTarGz:
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%w: not a gzip file: %v", ErrRefused, err)
		}
		r = gz
	case wire.FormatTarBz:
		r = bzip2.NewReader(f)
	case wire.FormatTarXz:
		if r, err = xz.NewReader(f); err != nil {
			return fmt.Errorf("%w: not an xz file: %v", ErrRefused, err)
		}
	}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w: reading the tar archive: %v", ErrRefused, err)
		}
		e := entry{name: h.Name, mode: fs.FileMode(h.Mode).Perm(), kind: h.Typeflag, link: h.Linkname, size: h.Size,
			reader: func() (io.ReadCloser, error) { return io.NopCloser(tr), nil }}
		if h.Mode&0o1000 != 0 {
			e.mode |= fs.ModeSticky
		}
		switch h.Typeflag {
		case tar.TypeXGlobalHeader:
			continue
		case tar.TypeRegA:
			e.kind = tar.TypeReg
		}
		if err := x.add(e); err != nil {
			return err
		}
	}
}

// cleanName checks an entry's name and returns it relative to the root.
func cleanName(name string) (string, error) {
	if name == "" || strings.HasPrefix(name, "/") || strings.ContainsRune(name, 0) {
		return "", fmt.Errorf("%w: entry %q: an absolute or empty path would land outside the package's directory", ErrRefused, name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%w: entry %q: a \"..\" would land outside the package's directory", ErrRefused, name)
		}
	}
	return path.Clean(name), nil
}

func (x *extractor) add(e entry) error {
	x.entries++
	if x.entries > x.lim.MaxEntries {
		return fmt.Errorf("%w: more than %d entries (the limit; raise defaults.package_max_entries in cuttle.yaml if the package is genuine)", ErrRefused, x.lim.MaxEntries)
	}
	name, err := cleanName(e.name)
	if err != nil {
		return err
	}
	if name == "." {
		if e.kind == tar.TypeDir {
			x.dirs["."] = e.mode.Perm() | 0o700
			return nil
		}
		return fmt.Errorf("%w: entry %q: not a file name", ErrRefused, e.name)
	}
	// Set-uid and set-gid never survive: the step's files are not a way
	// to run anything as their owner.
	perm := e.mode.Perm() | e.mode&fs.ModeSticky
	if err := x.realParent(name); err != nil {
		return err
	}
	switch e.kind {
	case tar.TypeDir:
		if err := x.realParent(name + "/x"); err != nil {
			return err
		}
		// The SSH user must be able to fill and later remove it.
		x.dirs[name] = perm | 0o700
		return nil
	case tar.TypeSymlink:
		return x.addSymlink(name, e)
	case tar.TypeLink:
		return x.addLink(name, e)
	case tar.TypeReg:
		return x.addFile(name, e, perm)
	default:
		return fmt.Errorf("%w: entry %q is of type %q (a device, pipe or unknown kind): packages hold files, directories and links only", ErrRefused, e.name, e.kind)
	}
}

// addSymlink makes symlink name, whose target must stay inside the
// package's directory.
func (x *extractor) addSymlink(name string, e entry) error {
	if e.link == "" || strings.HasPrefix(e.link, "/") {
		return fmt.Errorf("%w: symlink %q -> %q points outside the package's directory", ErrRefused, e.name, e.link)
	}
	if t := path.Join(path.Dir(name), e.link); t == ".." || strings.HasPrefix(t, "../") {
		return fmt.Errorf("%w: symlink %q -> %q points outside the package's directory", ErrRefused, e.name, e.link)
	}
	if err := x.replace(name); err != nil {
		return err
	}
	return x.wrap(name, x.root.Symlink(e.link, name))
}

// addLink makes hard link name to an entry inside the package's directory.
func (x *extractor) addLink(name string, e entry) error {
	target, err := cleanName(e.link)
	if err != nil {
		return fmt.Errorf("hard link %q: %w", e.name, err)
	}
	if err := x.replace(name); err != nil {
		return err
	}
	return x.wrap(name, x.root.Link(target, name))
}

// addFile writes regular file name with perm, counting its bytes against
// the limit as they arrive.
func (x *extractor) addFile(name string, e entry, perm fs.FileMode) error {
	if e.size > x.lim.MaxBytes-x.written {
		return x.tooBig()
	}
	if err := x.replace(name); err != nil {
		return err
	}
	out, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return x.wrap(name, err)
	}
	in, err := e.reader()
	if err != nil {
		out.Close()
		return fmt.Errorf("%w: entry %q: %v", ErrRefused, e.name, err)
	}
	// Count what arrives, not what the header claims: a zip's sizes are
	// the archive's word only.
	n, err := io.Copy(out, io.LimitReader(in, x.lim.MaxBytes-x.written+1))
	in.Close()
	x.written += n
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	switch {
	case x.written > x.lim.MaxBytes:
		return x.tooBig()
	case err != nil:
		return fmt.Errorf("%w: entry %q: %v", ErrRefused, e.name, err)
	}
	return x.wrap(name, x.root.Chmod(name, perm))
}

// realParent makes the directories above name, refusing to go through
// a symlink: then where an entry lands, and where a relative symlink in
// it points, follow from its name alone. (os.Root would keep a write
// inside anyway; this keeps symlinks the step finds inside too.)
func (x *extractor) realParent(name string) error {
	dir := path.Dir(name)
	if dir == "." || x.real[dir] {
		return nil
	}
	if err := x.realParent(dir); err != nil {
		return err
	}
	fi, err := x.root.Lstat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := x.root.Mkdir(dir, 0o755); err != nil {
			return x.wrap(name, err)
		}
	case err != nil:
		return x.wrap(name, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%w: entry %q goes through the symlink %q: packages may not write through links", ErrRefused, name, dir)
	case !fi.IsDir():
		return fmt.Errorf("%w: entry %q: %q is not a directory", ErrRefused, name, dir)
	}
	x.real[dir] = true
	return nil
}

// replace removes what an earlier entry of the same name left (tar
// archives may repeat a name: the last one wins), without following it.
func (x *extractor) replace(name string) error {
	if fi, err := x.root.Lstat(name); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("%w: entry %q would replace a directory", ErrRefused, name)
		}
		return x.wrap(name, x.root.Remove(name))
	}
	return nil
}

func (x *extractor) tooBig() error {
	return fmt.Errorf("%w: it extracts to more than %d bytes (the limit; raise defaults.package_max_extract_mb in cuttle.yaml if the package is genuine)", ErrRefused, x.lim.MaxBytes)
}

// wrap names the entry; an os.Root error that says a path escapes is a
// refusal, not an I/O problem.
func (x *extractor) wrap(name string, err error) error {
	if err == nil {
		return nil
	}
	if strings.Contains(err.Error(), "path escapes from parent") {
		return fmt.Errorf("%w: entry %q goes through a symlink out of the package's directory", ErrRefused, name)
	}
	return fmt.Errorf("entry %q: %w", name, err)
}
