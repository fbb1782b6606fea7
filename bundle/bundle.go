package bundle

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// RunnerFile is the runner's file name inside a bundle directory.
const RunnerFile = "cuttle"

// Bundle is the set of files cuttle caches on a worker, named by Digest:
// the runner binary and the helper scripts.
type Bundle struct {
	// Digest is the sha256 over the runner and every helper file, hex.
	Digest string
	// Arch is the Linux architecture the runner was built for ("amd64").
	Arch string
	// RunnerPath is the local file uploaded as RunnerFile.
	RunnerPath string
	// Sums lists each file's sha256 as `sha256sum -c` reads it
	// ("<hex>  <name>" lines, the runner first): what a cached copy on a
	// worker is checked against before it is used.
	Sums string
}

// Self returns the bundle made of the running cuttle binary, which serves
// as the runner when it is a static Linux executable. CUTTLE_RUNNER names
// another binary (e.g. a linux/arm64 build) instead. It hashes the binary
// at each call: a command calls it once and keeps the Bundle.
func Self() (Bundle, error) {
	p := os.Getenv("CUTTLE_RUNNER")
	arch := os.Getenv("CUTTLE_RUNNER_ARCH")
	if p == "" {
		if runtime.GOOS != "linux" {
			return Bundle{}, fmt.Errorf("this cuttle was built for %s; set CUTTLE_RUNNER to a static linux build of cuttle (make runner)", runtime.GOOS)
		}
		var err error
		if p, err = os.Executable(); err != nil {
			return Bundle{}, err
		}
		arch = runtime.GOARCH
	}
	return describe(p, arch)
}

func describe(p, arch string) (Bundle, error) {
	f, err := os.Open(p)
	if err != nil {
		return Bundle{}, fmt.Errorf("step runner %s: %w", p, err)
	}
	defer f.Close()
	e, err := elf.NewFile(f)
	if err != nil {
		return Bundle{}, fmt.Errorf("step runner %s is not a Linux executable: %w", p, err)
	}
	for _, prog := range e.Progs {
		if prog.Type == elf.PT_INTERP {
			return Bundle{}, errors.New("step runner " + p + " is dynamically linked, so it would need the image's C library: build cuttle with CGO_ENABLED=0 (make build)")
		}
	}
	if arch == "" {
		switch e.Machine {
		case elf.EM_X86_64:
			arch = "amd64"
		case elf.EM_AARCH64:
			arch = "arm64"
		default:
			return Bundle{}, fmt.Errorf("step runner %s: unsupported machine %s", p, e.Machine)
		}
	}
	h, runner := sha256.New(), sha256.New()
	if _, err := io.Copy(io.MultiWriter(h, runner), io.NewSectionReader(f, 0, 1<<40)); err != nil {
		return Bundle{}, fmt.Errorf("step runner %s: %w", p, err)
	}
	var sums strings.Builder
	fmt.Fprintf(&sums, "%x  %s\n", runner.Sum(nil), RunnerFile)
	for _, hf := range HelperFiles() {
		fmt.Fprintf(h, "\x00%s\x00%d\x00", hf.Name, len(hf.Data))
		h.Write(hf.Data)
		fmt.Fprintf(&sums, "%x  %s\n", sha256.Sum256(hf.Data), hf.Name)
	}
	return Bundle{Digest: hex.EncodeToString(h.Sum(nil)), Arch: arch, RunnerPath: p, Sums: sums.String()}, nil
}
