//go:build linux

package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"

	"github.com/cuttle-sh/cuttle/wire"
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

// Run runs the step inside the container and returns the exit code to
// pass through. The payload (variables) is read from stdin first. Messages
// of its own go to stderr, prefixed "cuttle runner:".
func Run(ctx context.Context, spec RunnerSpec, stdin io.Reader) int {
	payload, err := wire.ReadPayload(stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "cuttle runner: %v\n", err)
		return wire.ExitCodeNoShell
	}
	// With a log key the output goes to the step's logs only (the
	// controller reads them; docker attaches stdin alone), and so do the
	// runner's own messages.
	var logs *stepLogs
	var msgs io.Writer = os.Stderr
	if len(payload.LogKey) > 0 {
		if logs, err = openLogs(spec.WorkDir, payload.LogKey); err != nil {
			fmt.Fprintf(os.Stderr, "cuttle runner: output log: %v\n", err)
			return wire.ExitCodeNoShell
		}
		msgs = logs.err
		if err := writeMasks(spec.WorkDir, payload.LogKey, payload.Variables); err != nil {
			fmt.Fprintf(msgs, "cuttle runner: masks file (a later attach would not mask sensitive values): %v\n", err)
		}
	}
	code := wire.ExitCodeNoShell
	scriptOK := true
	if payload.Script != nil {
		if err := writeScript(filepath.Join(spec.WorkDir, spec.Script), payload.Script); err != nil {
			fmt.Fprintf(msgs, "cuttle runner: writing the script into the work directory: %v\n", err)
			scriptOK = false
		}
	}
	if scriptOK {
		var watch *errorOutputWatch
		if payload.FailOnErrorOutput {
			watch = &errorOutputWatch{}
		}
		code = runScript(ctx, spec, payload, logs, msgs, watch)
		if code == 0 && watch != nil && watch.wrote() {
			// As Calamari fails it; the message becomes the step's result.
			var out io.Writer = os.Stdout
			if logs != nil {
				out = logs.out
			}
			fmt.Fprintln(out, errorOutputMessage)
			code = 1
		}
	}
	if err := handBack(spec); err != nil {
		fmt.Fprintf(msgs, "cuttle runner: handing %s back to uid %d: %v\n", spec.WorkDir, spec.OwnerUID, err)
	}
	if logs != nil {
		logs.close()
		// Last: the controller takes it to mean "all done".
		if err := writeExit(filepath.Join(spec.WorkDir, wire.LogDir), code, spec.OwnerUID, spec.OwnerGID); err != nil {
			fmt.Fprintf(os.Stderr, "cuttle runner: recording the exit code: %v\n", err)
		}
	}
	return code
}

// runScript runs the script; with watch set, its stderr passes through
// watch. The output is all written out when it returns.
func runScript(ctx context.Context, spec RunnerSpec, payload wire.Payload, logs *stepLogs, msgs io.Writer, watch *errorOutputWatch) int {
	cmd, err := scriptCommand(spec, payload)
	if err != nil {
		fmt.Fprintf(msgs, "cuttle runner: %v\n", err)
		return wire.ExitCodeNoShell
	}
	// Variables go to the shell on an inherited pipe (fd 3), read once by
	// the helpers into memory.
	varsR, varsW, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cuttle runner: %v\n", err)
		return wire.ExitCodeNoShell
	}
	cmd.ExtraFiles = []*os.File{varsR}
	var exited atomic.Bool
	pumps, err := pipeOutput(cmd, logs, watch, &exited)
	if err != nil {
		varsR.Close()
		varsW.Close()
		fmt.Fprintf(msgs, "cuttle runner: output pipe: %v\n", err)
		return wire.ExitCodeNoShell
	}

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	err = cmd.Start()
	varsR.Close()
	// The logs hold everything once the pumps are done: wait for them
	// before returning, however the script ended.
	defer runPumps(pumps, &exited, msgs)()
	if err != nil {
		varsW.Close()
		fmt.Fprintf(msgs, "cuttle runner: starting %s: %v\n", filepath.Base(cmd.Path), err)
		return wire.ExitCodeNoShell
	}
	go func() {
		// Fails with EPIPE if the script never reads: nothing to do then.
		_, _ = varsW.Write(shellLines(payload.Variables))
		varsW.Close()
	}()
	return waitScript(ctx, cmd, sigs)
}

// scriptCommand is the shell command that sources the helpers and then the
// script, with the script parameters as bash reads them, in its own
// process group. Its output goes to the runner's own until pipeOutput.
func scriptCommand(spec RunnerSpec, payload wire.Payload) (*exec.Cmd, error) {
	shell := cmp.Or(spec.Syntax, "bash")
	sh, err := exec.LookPath(shell)
	if err != nil {
		hint := ""
		if shell == "bash" {
			hint = "; use --syntax sh for a POSIX script, or an image with bash"
		}
		return nil, fmt.Errorf("the image has no %s on PATH%s", shell, hint)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	helpers := filepath.Join(filepath.Dir(self), wire.HelpersSh)
	// The script parameters (set by the helpers) are evaluated as the rest
	// of the line that sources the script, as Calamari's bootstrap does:
	// quotes, escapes and expansions as bash reads them.
	args := []string{"-c", `. "$CUTTLE_HELPERS" && eval "set -- $__cuttle_params" && . "$CUTTLE_SCRIPT"`}
	if shell == "bash" {
		helpers = filepath.Join(filepath.Dir(self), wire.HelpersBash)
		args = []string{"--noprofile", "--norc", "-c", `. "$CUTTLE_HELPERS" && eval ". \"\$CUTTLE_SCRIPT\" $__cuttle_params"`}
	}
	args = append(args, "cuttle-step")
	cmd := exec.Command(sh, args...)
	cmd.Dir = spec.WorkDir
	cmd.Stdin = nil // /dev/null: the payload is not the script's input
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	var proxy wire.Proxy
	if payload.Proxy != nil {
		proxy = *payload.Proxy
	}
	cmd.Env = append(append(os.Environ(), ProxyEnvironment(proxy, os.LookupEnv)...),
		"CUTTLE_RUNNER="+self,
		"CUTTLE_HELPERS="+helpers,
		"CUTTLE_SCRIPT="+filepath.Join(spec.WorkDir, spec.Script),
		"CUTTLE_VARIABLES_FD=3",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd, nil
}

// pipeOutput points the script's stdout and stderr at pumps into the logs
// (and stderr through watch). Without logs or a watch, a stream stays the
// runner's own.
func pipeOutput(cmd *exec.Cmd, logs *stepLogs, watch *errorOutputWatch, exited *atomic.Bool) ([]*pump, error) {
	var outTo, errTo io.Writer
	if logs != nil {
		outTo, errTo = logs.out, logs.err
	}
	if watch != nil {
		watch.w = os.Stderr
		if errTo != nil {
			watch.w = errTo
		}
		errTo = watch
	}
	var pumps []*pump
	for _, s := range []struct {
		to  io.Writer
		cmd *io.Writer
	}{{outTo, &cmd.Stdout}, {errTo, &cmd.Stderr}} {
		if s.to == nil {
			continue
		}
		p, err := newPump(s.to, exited)
		if err != nil {
			for _, p := range pumps {
				p.r.Close()
				p.w.Close()
			}
			return nil, err
		}
		pumps = append(pumps, p)
		*s.cmd = p.w
	}
	return pumps, nil
}

// runPumps starts the pumps once the script holds its own copies of their
// write ends, and returns the wait for them to drain (after the script has
// exited), which reports their errors to msgs.
func runPumps(pumps []*pump, exited *atomic.Bool, msgs io.Writer) (wait func()) {
	pumped := make(chan error, len(pumps))
	for _, p := range pumps {
		p.w.Close() // the script holds its own copies
		go func() { pumped <- p.run() }()
	}
	return func() {
		exited.Store(true)
		for range pumps {
			if err := <-pumped; err != nil {
				fmt.Fprintf(msgs, "cuttle runner: output: %v\n", err)
			}
		}
	}
}

// waitScript waits for the started script, forwarding the signals the
// runner gets to its whole process group (docker stop signals only PID 1,
// and the script's children must hear it too) and killing the group when
// ctx ends. It returns the script's exit code, 128+N for signal N.
func waitScript(ctx context.Context, cmd *exec.Cmd, sigs <-chan os.Signal) int {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
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
				return wire.ExitCodeNoShell
			}
		}
	}
}

// handBack gives the SSH user ownership of what the step created, so that
// artifacts can be downloaded and the work directory removed without root.
func handBack(spec RunnerSpec) error {
	if spec.OwnerUID < 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return openUp(spec.WorkDir)
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

// openUp is handBack for a runner that is not root (the image has a USER):
// it cannot chown, so it lets everyone read what it created and enter and
// empty its directories. The work directory's parents on the worker are
// private to the SSH user, so "everyone" is that user.
func openUp(dir string) error {
	uid := os.Geteuid()
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		if st, ok := info.Sys().(*syscall.Stat_t); !ok || int(st.Uid) != uid {
			return nil
		}
		mode := info.Mode().Perm() | 0o044
		if d.IsDir() {
			mode |= 0o777
		}
		return os.Chmod(p, mode)
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

// DetectLibc names the image's C library: glibc, musl or none, by the
// dynamic loaders present.
func DetectLibc() string {
	for _, pattern := range []string{"/lib/ld-musl-*", "/usr/lib/ld-musl-*"} {
		if m, _ := filepath.Glob(pattern); len(m) > 0 {
			return "musl"
		}
	}
	for _, p := range []string{"/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1", "/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"} {
		if _, err := os.Stat(p); err == nil {
			return "glibc"
		}
	}
	return "none"
}

// writeScript writes the script from the payload, whole or not at all,
// normalised as Calamari does (wire.NormalizeScript).
func writeScript(path string, b []byte) error {
	tmp := path + ".part"
	if err := os.WriteFile(tmp, wire.NormalizeScript(b), 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
