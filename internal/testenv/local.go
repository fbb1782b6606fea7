package testenv

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// LocalWorker is a whole worker on this machine: the engine running, the
// base image, a user in the docker group, a client key and an sshd that
// accepts it. The demo and the benchmarks start one.
type LocalWorker struct {
	Dir   string
	Image string
	User  User
	Key   Key
	SSHD  *SSHD
}

// StartLocalWorker sets up a LocalWorker for user. Close removes its files.
func StartLocalWorker(ctx context.Context, user string) (*LocalWorker, error) {
	if err := EnsureDocker(ctx); err != nil {
		return nil, err
	}
	w := &LocalWorker{}
	var err error
	if w.Image, err = EnsureBaseImage(ctx); err != nil {
		return nil, err
	}
	if w.User, err = EnsureUser(user, true); err != nil {
		return nil, err
	}
	if w.Dir, err = os.MkdirTemp("", "cuttle-"+user+"-"); err != nil {
		return nil, err
	}
	os.Chmod(w.Dir, 0o755) // sshd reads authorized_keys as the user
	if w.Key, err = NewKey(filepath.Join(w.Dir, "id_ed25519")); err != nil {
		w.Close()
		return nil, err
	}
	if w.SSHD, err = w.NewSSHD("main"); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// NewSSHD starts another server that accepts the worker's key.
func (w *LocalWorker) NewSSHD(name string) (*SSHD, error) {
	d := filepath.Join(w.Dir, "sshd-"+name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return nil, err
	}
	return StartSSHD(SSHDOptions{Dir: d, AuthorizedKeys: []ssh.PublicKey{w.Key.Public}})
}

// Close stops the server and removes the files.
func (w *LocalWorker) Close() {
	if w.SSHD != nil {
		w.SSHD.Close()
	}
	os.RemoveAll(w.Dir)
}

// serveInetd hands each connection accepted on ln, as stdin and stdout,
// to a new process from newCmd (sshd -i, git daemon --inetd). started is
// told each process's pid, done when it has exited; both may be nil.
func serveInetd(ln net.Listener, newCmd func() *exec.Cmd, started, done func(pid int)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		f, err := c.(*net.TCPConn).File()
		c.Close()
		if err != nil {
			continue
		}
		cmd := newCmd()
		cmd.Stdin, cmd.Stdout = f, f
		if err := cmd.Start(); err != nil {
			f.Close()
			continue
		}
		pid := cmd.Process.Pid
		if started != nil {
			started(pid)
		}
		go func() {
			cmd.Wait()
			f.Close()
			if done != nil {
				done(pid)
			}
		}()
	}
}

// PeakRSS follows a process's peak resident set (VmHWM, KiB) until it
// exits and sends the last value read. Unlike rusage's ru_maxrss, VmHWM
// belongs to the address space the process exec'd into: Go starts children
// with vfork, and Linux carries the parent's high-water mark into maxrss.
func PeakRSS(pid int) <-chan int64 {
	ch := make(chan int64, 1)
	go func() {
		var last int64
		for {
			b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
			if err != nil || !strings.Contains(string(b), "VmHWM:") {
				ch <- last
				return
			}
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
					last, _ = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				}
			}
			time.Sleep(20 * time.Millisecond) // sampling a high-water mark, not synchronising
		}
	}()
	return ch
}
