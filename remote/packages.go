package remote

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/internal/progress"
	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// Package is a package a step references, its file ready on the
// controller (package packages acquires it).
type Package struct {
	// Name is the reference's name: the step finds the package in
	// $PWD/NAME, and its variables as Octopus.Action.Package[NAME].*.
	Name        string
	ID, Version string
	// Source is where it comes from, as package packages writes it.
	Source string
	// FileName is the file's name as its source gave it
	// (Acme.Web.1.2.3.zip); it selects the archive format.
	FileName string
	// Path is the file on the controller; SHA256 and Size are its.
	Path   string
	SHA256 string
	Size   int64
	// Extract is false to place the file unopened, as $PWD/NAME.EXT.
	Extract bool
	// Feed holds the credentials for an oci source's registry.
	Feed *Feed
	// Fetch, when set, has the worker acquire the package itself from
	// this source (acquisition: worker): Path and Size stay empty, and
	// an oci source's SHA256 and FileName are known once it has it.
	Fetch *wire.PackageSource `json:",omitempty"`
	// MaxBytes and MaxEntries, above zero, bound what its extraction may
	// write (the worker's defaults otherwise).
	MaxBytes   int64
	MaxEntries int
	// MaxDownload, above zero, bounds what the worker downloads for it
	// (acquisition: worker; the worker's default otherwise).
	MaxDownload int64
	// Share gives others the owner's permission bits on what is placed:
	// the step runs as a non-root user (the image's USER, or --user),
	// who is "others" to the SSH user that owns the files.
	Share bool `json:"-"`
	// CacheOnly acquires it into the worker's cache without placing it
	// (package-place does, once the image is known).
	CacheOnly bool `json:"-"`
}

// PackageResult is what became of one package of a step.
type PackageResult struct {
	Name, ID, Version, SHA256 string
	// BytesSent is the package bytes that crossed the link: 0 when the
	// worker had it cached; a delta's size when it had an earlier version.
	BytesSent int64
	Cached    bool
	Delta     bool
	// Acquired says where the file was acquired: AcquiredController
	// (then sent, or found cached) or AcquiredWorker (downloaded by the
	// worker itself, nothing sent).
	Acquired string
}

// Where a package was acquired (PackageResult.Acquired).
const (
	AcquiredController = "controller"
	AcquiredWorker     = "worker"
)

// maxSignature bounds the block signature a worker may send back: 20
// bytes a block, blocks of up to 128 KiB, so 64 MiB covers 400 GiB.
const maxSignature = 64 << 20

// finishPackages adds the packages' Octopus variables to the step, once
// they are placed (the caller rebuilds the payload), and substitutes in
// the files the step names.
func finishPackages(ctx context.Context, sh Shell, st *Step, masks *mask.Set, facts Facts, b bundle.Bundle, log zerolog.Logger) error {
	vars := PackageVariables(st.Packages, facts.WorkDir())
	st.Variables = append(st.Variables, vars...)
	st.Script = substitutePackageVariables(st.Script, vars)
	return substituteInFiles(ctx, sh, st, masks, facts, facts.BundleDir(b.Digest)+"/"+bundle.RunnerFile, log)
}

// PackageVariables are the variables Octopus gives a step for its
// packages: Octopus.Action.Package[NAME].ExtractedPath for an extracted
// package, .PackageFilePath and .PackageFileName for one placed unopened
// (as Calamari stages them), .PackageId and .PackageVersion for each; and
// for a step with one package, the unnamed Octopus.Action.Package.PackageId
// and .PackageVersion.
func PackageVariables(pkgs []Package, workDir string) []wire.Variable {
	var vs []wire.Variable
	add := func(name, value string) { vs = append(vs, wire.Variable{Name: name, Value: value}) }
	for _, p := range pkgs {
		prefix := "Octopus.Action.Package[" + p.Name + "]."
		if p.Extract {
			add(prefix+"ExtractedPath", workDir+"/"+p.Name)
		} else {
			file := p.Name + archiveExt(p.FileName)
			add(prefix+"PackageFilePath", workDir+"/"+file)
			add(prefix+"PackageFileName", file)
		}
		add(prefix+"PackageId", p.ID)
		add(prefix+"PackageVersion", p.Version)
	}
	if len(pkgs) == 1 {
		add("Octopus.Action.Package.PackageId", pkgs[0].ID)
		add("Octopus.Action.Package.PackageVersion", pkgs[0].Version)
	}
	return vs
}

// substitutePackageVariables fills in #{NAME} for the package variables,
// which are known only once the work directory is: the inline script's
// substitution, before the step ran, left them as they were. Only these
// exact references are replaced, so nothing else of a script changes.
func substitutePackageVariables(script []byte, vars []wire.Variable) []byte {
	if !bytes.Contains(script, []byte("#{Octopus.Action.Package")) {
		return script
	}
	pairs := make([]string, 0, 2*len(vars))
	for _, v := range vars {
		pairs = append(pairs, "#{"+v.Name+"}", v.Value)
	}
	return []byte(strings.NewReplacer(pairs...).Replace(string(script)))
}

func archiveExt(name string) string {
	_, ext, _ := wire.ArchiveOf(name)
	return ext
}

// packageArgs is the step-runner command for one package.
func packageArgs(runner, sub string, p Package, facts Facts, extra ...string) []string {
	return placeArgs(runner, sub, p, facts, append([]string{"--sha256", p.SHA256, "--file", p.FileName}, extra...)...)
}

// placeArgs is packageArgs without the file's sha256 and name, which
// package-fetch learns from the source.
func placeArgs(runner, sub string, p Package, facts Facts, extra ...string) []string {
	args := []string{runner, "step-runner", sub,
		"--home", facts.Home, "--workdir", facts.WorkDir(), "--name", p.Name,
		"--id", p.ID, "--version", p.Version, "--extract=" + strconv.FormatBool(p.Extract),
	}
	if p.MaxBytes > 0 {
		args = append(args, "--max-bytes", strconv.FormatInt(p.MaxBytes, 10))
	}
	if p.MaxEntries > 0 {
		args = append(args, "--max-entries", strconv.Itoa(p.MaxEntries))
	}
	if p.Share {
		args = append(args, "--share")
	}
	if p.CacheOnly {
		args = append(args, "--cache-only")
	}
	return append(args, extra...)
}

// placePackage gets one package into the worker's cache and the work
// directory (only the cache with CacheOnly): found in the cache (nothing
// sent), else sent whole or as a delta against the latest version of the
// same ID it holds.
func placePackage(ctx context.Context, sh Shell, p Package, facts Facts, runner string, cacheMax int64) (PackageResult, error) {
	r := PackageResult{Name: p.Name, ID: p.ID, Version: p.Version, SHA256: p.SHA256, Acquired: AcquiredController}
	var out limitedBuffer
	out.max = maxSignature
	tail := &tailBuffer{max: 2048}
	if err := sh.Run(ctx, &transport.Cmd{Args: packageArgs(runner, "package-get", p, facts), Stdout: &out, Stderr: tail}); err != nil {
		return r, packageErr(ctx, sh, p.what(), "looking it up in the worker's cache", err, tail)
	}
	line, rest, _ := bytes.Cut(out.Bytes(), []byte("\n"))
	var base string
	switch l := string(line); {
	case l == wire.PackageHit:
		r.Cached = true
		return r, nil
	case l == wire.PackageMiss:
	case strings.HasPrefix(l, wire.PackageBase):
		base = strings.TrimPrefix(l, wire.PackageBase)
	default:
		return r, stepErr(sh.String(), ReasonRunner, "package %s: the worker's step-runner answered %q", p.Name, lastLine(l))
	}
	f, err := os.Open(p.Path)
	if err != nil {
		return r, stepErr(sh.String(), ReasonInput, "package %s: %w", p.Name, err)
	}
	defer f.Close()
	var body io.Reader = f
	var extra []string
	var delta *deltaStream
	what, size := "uploading package "+p.Name, p.Size
	switch {
	case base != "" && p.Size <= wholeDeltaMax:
		// A small file's delta is computed first, and sent only when it
		// is smaller than the file (an unrelated version of the same ID).
		d, err := smallDelta(rest, f)
		if err != nil {
			return r, stepErr(sh.String(), ReasonRunner, "package %s: a delta against %s: %w", p.Name, base, err)
		}
		if int64(len(d)) < p.Size {
			body, r.Delta = bytes.NewReader(d), true
			extra = []string{"--base", base, "--size", strconv.FormatInt(p.Size, 10)}
			what, size = what+" (delta)", int64(len(d))
		} else if _, err := f.Seek(0, io.SeekStart); err != nil {
			return r, err
		}
	case base != "":
		if delta, err = packageDelta(rest, f); err != nil {
			return r, stepErr(sh.String(), ReasonRunner, "package %s: a delta against %s: %w", p.Name, base, err)
		}
		defer delta.Close()
		body, r.Delta = delta, true
		extra = []string{"--base", base, "--size", strconv.FormatInt(p.Size, 10)}
		what, size = what+" (delta)", -1 // streamed: counted, not sized
	}
	r.BytesSent, tail, err = putPackage(ctx, sh, p, facts, runner, cacheMax, body, what, size, extra)
	if delta != nil && delta.Err() != nil {
		return r, stepErr(sh.String(), ReasonRunner, "package %s: a delta against %s: %w", p.Name, base, delta.Err())
	}
	if err != nil && r.Delta && ctx.Err() == nil && strings.Contains(tail.String(), wire.PackageMismatch) {
		// The delta did not rebuild the file (its block hashes are not
		// cryptographic: a collision, or a base changed in the cache):
		// the worker kept nothing, so send it whole.
		zerolog.Ctx(ctx).Warn().Str("worker", sh.String()).Str("package", p.Name).Str("base", base).
			Msg("the delta did not rebuild the package; sending it whole")
		if delta != nil {
			delta.Close() // its reader of f has ended
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return r, err
		}
		var n int64
		n, tail, err = putPackage(ctx, sh, p, facts, runner, cacheMax, f, "uploading package "+p.Name, p.Size, nil)
		r.BytesSent += n
		r.Delta = false
	}
	if err != nil {
		return r, packageErr(ctx, sh, p.what(), "sending it to the worker", err, tail)
	}
	return r, nil
}

// putPackage sends body to the worker's package-put with a progress bar
// (size -1: counted, not sized) and says how many bytes crossed.
func putPackage(ctx context.Context, sh Shell, p Package, facts Facts, runner string, cacheMax int64, body io.Reader, what string, size int64, extra []string) (int64, *tailBuffer, error) {
	var bar progress.Tracker
	if size >= 0 {
		bar = progress.From(ctx).Transfer(sh.String(), what, size)
	} else {
		bar = progress.From(ctx).Count(sh.String(), what)
	}
	defer bar.Done()
	if cacheMax > 0 {
		extra = append(extra, "--cache-max-bytes", strconv.FormatInt(cacheMax, 10))
	}
	counted := &countingReader{r: progress.Reader(bar, body)}
	tail := &tailBuffer{max: 2048}
	err := sh.Run(ctx, &transport.Cmd{Args: packageArgs(runner, "package-put", p, facts, extra...), Stdin: counted, Stderr: tail})
	return counted.n, tail, err
}

// wholeDeltaMax is the largest file whose delta is computed whole before
// it is sent (and sent only if it is the smaller); a larger file's delta
// streams while it is computed, and an unrelated version costs at most
// 5 bytes per 64 KiB more than the file.
const wholeDeltaMax = 8 << 20

// smallDelta is the delta that turns the worker's version into f, whole.
func smallDelta(signature []byte, f io.Reader) ([]byte, error) {
	sig, err := wire.ReadSignature(bytes.NewReader(signature))
	if err != nil {
		return nil, err
	}
	var d bytes.Buffer
	if _, err := wire.WriteDelta(&d, sig, bufio.NewReader(f)); err != nil {
		return nil, err
	}
	return d.Bytes(), nil
}

// packageDelta reads the worker's signature and returns the delta that
// turns its version into f as a stream, computed as it is read: the
// worker applies the start of it while the controller computes the rest.
// (An unrelated file makes a delta a little larger than the file: its
// bytes as literals, 5 bytes of op per 64 KiB.)
func packageDelta(signature []byte, f io.Reader) (*deltaStream, error) {
	sig, err := wire.ReadSignature(bytes.NewReader(signature))
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	d := &deltaStream{PipeReader: pr, done: make(chan struct{})}
	go func() {
		_, d.err = wire.WriteDelta(pw, sig, bufio.NewReaderSize(f, 1<<20))
		// Done before the pipe's reader is woken with the error: one that
		// asks Err at once must find it.
		close(d.done)
		pw.CloseWithError(d.err)
	}()
	return d, nil
}

// deltaStream is packageDelta's delta, read as it is computed.
type deltaStream struct {
	*io.PipeReader
	done chan struct{}
	err  error
}

// Close stops the computation, if it still runs, and waits for it.
func (d *deltaStream) Close() error {
	d.PipeReader.Close()
	<-d.done
	return nil
}

// Err is why computing the delta failed, once it has ended; nil while it
// runs.
func (d *deltaStream) Err() error {
	select {
	case <-d.done:
		if errors.Is(d.err, io.ErrClosedPipe) {
			return nil
		}
		return d.err
	default:
		return nil
	}
}

// what names the package in errors.
func (p Package) what() string { return "package " + p.Name + " (" + p.FileName + ")" }

// packageErr says why a package (what) could not be placed: a refused
// archive is the step's input (exit 125, nothing of it runs), anything
// else the worker's.
func packageErr(ctx context.Context, sh Shell, what, doing string, err error, tail *tailBuffer) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	msg := strings.TrimPrefix(lastLine(tail.String()), "cuttle: ")
	var ee *transport.ExitError
	if errors.As(err, &ee) && strings.Contains(msg, wire.PackageRefused) {
		return stepErr(sh.String(), ReasonInput, "%s", msg)
	}
	return stepErr(sh.String(), ReasonWorkspace, "%s: %s: %w: %s", what, doing, err, msg)
}

// limitedBuffer keeps at most max bytes and fails past them.
type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.Len()+len(p) > l.max {
		return 0, fmt.Errorf("more than %d bytes", l.max)
	}
	return l.Buffer.Write(p)
}

// imageUserOf reads the USER image runs as, when ensureImage did not
// learn it (a build): one more docker call.
func imageUserOf(ctx context.Context, sh Shell, image string) (string, error) {
	var out bytes.Buffer
	args := []string{"docker", "image", "inspect", "--format", userFormat, "--", image}
	if err := sh.Run(ctx, &transport.Cmd{Args: args, Stdout: &out}); err != nil {
		return "", stepErr(sh.String(), ReasonImage, "reading the user image %s runs as: %w", image, err)
	}
	return strings.TrimSpace(out.String()), nil
}

// nonRoot says whether a container user (docker's USER or --user) is
// one other than root.
func nonRoot(user string) bool {
	name, _, _ := strings.Cut(user, ":")
	return name != "" && name != "0" && name != "root"
}

// userOption finds docker run's --user (-u) among container options.
func userOption(opts []string) (string, bool) {
	user, set := "", false
	for i := 0; i < len(opts); i++ {
		switch o := opts[i]; {
		case (o == "--user" || o == "-u") && i+1 < len(opts):
			user, set = opts[i+1], true
			i++
		case strings.HasPrefix(o, "--user="):
			user, set = strings.TrimPrefix(o, "--user="), true
		case strings.HasPrefix(o, "-u") && len(o) > 2:
			user, set = strings.TrimPrefix(strings.TrimPrefix(o, "-u"), "="), true
		}
	}
	return user, set
}
