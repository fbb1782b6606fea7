package packages

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// Spec is one package a step references, as the user wrote it
// (`--package NAME=SOURCE[,extract=false][,id=ID][,version=V]` or a
// runbook step's `packages:` entry).
type Spec struct {
	// Name is the package reference's name: the directory it is
	// extracted to under the work directory, and the index of its
	// Octopus.Action.Package[NAME] variables.
	Name   string
	Source Source
	// Extract is true unless the user said extract=false: then the file
	// is placed unopened.
	Extract bool
	// ID and Version are the package's, from the file name unless given.
	ID, Version string
	// Feed names the cuttle.yaml feed whose credentials fetch an oci or
	// https source.
	Feed string
	// Acquisition is where the source is downloaded: "" for the feed's
	// choice, else AcquireController or AcquireWorker.
	Acquisition Acquisition
}

// Acquisition is where a package's file is acquired.
type Acquisition string

// The places a package is acquired: on the controller (and sent to the
// worker), or by the worker itself, from an https or oci source.
const (
	AcquireController Acquisition = "controller"
	AcquireWorker     Acquisition = "worker"
)

// ParseAcquisition checks an acquisition: "" (not said), controller or
// worker.
func ParseAcquisition(s string) (Acquisition, error) {
	switch a := Acquisition(s); a {
	case "", AcquireController, AcquireWorker:
		return a, nil
	}
	return "", fmt.Errorf("acquisition %q: want controller or worker", s)
}

// Kind is where a package comes from.
type Kind int

// The kinds of source.
const (
	Local Kind = iota + 1
	HTTPS
	OCI
)

// Source is where a package's bytes come from.
type Source struct {
	Kind Kind
	// Path is a local archive's path.
	Path string
	// URL is an https source's address without its fragment; SHA256 its
	// required digest (hex, lower case).
	URL    string
	SHA256 string
	// Registry, Repository and Reference (a tag, or a digest
	// "sha256:...") name an OCI artifact.
	Registry, Repository, Reference string
}

// FileName is the name the package's file goes by: the local file's, the
// URL path's last element, or the OCI repository's last element and tag.
func (s Source) FileName() string {
	switch s.Kind {
	case Local:
		return filepath.Base(s.Path)
	case HTTPS:
		u, _ := url.Parse(s.URL)
		return path.Base(u.Path)
	}
	return path.Base(s.Repository)
}

// Host is the server the source is fetched from: an https URL's
// host[:port], an OCI registry; "" for a local archive.
func (s Source) Host() string {
	switch s.Kind {
	case HTTPS:
		u, err := url.Parse(s.URL)
		if err != nil {
			return ""
		}
		return u.Host
	case OCI:
		return s.Registry
	}
	return ""
}

// String is the source as the user would write it, without secrets (a
// URL's user information is dropped).
func (s Source) String() string {
	switch s.Kind {
	case Local:
		return s.Path
	case HTTPS:
		return s.URL + "#sha256=" + s.SHA256
	}
	sep := ":"
	if strings.HasPrefix(s.Reference, "sha256:") {
		sep = "@"
	}
	return "oci://" + s.Registry + "/" + s.Repository + sep + s.Reference
}

// ErrSource: a package source cannot be used.
var ErrSource = errors.New("package source")

// ParseSource parses a SOURCE: a local archive path, an
// `https://...#sha256=HEX` URL, or `oci://REGISTRY/REPO:TAG` (or
// `@sha256:HEX`).
func ParseSource(s string) (Source, error) {
	switch {
	case s == "":
		return Source{}, fmt.Errorf("%w: empty: give a local archive, https://...#sha256=HEX or oci://REGISTRY/REPO:TAG", ErrSource)
	case strings.HasPrefix(s, "https://"):
		return parseHTTPS(s)
	case strings.HasPrefix(s, "oci://"):
		return parseOCI(s)
	case strings.Contains(s, "://"):
		scheme, _, _ := strings.Cut(s, "://")
		return Source{}, fmt.Errorf("%w %q: scheme %s is not supported: give a local archive, https://...#sha256=HEX or oci://REGISTRY/REPO:TAG", ErrSource, redactURL(s), scheme)
	}
	if _, err := FormatOf(s); err != nil {
		return Source{}, err
	}
	return Source{Kind: Local, Path: s}, nil
}

func parseHTTPS(s string) (Source, error) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return Source{}, fmt.Errorf("%w %q: not a valid URL", ErrSource, redactURL(s))
	}
	if u.User != nil {
		return Source{}, fmt.Errorf("%w %q: credentials in the URL would show in process lists and logs: serve the package without them", ErrSource, redactURL(s))
	}
	digest, ok := strings.CutPrefix(u.Fragment, "sha256=")
	if !ok || u.Fragment == "" {
		return Source{}, fmt.Errorf("%w %q: an https source needs its digest: append #sha256=HEX (sha256sum of the file)", ErrSource, s)
	}
	if err := checkHex(digest); err != nil {
		return Source{}, fmt.Errorf("%w %q: %w", ErrSource, s, err)
	}
	u.Fragment = ""
	name := path.Base(u.Path)
	if _, err := FormatOf(name); err != nil {
		return Source{}, err
	}
	return Source{Kind: HTTPS, URL: u.String(), SHA256: strings.ToLower(digest)}, nil
}

func checkHex(d string) error {
	if b, err := hex.DecodeString(d); err != nil || len(b) != 32 {
		return fmt.Errorf("sha256 %q is not 64 hex digits", d)
	}
	return nil
}

func parseOCI(s string) (Source, error) {
	rest := strings.TrimPrefix(s, "oci://")
	registry, repo, ok := strings.Cut(rest, "/")
	if !ok || registry == "" || repo == "" {
		return Source{}, fmt.Errorf("%w %q: want oci://REGISTRY/REPO:TAG or oci://REGISTRY/REPO@sha256:HEX", ErrSource, s)
	}
	if strings.Contains(registry, "@") {
		return Source{}, fmt.Errorf("%w %q: credentials in the reference would show in process lists and logs: name a feed instead", ErrSource, redactURL(s))
	}
	var ref string
	if r, d, ok := strings.Cut(repo, "@"); ok {
		repo, ref = r, d
		digest, isSHA := strings.CutPrefix(d, "sha256:")
		if !isSHA {
			return Source{}, fmt.Errorf("%w %q: a digest must be sha256:HEX", ErrSource, s)
		}
		if err := checkHex(digest); err != nil {
			return Source{}, fmt.Errorf("%w %q: %w", ErrSource, s, err)
		}
	} else if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo, ref = repo[:i], repo[i+1:]
	}
	if ref == "" {
		return Source{}, fmt.Errorf("%w %q: name a tag or digest (oci://REGISTRY/REPO:TAG): cuttle does not guess latest", ErrSource, s)
	}
	for _, part := range strings.Split(repo, "/") {
		if part == "" || part == "." || part == ".." || strings.ToLower(part) != part {
			return Source{}, fmt.Errorf("%w %q: repository %q: want lower-case path components", ErrSource, s, repo)
		}
	}
	return Source{Kind: OCI, Registry: registry, Repository: repo, Reference: ref}, nil
}

// redactURL drops user information from a URL for messages.
func redactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		u.User = nil
		return u.String()
	}
	if i := strings.Index(s, "@"); i >= 0 && strings.Contains(s[:i], "://") {
		scheme, _, _ := strings.Cut(s, "://")
		return scheme + "://[REDACTED]" + s[i:]
	}
	return s
}

// ValidName checks a package reference name: it becomes a directory in
// the work directory and part of variable names.
func ValidName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 100 {
		return fmt.Errorf("package name %q: want 1-100 letters, digits, '.', '_' or '-'", name)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("package name %q: %q is not allowed: want letters, digits, '.', '_' or '-'", name, c)
		}
	}
	return nil
}

// ParseFlag parses `NAME=SOURCE[,extract=false][,id=ID][,version=V]
// [,feed=F][,acquisition=worker]`.
// A comma inside SOURCE is taken as the start of the options, so a source
// with a comma in its path cannot be given on the command line (use a
// runbook).
func ParseFlag(s string) (Spec, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok {
		return Spec{}, fmt.Errorf("--package %q: want NAME=SOURCE[,extract=false][,id=ID][,version=V]", redactURL(s))
	}
	fields := strings.Split(rest, ",")
	sp := Spec{Name: name, Extract: true}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return Spec{}, fmt.Errorf("--package %s: option %q: want KEY=VALUE (extract, id, version, feed, acquisition)", name, f)
		case k == "extract":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return Spec{}, fmt.Errorf("--package %s: extract=%q: want true or false", name, v)
			}
			sp.Extract = b
		case k == "id":
			sp.ID = v
		case k == "version":
			sp.Version = v
		case k == "feed":
			sp.Feed = v
		case k == "acquisition":
			a, err := ParseAcquisition(v)
			if err != nil {
				return Spec{}, fmt.Errorf("--package %s: %w", name, err)
			}
			sp.Acquisition = a
		default:
			return Spec{}, fmt.Errorf("--package %s: unknown option %q: want extract, id, version, feed or acquisition", name, k)
		}
	}
	src, err := ParseSource(fields[0])
	if err != nil {
		return Spec{}, fmt.Errorf("--package %s: %w", name, err)
	}
	sp.Source = src
	return sp, sp.Complete()
}

// Complete validates the spec and fills ID and Version from the file name
// where they were not given.
func (sp *Spec) Complete() error {
	if err := ValidName(sp.Name); err != nil {
		return err
	}
	if sp.Acquisition == AcquireWorker && sp.Source.Kind == Local {
		return fmt.Errorf("package %s: acquisition: worker is for https:// and oci:// sources; a local archive is on the controller, which sends it (drop acquisition: worker)", sp.Name)
	}
	if sp.Source.Kind == OCI && sp.ID == "" {
		sp.ID = path.Base(sp.Source.Repository)
		if sp.Version == "" && !strings.HasPrefix(sp.Source.Reference, "sha256:") {
			sp.Version = sp.Source.Reference
		}
	}
	if sp.ID == "" || sp.Version == "" {
		file := sp.Source.FileName()
		ext, _ := FormatOf(file)
		id, version, ok := SplitIDVersion(strings.TrimSuffix(file, ext.Extension()))
		switch {
		case ok:
			sp.ID, sp.Version = cmpOr(sp.ID, id), cmpOr(sp.Version, version)
		case sp.ID == "":
			return fmt.Errorf("package %s: no version in file name %q (want ID.VERSION%s, e.g. Acme.Web.1.2.3%s): give id= and version=", sp.Name, file, ext.Extension(), ext.Extension())
		}
	}
	if sp.Version == "" {
		return fmt.Errorf("package %s: no version in file name %q: give version=", sp.Name, sp.Source.FileName())
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// FromRef makes a spec of a runbook's package entry; a relative local
// path is taken from baseDir.
func FromRef(name, source string, extract *bool, id, version, feed, acquisition, baseDir string) (Spec, error) {
	acq, err := ParseAcquisition(acquisition)
	if err != nil {
		return Spec{}, fmt.Errorf("package %s: %w", name, err)
	}
	src, err := ParseSource(source)
	if err != nil {
		return Spec{}, fmt.Errorf("package %s: %w", name, err)
	}
	if src.Kind == Local && !filepath.IsAbs(src.Path) && baseDir != "" {
		src.Path = filepath.Join(baseDir, src.Path)
	}
	sp := Spec{Name: name, Source: src, Extract: extract == nil || *extract, ID: id, Version: version, Feed: feed, Acquisition: acq}
	return sp, sp.Complete()
}
