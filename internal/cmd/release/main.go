// Command release packs release archives reproducibly: `release -mtime
// UNIX -o dist/NAME.tar.gz DIR` (or NAME.zip) writes DIR's files under
// NAME/, sorted, with the given modification time and no owner, so that
// two builds of the same commit give the same bytes. `make release` runs
// it once per platform, with the commit's time.
package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "", "the archive to write: NAME.tar.gz or NAME.zip")
	mtime := flag.Int64("mtime", 0, "modification time of every entry, in Unix seconds (the commit's)")
	flag.Parse()
	if *out == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: release -mtime UNIX -o dist/NAME.tar.gz|NAME.zip DIR")
		os.Exit(2)
	}
	if err := pack(*out, flag.Arg(0), time.Unix(*mtime, 0).UTC()); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

type entry struct {
	name string // slash-separated, under the archive's top folder
	mode fs.FileMode
	data []byte
}

// pack writes dir's regular files to out (tar.gz or zip, by its name),
// atomically: a failed run leaves no archive.
func pack(out, dir string, mtime time.Time) error {
	top, format := strings.TrimSuffix(filepath.Base(out), ".tar.gz"), "tar.gz"
	if strings.HasSuffix(out, ".zip") {
		top, format = strings.TrimSuffix(filepath.Base(out), ".zip"), "zip"
	} else if !strings.HasSuffix(out, ".tar.gz") {
		return fmt.Errorf("archive %s: the name must end in .tar.gz or .zip", out)
	}
	entries, err := collect(dir, top)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(out), ".release-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if format == "zip" {
		err = writeZip(f, entries, mtime)
	} else {
		err = writeTarGz(f, entries, mtime)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("archive %s: %w", out, err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), out)
}

// collect reads dir's regular files in name order; anything else is an
// error (a release holds files only).
func collect(dir, top string) ([]entry, error) {
	var entries []entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		entries = append(entries, entry{path.Join(top, filepath.ToSlash(rel)), mode, data})
		return nil
	})
	if err == nil && len(entries) == 0 {
		err = errors.New(dir + " has no files")
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	return entries, err
}

func writeTarGz(w io.Writer, entries []entry, mtime time.Time) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: int64(e.mode), Size: int64(len(e.data)), ModTime: mtime, Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

func writeZip(w io.Writer, entries []entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime}
		h.SetMode(e.mode)
		fw, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := fw.Write(e.data); err != nil {
			return err
		}
	}
	return zw.Close()
}
