//go:build linux

package agent

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cuttle-sh/cuttle/wire"
)

// The package cache: ~/.cuttle/packages/<sha256>/ holds the file and its
// meta.json. An entry appears whole or not at all: it is written in a
// temporary directory beside it and renamed into place, and a rename
// never replaces an entry another step placed first (its copy stays, ours
// goes), as with the bundles. Entries are 0700, like the rest of
// ~/.cuttle. A hit is hashed again before use: a file changed in the
// cache is dropped and sent again, never handed to a step.

// PackageSpec is what package-get and package-put are told about one
// package of one step.
type PackageSpec struct {
	Home    string // the SSH user's home
	SHA256  string
	WorkDir string // the step's work directory
	Name    string // the package reference's name: WorkDir/Name
	Meta    wire.PackageMeta
	Extract bool
	Limits  Limits
	// CacheMax, above zero, caps the cache's size (PackageGC).
	CacheMax int64
	// Share gives others the owner's permission bits on what is placed:
	// the step runs as a non-root user the files are not owned by. Only
	// the container reaches them: the work directory's parents are
	// private to the SSH user.
	Share bool
	// CacheOnly acquires the package into the cache without placing it:
	// the image is still being pulled, so whom it is for is not known
	// yet; package-place places it afterwards (PackagePlace).
	CacheOnly bool
	// MaxDownload, above zero, bounds what package-fetch downloads
	// (DefaultMaxDownload otherwise).
	MaxDownload int64
}

func (p PackageSpec) cacheDir() string { return filepath.Join(p.Home, wire.PackagesDir) }
func (p PackageSpec) entry() string    { return filepath.Join(p.cacheDir(), p.SHA256) }

func (p PackageSpec) check() error {
	if b, err := hex.DecodeString(p.SHA256); err != nil || len(b) != sha256.Size || strings.ToLower(p.SHA256) != p.SHA256 {
		return fmt.Errorf("package %s: sha256 %q: want 64 lower-case hex digits", p.Name, p.SHA256)
	}
	if p.Name == "" || p.Name == "." || p.Name == ".." || strings.ContainsAny(p.Name, "/\x00") {
		return fmt.Errorf("package name %q: not a plain file name", p.Name)
	}
	if _, _, err := wire.ArchiveOf(p.Meta.FileName); err != nil || strings.ContainsAny(p.Meta.FileName, "/\x00") {
		return fmt.Errorf("package %s: file name %q: want a plain archive name", p.Name, p.Meta.FileName)
	}
	if p.Home == "" || p.WorkDir == "" {
		return errors.New("package: --home and --workdir are required")
	}
	return nil
}

// PackageGet places the package in the work directory (unless CacheOnly)
// if the cache holds it, and says so on out (wire.PackageHit). Otherwise it says
// wire.PackageMiss, or wire.PackageBase with the sha256 of the latest
// cached version of the same package ID followed by its signature.
func PackageGet(p PackageSpec, out io.Writer) error {
	if err := p.check(); err != nil {
		return err
	}
	switch ok, err := placeCached(p); {
	case err != nil:
		return err
	case ok:
		_, err := fmt.Fprintln(out, wire.PackageHit)
		return err
	}
	base, size := latestOf(p.cacheDir(), p.Meta.ID, p.SHA256)
	if base == "" {
		_, err := fmt.Fprintln(out, wire.PackageMiss)
		return err
	}
	f, err := os.Open(filepath.Join(p.cacheDir(), base, wire.PackageFile))
	if err != nil {
		_, err := fmt.Fprintln(out, wire.PackageMiss)
		return err
	}
	defer f.Close()
	bw := bufio.NewWriter(out)
	fmt.Fprintf(bw, "%s%s\n", wire.PackageBase, base)
	if err := wire.WriteSignature(bw, f, size); err != nil {
		return fmt.Errorf("package %s: signature of %s: %w", p.Name, base, err)
	}
	return bw.Flush()
}

// placeCached places the package from the cache (unless CacheOnly) when
// the cache holds it whole, and says whether it does.
func placeCached(p PackageSpec) (bool, error) {
	if err := os.MkdirAll(p.cacheDir(), 0o700); err != nil {
		return false, fmt.Errorf("package cache %s: %w", p.cacheDir(), err)
	}
	if ok, err := verified(p.entry(), p.SHA256); err != nil || !ok {
		return false, err
	}
	now := time.Now()
	_ = os.Chtimes(p.entry(), now, now) // gc ages entries out by this
	if p.CacheOnly {
		return true, nil
	}
	return true, place(p)
}

// verified reports whether the cache entry dir holds a file whose sha256
// is want. An entry that does not is removed (renamed away first, so a
// step reading it keeps its open file).
func verified(dir, want string) (bool, error) {
	f, err := os.Open(filepath.Join(dir, wire.PackageFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("package cache %s: %w", dir, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return false, fmt.Errorf("package cache %s: %w", dir, err)
	}
	if hex.EncodeToString(h.Sum(nil)) == want {
		return true, nil
	}
	fmt.Fprintf(os.Stderr, "cuttle: the cached package %s does not match its sha256 (a file in it was changed): sending it again\n", dir)
	return false, removeEntry(dir)
}

func removeEntry(dir string) error {
	gone := filepath.Join(filepath.Dir(dir), fmt.Sprintf(".tmp-bad-%d-%s", os.Getpid(), filepath.Base(dir)))
	if err := os.Rename(dir, gone); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("package cache: removing %s: %w", dir, err)
	}
	return os.RemoveAll(gone)
}

// latestOf returns the most recently used cache entry of package id other
// than except, and its file's size.
func latestOf(cache, id, except string) (sha string, size int64) {
	entries, _ := os.ReadDir(cache)
	var newest time.Time
	for _, e := range entries {
		if len(e.Name()) != 2*sha256.Size || e.Name() == except || !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(cache, e.Name(), wire.PackageMetaFile))
		var m wire.PackageMeta
		if err != nil || json.Unmarshal(b, &m) != nil || m.ID != id {
			continue
		}
		fi, err1 := e.Info()
		pf, err2 := os.Stat(filepath.Join(cache, e.Name(), wire.PackageFile))
		if err1 != nil || err2 != nil {
			continue
		}
		if sha == "" || fi.ModTime().After(newest) {
			sha, size, newest = e.Name(), pf.Size(), fi.ModTime()
		}
	}
	return sha, size
}

// gcMinAge keeps a cache entry that a step used this recently: it may be
// extracting from it right now.
const gcMinAge = 10 * time.Minute

// PackageGC removes the least recently used cache entries (a hit or a
// placement marks an entry used) until the cache holds at most maxBytes,
// sparing keep and entries used in the last minAge, and temporaries left
// by an upload that died an hour ago or more. It returns what it removed.
func PackageGC(cache string, maxBytes int64, keep string, minAge time.Duration) ([]string, error) {
	entries, err := os.ReadDir(cache)
	if err != nil {
		return nil, err
	}
	type cached struct {
		name string
		size int64
		used time.Time
	}
	var all []cached
	var total int64
	var removed []string
	for _, e := range entries {
		fi, err := e.Info()
		if err != nil || !fi.IsDir() {
			continue
		}
		if strings.HasPrefix(e.Name(), ".tmp-") {
			if time.Since(fi.ModTime()) > time.Hour && os.RemoveAll(filepath.Join(cache, e.Name())) == nil {
				removed = append(removed, e.Name())
			}
			continue
		}
		pf, err := os.Stat(filepath.Join(cache, e.Name(), wire.PackageFile))
		if err != nil || len(e.Name()) != 2*sha256.Size {
			continue
		}
		all = append(all, cached{e.Name(), pf.Size(), fi.ModTime()})
		total += pf.Size()
	}
	sort.Slice(all, func(i, j int) bool { return all[i].used.Before(all[j].used) })
	for _, c := range all {
		if total <= maxBytes {
			break
		}
		if c.name == keep || time.Since(c.used) < minAge {
			continue
		}
		if err := removeEntry(filepath.Join(cache, c.name)); err != nil {
			return removed, err
		}
		total -= c.size
		removed = append(removed, c.name)
	}
	return removed, nil
}

// PackagePut reads the package from in, in full or, with base set, as a
// delta against the cached entry base; checks its sha256; caches it and
// places it in the work directory. maxSize bounds what a delta may build.
func PackagePut(p PackageSpec, base string, maxSize int64, in io.Reader) error {
	if err := p.check(); err != nil {
		return err
	}
	return p.store(func(tmp string) error { return receive(p, tmp, base, maxSize, in) })
}

// store caches the package that fill writes into a temporary directory
// beside the cache's entries (removed whatever happens), and places it in
// the work directory unless CacheOnly.
func (p PackageSpec) store(fill func(tmp string) error) error {
	if err := os.MkdirAll(p.cacheDir(), 0o700); err != nil {
		return fmt.Errorf("package cache %s: %w", p.cacheDir(), err)
	}
	tmp, err := os.MkdirTemp(p.cacheDir(), ".tmp-")
	if err != nil {
		return fmt.Errorf("package cache %s: %w", p.cacheDir(), err)
	}
	defer os.RemoveAll(tmp)
	if err := fill(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, p.entry()); err != nil {
		// Another step placed it first: its copy stays, if it is whole.
		if ok, verr := verified(p.entry(), p.SHA256); verr != nil || !ok {
			return fmt.Errorf("package %s: placing it in the cache: %w", p.Name, err)
		}
	}
	if !p.CacheOnly {
		if err := place(p); err != nil {
			return err
		}
	}
	if p.CacheMax > 0 {
		// The cache only grows here, so here it is trimmed; a failure
		// costs disk, not the step.
		if _, err := PackageGC(p.cacheDir(), p.CacheMax, p.SHA256, gcMinAge); err != nil {
			fmt.Fprintf(os.Stderr, "cuttle: trimming the package cache %s: %v\n", p.cacheDir(), err)
		}
	}
	return nil
}

// receive writes the package and its meta into dir, checking its sha256.
func receive(p PackageSpec, dir, base string, maxSize int64, in io.Reader) error {
	f, err := os.OpenFile(filepath.Join(dir, wire.PackageFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	h := newAsyncHash()
	defer h.stop()
	w := io.MultiWriter(h, f)
	var n int64
	if base != "" {
		if len(base) != 2*sha256.Size || strings.ContainsAny(base, "/.") {
			return fmt.Errorf("package %s: base %q: not a sha256", p.Name, base)
		}
		bf, err := os.Open(filepath.Join(p.cacheDir(), base, wire.PackageFile))
		if err != nil {
			return fmt.Errorf("package %s: the base version %s: %w", p.Name, base, err)
		}
		defer bf.Close()
		fi, err := bf.Stat()
		if err != nil {
			return err
		}
		if n, err = wire.ApplyDelta(w, bf, fi.Size(), in, maxSize); err != nil {
			return fmt.Errorf("package %s: applying the delta: %w", p.Name, err)
		}
	} else if n, err = io.Copy(w, in); err != nil {
		return fmt.Errorf("package %s: receiving it: %w", p.Name, err)
	}
	if got := hex.EncodeToString(h.sum()); got != p.SHA256 {
		return &DigestError{Name: p.Name, Size: n, Got: got, Want: p.SHA256}
	}
	if err := f.Close(); err != nil {
		return err
	}
	p.Meta.Size = n
	meta, _ := json.Marshal(p.Meta)
	return os.WriteFile(filepath.Join(dir, wire.PackageMetaFile), meta, 0o600)
}

// asyncHash is a sha256 computed in a goroutine of its own as it is
// written to, so that hashing a package overlaps writing it to disk and
// reading its base: Write copies into one of a few buffers and returns.
type asyncHash struct {
	h          hash.Hash
	work, free chan []byte
	done       chan struct{}
	stopOnce   sync.Once
}

const asyncHashBuffers, asyncHashBuffer = 4, 256 << 10

func newAsyncHash() *asyncHash {
	a := &asyncHash{h: sha256.New(), work: make(chan []byte, asyncHashBuffers), free: make(chan []byte, asyncHashBuffers), done: make(chan struct{})}
	for range asyncHashBuffers {
		a.free <- make([]byte, 0, asyncHashBuffer)
	}
	go func() {
		defer close(a.done)
		for b := range a.work {
			a.h.Write(b)
			a.free <- b[:0]
		}
	}()
	return a
}

func (a *asyncHash) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		b := <-a.free
		m := min(len(p), cap(b))
		a.work <- append(b, p[:m]...)
		p = p[m:]
	}
	return n, nil
}

// stop ends the hashing goroutine once it has hashed what was written.
func (a *asyncHash) stop() {
	a.stopOnce.Do(func() { close(a.work) })
	<-a.done
}

// sum is the sha256 of all that was written; nothing may be written after.
func (a *asyncHash) sum() []byte {
	a.stop()
	return a.h.Sum(nil)
}

// DigestError: what arrived for a package is not the file its sha256
// names.
type DigestError struct {
	Name      string
	Size      int64
	Got, Want string
}

func (e *DigestError) Error() string {
	return fmt.Sprintf("package %s: %s%d bytes) has sha256 %s, not %s", e.Name, wire.PackageMismatch, e.Size, e.Got, e.Want)
}

// place puts the cached package into the work directory: extracted into
// WorkDir/Name, or copied unopened to WorkDir/Name plus the archive's
// extension (as Octopus stages a package it does not extract).
func place(p PackageSpec) error {
	file := filepath.Join(p.entry(), wire.PackageFile)
	format, ext, _ := wire.ArchiveOf(p.Meta.FileName)
	if p.Extract {
		dir := filepath.Join(p.WorkDir, p.Name)
		if err := Extract(file, format, dir, p.Limits); err != nil {
			return fmt.Errorf("package %s (%s): %w", p.Name, p.Meta.FileName, err)
		}
		if p.Share {
			return shareTree(dir)
		}
		return nil
	}
	root, err := os.OpenRoot(p.WorkDir)
	if err != nil {
		return err
	}
	defer root.Close()
	src, err := os.Open(file)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := root.OpenFile(p.Name+ext, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("package %s: %w", p.Name, err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return fmt.Errorf("package %s: copying it into the work directory: %w", p.Name, err)
	}
	return dst.Close()
}

// shareTree gives others the owner's permission bits on every file and
// directory under dir (symlinks are left alone), so that a step running
// as another, non-root user can use the package as its owner could.
func shareTree(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode()
		perm := mode.Perm() | mode.Perm()&0o700>>6
		return os.Chmod(p, perm|mode&fs.ModeSticky)
	})
}
