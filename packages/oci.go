package packages

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/cuttle-sh/cuttle/internal/secret"
	"github.com/cuttle-sh/cuttle/wire"
)

// Auth is the credentials of a feed, for an oci source's registry. They
// travel in the registry client's memory only: never argv, a file or a
// message.
type Auth struct {
	Username string
	Password secret.Value
}

// maxManifest bounds an OCI manifest read into memory.
const maxManifest = 4 << 20

// pullOCI fetches an OCI artifact's one layer (as `oras push` makes it:
// the file, named by its org.opencontainers.image.title annotation) into
// the store's directory, checked against the layer's digest. A registry
// on a loopback address is spoken to over plain HTTP, as Docker does.
func (s *Store) pullOCI(ctx context.Context, src Source, a *Auth) (File, error) {
	repo, err := remote.NewRepository(src.Registry + "/" + src.Repository)
	if err != nil {
		return File{}, err
	}
	repo.PlainHTTP = wire.IsLoopback(src.Registry)
	client := &auth.Client{Client: s.Client, Cache: auth.NewCache()}
	if a != nil && a.Username != "" {
		client.Credential = auth.StaticCredential(src.Registry, auth.Credential{Username: a.Username, Password: a.Password.Reveal()})
	}
	repo.Client = client
	_, manifest, err := oras.FetchBytes(ctx, repo, src.Reference, oras.FetchBytesOptions{MaxBytes: maxManifest})
	if err != nil {
		return File{}, fmt.Errorf("fetching the manifest: %w", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(manifest, &m); err != nil {
		return File{}, fmt.Errorf("the manifest: %w", err)
	}
	if len(m.Layers) != 1 {
		return File{}, fmt.Errorf("the artifact has %d layers: a package is one file (oras push FILE)", len(m.Layers))
	}
	layer := m.Layers[0]
	name := path.Base(layer.Annotations[ocispec.AnnotationTitle])
	if _, err := FormatOf(name); err != nil {
		return File{}, fmt.Errorf("the artifact's file (its %s annotation): %w", ocispec.AnnotationTitle, err)
	}
	want, ok := strings.CutPrefix(string(layer.Digest), "sha256:")
	if !ok {
		return File{}, fmt.Errorf("layer digest %s: only sha256 is supported", layer.Digest)
	}
	dir, err := s.dir()
	if err != nil {
		return File{}, err
	}
	final := filepath.Join(dir, want+"-"+name)
	if f, err := hashFile(final); err == nil && f.SHA256 == want {
		f.Name = name
		return f, nil
	}
	rc, err := repo.Fetch(ctx, layer)
	if err != nil {
		return File{}, fmt.Errorf("fetching %s: %w", name, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		return File{}, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(rc, layer.Size+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return File{}, fmt.Errorf("fetching %s: %w", name, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want || n != layer.Size {
		return File{}, fmt.Errorf("%s: what arrived (%d bytes, sha256 %s) is not the layer %s", name, n, got, layer.Digest)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return File{}, err
	}
	return File{Path: final, Name: name, SHA256: want, Size: n}, nil
}
