package remote

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/internal/printable"
	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// Artifact is a file the script asked cuttle to collect, downloaded.
type Artifact struct {
	Name   string // as the script named it, sanitised
	Path   string // where it landed on the controller
	Remote string // where it was on the worker
	Size   int64
	SHA256 string
}

// finishArgs collects the requested artifacts and then cleans up, in one
// command: the runner on the worker host packs each file that lies inside
// the work directory into stdout (see agent.Pack), then the cleanup
// script reports on stderr.
func finishArgs(p runPlan, paths []string, stop, keep bool) []string {
	c := cleanupArgs(p, stop, keep, false)
	args := []string{"sh", "-c", finishScript, "sh", c[4], c[5], c[6], c[7], p.BundleDir + "/" + bundle.RunnerFile}
	return append(args, paths...)
}

const finishScript = `c=$1 w=$2 s=$3 k=$4 r=$5; shift 5
"$r" step-runner pack --workdir "$w" -- "$@" || echo "pack=failed" >&2
exec 1>&2
set -- "$c" "$w" "$s" "$k"
` + cleanupScript

// finish runs finishArgs and receives the artifacts into local: each is
// written to a temporary file, checked against the worker's length and
// sha256, then renamed to local/<name>. Refused paths are warned about and
// skipped. It reports what cleanup could not remove.
func finish(ctx context.Context, sh Shell, p runPlan, reqs []artifactRequest, local string, keep bool, log zerolog.Logger) (arts []Artifact, cleanupErr, err error) {
	if err := os.MkdirAll(local, 0o755); err != nil {
		// Still clean up; the artifacts are lost with the work directory.
		_, cleanupErr = cleanup(ctx, sh, p, false, keep, false)
		return nil, cleanupErr, fmt.Errorf("artifacts directory %s: %w", local, err)
	}
	paths := make([]string, len(reqs))
	for i, r := range reqs {
		paths[i] = r.Path
	}
	pr, pw := io.Pipe()
	type received struct {
		arts []Artifact
		err  error
	}
	got := make(chan received, 1)
	go func() {
		arts, err := receivePack(bufio.NewReaderSize(pr, 64<<10), reqs, local, log)
		io.Copy(io.Discard, pr) // whatever follows an error
		got <- received{arts, err}
	}()
	var report bytes.Buffer
	runErr := sh.Run(ctx, &transport.Cmd{Args: finishArgs(p, paths, false, keep), Stdout: pw, Stderr: &report})
	pw.Close()
	r := <-got
	if runErr != nil {
		for _, a := range r.arts {
			os.Remove(a.Path)
		}
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		_, cleanupErr = cleanup(cctx, sh, p, false, keep, false)
		return nil, cleanupErr, runErr
	}
	_, cleanupErr = cleanupReport(ctx, sh, p, report.Bytes())
	if r.err == nil && parseKV(report.Bytes())["pack"] == "failed" {
		r.err = errors.New("the worker could not send them")
	}
	return r.arts, cleanupErr, r.err
}

// receivePack reads a agent.Pack stream for reqs.
func receivePack(r *bufio.Reader, reqs []artifactRequest, local string, log zerolog.Logger) ([]Artifact, error) {
	used := map[string]bool{}
	var arts []Artifact
	for _, req := range reqs {
		line, err := r.ReadBytes('\n')
		if err != nil {
			return arts, fmt.Errorf("the artifact stream ended before %s", req.Path)
		}
		var h wire.PackHeader
		if err := json.Unmarshal(line, &h); err != nil || h.Path != req.Path {
			return arts, fmt.Errorf("the artifact stream is garbled at %s", req.Path)
		}
		if h.Error != "" {
			log.Warn().Str("artifact", printable.String(req.Path)).Msg("artifact refused: " + printable.String(h.Error))
			continue
		}
		name := req.Name
		if name == "" {
			name = path.Base(h.Real)
		}
		name = uniqueName(SafeName(name), used)
		a := Artifact{Name: name, Path: filepath.Join(local, name), Remote: h.Real, Size: h.Size}
		if err := receiveOne(r, &a); err != nil {
			return arts, err
		}
		arts = append(arts, a)
	}
	return arts, nil
}

func receiveOne(r *bufio.Reader, a *Artifact) error {
	tmp, err := os.CreateTemp(filepath.Dir(a.Path), "."+a.Name+".part-*")
	if err != nil {
		return fmt.Errorf("artifact %s: %w", a.Name, err)
	}
	defer os.Remove(tmp.Name())
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, sum), io.LimitReader(r, a.Size))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("artifact %s: receiving %s: %w", a.Name, a.Remote, err)
	}
	if n != a.Size {
		return fmt.Errorf("artifact %s: got %d bytes of %s, the worker lists %d", a.Name, n, a.Remote, a.Size)
	}
	a.SHA256 = hex.EncodeToString(sum.Sum(nil))
	trailer, err := r.ReadString('\n')
	if err != nil || strings.TrimSpace(trailer) != "sha256 "+a.SHA256 {
		return fmt.Errorf("artifact %s: sha256 of the download differs from the worker's copy of %s", a.Name, a.Remote)
	}
	if err := os.Rename(tmp.Name(), a.Path); err != nil {
		return fmt.Errorf("artifact %s: %w", a.Name, err)
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
