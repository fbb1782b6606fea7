package remote

import (
	"context"
	"io"
	"slices"
	"testing"

	"github.com/cuttle-sh/cuttle/transport"
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
