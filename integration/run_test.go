//go:build integration

package integration

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestHelloWorld(t *testing.T) {
	t.Parallel()
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never",
		"--inline", `echo "hello from $(id -un) in $PWD"; echo to-stderr >&2`)...)
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	s := step(t, r)
	want := "hello from root in " + s.WorkDir
	if !strings.Contains(r.stdout, want) {
		t.Errorf("stdout = %q, want it to contain %q (the work dir mounted at the same path)", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "to-stderr") || strings.Contains(r.stdout, "to-stderr") {
		t.Errorf("stderr not kept apart: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	if s.ExitCode != 0 || s.Error != "" || s.Image != env.image {
		t.Errorf("report step = %+v", s)
	}
	assertPhases(t, s, "connect", "preflight", "script", "output", "cleanup")
	assertNothingLeft(t, r)
}

func TestExitCodePassesThrough(t *testing.T) {
	t.Parallel()
	for _, code := range []int{1, 3, 42, 125, 126, 127} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never",
				"--inline", "echo before; exit "+strconv.Itoa(code))...)
			if r.code != code {
				t.Fatalf("exit %d, want %d\nstderr: %s", r.code, code, r.stderr)
			}
			if s := step(t, r); s.ExitCode != code || s.Error != "" {
				t.Errorf("report: exit_code %d error %q; want %d and no error (the script's own code)", s.ExitCode, s.Error, code)
			}
			assertNothingLeft(t, r)
		})
	}
}

func TestScriptFileAndSyntaxSh(t *testing.T) {
	t.Parallel()
	script := filepath.Join(t.TempDir(), "deploy.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nset -e\necho \"args=$# shell=$0\"\n[ -z \"${BASH_VERSION:-}\" ] && echo posix\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--script", script, "--syntax", "sh")...)
	if r.code != 0 || !strings.Contains(r.stdout, "posix") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	assertNothingLeft(t, r)
}

// TestOutputIsStreamedLive proves output arrives while the step runs: the
// script prints a line, then waits for a file that the test creates only
// after it has read that line.
func TestOutputIsStreamedLive(t *testing.T) {
	t.Parallel()
	cmd, rep := cuttleCmd(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--inline",
		`for i in 1 2 3; do echo "line $i"; done; echo "waiting in $PWD"; while [ ! -e go ]; do sleep 0.05; done; echo "line 4"`)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var lines []string
	for sc.Scan() {
		line := sc.Text()
		lines = append(lines, line)
		if wd, ok := strings.CutPrefix(line, "waiting in "); ok {
			// The step is blocked until this file exists: this line
			// was streamed, not delivered at the end.
			if err := os.WriteFile(filepath.Join(wd, "go"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cuttle: %v", err)
	}
	want := []string{"line 1", "line 2", "line 3", "waiting in", "line 4"}
	if len(lines) != len(want) {
		t.Fatalf("lines = %q, want %d lines", lines, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
	assertNothingLeft(t, result{report: readReport(t, rep)})
}

// TestCleanupAfterFailure leaves root-owned, read-only files and
// directories in the work directory and fails; all of it must go.
func TestCleanupAfterFailure(t *testing.T) {
	t.Parallel()
	r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--inline",
		`mkdir -p deep/er && echo x > deep/er/f && chmod 000 deep/er/f && chmod 500 deep/er deep && exit 7`)...)
	if r.code != 7 {
		t.Fatalf("exit %d, want 7; stderr %s", r.code, r.stderr)
	}
	assertNothingLeft(t, r)
}
