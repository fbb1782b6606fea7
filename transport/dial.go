package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

const defaultConnectTimeout = 15 * time.Second

// Dial connects to t, crossing t.Jump first on connections of its own.
// Every hop checks its own host key. The returned Conn closes every hop.
func Dial(ctx context.Context, t Target) (*Conn, error) {
	return (*HopPool)(nil).Dial(ctx, t)
}

// Dial connects to t, crossing t.Jump on connections shared through p
// with every other worker behind the same hops. A nil p shares nothing.
func (p *HopPool) Dial(ctx context.Context, t Target) (*Conn, error) {
	c := &Conn{target: t, hops: p}
	l, err := c.dialLink(ctx)
	if err != nil {
		return nil, err
	}
	c.cur = l
	return c, nil
}

// dialLink crosses the hops and connects to the worker.
func (c *Conn) dialLink(ctx context.Context) (*link, error) {
	via, release, err := c.hops.through(ctx, c.target.Jump)
	if err != nil {
		return nil, err
	}
	cl, err := dialOne(ctx, c.target, via)
	var oce *ssh.OpenChannelError
	if errors.As(err, &oce) && via != nil {
		// The shared hop refused another channel: sshd's limits. Cross
		// on a connection of our own instead.
		release()
		if via, release, err = dialChain(ctx, c.target.Jump); err != nil {
			return nil, err
		}
		cl, err = dialOne(ctx, c.target, via)
	}
	if err != nil {
		release()
		return nil, err
	}
	l := &link{client: cl, via: via, release: release, done: make(chan struct{})}
	l.watch(c.target)
	return l, nil
}

// dialRetries is how many times a failed TCP connect or handshake is
// retried, with backoff: workers restart, and sshd's MaxStartups drops
// connections under load. A refused host key or authentication is final,
// and nothing here runs a command, so a retry cannot repeat one.
const dialRetries = 3

func dialOne(ctx context.Context, t Target, via *ssh.Client) (*ssh.Client, error) {
	backoff := 250 * time.Millisecond
	start := time.Now()
	for attempt := 0; ; attempt++ {
		c, err := dialOnce(ctx, t, via)
		if err == nil || !retryable(err) {
			return c, err
		}
		if attempt == dialRetries || ctx.Err() != nil {
			if attempt > 0 {
				// The real time spent, not just the last try's deadline.
				err = fmt.Errorf("%w (%d attempts over %s)", err, attempt+1, time.Since(start).Round(100*time.Millisecond))
			}
			return c, err
		}
		zerolog.Ctx(ctx).Info().Err(err).Str("worker", t.String()).Int("attempt", attempt+1).Str("retry_in", backoff.String()).Msg("connect failed; retrying")
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(backoff):
		}
		backoff *= 2
	}
}

// retryable reports whether a dial error may pass: not a host key or
// authentication refusal, not bad input.
func retryable(err error) bool {
	var hk *HostKeyError
	var ae *AuthError
	return !errors.As(err, &hk) && !errors.As(err, &ae) && !errors.Is(err, errTargetConfig)
}

// errTargetConfig marks errors in the target's own settings (known_hosts,
// identity files, agent, fingerprint): dialling again cannot help.
var errTargetConfig = errors.New("target configuration")

// configErr marks err as one of the target's settings.
func configErr(err error) error { return &markedError{err: err, mark: errTargetConfig} }

type markedError struct{ err, mark error }

func (m *markedError) Error() string   { return m.err.Error() }
func (m *markedError) Unwrap() []error { return []error{m.err, m.mark} }

// maxHandshakes bounds the handshakes one controller process has in
// flight. A fan-out to many workers then queues its dials instead of
// starting them all at once: on a loaded machine (or many workers behind
// one host) the handshakes share the CPU, each slows down as they
// multiply, and all of them could run past the connect timeout, which a
// retry only repeats (issue 22: 100 steps at once on 2 cores). A dial's
// timeout starts once it has its turn.
const maxHandshakes = 32

// handshakes holds one token per handshake in flight, process-wide;
// queued, when set (tests), is called by a dial that has to wait.
var (
	handshakes = make(chan struct{}, maxHandshakes)
	queued     func()
)

func dialOnce(ctx context.Context, t Target, via *ssh.Client) (*ssh.Client, error) {
	select {
	case handshakes <- struct{}{}:
	default:
		if queued != nil {
			queued()
		}
		select {
		case handshakes <- struct{}{}:
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: waiting to connect: %w", t, context.Cause(ctx))
		}
	}
	defer func() { <-handshakes }()
	timeout := t.ConnectTimeout
	if timeout == 0 {
		timeout = defaultConnectTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	hostKey, algos, err := hostKeyPolicy(t)
	if err != nil {
		return nil, configErr(fmt.Errorf("%s: %w", t, err))
	}
	methods, tried, closeAgent, err := authMethods(t)
	if err != nil {
		return nil, configErr(err)
	}
	defer closeAgent()
	cfg := &ssh.ClientConfig{
		User:              t.User,
		Auth:              methods,
		HostKeyCallback:   hostKey,
		HostKeyAlgorithms: algos,
	}
	cfg.Ciphers = t.Ciphers

	var raw net.Conn
	if via == nil {
		var d net.Dialer
		raw, err = d.DialContext(ctx, "tcp", t.Addr())
	} else {
		raw, err = via.DialContext(ctx, "tcp", t.Addr())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: connect: %w", t, err)
	}
	// The handshake itself ignores contexts; closing the socket when the
	// context ends is what bounds it (deadlines are not supported on
	// channels through a jump host).
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(raw, t.Addr(), cfg)
	if !stop() {
		if err == nil {
			sc.Close()
		}
		return nil, fmt.Errorf("%s: SSH handshake did not finish within %s: %w", t, timeout, context.Cause(ctx))
	}
	if err != nil {
		raw.Close()
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, fmt.Errorf("%s: %w", t, hk)
		}
		if msg := err.Error(); strings.Contains(msg, "no common algorithm for host key") && strings.Contains(msg, `"ssh-rsa"`) {
			// Final: dialling again meets the same offer.
			return nil, configErr(fmt.Errorf("%s: the server signs its host key only with ssh-rsa (SHA-1), which cuttle refuses as a downgrade: enable rsa-sha2-256 on it (OpenSSH 7.2 and later offer it by default) or give it an ed25519 host key (%v)", t, err))
		}
		if strings.Contains(err.Error(), "no common algorithm for host key") {
			// Final as well: cuttle asks for the key types known_hosts
			// records for the host (certificates only when an
			// @cert-authority line covers it).
			return nil, configErr(fmt.Errorf("%s: the server offers no host key of a type cuttle asks for: the types known_hosts records for it, or a certificate when an @cert-authority line covers it; add its key (ssh-keyscan %s) or its CA (%v)", t, keyscanArgs(knownhosts.Normalize(t.Addr())), err))
		}
		if strings.Contains(err.Error(), "unable to authenticate") {
			return nil, &AuthError{Target: t.String(), Tried: tried, Err: err}
		}
		return nil, fmt.Errorf("%s: SSH handshake: %w", t, err)
	}
	return ssh.NewClient(sc, chans, reqs), nil
}
