package packages

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"

	"github.com/cuttle-sh/cuttle/wire"
)

// File is a package's file on the controller, ready to send.
type File struct {
	Path string
	// Name is the file's name as its source gives it (for an oci
	// source, the artifact's title annotation): it selects the format.
	Name   string
	SHA256 string
	Size   int64
}

// Store acquires packages on the controller, once per source for the
// life of the store (one run): a local file is hashed once however many
// steps use it, a download is made once.
type Store struct {
	// Client fetches https sources (nil: http.DefaultClient).
	Client *http.Client
	// Dir holds downloads (empty: a temporary directory, removed by
	// Close).
	Dir string

	mu    sync.Mutex
	files map[string]*acquisition
	tmp   string
}

type acquisition struct {
	done chan struct{}
	file File
	err  error
}

// Acquire returns the file of sp's source, fetching it if needed; a is
// the credentials of an oci source's registry, or an https source's
// server, sent as HTTP basic authentication (nil: none).
func (s *Store) Acquire(ctx context.Context, sp Spec, a *Auth) (File, error) {
	key := sp.Source.String()
	s.mu.Lock()
	if s.files == nil {
		s.files = map[string]*acquisition{}
	}
	q, ok := s.files[key]
	if !ok {
		q = &acquisition{done: make(chan struct{})}
		s.files[key] = q
	}
	s.mu.Unlock()
	if ok {
		select {
		case <-q.done:
			return q.file, q.err
		case <-ctx.Done():
			return File{}, context.Cause(ctx)
		}
	}
	q.file, q.err = s.acquire(ctx, sp, a)
	if q.err != nil {
		q.err = fmt.Errorf("package %s (%s): %w", sp.Name, sp.Source, q.err)
	}
	close(q.done)
	return q.file, q.err
}

func (s *Store) acquire(ctx context.Context, sp Spec, a *Auth) (File, error) {
	switch sp.Source.Kind {
	case Local:
		return hashFile(sp.Source.Path)
	case HTTPS:
		return s.download(ctx, sp.Source, a)
	case OCI:
		return s.pullOCI(ctx, sp.Source, a)
	}
	return File{}, errors.New("unknown source kind")
}

// Close removes what the store downloaded into its temporary directory.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tmp == "" {
		return nil
	}
	return os.RemoveAll(s.tmp)
}

func hashFile(p string) (File, error) {
	f, err := os.Open(p)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return File{}, err
	}
	if !fi.Mode().IsRegular() {
		return File{}, fmt.Errorf("%s is not a regular file", p)
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, err
	}
	return File{Path: p, Name: filepath.Base(p), SHA256: hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// download fetches an https source into the store's directory, keeping it
// only if its sha256 is the one the source names. a's credentials, when
// given, go as basic authentication, to the URL's own origin only
// (wire.CheckDownloadRedirect).
func (s *Store) download(ctx context.Context, src Source, a *Auth) (File, error) {
	dir, err := s.dir()
	if err != nil {
		return File{}, err
	}
	final := filepath.Join(dir, src.SHA256+"-"+src.FileName())
	if f, err := hashFile(final); err == nil && f.SHA256 == src.SHA256 {
		f.Name = src.FileName()
		return f, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.URL, nil)
	if err != nil {
		return File{}, err
	}
	if a != nil && a.Username != "" {
		req.SetBasicAuth(a.Username, a.Password.Reveal())
	}
	client := http.Client{}
	if s.Client != nil {
		client = *s.Client
	}
	client.CheckRedirect = wire.CheckDownloadRedirect
	resp, err := client.Do(req)
	if err != nil {
		return File{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return File{}, fmt.Errorf("GET: %s%s", resp.Status, wire.AuthHint(resp.StatusCode, a != nil && a.Username != ""))
	}
	tmp, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return File{}, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), resp.Body)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, fmt.Errorf("downloading: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != src.SHA256 {
		return File{}, fmt.Errorf("the download (%d bytes) has sha256 %s, not the %s the source names: check the URL and the digest", n, got, src.SHA256)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return File{}, err
	}
	return File{Path: final, Name: src.FileName(), SHA256: src.SHA256, Size: n}, nil
}

func (s *Store) dir() (string, error) {
	if s.Dir != "" {
		return s.Dir, os.MkdirAll(s.Dir, 0o700)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tmp == "" {
		t, err := os.MkdirTemp("", "cuttle-packages-")
		if err != nil {
			return "", err
		}
		s.tmp = t
	}
	return s.tmp, nil
}
