//go:build linux

// Command cuttle-runner is the step runner alone: the worker-side programs
// of package agent, without the controller. `make build` embeds it, for
// linux/amd64 and linux/arm64, in the controller, which uploads the one a
// worker needs. It takes the same arguments as `cuttle step-runner`, with
// the "step-runner" word kept so either binary can serve as the runner.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cuttle-sh/cuttle/agent"
)

func main() {
	std := agent.Stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	if len(os.Args) < 2 || os.Args[1] != "step-runner" {
		fmt.Fprintln(os.Stderr, "cuttle-runner: this is cuttle's step runner, which cuttle runs on workers; run the cuttle controller instead")
		os.Exit(125)
	}
	// As under `cuttle step-runner`: a signal cancels the context, and the
	// subcommand decides what to do about it.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := agent.Main(ctx, os.Args[2:], std)
	stop()
	os.Exit(code)
}
