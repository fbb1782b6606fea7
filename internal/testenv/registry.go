package testenv

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Registry is Debian's docker-registry (distribution) with htpasswd auth,
// listening on a unix socket; a Go listener on a kernel-chosen loopback
// port forwards to it. Docker treats 127.0.0.0/8 registries as insecure,
// so no TLS is needed.
type Registry struct {
	Addr     string // 127.0.0.1:port
	User     string
	Password string

	ln  net.Listener
	cmd *exec.Cmd
	mu  sync.Mutex
	log bytes.Buffer
}

// StartRegistry starts a registry whose only account is user/password.
func StartRegistry(dir, user, password string) (*Registry, error) {
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		return nil, fmt.Errorf("docker-registry not found: apt-get install docker-registry")
	}
	hash, err := exec.Command("htpasswd", "-Bbn", user, password).Output()
	if err != nil {
		return nil, fmt.Errorf("htpasswd (apt-get install apache2-utils): %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), hash, 0o600); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "registry.sock")
	cfg := fmt.Sprintf(`version: 0.1
log: {level: info, accesslog: {disabled: false}}
storage: {filesystem: {rootdirectory: %s}, delete: {enabled: true}}
http: {addr: %s, net: unix, secret: cuttle-test}
auth: {htpasswd: {realm: cuttle-test, path: %s}}
`, filepath.Join(dir, "data"), sock, filepath.Join(dir, "htpasswd"))
	cfgFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	r := &Registry{User: user, Password: password}
	r.cmd = exec.Command(bin, "serve", cfgFile)
	r.cmd.Stdout, r.cmd.Stderr = lockedLog{&r.mu, &r.log}, lockedLog{&r.mu, &r.log}
	if err := r.cmd.Start(); err != nil {
		return nil, err
	}
	for i := 0; ; i++ {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if i > 200 {
			r.cmd.Process.Kill()
			return nil, fmt.Errorf("registry did not listen on %s: %s", sock, r.Log())
		}
		time.Sleep(25 * time.Millisecond)
	}
	if r.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	r.Addr = r.ln.Addr().String()
	go forward(r.ln, "unix", sock, copyThenCloseWrite)
	return r, nil
}

// forward joins each connection accepted on ln to a new one to
// network/addr, copying both ways with pipe, until the far side's
// direction ends.
func forward(ln net.Listener, network, addr string, pipe func(dst io.WriteCloser, src io.Reader)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			u, err := net.Dial(network, addr)
			if err != nil {
				return
			}
			defer u.Close()
			go pipe(u, c)
			pipe(c, u)
		}()
	}
}

func copyThenCloseWrite(dst io.WriteCloser, src io.Reader) {
	io.Copy(dst, src)
	closeWrite(dst)
}

// closeWrite half-closes a connection, so its peer sees the end.
func closeWrite(c io.WriteCloser) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

type lockedLog struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// Log is the registry's log so far, access log included.
func (r *Registry) Log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.log.String()
}

// ManifestGets counts authorised manifest fetches of repo by a Docker
// engine, that is, pulls (a pull of a present image still asks for its
// manifest).
func (r *Registry) ManifestGets(repo string) int { return r.manifestFetches(repo, `"docker/`) }

// ManifestChecks counts manifest fetches of repo by the docker CLI itself
// (docker manifest inspect), which pulls nothing.
func (r *Registry) ManifestChecks(repo string) int { return r.manifestFetches(repo, `"Docker-Client/`) }

func (r *Registry) manifestFetches(repo, agent string) int {
	n := 0
	for _, line := range strings.Split(r.Log(), "\n") {
		if strings.Contains(line, "/v2/"+repo+"/manifests/") && (strings.Contains(line, `"GET `) || strings.Contains(line, `"HEAD `)) &&
			strings.Contains(line, `" 200 `) && strings.Contains(line, agent) {
			n++
		}
	}
	return n
}

// Push tags the local image src as repo:tag in this registry and pushes
// it, logging in with a throwaway docker config. It returns the reference.
func (r *Registry) Push(src, repoTag string) (string, error) {
	ref := r.Addr + "/" + repoTag
	cfg, err := os.MkdirTemp("", "cuttle-push-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(cfg)
	login := exec.Command("docker", "--config", cfg, "login", "-u", r.User, "--password-stdin", r.Addr)
	login.Stdin = strings.NewReader(r.Password)
	if out, err := login.CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker login %s: %v: %s", r.Addr, err, out)
	}
	for _, args := range [][]string{{"tag", src, ref}, {"--config", cfg, "push", ref}, {"rmi", ref}} {
		if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
			return "", fmt.Errorf("docker %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return ref, nil
}

// Close stops the registry.
func (r *Registry) Close() {
	r.ln.Close()
	r.cmd.Process.Kill()
	r.cmd.Wait()
}
