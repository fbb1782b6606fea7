package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"testing"
)

// Postgres is a PostgreSQL cluster of a test's own: initdb'd in a
// temporary directory, listening on loopback only (no Unix socket), with
// password authentication. Its user is cuttle; the password is for
// $PGPASSWORD, never for a URL.
type Postgres struct {
	Port     int
	Password string
	bin      string
	dir      string
	cred     *syscall.Credential
}

// ErrNoPostgres is StartPostgres's error where Debian's postgresql
// package is not installed.
var ErrNoPostgres = errors.New("PostgreSQL is not installed (Debian package postgresql): run scripts/install-deps.sh")

// StartPostgres starts a cluster from Debian's postgresql package; Stop
// stops it and removes its files. Root may not run postgres: as root,
// the cluster runs as nobody.
func StartPostgres() (_ *Postgres, err error) {
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(bins) == 0 {
		return nil, ErrNoPostgres
	}
	sort.Strings(bins)
	p := &Postgres{bin: filepath.Dir(bins[len(bins)-1]), Password: randomHex(16)}
	if p.dir, err = os.MkdirTemp("", "cuttle-pg-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(p.dir)
		}
	}()
	if os.Geteuid() == 0 {
		p.cred = &syscall.Credential{Uid: 65534, Gid: 65534} // nobody
		if err := os.Chown(p.dir, 65534, 65534); err != nil {
			return nil, err
		}
	}
	pw := filepath.Join(p.dir, "pw")
	if err := os.WriteFile(pw, []byte(p.Password+"\n"), 0o600); err != nil {
		return nil, err
	}
	if p.cred != nil {
		os.Chown(pw, 65534, 65534)
	}
	err = p.run("initdb", "-D", p.data(), "-U", "cuttle", "--auth=scram-sha-256", "--pwfile="+pw, "-E", "UTF8", "--no-sync", "--no-instructions")
	os.Remove(pw)
	if err != nil {
		return nil, err
	}
	// postgres takes no listener, so the free port is found by listening
	// on :0 and closing; another process taking it meanwhile fails the
	// start, which is tried again.
	for try := 0; ; try++ {
		if p.Port, err = freePort(); err != nil {
			return nil, err
		}
		opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories='' -c fsync=off -c max_connections=60", p.Port)
		if err = p.run("pg_ctl", "-D", p.data(), "-l", filepath.Join(p.dir, "log"), "-w", "-o", opts, "start"); err == nil {
			return p, nil
		}
		if try == 2 {
			log, _ := os.ReadFile(filepath.Join(p.dir, "log"))
			return nil, fmt.Errorf("%w\n%s", err, log)
		}
	}
}

// Stop stops the cluster at once and removes its files.
func (p *Postgres) Stop() {
	p.run("pg_ctl", "-D", p.data(), "-m", "immediate", "stop")
	os.RemoveAll(p.dir)
}

// SkipNoPostgres skips t for err ErrNoPostgres, except under CI (CI=true), where
// PostgreSQL must be there; any other error fails t.
func SkipNoPostgres(t testing.TB, err error) {
	t.Helper()
	if errors.Is(err, ErrNoPostgres) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	t.Fatal(err)
}

func (p *Postgres) data() string { return filepath.Join(p.dir, "data") }

func (p *Postgres) run(prog string, args ...string) error {
	cmd := exec.Command(filepath.Join(p.bin, prog), args...)
	cmd.Dir = p.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8"}
	if p.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", prog, err, out)
	}
	return nil
}

// DSN is the URL of database db, without the password.
func (p *Postgres) DSN(db string) string {
	return "postgres://cuttle@127.0.0.1:" + strconv.Itoa(p.Port) + "/" + db + "?sslmode=disable"
}

// NewDatabase creates a database of its own for a test and returns its
// name; createdb reads the password from $PGPASSWORD.
func (p *Postgres) NewDatabase(t testing.TB) string {
	t.Helper()
	name := "t" + randomHex(6)
	cmd := exec.Command(filepath.Join(p.bin, "createdb"), "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port), "-U", "cuttle", name)
	cmd.Env = []string{"PGPASSWORD=" + p.Password, "LC_ALL=C.UTF-8"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("createdb: %v\n%s", err, out)
	}
	return name
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	tcp, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return tcp.Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
