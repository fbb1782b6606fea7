package bundle

import (
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
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

// machines maps the ELF machines cuttle has runners for to Go's names.
var machines = map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}

// elfArch is the Linux architecture of the static executable at p.
func elfArch(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("step runner %s: %w", p, err)
	}
	defer f.Close()
	_, arch, err := checkELF(p, f)
	return arch, err
}

// checkELF checks that f is a static Linux executable and says for which
// architecture.
func checkELF(p string, f io.ReaderAt) (*elf.File, string, error) {
	e, err := elf.NewFile(f)
	if err != nil {
		return nil, "", fmt.Errorf("step runner %s is not a Linux executable: %w", p, err)
	}
	for _, prog := range e.Progs {
		if prog.Type == elf.PT_INTERP {
			return nil, "", errors.New("step runner " + p + " is dynamically linked, so it would need the image's C library: build cuttle with CGO_ENABLED=0 (make build, or CGO_ENABLED=0 go install)")
		}
	}
	arch, ok := machines[e.Machine]
	if !ok {
		return nil, "", fmt.Errorf("step runner %s: unsupported machine %s (cuttle has runners for x86-64 and aarch64)", p, e.Machine)
	}
	return e, arch, nil
}

// describe reads the runner at p (for linux/arch, or what its header
// says when arch is "") into a Bundle with the helper scripts.
func describe(p, arch string) (Bundle, error) {
	f, err := os.Open(p)
	if err != nil {
		return Bundle{}, fmt.Errorf("step runner %s: %w", p, err)
	}
	defer f.Close()
	_, got, err := checkELF(p, f)
	if err != nil {
		return Bundle{}, err
	}
	if arch == "" {
		arch = got
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
