package wire

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// PackageSource is where a worker downloads a package from itself
// (`acquisition: worker`): an https URL with its sha256, or an OCI
// artifact of one layer. CAPEM, when set, holds CA certificates (PEM) the
// worker trusts for it besides its system's.
type PackageSource struct {
	// URL is an https source's address (no fragment), SHA256 its file's
	// digest (64 lower-case hex digits) and FileName the URL path's last
	// element.
	URL      string `json:"url,omitempty"`
	SHA256   string `json:"sha256,omitempty"`
	FileName string `json:"file_name,omitempty"`
	// Registry (host[:port]), Repository and Reference (a tag or
	// "sha256:HEX") name an OCI artifact.
	Registry   string `json:"registry,omitempty"`
	Repository string `json:"repository,omitempty"`
	Reference  string `json:"reference,omitempty"`
	CAPEM      string `json:"ca_pem,omitempty"`
}

// PackageFetch is what `step-runner package-fetch` reads on stdin: the
// source and the registry's credentials. It goes on stdin only, never in
// argv, as a URL may carry a token and the password is a secret.
type PackageFetch struct {
	Source   PackageSource `json:"source"`
	Username string        `json:"username,omitempty"`
	Password string        `json:"password,omitempty"`
}

// String leaves the password out, should a request ever be printed.
func (f PackageFetch) String() string {
	pw := ""
	if f.Password != "" {
		pw = " password=[REDACTED]"
	}
	return "package-fetch " + f.Source.URL + f.Source.Registry + "/" + f.Source.Repository + " user=" + f.Username + pw
}

// GoString is String, for %#v.
func (f PackageFetch) GoString() string { return f.String() }

// PackageFetched is package-fetch's answer, one JSON line on stdout:
// what the worker placed, and whether its cache already held it.
type PackageFetched struct {
	SHA256   string `json:"sha256"`
	FileName string `json:"file_name"`
	Size     int64  `json:"size"`
	Cached   bool   `json:"cached"`
}

// MaxPackageFetch bounds the request package-fetch reads from stdin.
const MaxPackageFetch = 4 << 20

// IsLoopback reports whether host (host or host:port) is the machine
// itself: a registry there is spoken to over plain HTTP, as Docker does,
// by the controller and the worker alike.
func IsLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// AuthHint is the fix for a server's refusal of a package's download
// (status 401 or 403): the feed's credentials, sent or to be given. It is
// "" for other statuses.
func AuthHint(status int, sent bool) string {
	if status != 401 && status != 403 {
		return ""
	}
	if sent {
		return ": the server refused the feed's credentials: check its username and password (feeds: in cuttle.yaml)"
	}
	return ": the server wants credentials: add a feed whose registry is the URL's host[:port] (or name it with feed:), with username and password, in cuttle.yaml"
}

// FetchProgress starts the lines package-fetch --progress writes on
// stderr while it downloads: "cuttle-progress DONE TOTAL", bytes so far and
// the download's size (-1 when the server did not say). Other stderr lines
// are its messages.
const FetchProgress = "cuttle-progress "

// FormatFetchProgress is one progress line.
func FormatFetchProgress(done, total int64) string {
	return FetchProgress + strconv.FormatInt(done, 10) + " " + strconv.FormatInt(total, 10) + "\n"
}

// ParseFetchProgress reads a progress line (without its newline); ok is
// false for any other line.
func ParseFetchProgress(line string) (done, total int64, ok bool) {
	rest, found := strings.CutPrefix(line, FetchProgress)
	if !found {
		return 0, 0, false
	}
	d, t, found := strings.Cut(rest, " ")
	done, err1 := strconv.ParseInt(d, 10, 64)
	total, err2 := strconv.ParseInt(t, 10, 64)
	if !found || err1 != nil || err2 != nil || done < 0 {
		return 0, 0, false
	}
	return done, total, true
}

// SameOrigin reports whether a and b have the same scheme, host name and
// port (a missing port is the scheme's default). A download's redirects
// carry its feed's credentials only to the origin they were given for: Go's
// client keeps them for another port, another scheme or a subdomain.
func SameOrigin(a, b *url.URL) bool {
	port := func(u *url.URL) string {
		if p := u.Port(); p != "" {
			return p
		}
		if strings.EqualFold(u.Scheme, "https") {
			return "443"
		}
		return "80"
	}
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && port(a) == port(b)
}

// CheckDownloadRedirect is a package download's redirect policy, the
// controller's and the worker's: at most 10, never from https to plain
// http, and the feed's credentials (the Authorization header) only to the
// URL's own origin.
func CheckDownloadRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirected from https to %s://%s: refused", req.URL.Scheme, req.URL.Host)
	}
	if !SameOrigin(req.URL, via[0].URL) {
		req.Header.Del("Authorization")
	}
	return nil
}
