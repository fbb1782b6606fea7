package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// The template the fast path sends, filled in on the worker, is exactly
// the docker run the full path would have run.
func TestLaunchTemplateMatchesFullPath(t *testing.T) {
	st := Step{Image: "img:1", Syntax: "bash", Pull: PullMissing}
	digest := strings.Repeat("d", 64)
	started := "2026-11-27T00:00:00Z"
	for _, client := range []string{"28.2.2", "19.03.15"} {
		f := wire.LaunchFacts{Home: "/home/deploy", ID: "20261127000000-42-1", UID: "1000", GID: "1001",
			Arch: "x86_64", ImagePlatform: "linux/amd64", DockerClient: client}
		got, why := wire.FillLaunch(f, launchTemplate(st, digest, started, true))
		if why != "" {
			t.Fatalf("refused: %s", why)
		}
		wd := "/home/deploy/.cuttle/work/20261127000000-42-1"
		want := dockerRunArgs(runPlan{StepID: "20261127000000-42-1", Started: started, Home: "/home/deploy", WorkDir: wd,
			BundleDir: "/home/deploy/.cuttle/bundles/" + digest, Image: "img:1", NoPull: supportsPullFlag(client),
			Script: ScriptName, Syntax: "bash", OwnerUID: 1000, OwnerGID: 1001, LogOnly: true})
		if !slices.Equal(got, want) {
			t.Errorf("client %s:\n got %q\nwant %q", client, got, want)
		}
	}
	if _, why := wire.FillLaunch(wire.LaunchFacts{Arch: "x86_64", ImagePlatform: "linux/arm64"}, launchTemplate(st, digest, started, true)); why == "" {
		t.Error("an arm64 image was launched on amd64")
	}
}

// On the fast path the preflight command runs the step: no separate
// docker run, the facts before the launch line are read, the output after
// it is the step's, and stderr held back until then is not lost.
func TestFastPathOneCommand(t *testing.T) {
	w := &fakeWorker{started: "2026", preflightRun: func(cmd *transport.Cmd) error {
		io.WriteString(cmd.Stderr, "early stderr\n")
		io.WriteString(cmd.Stdout, factsOK+wire.LaunchLine+"\nhello from the step\n")
		if cmd.Stdin == nil {
			t.Error("no payload on the fast path's stdin")
		}
		return nil
	}}
	var out, errb bytes.Buffer
	res, err := NewController().Run(t.Context(), w, testBundle, Step{Name: "s", Image: "img:1", Pull: PullMissing, Script: []byte("x"), Syntax: "bash"}, Output{Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"preflight", "cleanup"}; !slices.Equal(w.commands, want) {
		t.Errorf("commands %v, want %v", w.commands, want)
	}
	if res.ID != "T-1" || out.String() != "hello from the step\n" || !strings.Contains(errb.String(), "early stderr") {
		t.Errorf("id %q stdout %q stderr %q", res.ID, out.String(), errb.String())
	}
	// Options, builds, pull always and credentials take the full path.
	for _, st := range []Step{{Pull: PullAlways}, {Pull: PullMissing, ContainerOptions: []string{"--cpus", "1"}}, {Pull: PullNever, Slots: 2}} {
		if fastPathOK(st) {
			t.Errorf("fast path allowed for %+v", st)
		}
	}
}

// With its output in logs, the fast path's docker run removes the
// container itself (--rm): when its client returned the exit code the
// runner recorded, the cleanup does not run docker rm again; when it
// returned something else (docker's own failure), it does.
func TestFastPathRemovesItsContainer(t *testing.T) {
	for _, tt := range []struct {
		name           string
		script, client int
		wantGone       bool
	}{
		{"script exits 0", 0, 0, true},
		{"script exits 3", 3, 3, true},
		{"client failed", 0, 125, false},
		{"script exits 125", 125, 125, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var key []byte
			w := &fakeWorker{started: "2026"}
			w.preflightRun = func(cmd *transport.Cmd) error {
				var p wire.Payload
				b, _ := io.ReadAll(cmd.Stdin)
				if err := json.Unmarshal(b, &p); err != nil {
					t.Errorf("payload: %v", err)
				}
				key = p.LogKey
				if !slices.Contains(cmd.Args, "--rm") {
					t.Errorf("the fast path's docker run has no --rm: %q", cmd.Args)
				}
				io.WriteString(cmd.Stdout, factsOK+wire.LaunchLine+"\n")
				return exitErrorOf(tt.client)
			}
			w.runner = func(sub string, cmd *transport.Cmd) error {
				if sub != "follow" {
					io.Copy(io.Discard, cmd.Stdin)
					return nil
				}
				io.Copy(io.Discard, cmd.Stdin) // docker run is over
				s, _ := wire.LogCipher(key, wire.StreamStdout, 0)
				out := []byte("hi\n")
				s.XORKeyStream(out, out)
				fr := wire.NewFramer(cmd.Stdout)
				fr.Stdout().Write(out)
				return fr.Exit(tt.script)
			}
			var stdout bytes.Buffer
			res, err := NewController().Run(t.Context(), w, testBundle, Step{Name: "s", Image: "img:1", Pull: PullMissing, Script: []byte("x"), Syntax: "bash", ReattachWindow: time.Minute}, Output{Stdout: &stdout, Stderr: io.Discard})
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != tt.script || stdout.String() != "hi\n" {
				t.Errorf("exit %d, stdout %q; want %d and hi", res.ExitCode, stdout.String(), tt.script)
			}
			if gone := slices.Contains(w.cleanupArgs, "gone"); gone != tt.wantGone {
				t.Errorf("cleanup told the container is gone: %v, want %v (args %q)", gone, tt.wantGone, w.cleanupArgs[4:])
			}
		})
	}
}

// A step whose context ends during the preflight (--timeout, an
// interrupt) ends with that cause, not with the preflight's failure: the
// exit code is then the timeout's (124), not the worker's (125).
func TestPreflightInterruptedEndsWithTheCause(t *testing.T) {
	errOutOfTime := errors.New("out of time")
	for _, fast := range []bool{true, false} {
		ctx, cancel := context.WithCancelCause(t.Context())
		w := &fakeWorker{started: "2026"}
		w.preflightRun = func(cmd *transport.Cmd) error {
			cancel(errOutOfTime)
			return context.Canceled
		}
		st := Step{Name: "s", Image: "img:1", Pull: PullMissing, Script: []byte("x"), Syntax: "bash"}
		if !fast {
			st.ContainerOptions = []string{"--cpus", "1"} // the full path's preflight
		}
		_, err := NewController().Run(ctx, w, testBundle, st, Output{Stdout: io.Discard, Stderr: io.Discard})
		if !errors.Is(err, errOutOfTime) {
			t.Errorf("fast path %v: %v, want the context's cause", fast, err)
		}
	}
}
