package sshtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// client dials s as user "u" with key, checking s's host key through a
// known_hosts file, as a real client would.
func client(t *testing.T, s *Server, key Key) *ssh.Client {
	t.Helper()
	check, err := knownhosts.New(s.KnownHosts(t))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", s.Addr(), &ssh.ClientConfig{User: "u", Auth: []ssh.AuthMethod{ssh.PublicKeys(key.Signer)}, HostKeyCallback: check})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestExecStatus: what the handler returns is what x/crypto's own client
// reports, ExitMissingError included.
func TestExecStatus(t *testing.T) {
	tests := []struct {
		name    string
		status  Status
		wantErr func(error) bool
	}{
		{name: "zero", status: Status{}, wantErr: func(err error) bool { return err == nil }},
		{name: "code", status: Status{Code: 7}, wantErr: func(err error) bool {
			var ee *ssh.ExitError
			return errors.As(err, &ee) && ee.ExitStatus() == 7 && ee.Signal() == ""
		}},
		{name: "signal", status: Status{Signal: "KILL"}, wantErr: func(err error) bool {
			var ee *ssh.ExitError
			return errors.As(err, &ee) && ee.Signal() == "KILL"
		}},
		{name: "omitted", status: Status{Omit: true}, wantErr: func(err error) bool {
			var em *ssh.ExitMissingError
			return errors.As(err, &em)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key := NewKey(t, Ed25519)
			s := Start(t, Config{User: "u", AuthorizedKeys: []ssh.PublicKey{key.Public}, Handler: func(e *Exec) Status {
				in, _ := io.ReadAll(e.Stdin)
				fmt.Fprintf(e.Stdout, "%s<%s>", e.Command, in)
				fmt.Fprint(e.Stderr, "err")
				return tt.status
			}})
			sess, err := client(t, s, key).NewSession()
			if err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			sess.Stdin, sess.Stdout, sess.Stderr = strings.NewReader("in"), &out, &errb
			err = sess.Run("cmd 'a b'")
			if !tt.wantErr(err) {
				t.Errorf("Run: %v", err)
			}
			if out.String() != "cmd 'a b'<in>" || errb.String() != "err" {
				t.Errorf("stdout %q, stderr %q", out.String(), errb.String())
			}
			if st := s.Stats(); st.Execs != 1 || st.Sessions != 1 {
				t.Errorf("stats %+v, want 1 exec in 1 session", st)
			}
		})
	}
}

// TestMaxSessions: a session past the limit is refused with an
// OpenChannelError, and one is taken again once another closed.
func TestMaxSessions(t *testing.T) {
	key := NewKey(t, Ed25519)
	s := Start(t, Config{AuthorizedKeys: []ssh.PublicKey{key.Public}, MaxSessions: 2})
	c := client(t, s, key)
	var open []*ssh.Session
	for range 2 {
		sess, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, sess)
	}
	_, err := c.NewSession()
	var oce *ssh.OpenChannelError
	if !errors.As(err, &oce) || oce.Reason != ssh.Prohibited {
		t.Fatalf("third session: %v, want refused", err)
	}
	open[0].Close()
	if err := s.Wait(waitCtx(t), func(st Stats) bool { return st.Open == 1 }); err != nil {
		t.Fatal(err)
	}
	if _, err := c.NewSession(); err != nil {
		t.Fatalf("session after one closed: %v", err)
	}
	if st := s.Stats(); st.Refused != 1 || st.Sessions != 3 {
		t.Errorf("stats %+v, want 1 refused, 3 sessions", st)
	}
}

// TestSilenceAndDrop: a silent server leaves global requests unanswered;
// a dropped connection ends the client's.
func TestSilenceAndDrop(t *testing.T) {
	key := NewKey(t, Ed25519)
	s := Start(t, Config{AuthorizedKeys: []ssh.PublicKey{key.Public}})
	c := client(t, s, key)
	if _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err != nil {
		t.Fatalf("answered keepalive: %v", err)
	}
	s.StopAnswering()
	replied := make(chan error, 1)
	go func() {
		_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
		replied <- err
	}()
	if err := s.Wait(waitCtx(t), func(st Stats) bool { return st.GlobalRequests == 2 }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-replied:
		t.Fatalf("a silent server answered (%v)", err)
	default:
	}
	s.DropConnections()
	if err := <-replied; err == nil {
		t.Error("the pending request got an answer from a dropped connection")
	}
	if err := s.Wait(waitCtx(t), func(st Stats) bool { return st.Live == 0 && st.Answered == 1 }); err != nil {
		t.Fatal(err)
	}
}

// TestForwarding: direct-tcpip reaches loopback addresses only, and only
// when Forwarding is on.
func TestForwarding(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_, _ = io.Copy(c, c)
			c.Close()
		}
	}()
	tests := []struct {
		name       string
		forwarding bool
		addr       string
		wantOK     bool
	}{
		{name: "loopback", forwarding: true, addr: ln.Addr().String(), wantOK: true},
		{name: "off", forwarding: false, addr: ln.Addr().String()},
		{name: "not loopback", forwarding: true, addr: "192.0.2.1:22"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := NewKey(t, Ed25519)
			s := Start(t, Config{AuthorizedKeys: []ssh.PublicKey{key.Public}, Forwarding: tt.forwarding})
			conn, err := client(t, s, key).Dial("tcp", tt.addr)
			if (err == nil) != tt.wantOK {
				t.Fatalf("Dial %s: %v, want ok=%v", tt.addr, err, tt.wantOK)
			}
			if err != nil {
				return
			}
			defer conn.Close()
			fmt.Fprint(conn, "ping")
			buf := make([]byte, 4)
			if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
				t.Errorf("echo %q, %v", buf, err)
			}
		})
	}
}
