package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// fakeWorker answers the commands Run sends, by what they are.
type fakeWorker struct {
	mu        sync.Mutex
	commands  []string
	uploads   []string
	dockerRun func(cmd *transport.Cmd) error
	started   string // what docker inspect says of .State.StartedAt
	preflight string
	// preflightRun, when set, answers the preflight instead (fast path).
	preflightRun func(cmd *transport.Cmd) error
	stdin        []byte // what docker run was given on stdin
	// runner, when set, answers the bundle's step-runner on the worker
	// host (heartbeat, follower, watchdog); flags holds its first flag.
	runner func(flag string, cmd *transport.Cmd) error
	// cleanupCtxErr is the cleanup's context's error when it ran;
	// cleanupArgs its arguments.
	cleanupCtxErr error
	cleanupArgs   []string
}

func (f *fakeWorker) String() string { return "deploy@fake:22" }

func (f *fakeWorker) Run(ctx context.Context, cmd *transport.Cmd) error {
	f.mu.Lock()
	kind := cmd.Args[0]
	if kind == "sh" {
		switch cmd.Args[2] {
		case preflightScript:
			kind = "preflight"
		case cleanupScript:
			kind = "cleanup"
		case installBundleScript:
			kind = "install-bundle"
		}
	} else if len(cmd.Args) > 1 {
		kind += " " + cmd.Args[1]
	}
	f.commands = append(f.commands, kind)
	f.mu.Unlock()
	switch kind {
	case "preflight":
		if f.preflightRun != nil {
			return f.preflightRun(cmd)
		}
		io.WriteString(cmd.Stdout, f.preflight)
	case "cleanup":
		f.cleanupCtxErr, f.cleanupArgs = ctx.Err(), cmd.Args
		fmt.Fprintf(cmd.Stdout, "started=%s\n", f.started)
	case "docker run":
		if cmd.Stdin != nil {
			f.stdin, _ = io.ReadAll(cmd.Stdin)
		}
		return f.dockerRun(cmd)
	}
	if f.runner != nil && strings.HasSuffix(kind, " step-runner") && len(cmd.Args) > 2 {
		return f.runner(cmd.Args[2], cmd)
	}
	return nil
}

func (f *fakeWorker) Upload(_ context.Context, p string, r io.Reader, _ fs.FileMode) error {
	io.Copy(io.Discard, r)
	f.uploads = append(f.uploads, p)
	return nil
}

func (f *fakeWorker) RealPath(_ context.Context, p string) (string, error) { return p, nil }

func (f *fakeWorker) Lstat(context.Context, string) (fs.FileInfo, error) {
	return nil, errors.New("not used")
}

func (f *fakeWorker) Download(context.Context, string, io.Writer) (int64, string, error) {
	return 0, "", errors.New("not used")
}

const factsOK = "docker=28.2.2 20.10.24\nhome=/home/deploy\nuid=1000\ngid=1000\narch=x86_64\nticket=T-1\nbundle=present\nimage=sha256:1\n"

var testBundle = bundle.Bundle{Digest: strings.Repeat("a", 64), Arch: "amd64"}

func TestRunTellsDockerFailureFromScriptExit(t *testing.T) {
	tests := []struct {
		name        string
		code        int
		started     string
		wantStepErr bool
	}{
		{"script exits 125", 125, "2026-11-27T00:00:01Z", false},
		{"script exits 127", 127, "2026-11-27T00:00:01Z", false},
		{"docker fails before start", 125, "0001-01-01T00:00:00Z", true},
		{"runner not executable", 126, "0001-01-01T00:00:00Z", true},
		{"container gone", 125, "", true},
		{"plain failure", 3, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := &fakeWorker{preflight: factsOK, started: tt.started, dockerRun: func(cmd *transport.Cmd) error {
				io.WriteString(cmd.Stderr, "docker: Error response from daemon: boom.\n")
				return &transport.ExitError{Code: tt.code}
			}}
			var out bytes.Buffer
			res, err := NewController().Run(t.Context(), w, testBundle, Step{Name: "s", Image: "img:1", Pull: PullMissing, Script: []byte("x"), Syntax: "bash"}, Output{Stdout: &out, Stderr: &out})
			var se *StepError
			if got := errors.As(err, &se); got != tt.wantStepErr {
				t.Fatalf("StepError = %v (err %v), want %v", got, err, tt.wantStepErr)
			}
			if tt.wantStepErr && !strings.Contains(err.Error(), "boom") {
				t.Errorf("error %q does not carry docker's message", err)
			}
			if !tt.wantStepErr && res.ExitCode != tt.code {
				t.Errorf("ExitCode = %d, want %d", res.ExitCode, tt.code)
			}
			if last := w.commands[len(w.commands)-1]; last != "cleanup" {
				t.Errorf("last command = %q, want cleanup; all: %v", last, w.commands)
			}
		})
	}
}

func TestRunPlansFewRoundTrips(t *testing.T) {
	w := &fakeWorker{preflight: factsOK, started: "2026", dockerRun: func(*transport.Cmd) error { return nil }}
	_, err := NewController().Run(t.Context(), w, testBundle, Step{Name: "s", Image: "img:1", Pull: PullMissing, Script: []byte("x"), Syntax: "bash"}, Output{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"preflight", "docker run", "cleanup"}
	if strings.Join(w.commands, ",") != strings.Join(want, ",") {
		t.Errorf("commands = %v, want %v (image present, bundle cached: no pull, no upload of the bundle)", w.commands, want)
	}
	if len(w.uploads) != 0 {
		t.Errorf("uploads = %v, want none: the script rides in the payload", w.uploads)
	}
	var p wire.Payload
	if err := json.Unmarshal(w.stdin, &p); err != nil || string(p.Script) != "x" {
		t.Errorf("payload on docker run's stdin: %q (%v), want the script in it", w.stdin, err)
	}
}

func TestRunCleansUpWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	stop := errors.New("stop")
	w := &fakeWorker{preflight: factsOK, started: "2026", dockerRun: func(*transport.Cmd) error {
		cancel(stop)
		return context.Canceled
	}}
	_, err := NewController().Run(ctx, w, testBundle, Step{Name: "s", Image: "img:1", Pull: PullMissing, Script: []byte("x"), Syntax: "bash"}, Output{Stdout: io.Discard, Stderr: io.Discard})
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the context's cause", err)
	}
	if last := w.commands[len(w.commands)-1]; last != "cleanup" {
		t.Errorf("commands = %v, want cleanup last", w.commands)
	}
}

func TestRunRefusesWrongArchitecture(t *testing.T) {
	w := &fakeWorker{preflight: strings.Replace(factsOK, "x86_64", "aarch64", 1), started: ""}
	_, err := NewController().Run(t.Context(), w, testBundle, Step{Name: "s", Image: "img:1", Pull: PullMissing, Script: []byte("x"), Syntax: "bash"}, Output{Stdout: io.Discard, Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "linux/arm64") {
		t.Fatalf("err = %v", err)
	}
	if last := w.commands[len(w.commands)-1]; last != "cleanup" {
		t.Errorf("work dir created by preflight must be cleaned: %v", w.commands)
	}
}

// TestFollowerDiagnosticIsNotOutput: when the output follower cannot even
// start on the worker host, the shell's plain-text complaint ends up in
// the step's error, and nothing of it is "decrypted" into the output.
func TestFollowerDiagnosticIsNotOutput(t *testing.T) {
	const complaint = "bash: line 1: /home/deploy/.cuttle/bundles/x/cuttle: No such file or directory"
	w := &fakeWorker{preflight: factsOK, started: "2026-11-27T00:00:01Z",
		dockerRun: func(cmd *transport.Cmd) error { return nil },
		runner: func(sub string, cmd *transport.Cmd) error {
			if sub != "follow" {
				if cmd.Stdin != nil {
					io.Copy(io.Discard, cmd.Stdin)
				}
				return nil
			}
			io.WriteString(cmd.Stderr, complaint+"\n")
			return &transport.ExitError{Code: 127}
		}}
	var out bytes.Buffer
	_, err := NewController().Run(t.Context(), w, testBundle, Step{Name: "s", Image: "img:1", Pull: PullMissing, Script: []byte("x"), Syntax: "bash", ReattachWindow: time.Minute}, Output{Stdout: &out, Stderr: &out})
	if err == nil || !strings.Contains(err.Error(), "No such file or directory") {
		t.Fatalf("err = %v, want the follower's complaint in it", err)
	}
	var se *StepError
	if !errors.As(err, &se) {
		t.Errorf("err %v is not a StepError (exit 125)", err)
	}
	if out.Len() != 0 {
		t.Errorf("the step's output got %d bytes from a follower that sent none: %q", out.Len(), out.String())
	}
}
