package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
)

// RunnerSpec is what the runner is told on its command line. Nothing secret
// travels here: secrets come over stdin.
type RunnerSpec struct {
	WorkDir string
	Script  string // file name inside WorkDir
	Syntax  string // bash or sh
	// OwnerUID and OwnerGID, when >= 0, receive ownership of everything in
	// WorkDir when the script ends, so the SSH user can read and remove it.
	OwnerUID, OwnerGID int
}

// ExitCodeNoShell is returned when the image lacks the shell the script
// needs. It is distinct from what shells use (126, 127).
const ExitCodeNoShell = 125

// Run runs the step inside the container and returns the exit code to
// pass through. Messages of its own go to stderr.
func Run(ctx context.Context, spec RunnerSpec) int {
	code := runScript(ctx, spec)
	if err := handBack(spec); err != nil {
		fmt.Fprintf(os.Stderr, "cuttle runner: handing %s back to uid %d: %v\n", spec.WorkDir, spec.OwnerUID, err)
	}
	return code
}

func runScript(ctx context.Context, spec RunnerSpec) int {
	shell := spec.Syntax
	if shell == "" {
		shell = "bash"
	}
	sh, err := exec.LookPath(shell)
	if err != nil {
		hint := ""
		if shell == "bash" {
			hint = "; use --syntax sh for a POSIX script, or an image with bash"
		}
		fmt.Fprintf(os.Stderr, "cuttle runner: the image has no %s on PATH%s\n", shell, hint)
		return ExitCodeNoShell
	}
	args := []string{filepath.Join(spec.WorkDir, spec.Script)}
	if shell == "bash" {
		args = append([]string{"--noprofile", "--norc"}, args...)
	}
	cmd := exec.Command(sh, args...)
	cmd.Dir = spec.WorkDir
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "cuttle runner: starting %s: %v\n", shell, err)
		return ExitCodeNoShell
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			// Forward to the whole process group: docker stop signals
			// only PID 1, and the script's children must hear it too.
			_ = syscall.Kill(-cmd.Process.Pid, s.(syscall.Signal))
		case <-ctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case err := <-done:
			var ee *exec.ExitError
			switch {
			case err == nil:
				return 0
			case errors.As(err, &ee):
				if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ee.ExitCode()
			default:
				fmt.Fprintf(os.Stderr, "cuttle runner: %v\n", err)
				return ExitCodeNoShell
			}
		}
	}
}

// handBack gives the SSH user ownership of what the step created, so that
// artifacts can be downloaded and the work directory removed without root.
func handBack(spec RunnerSpec) error {
	if spec.OwnerUID < 0 || os.Geteuid() != 0 {
		return nil
	}
	return filepath.WalkDir(spec.WorkDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // vanished or unreadable: cleanup reports what remains
		}
		if err := os.Lchown(p, spec.OwnerUID, spec.OwnerGID); err != nil {
			return err
		}
		if d.IsDir() {
			// The owner must be able to enter and empty every directory.
			if info, err := d.Info(); err == nil && info.Mode().Perm()&0o700 != 0o700 {
				_ = os.Chmod(p, info.Mode().Perm()|0o700)
			}
		}
		return nil
	})
}

// RemoveContents deletes everything inside dir (not dir itself, which is a
// mount point in the cleanup container).
func RemoveContents(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}
