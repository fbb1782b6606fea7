package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// GitDaemon serves the repositories under a directory over git://, each
// connection handed by a Go listener on a kernel-chosen loopback port to
// `git daemon --inetd`.
type GitDaemon struct {
	Addr string
	Base string
	ln   net.Listener
}

// StartGitDaemon serves base.
func StartGitDaemon(base string) (*GitDaemon, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil, fmt.Errorf("git not found: apt-get install git")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &GitDaemon{Addr: ln.Addr().String(), Base: base, ln: ln}
	go serveInetd(ln, func() *exec.Cmd {
		return exec.Command(git, "daemon", "--inetd", "--export-all", "--base-path="+base, base)
	}, nil, nil)
	return g, nil
}

// URL is git://addr/name.
func (g *GitDaemon) URL(name string) string { return "git://" + g.Addr + "/" + name }

// Close stops accepting connections.
func (g *GitDaemon) Close() error { return g.ln.Close() }

// CommitFiles writes files into the bare repository base/name (created if
// needed) as a new commit on branch, and returns the commit id.
func (g *GitDaemon) CommitFiles(name, branch string, files map[string]string) (string, error) {
	bare := filepath.Join(g.Base, name)
	if _, err := os.Stat(bare); err != nil {
		if out, err := exec.Command("git", "init", "-q", "--bare", bare).CombinedOutput(); err != nil {
			return "", fmt.Errorf("git init: %v: %s", err, out)
		}
	}
	work, err := os.MkdirTemp("", "cuttle-git-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	run := func(args ...string) (string, error) {
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := run("clone", "-q", bare, "."); err != nil {
		return "", err
	}
	run("checkout", "-q", "-B", branch)
	if _, err := run("pull", "-q", "origin", branch); err != nil && !strings.Contains(err.Error(), "couldn't find remote ref") {
		return "", err
	}
	for p, body := range files {
		full := filepath.Join(work, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			return "", err
		}
	}
	if _, err := run("add", "-A"); err != nil {
		return "", err
	}
	if _, err := run("commit", "-q", "--allow-empty", "-m", "test"); err != nil {
		return "", err
	}
	if _, err := run("push", "-q", "origin", branch); err != nil {
		return "", err
	}
	return run("rev-parse", "HEAD")
}
