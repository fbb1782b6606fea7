// Command cuttle runs deployment steps in containers on Linux workers
// reached over SSH, with no agent installed on them.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/cuttle-sh/cuttle/agent"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
}

// stdio is the process's standard streams, injectable for tests.
type stdio struct {
	In       io.Reader
	Out, Err io.Writer
	// term is the progress display, set up once flags are read.
	term *terminal
}

// interruptSignals are the signals that stop cuttle cleanly (the step's
// container is removed) on goos: Ctrl-C and SIGTERM everywhere (Go
// delivers a Windows console's close, logoff and shutdown as SIGTERM), and
// SIGHUP where there is one, so closing the terminal does not leave a
// container behind.
func interruptSignals(goos string) []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if goos != "windows" && goos != "plan9" {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// cancelOnSignal cancels ctx with errInterrupted on the first of
// interruptSignals; a second one only says that cleanup is under way. The
// function it returns stops listening.
func cancelOnSignal(ctx context.Context, cancel context.CancelCauseFunc, errw io.Writer) (stop func()) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, interruptSignals(runtime.GOOS)...)
	go func() {
		done := ctx.Done()
		for n := 0; ; {
			select {
			case <-sigs:
				if n == 0 {
					cancel(errInterrupted)
				} else {
					// A second Ctrl-C must not skip removing the container.
					errw.Write([]byte("cuttle: still cleaning up the worker; it is bounded by a timeout\n"))
				}
				n++
			case <-done:
				if context.Cause(ctx) != errInterrupted {
					return
				}
				done = nil // interrupted: keep answering signals, without spinning
			}
		}
	}()
	return func() { signal.Stop(sigs) }
}

// run is the whole program; it is the only place errors become exit codes.
func run(ctx context.Context, args []string, io stdio) int {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer cancelOnSignal(ctx, cancel, io.Err)()
	if len(args) > 0 && args[0] == "step-runner" {
		// The worker side: no logger, no config, no cobra.
		return agent.Main(ctx, args[1:], agent.Stdio{In: io.In, Out: io.Out, Err: io.Err})
	}
	io.term = &terminal{}
	root := newRootCmd(io)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	io.term.close()
	return exitCode(root, err)
}
