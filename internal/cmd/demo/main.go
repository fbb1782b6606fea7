// Command demo shows cuttle working on this machine: it starts a local
// OpenSSH worker on loopback (a non-root user in the docker group, fresh
// keys, a known_hosts file), makes sure the Docker engine runs and a small
// local image exists, then runs one step with the cuttle binary given as
// its argument. It needs root. Run it with `make demo`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return fmt.Errorf("usage: demo PATH-TO-CUTTLE")
	}
	cuttle := os.Args[1]
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (it creates a user and starts sshd)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	w, err := testenv.StartLocalWorker(ctx, "cuttle-demo")
	if err != nil {
		return err
	}
	defer w.Close()
	sshd, key, image, user := w.SSHD, w.Key, w.Image, w.User

	script := `echo "Hello from $(id -un) in a container on the worker"
echo "work directory: $PWD"
uname -sm
echo "this line goes to stderr" >&2
exit 0`
	args := []string{"run",
		"--worker", sshd.URL(user.Name),
		"--identity", key.PrivateFile,
		"--known-hosts", sshd.KnownHosts,
		"--image", image, "--pull", "never",
		"--inline", script,
	}
	fmt.Printf("worker: sshd on %s (user %s, host key %s)\n", sshd.Addr, user.Name, ssh.FingerprintSHA256(sshd.HostKey.Public))
	fmt.Printf("$ cuttle %s --inline '...'\n\n", strings.Join(args[:len(args)-2], " "))
	cmd := exec.CommandContext(ctx, cuttle, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "SSH_AUTH_SOCK=")
	start := time.Now()
	err = cmd.Run()
	fmt.Printf("\ncuttle finished in %s: %v\n", time.Since(start).Round(time.Millisecond), exitText(err))
	return err
}

func exitText(err error) string {
	if err == nil {
		return "exit 0"
	}
	return err.Error()
}
