package main

import (
	"os"
	"slices"
	"syscall"
	"testing"
)

func TestInterruptSignalsPerOS(t *testing.T) {
	for _, goos := range []string{"linux", "darwin", "freebsd", "windows"} {
		got := interruptSignals(goos)
		if !slices.Contains(got, os.Interrupt) || !slices.Contains(got, os.Signal(syscall.SIGTERM)) {
			t.Errorf("%s: %v lacks Ctrl-C or SIGTERM", goos, got)
		}
		if hup := slices.Contains(got, os.Signal(syscall.SIGHUP)); hup != (goos != "windows") {
			t.Errorf("%s: SIGHUP handled = %v", goos, hup)
		}
	}
}
