package transport

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cuttle-sh/cuttle/internal/secret"
)

// Target says how to reach one SSH server.
type Target struct {
	Host string
	Port int
	User string

	// IdentityFiles are private keys tried in order.
	IdentityFiles []string
	// UseAgent enables ssh-agent from SSH_AUTH_SOCK.
	UseAgent bool
	// Password enables password (and keyboard-interactive) auth.
	Password secret.Value

	// KnownHostsFiles are searched for the host key. Ignored when
	// HostKeyFingerprint is set.
	KnownHostsFiles []string
	// HostKeyFingerprint pins the key ("SHA256:...") instead.
	HostKeyFingerprint string
	// AcceptNew, like OpenSSH's StrictHostKeyChecking=accept-new, records
	// the key of a host that has no entry yet in the first known_hosts
	// file. A changed or revoked key is still refused.
	AcceptNew bool

	// Jump lists hops to cross first, outermost first, like ssh -J.
	Jump []Target

	// ConnectTimeout bounds TCP connect plus SSH handshake (default 15s).
	ConnectTimeout time.Duration
	// KeepAliveInterval is the keepalive period (default 15s); the link is
	// declared dead after KeepAliveMax unanswered requests (default 3).
	KeepAliveInterval time.Duration
	KeepAliveMax      int
	// Ciphers, when set, restricts the ciphers offered (benchmarks
	// compare against OpenSSH with the same cipher).
	Ciphers []string
}

// Addr is host:port.
func (t Target) Addr() string { return net.JoinHostPort(t.Host, strconv.Itoa(t.port())) }

func (t Target) port() int {
	if t.Port == 0 {
		return 22
	}
	return t.Port
}

// String shows user@host:port and nothing else (never auth material).
func (t Target) String() string {
	if t.User == "" {
		return t.Addr()
	}
	return t.User + "@" + t.Addr()
}

// ParseAddress reads "ssh://user@host:port", "user@host:port", "user@host"
// or "host". Passwords in the URL are refused: they would end up in shell
// history and process lists.
func ParseAddress(s string) (Target, error) {
	var t Target
	raw := s
	if !strings.Contains(s, "://") {
		raw = "ssh://" + s
	}
	// Errors name the address without any password it may carry.
	s = redactUserinfo(s)
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "ssh" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return t, fmt.Errorf("worker address %q: want ssh://user@host:port or user@host:port", s)
	}
	if _, has := u.User.Password(); has {
		return t, fmt.Errorf("worker address %q: a password in the address is not allowed; use --password-env VAR", s)
	}
	t.User = u.User.Username()
	t.Host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return t, fmt.Errorf("worker address %q: port %q is not a number from 1 to 65535", s, p)
		}
		t.Port = n
	}
	return t, nil
}

// redactUserinfo drops ":password" from "user:password@host".
func redactUserinfo(s string) string {
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return s
	}
	start := strings.Index(s, "://") + 1
	if start > 0 {
		start += 2
	}
	if c := strings.IndexByte(s[start:at], ':'); c >= 0 {
		return s[:start+c] + ":REDACTED" + s[at:]
	}
	return s
}
