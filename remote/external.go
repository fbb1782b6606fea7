package remote

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/internal/progress"
	"github.com/cuttle-sh/cuttle/transport"
)

// ExternalRunner runs steps with a runner the user brings (Octopus's
// Calamari) instead of cuttle's own: a local bundle directory, cached on
// the worker like cuttle's, and a command template. Placeholders, each
// replaced inside single words: {bundle}, {workdir}, {script},
// {variables} (Calamari's encrypted variables file) and {password}.
//
// Calamari takes the variables password on its command line, so in this
// mode the password is visible in the worker's process list for the
// step's duration; the variables file itself is encrypted at rest.
type ExternalRunner struct {
	BundleDir string
	Command   string
	// Digest is set by Prepare.
	Digest string
	files  []string
}

// Prepare checks the template and digests the bundle directory.
func (e *ExternalRunner) Prepare() error { return e.prepare(nil) }

// prepare is Prepare with c's digest cache (none when c is nil): a bundle
// directory whose files' names, modes, sizes and times are unchanged is
// not hashed again.
func (e *ExternalRunner) prepare(c *Controller) error {
	words, err := SplitOptions(e.Command)
	if err != nil || len(words) == 0 {
		return fmt.Errorf("runner command %q: %v", e.Command, err)
	}
	if !strings.Contains(e.Command, "{script}") {
		return fmt.Errorf("runner command %q has no {script} placeholder", e.Command)
	}
	// Listing by stat alone is cheap; reading and hashing a large bundle
	// (Calamari is hundreds of MiB) is not, so a digest is reused while
	// no file's path, mode, size or mtime has changed.
	var files []string
	var stamp strings.Builder
	err = filepath.WalkDir(e.BundleDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.BundleDir, p)
		files = append(files, rel)
		fmt.Fprintf(&stamp, "%s\x00%o\x00%d\x00%d\n", rel, info.Mode().Perm(), info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return fmt.Errorf("runner bundle %s: %w", e.BundleDir, err)
	}
	if len(files) == 0 {
		return fmt.Errorf("runner bundle %s is empty", e.BundleDir)
	}
	sort.Strings(files) // WalkDir's order already is; the digest relies on it
	e.files = files
	if c != nil {
		c.digestsMu.Lock()
		defer c.digestsMu.Unlock()
		if d, ok := c.digests[e.BundleDir]; ok && d.stamp == stamp.String() {
			e.Digest = d.digest
			return nil
		}
	}
	h := sha256.New()
	for _, rel := range files {
		p := filepath.Join(e.BundleDir, rel)
		info, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("runner bundle %s: %w", e.BundleDir, err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("runner bundle %s: %w", e.BundleDir, err)
		}
		fmt.Fprintf(h, "%s\x00%o\x00%d\x00", filepath.ToSlash(rel), info.Mode().Perm(), len(b))
		h.Write(b)
	}
	e.Digest = "ext-" + hex.EncodeToString(h.Sum(nil))
	if c != nil {
		c.digests[e.BundleDir] = cachedDigest{stamp: stamp.String(), digest: e.Digest}
	}
	return nil
}

// cachedDigest is a bundle directory's digest, in Controller.digests.
type cachedDigest struct{ stamp, digest string }

// installTarScript extracts a tar stream from stdin into a fresh bundle
// directory, marks it complete and places it. $1 bundles dir, $2 digest.
//
//go:embed scripts/install-tar.sh
var installTarScriptHead string

var installTarScript = installTarScriptHead + placeBundle

// EnsureDirBundle makes sure the directory bundle e is cached on the
// worker: one command checks for it, and only when it is absent a second
// one receives it as a tar stream. It returns the bytes sent and the
// commands run.
func EnsureDirBundle(ctx context.Context, sh Shell, e *ExternalRunner) (sent int64, commands int, err error) {
	if e.Digest == "" {
		if err := e.Prepare(); err != nil {
			return 0, 0, err
		}
	}
	var out bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", `printf '%s\n' "$HOME"; [ -f "$HOME/.cuttle/bundles/$1/.complete" ] && echo present; exit 0`, "sh", e.Digest}, Stdout: &out}); err != nil {
		return 0, 1, err
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) > 1 && lines[1] == "present" {
		return 0, 1, nil
	}
	n, err := uploadExternal(ctx, sh, e, Facts{Home: lines[0]})
	return n, 2, err
}

// countingReader counts what passes through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// uploadExternal sends the bundle as one tar stream over one command,
// and returns the bytes sent.
func uploadExternal(ctx context.Context, sh Shell, e *ExternalRunner, facts Facts) (int64, error) {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := func() error {
			for _, rel := range e.files {
				p := filepath.Join(e.BundleDir, rel)
				info, err := os.Stat(p)
				if err != nil {
					return err
				}
				hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: int64(info.Mode().Perm() | 0o444), Size: info.Size(), Typeflag: tar.TypeReg}
				if info.Mode().Perm()&0o100 != 0 {
					hdr.Mode |= 0o555
				}
				if err := tw.WriteHeader(hdr); err != nil {
					return err
				}
				f, err := os.Open(p)
				if err != nil {
					return err
				}
				_, err = io.Copy(tw, f)
				f.Close()
				if err != nil {
					return err
				}
			}
			return tw.Close()
		}()
		pw.CloseWithError(err)
	}()
	var errb bytes.Buffer
	bar := progress.From(ctx).Transfer(sh.String(), "uploading runner bundle "+filepath.Base(e.BundleDir), 0)
	defer bar.Done()
	cr := &countingReader{r: progress.Reader(bar, pr)}
	err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", installTarScript, "sh", facts.Home + "/.cuttle/bundles", e.Digest}, Stdin: cr, Stderr: &errb})
	pr.Close()
	if err != nil {
		return cr.n, stepErr(sh.String(), ReasonRunner, "uploading the runner bundle %s: %v %s", e.BundleDir, err, lastLine(errb.String()))
	}
	return cr.n, nil
}

// detectLibcArgs probes an image's C library with cuttle's static runner.
func detectLibcArgs(p runPlan) []string {
	return []string{"docker", "run", "--rm", "--network", "none", "--log-driver", "none", "--entrypoint", "",
		"-v", p.BundleDir + ":" + p.BundleDir + ":ro", "--", p.Image,
		p.BundleDir + "/" + bundle.RunnerFile, "step-runner", "detect-libc"}
}

// externalCommand fills the template's placeholders word by word.
func externalCommand(template string, repl map[string]string) ([]string, error) {
	words, err := SplitOptions(template)
	if err != nil {
		return nil, err
	}
	pairs := make([]string, 0, 2*len(repl))
	for k, v := range repl {
		pairs = append(pairs, "{"+k+"}", v)
	}
	r := strings.NewReplacer(pairs...)
	for i, w := range words {
		words[i] = r.Replace(w)
	}
	return words, nil
}
