package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHDOptions configures a test sshd.
type SSHDOptions struct {
	// Dir holds the server's files; it must be readable by the users
	// logging in (authorized_keys is read with their privileges).
	Dir string
	// AuthorizedKeys may log in as any user.
	AuthorizedKeys []ssh.PublicKey
	// HostKey is reused when set (for "same server" restarts); otherwise
	// a new one is made.
	HostKey *Key
	// Extra lines appended to sshd_config.
	Extra []string
	// Netns, when set, puts the server inside that namespace, reached at
	// its address: tests cut and degrade the link.
	Netns *Netns
}

// SSHD is an OpenSSH server on 127.0.0.1. A Go listener on a port the
// kernel picked accepts connections and hands each to `sshd -i`, so no
// port is ever guessed.
type SSHD struct {
	Addr    string
	Host    string
	Port    int
	HostKey Key
	// KnownHosts is a known_hosts file holding exactly this server's key.
	KnownHosts string

	ln     net.Listener
	config string
	mu     sync.Mutex
	log    bytes.Buffer
	live   map[int]bool // sshd -i processes still running
	// accepted counts connections, for tests of connection sharing.
	accepted int
}

// StartSSHD starts a server. Close stops it.
func StartSSHD(o SSHDOptions) (*SSHD, error) {
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if _, statErr := os.Stat("/usr/sbin/sshd"); statErr != nil {
			return nil, errors.New("sshd not found: apt-get install openssh-server")
		}
		sshd = "/usr/sbin/sshd"
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(o.Dir, 0o755); err != nil {
		return nil, err
	}
	s := &SSHD{}
	if o.HostKey != nil {
		s.HostKey = *o.HostKey
	} else if s.HostKey, err = NewKey(filepath.Join(o.Dir, "ssh_host_ed25519_key")); err != nil {
		return nil, err
	}
	var ak bytes.Buffer
	for _, k := range o.AuthorizedKeys {
		ak.Write(ssh.MarshalAuthorizedKey(k))
	}
	akFile := filepath.Join(o.Dir, "authorized_keys")
	if err := os.WriteFile(akFile, ak.Bytes(), 0o644); err != nil {
		return nil, err
	}
	s.config = filepath.Join(o.Dir, "sshd_config")
	cfg := []string{
		"HostKey " + s.HostKey.PrivateFile,
		"AuthorizedKeysFile " + akFile,
		"StrictModes no",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PermitRootLogin no",
		"PidFile none",
		"LogLevel VERBOSE",
		"MaxSessions 64",
		"MaxStartups 200",
		"Subsystem sftp /usr/lib/openssh/sftp-server",
	}
	// sshd keeps the first value of an option: extra lines go first.
	cfg = append(append([]string(nil), o.Extra...), cfg...)
	if err := os.WriteFile(s.config, []byte(strings.Join(cfg, "\n")+"\n"), 0o644); err != nil {
		return nil, err
	}
	if out, err := exec.Command(sshd, "-t", "-f", s.config).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("sshd -t: %v: %s", err, out)
	}
	s.Host = "127.0.0.1"
	if o.Netns != nil {
		s.ln, err = o.Netns.Listen()
		s.Host = o.Netns.NsIP
	} else {
		s.ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		return nil, err
	}
	s.Addr = s.ln.Addr().String()
	s.Port = s.ln.Addr().(*net.TCPAddr).Port
	s.KnownHosts = filepath.Join(o.Dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey.Public)
	if err := os.WriteFile(s.KnownHosts, []byte(line+"\n"), 0o644); err != nil {
		return nil, err
	}
	go s.serve(sshd)
	return s, nil
}

func (s *SSHD) serve(sshd string) {
	serveInetd(s.ln, func() *exec.Cmd {
		cmd := exec.Command(sshd, "-i", "-e", "-f", s.config)
		// A connection in a session of its own, as sshd's listener makes
		// every connection it accepts (it skips that only in inetd mode,
		// -i, leaving it to whoever plays inetd: here). In the caller's
		// session every connection's handshake and traffic would share
		// one autogroup with the caller (the bench, the test process and
		// the controller) when the kernel schedules by session
		// (kernel.sched_autogroup_enabled=1); 100 handshakes at once then
		// took up to 29 s here instead of 6.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		cmd.Stderr = lockedWriter{s}
		return cmd
	}, func(pid int) {
		s.mu.Lock()
		if s.live == nil {
			s.live = map[int]bool{}
		}
		s.live[pid] = true
		s.accepted++
		s.mu.Unlock()
	}, func(pid int) {
		s.mu.Lock()
		delete(s.live, pid)
		s.mu.Unlock()
	})
}

type lockedWriter struct{ s *SSHD }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if w.s.log.Len() < 4<<20 {
		w.s.log.Write(p)
	}
	return len(p), nil
}

// Accepted reports how many connections the server has taken.
func (s *SSHD) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// Log returns what sshd logged so far, for a failing test's output.
func (s *SSHD) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// URL is ssh://user@127.0.0.1:port.
func (s *SSHD) URL(user string) string {
	return "ssh://" + user + "@" + s.Host + ":" + strconv.Itoa(s.Port)
}

// Close stops accepting connections; sessions in progress end on their own.
func (s *SSHD) Close() error { return s.ln.Close() }

// Pids lists the sshd processes serving this server's connections and
// all their descendants (sshd retitles them after login), for tests that
// freeze them.
func (s *SSHD) Pids() []int {
	s.mu.Lock()
	want := map[int]bool{}
	for pid := range s.live {
		want[pid] = true
	}
	s.mu.Unlock()
	parent := map[int]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state, ppid, ...
		if i := bytes.LastIndexByte(b, ')'); i > 0 {
			f := strings.Fields(string(b[i+1:]))
			if len(f) > 1 {
				parent[pid], _ = strconv.Atoi(f[1])
			}
		}
	}
	for changed := true; changed; {
		changed = false
		for pid, pp := range parent {
			if want[pp] && !want[pid] {
				want[pid] = true
				changed = true
			}
		}
	}
	var pids []int
	for pid := range want {
		pids = append(pids, pid)
	}
	return pids
}
