//go:build linux

package agent

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/cuttle-sh/cuttle/wire"
)

// userAgent names the worker's downloads in a server's log.
const userAgent = "cuttle-step-runner"

// DefaultMaxDownload bounds a package the worker downloads itself: 10 GiB,
// as defaults.package_max_download_mb's default.
const DefaultMaxDownload = 10 << 30

// PackageFetch is package-put for a package the worker acquires itself
// (acquisition: worker): the file comes from req's source, an https URL
// checked against its sha256 or an OCI artifact's one layer checked
// against its digest, instead of from the controller. A cached package is
// not downloaded again (an OCI tag's manifest is still read, to learn its
// digest). p's SHA256 and file name come from the source. What was placed
// is written on out as one wire.PackageFetched line. While it downloads,
// progress (when not nil) gets wire.FormatFetchProgress lines, at most
// every fetchProgressEvery and at the end. On failure, nothing of the
// download is left (the temporary directory is removed).
func PackageFetch(ctx context.Context, p PackageSpec, req wire.PackageFetch, out, progress io.Writer) error {
	src := req.Source
	client, err := fetchClient(src.CAPEM)
	if err != nil {
		return fmt.Errorf("package %s: %w", p.Name, err)
	}
	var get func() (io.ReadCloser, int64, error)
	switch {
	case src.URL != "" && src.Registry == "":
		p.SHA256, p.Meta.FileName = src.SHA256, src.FileName
		get = func() (io.ReadCloser, int64, error) {
			return httpsGet(ctx, client, src.URL, req.Username, req.Password)
		}
	case src.Registry != "" && src.URL == "":
		reg := newRegistry(client, src, req.Username, req.Password)
		layer, err := reg.resolve(ctx)
		if err != nil {
			return fmt.Errorf("package %s: %w", p.Name, err)
		}
		p.SHA256, p.Meta.FileName = layer.sha256, layer.name
		get = func() (io.ReadCloser, int64, error) {
			body, err := reg.blob(ctx, layer)
			return body, layer.size, err
		}
	default:
		return fmt.Errorf("package %s: the request names neither an https URL nor an OCI registry", p.Name)
	}
	if err := p.check(); err != nil {
		return err
	}
	cached, err := placeCached(p)
	if err != nil {
		return err
	}
	if !cached {
		err = p.store(func(tmp string) error {
			body, size, err := get()
			if err != nil {
				return fmt.Errorf("package %s: %w", p.Name, err)
			}
			defer body.Close()
			limit := cmp.Or(p.MaxDownload, DefaultMaxDownload)
			var r io.Reader = &cappedDownload{r: body, left: limit, max: limit, name: p.Name}
			if progress != nil {
				r = &fetchProgress{r: r, w: progress, total: size}
			}
			return receive(p, tmp, "", 0, r)
		})
	}
	var de *DigestError
	if errors.As(err, &de) {
		return fmt.Errorf("%w: %w: check the source and its digest (sha256sum of the file)", ErrRefused, err)
	}
	if err != nil {
		return err
	}
	fi, err := os.Stat(filepath.Join(p.entry(), wire.PackageFile))
	if err != nil {
		return fmt.Errorf("package %s: %w", p.Name, err)
	}
	return json.NewEncoder(out).Encode(wire.PackageFetched{SHA256: p.SHA256, FileName: p.Meta.FileName, Size: fi.Size(), Cached: cached})
}

// cappedDownload fails a download once it passes its limit, so a source
// that sends without end fills neither the disk nor the cache.
type cappedDownload struct {
	r         io.Reader
	left, max int64
	name      string
}

func (c *cappedDownload) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if c.left -= int64(n); c.left < 0 {
		return 0, fmt.Errorf("%w: package %s: the download is larger than %d bytes (the limit; raise defaults.package_max_download_mb in cuttle.yaml if the package is genuine)", ErrRefused, c.name, c.max)
	}
	return n, err
}

// fetchClient is an HTTP client that trusts the system's CAs and those in
// caPEM, follows no redirect from https to plain http, and sends a feed's
// credentials to no other origin than the URL's.
func fetchClient(caPEM string) (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.ResponseHeaderTimeout = 2 * time.Minute
	if caPEM != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM([]byte(caPEM)) {
			return nil, errors.New("the CA bundle (ca_file) holds no PEM certificate: give a file of -----BEGIN CERTIFICATE----- blocks")
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: t, CheckRedirect: wire.CheckDownloadRedirect}, nil
}

// httpsGet opens the body of an https URL, with user's and pass's basic
// authentication when user is set (the feed's, kept to the URL's origin
// by the client's redirect policy).
func httpsGet(ctx context.Context, client *http.Client, raw, user, pass string) (io.ReadCloser, int64, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, 0, errors.New("the source is not an https:// URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("User-Agent", userAgent)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, requestErr(u, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		fix := wire.AuthHint(resp.StatusCode, user != "")
		if fix == "" {
			fix = ": check the URL"
		}
		return nil, 0, fmt.Errorf("GET %s: %s%s", shownURL(u), resp.Status, fix)
	}
	return resp.Body, resp.ContentLength, nil
}

// fetchProgressEvery is how often a download's progress is written.
const fetchProgressEvery = 250 * time.Millisecond

// fetchProgress writes a download's progress lines as it is read: at most
// every fetchProgressEvery, and once at its end.
type fetchProgress struct {
	r           io.Reader
	w           io.Writer
	done, total int64
	last        time.Time
	now         func() time.Time // time.Now unless a test sets it
}

func (f *fetchProgress) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	f.done += int64(n)
	now := time.Now()
	if f.now != nil {
		now = f.now()
	}
	if err == io.EOF || now.Sub(f.last) >= fetchProgressEvery {
		f.last = now
		io.WriteString(f.w, wire.FormatFetchProgress(f.done, f.total))
	}
	return n, err
}

// shownURL is u for messages: without its query, which may hold a token.
func shownURL(u *url.URL) string {
	v := *u
	v.RawQuery, v.Fragment, v.User = "", "", nil
	return v.String()
}

// requestErr says why a request got no answer, with the fix for an
// untrusted certificate, without the URL's query.
func requestErr(u *url.URL, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var unknown x509.UnknownAuthorityError
	var invalid x509.CertificateInvalidError
	var host x509.HostnameError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("GET %s: %w: the worker does not trust its certificate's CA: give that CA's certificate (PEM) as ca_file of the package or its feed", shownURL(u), err)
	case errors.As(err, &invalid), errors.As(err, &host):
		return fmt.Errorf("GET %s: %w: the server's certificate does not fit it", shownURL(u), err)
	}
	return fmt.Errorf("GET %s: %w", shownURL(u), err)
}
