//go:build linux

package agent

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/cuttle-sh/cuttle/wire"
)

// A worker pulls an OCI artifact with the registry's v2 API: the
// manifest, then its one layer (as `oras push REF FILE` makes it). It
// authenticates as the registry's 401 challenge asks: basic with the
// feed's credentials, or a bearer token from the challenge's realm
// (fetched with those credentials, or anonymously).

// The manifest types asked for: OCI's and Docker's schema 2.
const manifestAccept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"

// Bounds on what a registry may send that is read into memory.
const (
	maxManifest = 4 << 20
	maxToken    = 1 << 20
)

// titleAnnotation names the file an OCI layer holds.
const titleAnnotation = "org.opencontainers.image.title"

// registry is one OCI artifact's repository, as the worker speaks to it.
type registry struct {
	client     *http.Client
	base       string // scheme://host[:port]
	src        wire.PackageSource
	user, pass string
	authz      string // the Authorization header, once a challenge set it
}

// layer is the one file of an artifact.
type layer struct {
	sha256, name string
	size         int64
}

// newRegistry speaks to src's registry over https, or plain http when
// it is on the worker's loopback, as Docker does.
func newRegistry(client *http.Client, src wire.PackageSource, user, pass string) *registry {
	scheme := "https"
	if wire.IsLoopback(src.Registry) {
		scheme = "http"
	}
	return &registry{client: client, base: scheme + "://" + src.Registry, src: src, user: user, pass: pass}
}

// source is the artifact as the user wrote it.
func (r *registry) source() string {
	sep := ":"
	if strings.HasPrefix(r.src.Reference, "sha256:") {
		sep = "@"
	}
	return "oci://" + r.src.Registry + "/" + r.src.Repository + sep + r.src.Reference
}

// get GETs path, authenticating once if the registry challenges.
func (r *registry) get(ctx context.Context, p, accept string) (*http.Response, error) {
	resp, err := r.send(ctx, r.base+p, accept, r.authz)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || r.authz != "" {
		return resp, err
	}
	challenge := resp.Header.Get("WWW-Authenticate")
	resp.Body.Close()
	if err := r.authorize(ctx, challenge); err != nil {
		return nil, err
	}
	return r.send(ctx, r.base+p, accept, r.authz)
}

func (r *registry) send(ctx context.Context, rawURL, accept, authz string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, requestErr(req.URL, err)
	}
	return resp, nil
}

// authorize answers a 401's challenge.
func (r *registry) authorize(ctx context.Context, challenge string) error {
	scheme, params := parseChallenge(challenge)
	switch strings.ToLower(scheme) {
	case "basic":
		if r.user == "" {
			return fmt.Errorf("%s: the registry asks for credentials: name a feed with username and password_env (feed: NAME), or define one whose registry is %s", r.source(), r.src.Registry)
		}
		r.authz = "Basic " + base64.StdEncoding.EncodeToString([]byte(r.user+":"+r.pass))
		return nil
	case "bearer":
		tok, err := r.token(ctx, params)
		if err != nil {
			return fmt.Errorf("%s: %w", r.source(), err)
		}
		r.authz = "Bearer " + tok
		return nil
	}
	return fmt.Errorf("%s: the registry answered 401 with an authentication scheme cuttle does not speak (%q): want Basic or Bearer", r.source(), scheme)
}

// token gets a bearer token for pulling the repository from the
// challenge's realm, which must be https (or the worker's loopback) for
// credentials to be sent there.
func (r *registry) token(ctx context.Context, params map[string]string) (string, error) {
	realm, err := url.Parse(params["realm"])
	if err != nil || realm.Host == "" {
		return "", fmt.Errorf("the registry's token realm %q is not a URL", params["realm"])
	}
	if realm.Scheme != "https" && !(realm.Scheme == "http" && wire.IsLoopback(realm.Host)) {
		return "", fmt.Errorf("the registry's token realm %s is not https: no credentials are sent there", shownURL(realm))
	}
	q := realm.Query()
	if s := params["service"]; s != "" {
		q.Set("service", s)
	}
	scope := params["scope"]
	if scope == "" {
		scope = "repository:" + r.src.Repository + ":pull"
	}
	q.Set("scope", scope)
	realm.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, realm.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("User-Agent", userAgent)
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pass)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return "", requestErr(realm, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("a token from %s: %s%s", shownURL(realm), resp.Status, statusHint(resp.StatusCode))
	}
	var body struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxToken)).Decode(&body); err != nil {
		return "", fmt.Errorf("a token from %s: %w", shownURL(realm), err)
	}
	if body.Token == "" {
		body.Token = body.AccessToken
	}
	if body.Token == "" {
		return "", fmt.Errorf("a token from %s: the answer holds none", shownURL(realm))
	}
	return body.Token, nil
}

// statusHint is the fix for a registry's refusal.
func statusHint(code int) string {
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ": check the feed's username and password (password_env or password_file)"
	case http.StatusNotFound:
		return ": check the repository and the tag (oras push REGISTRY/REPO:TAG FILE makes one)"
	}
	return ""
}

// resolve reads the artifact's manifest and returns its one layer.
func (r *registry) resolve(ctx context.Context) (layer, error) {
	resp, err := r.get(ctx, "/v2/"+r.src.Repository+"/manifests/"+r.src.Reference, manifestAccept)
	if err != nil {
		return layer{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return layer{}, fmt.Errorf("%s: the manifest: %s%s", r.source(), resp.Status, statusHint(resp.StatusCode))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxManifest+1))
	if err != nil {
		return layer{}, fmt.Errorf("%s: the manifest: %w", r.source(), err)
	}
	if len(body) > maxManifest {
		return layer{}, fmt.Errorf("%s: the manifest is over %d bytes", r.source(), maxManifest)
	}
	if want, ok := strings.CutPrefix(r.src.Reference, "sha256:"); ok {
		if sum := sha256.Sum256(body); hex.EncodeToString(sum[:]) != want {
			return layer{}, fmt.Errorf("%w: %s: the registry sent a manifest of another digest (sha256:%x)", ErrRefused, r.source(), sum)
		}
	}
	return oneLayer(r.source(), body)
}

// oneLayer reads a manifest that must be a one-layer artifact.
func oneLayer(source string, manifest []byte) (layer, error) {
	var m struct {
		MediaType string            `json:"mediaType"`
		Manifests []json.RawMessage `json:"manifests"`
		Layers    []struct {
			Digest      string            `json:"digest"`
			Size        int64             `json:"size"`
			Annotations map[string]string `json:"annotations"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		return layer{}, fmt.Errorf("%s: the manifest: %w", source, err)
	}
	if len(m.Manifests) > 0 {
		return layer{}, fmt.Errorf("%s is an index of %d manifests (an image for several platforms?): a package is an artifact of one file (oras push REF FILE)", source, len(m.Manifests))
	}
	if len(m.Layers) != 1 {
		return layer{}, fmt.Errorf("%s: the artifact has %d layers: a package is one file (oras push REF FILE)", source, len(m.Layers))
	}
	l := m.Layers[0]
	sha, ok := strings.CutPrefix(l.Digest, "sha256:")
	if b, err := hex.DecodeString(sha); !ok || err != nil || len(b) != sha256.Size || strings.ToLower(sha) != sha {
		return layer{}, fmt.Errorf("%s: layer digest %q: only sha256 is supported", source, l.Digest)
	}
	name := path.Base(l.Annotations[titleAnnotation])
	if _, _, err := wire.ArchiveOf(name); err != nil || l.Annotations[titleAnnotation] == "" {
		return layer{}, fmt.Errorf("%s: the artifact's file name (its %s annotation, %q) is not a package archive: push the file under its own name (oras push REF Acme.Web.1.2.3.zip)", source, titleAnnotation, l.Annotations[titleAnnotation])
	}
	if l.Size < 0 {
		return layer{}, fmt.Errorf("%s: layer size %d", source, l.Size)
	}
	return layer{sha256: sha, name: name, size: l.Size}, nil
}

// blob opens the layer's bytes (at most its size and one more, so that
// an overlong answer fails its digest).
func (r *registry) blob(ctx context.Context, l layer) (io.ReadCloser, error) {
	resp, err := r.get(ctx, "/v2/"+r.src.Repository+"/blobs/sha256:"+l.sha256, "")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: the layer %s: %s%s", r.source(), l.name, resp.Status, statusHint(resp.StatusCode))
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(resp.Body, l.size+1), resp.Body}, nil
}

// parseChallenge splits a WWW-Authenticate header into its scheme and
// parameters (keys in lower case; quoted values unquoted).
func parseChallenge(h string) (string, map[string]string) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
	params := map[string]string{}
	for {
		rest = strings.TrimLeft(rest, " ,")
		key, after, ok := strings.Cut(rest, "=")
		if !ok {
			return scheme, params
		}
		key = strings.ToLower(strings.TrimSpace(key))
		var val string
		if strings.HasPrefix(after, `"`) {
			val, rest = unquote(after[1:])
		} else {
			val, rest, _ = strings.Cut(after, ",")
			val = strings.TrimSpace(val)
		}
		params[key] = val
	}
}

// unquote reads a quoted string's body up to its closing quote (a
// backslash escapes the next byte) and returns it and what follows.
func unquote(s string) (string, string) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}
