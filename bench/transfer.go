package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cuttle-sh/cuttle/remote"
	"github.com/cuttle-sh/cuttle/transport"
)

// dial opens a connection to the main worker with cuttle's transport,
// offering only the given ciphers when any are given.
func (e *env) dial(ciphers ...string) (*transport.Conn, error) {
	t := e.target()
	t.Ciphers = ciphers
	return transport.Dial(context.Background(), t)
}

// target is the main worker as cuttle's transport reaches it.
func (e *env) target() transport.Target {
	return transport.Target{Host: "127.0.0.1", Port: e.sshd.Port, User: e.user,
		IdentityFiles: []string{e.key.PrivateFile}, KnownHostsFiles: []string{e.sshd.KnownHosts}}
}

// withConn is a side that dials, runs f on the connection and closes it,
// all inside the time: each OpenSSH sftp run also starts a process and
// makes its own connection.
func (e *env) withConn(f func(*transport.Conn) error, ciphers ...string) side {
	return wall(func() error {
		conn, err := e.dial(ciphers...)
		if err != nil {
			return err
		}
		err = f(conn)
		if cerr := conn.Close(); err == nil && cerr != nil {
			err = cerr
		}
		return err
	})
}

// sftp runs OpenSSH's sftp with a batch of commands on the main worker.
func (e *env) sftp(cmds string, extra ...string) error {
	batch := filepath.Join(e.dir, "batch")
	if err := os.WriteFile(batch, []byte(cmds), 0o644); err != nil {
		return err
	}
	args := append(append([]string{"-q", "-b", batch}, extra...), "-i", e.key.PrivateFile, "-o", "UserKnownHostsFile="+e.sshd.KnownHosts,
		"-o", "StrictHostKeyChecking=yes", "-P", strconv.Itoa(e.sshd.Port), e.user+"@127.0.0.1")
	_, err := output(exec.Command("sftp", args...))
	return err
}

// checkSize checks a file on the worker (this machine) after an upload.
func checkSize(who, path string, size int64) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", who, err)
	}
	if fi.Size() != size {
		return fmt.Errorf("%s left %d bytes in %s, want %d", who, fi.Size(), path, size)
	}
	return nil
}

// sftpBench: one large file each way, the same cipher on both sides.
func (e *env) sftpBench(r *report) error {
	size := int64(*sftpMiB) << 20
	local := filepath.Join(e.dir, "blob")
	if err := randomFile(local, size); err != nil {
		return err
	}
	mine, theirs := filepath.Join(e.w.User.Home, "blob"), filepath.Join(e.w.User.Home, "blob2")
	defer os.Remove(mine)
	defer os.Remove(theirs)
	up, err := rounds(*heavyRuns,
		e.withConn(func(c *transport.Conn) error {
			f, err := os.Open(local)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := c.Upload(context.Background(), mine, f, 0o644); err != nil {
				return err
			}
			return checkSize("cuttle's upload", mine, size)
		}, cipher),
		wall(func() error {
			if err := e.sftp("put "+local+" blob2\n", "-c", cipher); err != nil {
				return err
			}
			return checkSize("sftp put", theirs, size)
		}))
	if err != nil {
		return err
	}
	down, err := rounds(*heavyRuns,
		e.withConn(func(c *transport.Conn) error {
			var n counter
			if _, _, err := c.Download(context.Background(), mine, &n); err != nil {
				return err
			}
			if int64(n) != size {
				return fmt.Errorf("cuttle's download brought %d bytes, want %d", n, size)
			}
			return nil
		}, cipher),
		wall(func() error { return e.sftp("get blob2 /dev/null\n", "-c", cipher) }))
	if err != nil {
		return err
	}
	rate := func(d time.Duration) string { return fmt.Sprintf("%.0f MB/s", mbps(size, d)) }
	r.add(row{name: fmt.Sprintf("SFTP upload %d MiB (%s)", *sftpMiB, cipher), cuttle: up[0], peer: up[1], peerName: "OpenSSH sftp put",
		note: "cuttle " + rate(up[0].median()) + ", sftp " + rate(up[1].median()) + " (medians, connection set-up included on both sides)"})
	r.add(row{name: fmt.Sprintf("SFTP download %d MiB (%s)", *sftpMiB, cipher), cuttle: down[0], peer: down[1], peerName: "OpenSSH sftp get",
		note: "cuttle " + rate(down[0].median()) + ", sftp " + rate(down[1].median())})
	r.method("SFTP: one random file each way with %s on both sides. Each cuttle run dials a new connection (`transport.Dial`), transfers and closes it, inside the time, as each `sftp` run starts a process and connects; uploads are checked by size on the worker, cuttle's download by its byte count (sftp's goes to /dev/null).", cipher)
	return nil
}

type counter int64

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }

func randomFile(path string, size int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.CopyN(f, rand.Reader, size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// bundleBench: a 1,000-file, 100 MiB bundle, first upload, then unchanged.
func (e *env) bundleBench(r *report) error {
	const files, total = 1000, 100 << 20
	src := filepath.Join(e.dir, "bundle")
	for i := range files {
		d := filepath.Join(src, fmt.Sprintf("d%02d", i%20))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := randomFile(filepath.Join(d, fmt.Sprintf("f%04d.bin", i)), total/files); err != nil {
			return err
		}
	}
	home := e.w.User.Home
	clear := func() error {
		matches, _ := filepath.Glob(filepath.Join(home, ".cuttle", "bundles", "ext-*"))
		for _, m := range append(matches, filepath.Join(home, "sftp-bundle")) {
			if err := os.RemoveAll(m); err != nil {
				return err
			}
		}
		return nil
	}
	defer clear()
	// A new mtime makes cuttle hash the bundle again, as a fresh
	// controller process does.
	touch := func() error {
		now := time.Now()
		return os.Chtimes(filepath.Join(src, "d00", "f0000.bin"), now, now)
	}
	var sent int64
	first, err := rounds(*heavyRuns,
		func() (time.Duration, error) {
			if err := clear(); err != nil {
				return 0, err
			}
			if err := touch(); err != nil {
				return 0, err
			}
			return e.withConn(func(c *transport.Conn) error {
				var err error
				sent, _, err = remote.EnsureDirBundle(context.Background(), c, &remote.ExternalRunner{BundleDir: src, Command: "x {script}"})
				if err == nil && sent < total {
					err = fmt.Errorf("cuttle sent %d bytes of a %d-byte bundle", sent, total)
				}
				return err
			})()
		},
		func() (time.Duration, error) {
			if err := clear(); err != nil {
				return 0, err
			}
			d, err := timed(func() error { return e.sftp("put -r " + src + " sftp-bundle\n") })
			if err == nil {
				err = checkSize("sftp put -r", filepath.Join(home, "sftp-bundle", "d19", "f0999.bin"), total/files)
			}
			return d, err
		})
	if err != nil {
		return err
	}
	r.add(row{name: "first upload, 1,000 files / 100 MiB bundle", cuttle: first[0], peer: first[1], peerName: "OpenSSH `sftp put -r`",
		note: fmt.Sprintf("one tar stream, %d MiB sent; connection set-up included on both sides", sent>>20)})

	conn, err := e.dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	prepared := &remote.ExternalRunner{BundleDir: src, Command: "x {script}"}
	// In place on the worker and hashed here, as after a first step.
	if _, _, err := remote.EnsureDirBundle(context.Background(), conn, prepared); err != nil {
		return err
	}
	var again int64
	var commands int
	reup, err := rounds(*runs, wall(func() error {
		var err error
		again, commands, err = remote.EnsureDirBundle(context.Background(), conn, prepared)
		if err == nil && again != 0 {
			err = fmt.Errorf("the unchanged bundle was sent again (%d bytes)", again)
		}
		return err
	}))
	if err != nil {
		return err
	}
	hash, err := rounds(*runs, wall(func() error {
		if err := touch(); err != nil {
			return err
		}
		return prepared.Prepare()
	}))
	if err != nil {
		return err
	}
	cached, err := rounds(*runs, wall(prepared.Prepare))
	if err != nil {
		return err
	}
	r.add(row{name: "re-upload of the unchanged bundle", cuttle: reup[0], peerName: "(no peer)",
		note: fmt.Sprintf("%d bytes sent, %d command(s) on a connection made earlier; a new controller process hashes the 100 MiB once (%s), later steps only stat it (%s)", again, commands, hash[0], cached[0])})
	r.method("bundle: 1,000 random files of 100 KiB in 20 directories. Each first-upload round starts from an empty cache on the worker; cuttle's side hashes the bundle (its mtime is touched, as a new controller process sees it), dials, sends one tar stream over one command and closes, all inside the time, against one `sftp put -r` process (its last file's size checked). The re-upload row alone runs on an open connection.")
	return nil
}
