package remote

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/transport"
)

// Artifact is a file the script asked cuttle to collect, downloaded.
type Artifact struct {
	Name   string // as the script named it, sanitised
	Path   string // where it landed on the controller
	Remote string // where it was on the worker
	Size   int64
	SHA256 string
}

// collectArtifacts downloads each requested file that lies inside the work
// directory (after resolving symlinks) to local/<name>. Files outside
// are refused with a warning and never read. Each download is written to a
// temporary file, checked against the worker's size and sha256, then
// renamed into place.
func collectArtifacts(ctx context.Context, sh Shell, workDir string, reqs []artifactRequest, local string, log zerolog.Logger) ([]Artifact, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	realWD, err := sh.RealPath(ctx, workDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(local, 0o755); err != nil {
		return nil, fmt.Errorf("artifacts directory %s: %w", local, err)
	}
	used := map[string]bool{}
	var arts []Artifact
	for _, r := range reqs {
		p := r.Path
		if !path.IsAbs(p) {
			p = path.Join(workDir, p)
		}
		real, err := sh.RealPath(ctx, path.Clean(p))
		if err != nil || !strings.HasPrefix(real, realWD+"/") {
			log.Warn().Str("artifact", r.Path).Msg("artifact refused: it is not a file inside the work directory (artifacts must be written under $PWD; symlinks out of it are not followed)")
			continue
		}
		fi, err := sh.Lstat(ctx, real)
		if err != nil || !fi.Mode().IsRegular() {
			log.Warn().Str("artifact", r.Path).Msg("artifact refused: not a regular file")
			continue
		}
		name := r.Name
		if name == "" {
			name = path.Base(real)
		}
		name = uniqueName(SafeName(name), used)
		a := Artifact{Name: name, Path: filepath.Join(local, name), Remote: real}
		if err := download(ctx, sh, &a, fi.Size()); err != nil {
			return arts, err
		}
		arts = append(arts, a)
	}
	if err := verifyRemoteSums(ctx, sh, arts); err != nil {
		for _, a := range arts {
			os.Remove(a.Path)
		}
		return nil, err
	}
	return arts, nil
}

func download(ctx context.Context, sh Shell, a *Artifact, size int64) error {
	tmp, err := os.CreateTemp(filepath.Dir(a.Path), "."+a.Name+".part-*")
	if err != nil {
		return fmt.Errorf("artifact %s: %w", a.Name, err)
	}
	defer os.Remove(tmp.Name())
	n, sum, err := sh.Download(ctx, a.Remote, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("artifact %s: downloading %s: %w", a.Name, a.Remote, err)
	}
	if n != size {
		return fmt.Errorf("artifact %s: got %d bytes of %s, the worker lists %d", a.Name, n, a.Remote, size)
	}
	if err := os.Rename(tmp.Name(), a.Path); err != nil {
		return fmt.Errorf("artifact %s: %w", a.Name, err)
	}
	a.Size, a.SHA256 = n, sum
	return nil
}

// verifyRemoteSums compares each download with sha256sum on the worker,
// in one command. A worker without sha256sum is trusted to SFTP's length
// check alone.
func verifyRemoteSums(ctx context.Context, sh Shell, arts []Artifact) error {
	if len(arts) == 0 {
		return nil
	}
	args := []string{"sh", "-c", `command -v sha256sum >/dev/null 2>&1 || exit 0; exec sha256sum -- "$@"`, "sh"}
	for _, a := range arts {
		args = append(args, a.Remote)
	}
	var out bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: args, Stdout: &out}); err != nil {
		return fmt.Errorf("checking artifacts' sha256 on the worker: %w", err)
	}
	if out.Len() == 0 {
		return nil
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	for i, a := range arts {
		if i >= len(lines) || !strings.HasPrefix(lines[i], a.SHA256+" ") {
			return fmt.Errorf("artifact %s: sha256 of the download differs from the worker's copy of %s", a.Name, a.Remote)
		}
	}
	return nil
}

// SafeName makes s usable as one file name on any controller: no path
// separators, control characters or reserved characters, no leading dots.
func SafeName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '/' || r == '\\' || r == ':' || r == '*' || r == '?' || r == '"' || r == '<' || r == '>' || r == '|' || r == 0:
			b.WriteRune('_')
		case unicode.IsControl(r):
			b.WriteRune('_')
		default:
			b.WriteRune(r)
		}
	}
	out := strings.TrimLeft(strings.TrimSpace(b.String()), ".")
	if len(out) > 200 {
		out = out[:200]
	}
	if out == "" {
		return "artifact"
	}
	return out
}

func uniqueName(name string, used map[string]bool) string {
	candidate := name
	ext := filepath.Ext(name)
	for i := 2; used[candidate]; i++ {
		candidate = strings.TrimSuffix(name, ext) + "-" + strconv.Itoa(i) + ext
	}
	used[candidate] = true
	return candidate
}
