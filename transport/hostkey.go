package transport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyProblem says why a host key was refused.
type HostKeyProblem int

// The ways a host key can be refused.
const (
	HostKeyUnknown HostKeyProblem = iota + 1
	HostKeyChanged
	HostKeyRevoked
	HostKeyPinMismatch
	// HostCertUntrusted: the server presented a host certificate that no
	// @cert-authority line for the host vouches for, or that is not valid
	// for the host's name or at this time.
	HostCertUntrusted
)

// HostKeyError is returned when a server's key is not trusted. Callers
// branch on Problem; the message says which file and line to look at.
type HostKeyError struct {
	Host        string // as looked up, e.g. "[127.0.0.1]:2222"
	Problem     HostKeyProblem
	Offered     string   // fingerprint of the key the server offered
	OfferedType string   // its algorithm
	Files       []string // known_hosts files searched
	// Known lists "file:line" of the entries that disagree (HostKeyChanged).
	Known []string
	Pin   string
	// CertProblem is why a host certificate was refused (HostCertUntrusted).
	CertProblem string
}

func (e *HostKeyError) Error() string {
	switch e.Problem {
	case HostKeyUnknown:
		return fmt.Sprintf("host key of %s is unknown: the server offered %s %s, which is in none of %s; check that fingerprint with the server's owner, then add it (ssh-keyscan %s >> %s)",
			e.Host, e.OfferedType, e.Offered, strings.Join(e.Files, ", "), keyscanArgs(e.Host), firstOr(e.Files, "~/.ssh/known_hosts"))
	case HostKeyChanged:
		return fmt.Sprintf("host key of %s has CHANGED: the server offered %s %s, but %s records a different key; this may be an attack. If the change is expected, remove the old entry (ssh-keygen -R '%s' -f %s) and add the new one",
			e.Host, e.OfferedType, e.Offered, strings.Join(e.Known, ", "), e.Host, knownFile(e.Known, e.Files))
	case HostKeyRevoked:
		return fmt.Sprintf("host key of %s (%s %s) is marked @revoked in %s; refusing to connect", e.Host, e.OfferedType, e.Offered, strings.Join(e.Known, ", "))
	case HostCertUntrusted:
		return fmt.Sprintf("host certificate of %s (%s, signed by CA %s) is not trusted: %s; trust its CA with a line '@cert-authority HOST-PATTERN CA-PUBLIC-KEY' in %s, or have the certificate list the name cuttle connects to as a principal (ssh-keygen -L -f on the host's certificate shows them)",
			e.Host, e.OfferedType, e.Offered, e.CertProblem, firstOr(e.Files, "~/.ssh/known_hosts"))
	default:
		return fmt.Sprintf("host key of %s does not match the pinned fingerprint: the server offered %s %s, want %s", e.Host, e.OfferedType, e.Offered, e.Pin)
	}
}

func keyscanArgs(host string) string {
	h, p, err := net.SplitHostPort(strings.NewReplacer("[", "", "]", "").Replace(host))
	if err != nil {
		return host
	}
	if p == "22" {
		return h
	}
	return "-p " + p + " " + h
}

func firstOr(s []string, d string) string {
	if len(s) > 0 {
		return s[0]
	}
	return d
}

func knownFile(known, files []string) string {
	if len(known) > 0 {
		if i := strings.LastIndexByte(known[0], ':'); i > 0 {
			return known[0][:i]
		}
	}
	return firstOr(files, "~/.ssh/known_hosts")
}

// hostKeyPolicy returns the callback that checks t's key, and the host key
// algorithms to ask for: those already recorded for the host, so a server
// with several keys presents the one we know (a changed preference must not
// look like a changed key).
func hostKeyPolicy(t Target) (ssh.HostKeyCallback, []string, error) {
	if t.HostKeyFingerprint != "" {
		pin := t.HostKeyFingerprint
		if !strings.HasPrefix(pin, "SHA256:") {
			return nil, nil, fmt.Errorf("host key fingerprint %q: want the SHA256:... form printed by ssh-keygen -lf", pin)
		}
		return func(host string, _ net.Addr, key ssh.PublicKey) error {
			if ssh.FingerprintSHA256(key) != pin {
				return &HostKeyError{Host: host, Problem: HostKeyPinMismatch, Offered: ssh.FingerprintSHA256(key), OfferedType: key.Type(), Pin: pin}
			}
			return nil
		}, nil, nil
	}
	files := t.KnownHostsFiles
	if len(files) == 0 {
		return nil, nil, errors.New("no known_hosts file and no host key fingerprint: refusing to trust an unverified host key")
	}
	var existing []string
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			existing = append(existing, f)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("known_hosts file %s: %w", f, err)
		}
	}
	var check ssh.HostKeyCallback = func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }
	if len(existing) > 0 {
		var err error
		check, err = knownhosts.New(existing...)
		if err != nil {
			return nil, nil, fmt.Errorf("reading known_hosts %s: %w", strings.Join(existing, ", "), err)
		}
	}
	authorities, err := certAuthorityLines(existing)
	if err != nil {
		return nil, nil, err
	}
	// plain checks a key that is not a certificate. knownhosts lists the
	// @cert-authority lines for the host among the keys it wants; they
	// are no plain key of the host's, so a host known only by its CA is
	// unknown (accept-new records it), not changed.
	plain := func(host string, remote net.Addr, key ssh.PublicKey, acceptNew bool) error {
		err := check(host, remote, key)
		if err == nil {
			return nil
		}
		hk := &HostKeyError{Host: knownhosts.Normalize(host), Offered: ssh.FingerprintSHA256(key), OfferedType: key.Type(), Files: files}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &re):
			hk.Problem = HostKeyRevoked
			hk.Known = []string{re.Revoked.Filename + ":" + strconv.Itoa(re.Revoked.Line)}
		case errors.As(err, &ke):
			for _, w := range ke.Want {
				if at := w.Filename + ":" + strconv.Itoa(w.Line); !authorities[at] {
					hk.Known = append(hk.Known, at)
				}
			}
			if len(hk.Known) > 0 {
				hk.Problem = HostKeyChanged
				break
			}
			if acceptNew {
				return appendKnownHost(files[0], host, key)
			}
			hk.Problem = HostKeyUnknown
		default:
			return fmt.Errorf("checking host key of %s: %w", host, err)
		}
		return hk
	}
	cb := func(host string, remote net.Addr, key ssh.PublicKey) error {
		cert, ok := key.(*ssh.Certificate)
		if !ok {
			return plain(host, remote, key, t.AcceptNew)
		}
		err := check(host, remote, key)
		if err == nil {
			return nil
		}
		// x/crypto refuses a certificate whose key or CA is marked
		// @revoked, saying only "certificate serial N revoked". The plain
		// checks find the @revoked line to name: the CA's here, the key's
		// in the fallback below.
		var hk *HostKeyError
		if perr := plain(host, remote, cert.SignatureKey, false); errors.As(perr, &hk) && hk.Problem == HostKeyRevoked {
			return hk
		}
		refused := &HostKeyError{Host: knownhosts.Normalize(host), Problem: HostCertUntrusted, Offered: ssh.FingerprintSHA256(cert.SignatureKey),
			OfferedType: key.Type(), Files: files, CertProblem: strings.TrimPrefix(err.Error(), "ssh: ")}
		// As OpenSSH: a certificate that is not trusted is tried as its
		// plain key, which known_hosts may record (or accept-new record).
		perr := plain(host, remote, cert.Key, t.AcceptNew)
		if perr == nil || errors.As(perr, &hk) && hk.Problem != HostKeyUnknown {
			return perr
		}
		return refused
	}
	return cb, knownAlgorithms(check, t.Addr(), authorities), nil
}

// certAuthorityLines are the "file:line" places of the @cert-authority
// lines in files, numbered as knownhosts numbers them.
func certAuthorityLines(files []string) (map[string]bool, error) {
	lines := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("known_hosts file %s: %w", f, err)
		}
		for i, line := range strings.Split(string(b), "\n") {
			// A marker ends at a space or a tab, as knownhosts reads it.
			line = strings.TrimLeft(line, " \t")
			if end := strings.IndexAny(line, " \t"); end > 0 && line[:end] == "@cert-authority" {
				lines[f+":"+strconv.Itoa(i+1)] = true
			}
		}
	}
	return lines, nil
}

// appendKnownHost records key for host, as accept-new does: one line
// appended with a single write, the file and its directory created 0600
// and 0700 when missing.
func appendKnownHost(file, host string, key ssh.PublicKey) error {
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return fmt.Errorf("accept-new: %w", err)
	}
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("accept-new: %w", err)
	}
	defer f.Close()
	line := knownhosts.Line([]string{knownhosts.Normalize(host)}, key) + "\n"
	if _, err := f.WriteString(line); err != nil {
		return fmt.Errorf("accept-new: writing %s: %w", file, err)
	}
	return nil
}

// knownAlgorithms asks the known_hosts callback which keys it holds for
// addr, and returns the host key algorithms to ask the server for, as
// OpenSSH orders them: host certificates first when an @cert-authority
// line (authorities: its "file:line") covers the host, then the types of
// the keys recorded for it, or when none is, every plain type. With no
// @cert-authority line for the host no certificate is asked for, so an
// unknown host shows (and accept-new records) its plain key.
func knownAlgorithms(check ssh.HostKeyCallback, addr string, authorities map[string]bool) []string {
	var want []knownhosts.KnownKey
	var ke *knownhosts.KeyError
	if err := check(addr, &net.TCPAddr{IP: net.IPv4zero}, probeKey{}); errors.As(err, &ke) {
		want = ke.Want
	}
	var algos, plain []string
	seen := map[string]bool{}
	add := func(list *[]string, as ...string) {
		for _, a := range as {
			if !seen[a] {
				seen[a] = true
				*list = append(*list, a)
			}
		}
	}
	certs := false
	for _, w := range want {
		if authorities[w.Filename+":"+strconv.Itoa(w.Line)] {
			certs = true
			continue
		}
		add(&plain, algorithmsFor(w.Key.Type())...)
	}
	supported := ssh.SupportedAlgorithms().HostKeys
	if certs {
		for _, a := range supported {
			if strings.HasSuffix(a, "-cert-v01@openssh.com") {
				add(&algos, a)
			}
		}
	}
	if len(plain) == 0 {
		for _, a := range supported {
			if !strings.HasSuffix(a, "-cert-v01@openssh.com") {
				add(&plain, a)
			}
		}
	}
	return append(algos, plain...)
}

func algorithmsFor(keyType string) []string {
	switch keyType {
	case ssh.KeyAlgoRSA:
		// Never the SHA-1 signature: only rsa-sha2-*.
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01}
	default:
		return []string{keyType}
	}
}

// probeKey is a public key no known_hosts file can contain.
type probeKey struct{}

func (probeKey) Type() string                        { return "cuttle-probe" }
func (probeKey) Marshal() []byte                     { return []byte("cuttle-probe-key") }
func (probeKey) Verify([]byte, *ssh.Signature) error { return errors.New("probe key") }
