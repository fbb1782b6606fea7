package sshtest

import (
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// Exec is one exec request as a Handler sees it.
type Exec struct {
	// Command is the command line exactly as the client sent it.
	Command string
	// Stdin reads what the client sends, up to its EOF.
	Stdin io.Reader
	// Stdout and Stderr go to the client's two streams.
	Stdout, Stderr io.Writer
	// Signals delivers the names of "signal" requests ("TERM").
	Signals <-chan string
	// Done is closed when the client closes the channel or the
	// connection ends. A handler that blocks must return once it is.
	Done <-chan struct{}
}

// Status is how a command ends.
type Status struct {
	// Code is sent as "exit-status".
	Code int
	// Signal, when set, is sent as "exit-signal" instead.
	Signal string
	// Omit closes the channel without any status, as a server whose
	// command was lost would.
	Omit bool
}

// Handler runs one exec request; the server sends the returned status,
// then closes the channel.
type Handler func(e *Exec) Status

// session serves one session channel: one exec request or the sftp
// subsystem, and signals.
func (s *Server) session(c *conn, nc ssh.NewChannel) {
	s.mu.Lock()
	if s.cfg.MaxSessions > 0 && c.sessions >= s.cfg.MaxSessions {
		s.mu.Unlock()
		s.update(func(st *Stats) { st.Refused++ })
		_ = nc.Reject(ssh.Prohibited, "sshtest: MaxSessions reached")
		return
	}
	c.sessions++
	s.mu.Unlock()
	s.update(func(st *Stats) { st.Sessions++; st.Open++ })
	var once sync.Once
	// release is called before the channel closes, so a client that
	// opens the next session once it sees this one end is not refused.
	release := func() {
		once.Do(func() {
			s.mu.Lock()
			c.sessions--
			s.mu.Unlock()
			s.update(func(st *Stats) { st.Open-- })
		})
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		release()
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		done := make(chan struct{})
		signals := make(chan string, 8)
		started := false
		for r := range reqs {
			ok := false
			switch r.Type {
			case "exec":
				var m struct{ Command string }
				if started || ssh.Unmarshal(r.Payload, &m) != nil {
					break
				}
				ok, started = true, true
				s.update(func(st *Stats) { st.Execs++ })
				e := &Exec{Command: m.Command, Stdin: ch, Stdout: ch, Stderr: ch.Stderr(), Signals: signals, Done: done}
				s.wg.Add(1)
				go s.exec(ch, e, release)
			case "subsystem":
				var m struct{ Name string }
				if started || !s.cfg.SFTP || ssh.Unmarshal(r.Payload, &m) != nil || m.Name != "sftp" {
					break
				}
				ok, started = true, true
				s.wg.Add(1)
				go s.sftp(ch, release)
			case "signal":
				var m struct{ Signal string }
				if ssh.Unmarshal(r.Payload, &m) == nil {
					select {
					case signals <- m.Signal:
					default:
					}
				}
			}
			if r.WantReply {
				_ = r.Reply(ok, nil)
			}
		}
		close(done)
		if !started {
			release()
			ch.Close()
		}
	}()
}

func (s *Server) exec(ch ssh.Channel, e *Exec, release func()) {
	defer s.wg.Done()
	st := Status{}
	if s.cfg.Handler != nil {
		st = s.cfg.Handler(e)
	}
	release()
	switch {
	case st.Omit:
	case st.Signal != "":
		_, _ = ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{Signal: st.Signal}))
	default:
		_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(st.Code)}))
	}
	ch.Close()
}

func (s *Server) sftp(ch ssh.Channel, release func()) {
	defer s.wg.Done()
	defer ch.Close()
	defer release()
	srv, err := sftp.NewServer(ch)
	if err != nil {
		return
	}
	_ = srv.Serve()
	srv.Close()
}

// forward serves a direct-tcpip channel: a jump host's connection to a
// loopback address.
func (s *Server) forward(c *conn, nc ssh.NewChannel) {
	var m struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	refuse := func(reason ssh.RejectionReason, msg string) {
		s.update(func(st *Stats) { st.RefusedForwards++ })
		_ = nc.Reject(reason, msg)
	}
	if !s.cfg.Forwarding {
		refuse(ssh.Prohibited, "sshtest: forwarding is off")
		return
	}
	if ssh.Unmarshal(nc.ExtraData(), &m) != nil {
		refuse(ssh.ConnectionFailed, "sshtest: bad direct-tcpip request")
		return
	}
	if ip := net.ParseIP(m.Host); m.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		refuse(ssh.Prohibited, "sshtest: only loopback addresses are forwarded")
		return
	}
	s.mu.Lock()
	if s.cfg.MaxForwards > 0 && c.forwards >= s.cfg.MaxForwards {
		s.mu.Unlock()
		refuse(ssh.ResourceShortage, "sshtest: MaxForwards reached")
		return
	}
	c.forwards++
	s.mu.Unlock()
	release := func() {
		s.mu.Lock()
		c.forwards--
		s.mu.Unlock()
	}
	target, err := net.Dial("tcp", net.JoinHostPort(m.Host, strconv.Itoa(int(m.Port))))
	if err != nil {
		release()
		refuse(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := nc.Accept()
	if err != nil {
		release()
		target.Close()
		return
	}
	s.update(func(st *Stats) { st.Forwards++ })
	go ssh.DiscardRequests(reqs)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer release()
		// Either side ending ends both: nothing here half-closes.
		copied := make(chan struct{}, 2)
		go func() { _, _ = io.Copy(ch, target); copied <- struct{}{} }()
		go func() { _, _ = io.Copy(target, ch); copied <- struct{}{} }()
		<-copied
		ch.Close()
		target.Close()
		<-copied
	}()
}
