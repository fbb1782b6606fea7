// Command cuttle runs deployment steps in containers on Linux workers
// reached over SSH, with no agent installed on them.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
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

// run is the whole program; it is the only place errors become exit codes.
func run(ctx context.Context, args []string, io stdio) int {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		for n := 0; ; n++ {
			select {
			case <-sigs:
				if n == 0 {
					cancel(errInterrupted)
				} else {
					// A second Ctrl-C must not skip removing the container.
					io.Err.Write([]byte("cuttle: still cleaning up the worker; it is bounded by a timeout\n"))
				}
			case <-ctx.Done():
				if context.Cause(ctx) != errInterrupted {
					return
				}
			}
		}
	}()
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
