package sshtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// Config says what a Server accepts and how it answers. The zero value
// accepts nobody: give AuthorizedKeys, UserCAs or Password.
type Config struct {
	// User, when set, is the only user name accepted.
	User string
	// AuthorizedKeys are the public keys accepted, as in authorized_keys.
	AuthorizedKeys []ssh.PublicKey
	// UserCAs sign the user certificates accepted (the user must be one
	// of the certificate's principals).
	UserCAs []ssh.PublicKey
	// Password, when set, is accepted by the "password" and
	// "keyboard-interactive" methods.
	Password string
	// KeyboardInteractiveOnly leaves only "keyboard-interactive" for the
	// password, as sshd with PasswordAuthentication no does.
	KeyboardInteractiveOnly bool

	// HostKeys sign the handshake; one ed25519 key is generated when
	// empty.
	HostKeys []ssh.Signer
	// Version is the identification string sent (default
	// "SSH-2.0-sshtest").
	Version string

	// Handler runs every exec request; nil ends each with status 0.
	Handler Handler
	// MaxSessions refuses a session channel when this many are open on
	// the same connection, as sshd's MaxSessions does; 0 is no limit.
	MaxSessions int
	// SFTP serves the "sftp" subsystem on the real file system.
	SFTP bool
	// Forwarding accepts "direct-tcpip" channels to loopback addresses,
	// so the server can be a jump host. MaxForwards refuses one when this
	// many are open on the same connection; 0 is no limit.
	Forwarding  bool
	MaxForwards int
}

// Stats counts what a Server saw since it started.
type Stats struct {
	// Accepted counts TCP connections accepted; Live those still open.
	Accepted, Live int
	// Sessions counts session channels accepted, Open those still open,
	// and Refused those refused for MaxSessions.
	Sessions, Open, Refused int
	// Execs counts exec requests handed to the Handler.
	Execs int
	// Forwards counts direct-tcpip channels accepted, RefusedForwards
	// those refused.
	Forwards, RefusedForwards int
	// GlobalRequests counts global requests (keepalives) received;
	// Answered those answered.
	GlobalRequests, Answered int
	// Auth lists every authentication attempt but "none", in order.
	Auth []AuthAttempt
}

// AuthAttempt is one authentication request.
type AuthAttempt struct {
	User, Method string
	OK           bool
}

// Server is an SSH server on 127.0.0.1 for one test. Start it with Start;
// it is closed by the test's cleanup.
type Server struct {
	// Host and Port are where it listens.
	Host string
	Port int
	// HostKeys are the public halves of the keys it signs with, HostKey
	// the first of them.
	HostKeys []ssh.PublicKey
	HostKey  ssh.PublicKey

	cfg Config
	ln  net.Listener
	ssh *ssh.ServerConfig
	wg  sync.WaitGroup

	mu      sync.Mutex
	stats   Stats
	raw     map[net.Conn]bool
	silent  bool
	closed  bool
	changed chan struct{}
}

// Start starts a server with cfg and registers its Close with t.Cleanup.
func Start(t testing.TB, cfg Config) *Server {
	t.Helper()
	if len(cfg.AuthorizedKeys) == 0 && len(cfg.UserCAs) == 0 && cfg.Password == "" {
		t.Fatal("sshtest: Config accepts nobody: give AuthorizedKeys, UserCAs or Password")
	}
	if len(cfg.HostKeys) == 0 {
		cfg.HostKeys = []ssh.Signer{NewKey(t, Ed25519).Signer}
	}
	if cfg.Version == "" {
		cfg.Version = "SSH-2.0-sshtest"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("sshtest: %v", err)
	}
	s := &Server{
		Host:    "127.0.0.1",
		Port:    ln.Addr().(*net.TCPAddr).Port,
		cfg:     cfg,
		ln:      ln,
		raw:     map[net.Conn]bool{},
		changed: make(chan struct{}),
	}
	s.ssh = s.serverConfig()
	for _, k := range cfg.HostKeys {
		s.ssh.AddHostKey(k)
		s.HostKeys = append(s.HostKeys, k.PublicKey())
	}
	s.HostKey = s.HostKeys[0]
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.Close)
	return s
}

// Addr is "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

func (s *Server) serverConfig() *ssh.ServerConfig {
	cfg := s.cfg
	userOK := func(c ssh.ConnMetadata) error {
		if cfg.User != "" && c.User() != cfg.User {
			return fmt.Errorf("sshtest: user %q not accepted", c.User())
		}
		return nil
	}
	sc := &ssh.ServerConfig{
		ServerVersion: cfg.Version,
		AuthLogCallback: func(c ssh.ConnMetadata, method string, err error) {
			if method == "none" {
				return
			}
			s.update(func(st *Stats) {
				st.Auth = append(st.Auth, AuthAttempt{User: c.User(), Method: method, OK: err == nil})
			})
		},
	}
	if len(cfg.AuthorizedKeys) > 0 || len(cfg.UserCAs) > 0 {
		certs := &ssh.CertChecker{IsUserAuthority: func(auth ssh.PublicKey) bool {
			return contains(cfg.UserCAs, auth)
		}}
		sc.PublicKeyCallback = func(c ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if err := userOK(c); err != nil {
				return nil, err
			}
			if _, ok := key.(*ssh.Certificate); ok {
				return certs.Authenticate(c, key)
			}
			if contains(cfg.AuthorizedKeys, key) {
				return nil, nil
			}
			return nil, errors.New("sshtest: public key not authorized")
		}
	}
	if cfg.Password != "" {
		check := func(c ssh.ConnMetadata, pw string) error {
			if err := userOK(c); err != nil {
				return err
			}
			if pw != cfg.Password {
				return errors.New("sshtest: wrong password")
			}
			return nil
		}
		if !cfg.KeyboardInteractiveOnly {
			sc.PasswordCallback = func(c ssh.ConnMetadata, pw []byte) (*ssh.Permissions, error) {
				return nil, check(c, string(pw))
			}
		}
		sc.KeyboardInteractiveCallback = func(c ssh.ConnMetadata, ask ssh.KeyboardInteractiveChallenge) (*ssh.Permissions, error) {
			answers, err := ask(c.User(), "", []string{"Password: "}, []bool{false})
			if err != nil {
				return nil, err
			}
			if len(answers) != 1 {
				return nil, errors.New("sshtest: want one answer")
			}
			return nil, check(c, answers[0])
		}
	}
	return sc
}

func contains(keys []ssh.PublicKey, k ssh.PublicKey) bool {
	for _, a := range keys {
		if bytes.Equal(a.Marshal(), k.Marshal()) {
			return true
		}
	}
	return false
}

// update changes the counts under the lock and wakes Wait.
func (s *Server) update(f func(*Stats)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(&s.stats)
	close(s.changed)
	s.changed = make(chan struct{})
}

// Stats returns a copy of the counts so far.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snapshot()
}

func (s *Server) snapshot() Stats {
	st := s.stats
	st.Auth = append([]AuthAttempt(nil), st.Auth...)
	return st
}

// Wait blocks until cond holds for the counts, or ctx ends; the error
// then shows the last counts seen.
func (s *Server) Wait(ctx context.Context, cond func(Stats) bool) error {
	for {
		s.mu.Lock()
		st, changed := s.snapshot(), s.changed
		s.mu.Unlock()
		if cond(st) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("sshtest: condition not reached (%+v): %w", st, ctx.Err())
		}
	}
}

// StopAnswering makes the server ignore global requests from now on, as
// a frozen or unreachable peer does: keepalives get no reply.
func (s *Server) StopAnswering() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.silent = true
}

// DropConnections closes every TCP connection, as a broken link does:
// the clients see their connection end without any SSH message.
func (s *Server) DropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.raw {
		c.Close()
	}
}

// Close stops listening, drops every connection and waits for the
// server's goroutines, handlers included, to end.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.ln.Close()
	s.DropConnections()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.raw[c] = true
		s.stats.Accepted++
		s.stats.Live++
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

// conn is what the limits count on one connection.
type conn struct {
	sessions, forwards int
}

func (s *Server) serve(raw net.Conn) {
	defer s.wg.Done()
	defer func() {
		raw.Close()
		s.update(func(st *Stats) { st.Live-- })
		s.mu.Lock()
		delete(s.raw, raw)
		s.mu.Unlock()
	}()
	sc, chans, reqs, err := ssh.NewServerConn(raw, s.ssh)
	if err != nil {
		return
	}
	defer sc.Close()
	s.wg.Add(1)
	go s.globalRequests(reqs)
	c := &conn{}
	for nc := range chans {
		switch nc.ChannelType() {
		case "session":
			s.session(c, nc)
		case "direct-tcpip":
			s.forward(c, nc)
		default:
			_ = nc.Reject(ssh.UnknownChannelType, "sshtest: unknown channel type")
		}
	}
}

func (s *Server) globalRequests(reqs <-chan *ssh.Request) {
	defer s.wg.Done()
	for r := range reqs {
		s.mu.Lock()
		silent := s.silent
		s.mu.Unlock()
		s.update(func(st *Stats) { st.GlobalRequests++ })
		if silent {
			continue
		}
		if r.WantReply {
			// What sshd answers to keepalive@openssh.com: a failure, which
			// is a reply all the same.
			_ = r.Reply(false, nil)
		}
		s.update(func(st *Stats) { st.Answered++ })
	}
}
