package main

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/creack/pty"
	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/internal/progress"
)

// TestProgressOnlyOnATerminal: the display is there for console logs on
// a terminal, and not for JSON logs, a pipe or a buffer.
func TestProgressOnlyOnATerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	for _, tc := range []struct {
		name   string
		err    any
		format string
		want   bool
	}{
		{"terminal", tty, "console", true},
		{"terminal, JSON logs", tty, "json", false},
		{"pipe", pw, "console", false},
		{"buffer", &bytes.Buffer{}, "console", false},
	} {
		io := stdio{Out: &bytes.Buffer{}, term: &terminal{}}
		switch w := tc.err.(type) {
		case *os.File:
			io.Err = w
		case *bytes.Buffer:
			io.Err = w
		}
		io.term.start(io, tc.format)
		if got := io.term.reporter() != nil; got != tc.want {
			t.Errorf("%s: display %v, want %v", tc.name, got, tc.want)
		}
		io.term.close()
	}
}

// TestNoProgressWhenNotATerminal: a command run with its output in
// buffers, as in a pipe, has no progress display in its context.
func TestNoProgressWhenNotATerminal(t *testing.T) {
	var out, errb bytes.Buffer
	seen := false
	io := stdio{Out: &out, Err: &errb, term: &terminal{}}
	root := newRootCmd(io)
	ver := root.Commands()
	for _, c := range ver {
		if c.Name() == "version" {
			inner := c.RunE
			c.RunE = func(cmd *cobra.Command, args []string) error {
				seen = true
				if progress.On(cmd.Context()) {
					t.Error("a progress display with stderr in a buffer")
				}
				return inner(cmd, args)
			}
		}
	}
	root.SetArgs([]string{"version"})
	if err := root.ExecuteContext(context.Background()); err != nil || !seen {
		t.Fatalf("version: %v (ran %v)", err, seen)
	}
	if bytes.ContainsRune(errb.Bytes(), 0x1b) {
		t.Errorf("escape sequences on stderr: %q", errb.String())
	}
}
