package bundle

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
)

// Runners are the step runners a controller can put on workers, one per
// Linux architecture ("amd64", "arm64"). They come from, in this order:
//   - CUTTLE_RUNNER, a static Linux build named by the user, for the
//     architecture its ELF header says (or CUTTLE_RUNNER_ARCH);
//   - the runners embedded by `make build` (cmd/cuttle-runner for
//     linux/amd64 and linux/arm64), written once to the user's cache
//     directory so that they can be uploaded like a file;
//   - the running binary itself, when it is a static Linux executable.
type Runners struct {
	// embedded maps an architecture to its gzip-compressed runner.
	embedded map[string]string
	// explicit is CUTTLE_RUNNER's path and arch ("" when not set).
	explicit, explicitArch string
	// self is the running binary on Linux, "" elsewhere; selfErr says
	// why it cannot serve (a cgo build is linked dynamically).
	self, selfArch string
	selfErr        error
	// cacheDir receives the embedded runners, unpacked.
	cacheDir string

	mu   sync.Mutex
	made map[string]madeBundle
}

type madeBundle struct {
	b   Bundle
	err error
}

// NewRunners reads the runners available to this process: embedded holds
// gzip-compressed runners by architecture, env looks up CUTTLE_RUNNER and
// CUTTLE_RUNNER_ARCH, self is the running executable (or "" when it
// cannot serve) and cacheDir is where embedded runners are unpacked.
func NewRunners(embedded map[string]string, env func(string) string, self, cacheDir string) *Runners {
	r := &Runners{embedded: embedded, cacheDir: cacheDir, made: map[string]madeBundle{}}
	if p := env("CUTTLE_RUNNER"); p != "" {
		r.explicit, r.explicitArch = p, env("CUTTLE_RUNNER_ARCH")
		if r.explicitArch == "" {
			r.explicitArch, _ = elfArch(p)
		}
	}
	if self != "" {
		r.self, r.selfArch = self, runtime.GOARCH
		_, r.selfErr = elfArch(self)
	}
	return r
}

var (
	processOnce    sync.Once
	processRunners *Runners
)

// Available is this process's runner set: the embedded runners, the
// environment and the running binary.
func Available() *Runners {
	processOnce.Do(func() {
		self := ""
		if runtime.GOOS == "linux" {
			self, _ = os.Executable()
		}
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		processRunners = NewRunners(embeddedRunners(), os.Getenv, self, filepath.Join(cache, "cuttle", "runners"))
	})
	return processRunners
}

// Self is the bundle for the architecture this controller prefers: its
// own when it runs on Linux, else linux/amd64, the most common worker.
func Self() (Bundle, error) {
	return Available().Default()
}

// Default is the bundle for the controller's own architecture when it is
// a Linux one this set has, else for linux/amd64, else for the only
// architecture the set has.
func (r *Runners) Default() (Bundle, error) {
	archs := r.archs()
	arch := "amd64"
	switch {
	case runtime.GOOS == "linux" && slices.Contains(archs, runtime.GOARCH):
		arch = runtime.GOARCH
	case !slices.Contains(archs, "amd64") && len(archs) == 1:
		arch = archs[0]
	}
	return r.For(arch)
}

// Platforms lists the runner platforms of the set ("linux/amd64", ...).
func (r *Runners) Platforms() []string {
	var out []string
	for _, a := range r.archs() {
		out = append(out, "linux/"+a)
	}
	return out
}

func (r *Runners) archs() []string {
	var archs []string
	for a := range r.embedded {
		archs = append(archs, a)
	}
	if r.explicitArch != "" {
		archs = append(archs, r.explicitArch)
	}
	if r.self != "" && r.selfErr == nil {
		archs = append(archs, r.selfArch)
	}
	slices.Sort(archs)
	return slices.Compact(archs)
}

// For is the bundle whose runner is built for linux/arch. The error for
// an architecture the set lacks names the platforms it has and the fix.
func (r *Runners) For(arch string) (Bundle, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.made[arch]; ok {
		return m.b, m.err
	}
	b, err := r.make(arch)
	r.made[arch] = madeBundle{b, err}
	return b, err
}

func (r *Runners) make(arch string) (Bundle, error) {
	switch {
	case r.explicit != "" && (r.explicitArch == arch || r.explicitArch == ""):
		return describe(r.explicit, arch)
	case r.embedded[arch] != "":
		p, sum, err := r.unpack(arch, r.embedded[arch])
		if err != nil {
			return Bundle{}, err
		}
		b, err := describe(p, arch)
		if err == nil && !strings.HasPrefix(b.Sums, sum+" ") {
			// The cached copy changed since it was written: write it again.
			os.Remove(p + ".sha256")
			if p, _, err = r.unpack(arch, r.embedded[arch]); err != nil {
				return Bundle{}, err
			}
			b, err = describe(p, arch)
		}
		return b, err
	case r.self != "" && r.selfArch == arch && r.selfErr != nil:
		return Bundle{}, r.selfErr
	case r.self != "" && r.selfArch == arch:
		return describe(r.self, arch)
	}
	has := "none"
	if p := r.Platforms(); len(p) > 0 {
		has = strings.Join(p, " ")
	}
	return Bundle{}, fmt.Errorf("this cuttle carries no step runner for linux/%s (it has: %s): use a release build or `make build`, which carry linux/amd64 and linux/arm64, or set CUTTLE_RUNNER to a static linux/%s build (make runners)", arch, has, arch)
}

// unpack writes an embedded runner to the cache directory, atomically,
// once, and says where it is. The directory is named by the compressed
// runner's sha256 and holds the runner's own sha256 beside it, so that a
// later process finds it without decompressing (about 0.1 s for a 6 MB
// runner, paid before every step's dial otherwise); a copy already there
// is used only if it still hashes to that sum (describe checks it).
func (r *Runners) unpack(arch, gz string) (path, sum string, err error) {
	gzSum := sumString(gz)
	dir := filepath.Join(r.cacheDir, hex.EncodeToString(gzSum[:]))
	p := filepath.Join(dir, "cuttle-runner-linux-"+arch)
	if want, err := os.ReadFile(p + ".sha256"); err == nil && len(want) == 2*sha256.Size {
		return p, string(want), nil
	}
	zr, err := gzip.NewReader(strings.NewReader(gz))
	if err != nil {
		return "", "", fmt.Errorf("the embedded linux/%s runner: %w", arch, err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return "", "", fmt.Errorf("the embedded linux/%s runner: %w", arch, err)
	}
	runnerSum := sha256.Sum256(data)
	sum = hex.EncodeToString(runnerSum[:])
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("unpacking the linux/%s runner: %w (set XDG_CACHE_HOME to a writable directory)", arch, err)
	}
	// The runner first, then its sum: a sum file always names a whole runner.
	if err := writeAtomic(p, data, 0o755); err != nil {
		return "", "", fmt.Errorf("unpacking the linux/%s runner: %w (set XDG_CACHE_HOME to a writable directory)", arch, err)
	}
	if err := writeAtomic(p+".sha256", []byte(sum), 0o644); err != nil {
		return "", "", fmt.Errorf("unpacking the linux/%s runner: %w (set XDG_CACHE_HOME to a writable directory)", arch, err)
	}
	return p, sum, nil
}

// writeAtomic writes data to p through a temporary file in its directory
// and a rename, so that p is never seen half-written.
func writeAtomic(p string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(p), ".unpack-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}

// sumString is the sha256 of s, read in pieces through one buffer (a
// whole []byte(s) would copy it).
func sumString(s string) []byte {
	h, buf := sha256.New(), make([]byte, 64<<10)
	for len(s) > 0 {
		n := copy(buf, s)
		h.Write(buf[:n])
		s = s[n:]
	}
	return h.Sum(nil)
}
