package wire

import (
	"fmt"
	"strings"
)

// ArchiveFormat is how a package file is opened.
type ArchiveFormat string

// The archive formats a package may have. Extension is the file name's
// suffix that selects each.
const (
	FormatZip   ArchiveFormat = "zip"
	FormatTar   ArchiveFormat = "tar"
	FormatTarGz ArchiveFormat = "tar.gz"
	FormatTarBz ArchiveFormat = "tar.bz2"
	FormatTarXz ArchiveFormat = "tar.xz"
)

// archiveSuffixes maps file name suffixes to formats, longest first.
var archiveSuffixes = []struct {
	suffix string
	format ArchiveFormat
}{
	{".tar.bz2", FormatTarBz}, {".tar.gz", FormatTarGz}, {".tar.xz", FormatTarXz},
	{".nupkg", FormatZip}, {".tgz", FormatTarGz}, {".zip", FormatZip}, {".jar", FormatZip},
	{".war", FormatZip}, {".tar", FormatTar},
}

// ArchiveOf returns the format a file name's suffix selects (case does
// not matter) and the suffix as written.
func ArchiveOf(name string) (ArchiveFormat, string, error) {
	lower := strings.ToLower(name)
	for _, s := range archiveSuffixes {
		if strings.HasSuffix(lower, s.suffix) && len(name) > len(s.suffix) {
			return s.format, name[len(name)-len(s.suffix):], nil
		}
	}
	return "", "", fmt.Errorf("package file %q: not a known archive: want .zip, .nupkg, .jar, .war, .tar, .tar.gz, .tgz, .tar.bz2 or .tar.xz", name)
}

// The package cache on the worker: PackagesDir under the SSH user's home
// holds one directory per package, named by its sha256, with the file
// (PackageFile) and what it is (PackageMetaFile, JSON PackageMeta).
const (
	PackagesDir     = ".cuttle/packages"
	PackageFile     = "package"
	PackageMetaFile = "meta.json"
)

// PackageMeta describes a cached package; the worker finds an earlier
// version of an ID, to send a delta against, through it.
type PackageMeta struct {
	ID       string `json:"id"`
	Version  string `json:"version"`
	FileName string `json:"file_name"`
	Size     int64  `json:"size"`
}

// What `step-runner package-get` prints first on stdout, one line: the
// package is cached (and was placed), or not, with the sha256 of an
// earlier version whose signature follows on stdout.
const (
	PackageHit  = "package=hit"
	PackageMiss = "package=miss"
	PackageBase = "package=base " // + sha256, then the signature
)

// PackageRefused is in step-runner's message (exit code 125) when a
// package's archive is refused (an entry escaping its directory, over a
// limit), so the controller can tell it from other failures.
const PackageRefused = "package refused"

// PackageMismatch starts step-runner's refusal of what arrived for a
// package that is not the file its sha256 names (a delta that did not
// rebuild it: the controller then sends the file whole).
const PackageMismatch = "what arrived ("

// PackagePlacement is one package `step-runner package-place` places from
// the worker's cache into the step's work directory; it reads a JSON list
// of them on stdin. Acquisition (package-get, -put or -fetch with
// --cache-only) filled the cache while the image was being pulled.
type PackagePlacement struct {
	Name    string      `json:"name"`
	SHA256  string      `json:"sha256"`
	Meta    PackageMeta `json:"meta"`
	Extract bool        `json:"extract"`
	// MaxBytes and MaxEntries, above zero, bound what its extraction may
	// write (the worker's defaults otherwise).
	MaxBytes   int64 `json:"max_bytes,omitempty"`
	MaxEntries int   `json:"max_entries,omitempty"`
}

// PackageGone starts a line package-place prints for a package the cache
// no longer holds (its gc trimmed it since the acquisition), followed by
// the package's name: the controller acquires it again.
const PackageGone = "package=gone "

// MaxPackagePlace bounds the list package-place reads from stdin.
const MaxPackagePlace = 1 << 20
