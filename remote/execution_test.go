package remote

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// fullPathStep takes the full path (slots), so Start issues docker run
// itself.
var fullPathStep = Step{Name: "s", Image: "img:1", Pull: PullMissing, Script: []byte("x"), Syntax: "bash", Slots: 1}

func count(cmds []string, kind string) int {
	n := 0
	for _, c := range cmds {
		if c == kind {
			n++
		}
	}
	return n
}

func TestDestroyAfterFailedStartRemovesNothing(t *testing.T) {
	// The preflight fails: nothing was created, so nothing is removed.
	w := &fakeWorker{preflightRun: func(*transport.Cmd) error { return &transport.ExitError{Code: 1} }}
	e, err := NewController().Start(t.Context(), w, testBundle, fullPathStep, Output{Stdout: io.Discard, Stderr: io.Discard})
	if err == nil {
		t.Fatal("Start succeeded on a failed preflight")
	}
	if err := e.Destroy(t.Context()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"preflight"}; !slices.Equal(w.commands, want) {
		t.Errorf("commands = %q, want %q", w.commands, want)
	}
}

func TestDestroyIsIdempotentAndOutlivesCancellation(t *testing.T) {
	w := &fakeWorker{preflight: factsOK, started: "2026", dockerRun: func(*transport.Cmd) error { return nil }}
	ctx, cancel := context.WithCancel(t.Context())
	e, err := NewController().Start(ctx, w, testBundle, fullPathStep, Output{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	cancel() // Ctrl-C after the step: the cleanup still runs, on its own context
	for range 2 {
		if err := e.Destroy(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(w.commands, "cleanup"); n != 1 {
		t.Errorf("%d cleanups after two Destroys, want 1 (commands %q)", n, w.commands)
	}
	if w.cleanupCtxErr != nil {
		t.Errorf("the cleanup ran on a cancelled context: %v", w.cleanupCtxErr)
	}
}

// resumeWorker answers Resume's commands: the masks file (encrypted
// under key), the bundle check (bundleState), and records the rest.
type resumeWorker struct {
	fakeWorker
	key         []byte
	bundleState string
}

func (w *resumeWorker) Run(ctx context.Context, cmd *transport.Cmd) error {
	if cmd.Args[0] == "sh" {
		switch cmd.Args[2] {
		case readMasksScript:
			w.commands = append(w.commands, "read-masks")
			s, _ := wire.LogCipher(w.key, wire.StreamMasks, 0)
			plain := []byte(`["s3cr3t"]`)
			enc := make([]byte, len(plain))
			s.XORKeyStream(enc, plain)
			_, err := cmd.Stdout.Write(enc)
			return err
		case checkBundleScript:
			w.commands = append(w.commands, "check-bundle")
			_, err := io.WriteString(cmd.Stdout, "bundle="+w.bundleState+"\n")
			return err
		}
	}
	return w.fakeWorker.Run(ctx, cmd)
}

// TestResumeLeavesAStepWhoseBundleChanged: attach runs nothing of a
// changed bundle, and leaves the step (it has the bundle mounted) to its
// dead man's switch: no heartbeat, no follower, no cleanup.
func TestResumeLeavesAStepWhoseBundleChanged(t *testing.T) {
	key := make([]byte, wire.LogKeySize)
	b := bundle.Bundle{Digest: strings.Repeat("a", 64), Arch: "amd64", Sums: "x  cuttle\n"}
	tk := Ticket{Name: "s", StepID: "S-1", WorkDir: "/home/deploy/.cuttle/work/S-1",
		BundleDir: "/home/deploy/.cuttle/bundles/" + b.Digest, Key: key, Window: time.Minute}
	for _, tt := range []struct {
		state   string
		wantErr string
	}{
		{"tampered", "does not match its digest"},
		{"nosha", "no sha256sum"},
	} {
		t.Run(tt.state, func(t *testing.T) {
			w := &resumeWorker{key: key, bundleState: tt.state}
			_, err := NewController().Resume(t.Context(), w, b, tk, t.TempDir(), nil, Output{Stdout: io.Discard, Stderr: io.Discard})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if want := []string{"read-masks", "check-bundle"}; !slices.Equal(w.commands, want) {
				t.Errorf("commands = %q, want only %q", w.commands, want)
			}
		})
	}
}
