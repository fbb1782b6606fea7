//go:build unix

package main

import (
	"bytes"
	"context"
	"syscall"
	"testing"
)

// Closing the terminal (SIGHUP) cancels the run as Ctrl-C does, so the
// step's container is removed instead of cuttle dying on the spot.
func TestHangupCancelsTheRun(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT} {
		ctx, cancel := context.WithCancelCause(context.Background())
		var errw bytes.Buffer
		stop := cancelOnSignal(ctx, cancel, &errw)
		if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
			t.Fatal(err)
		}
		<-ctx.Done() // bounded by the test's timeout
		stop()
		if context.Cause(ctx) != errInterrupted {
			t.Errorf("%v: cause %v, want errInterrupted", sig, context.Cause(ctx))
		}
	}
}
