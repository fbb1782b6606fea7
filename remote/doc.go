// Package remote drives a worker's own docker CLI over an SSH connection:
// the preflight, the per-step work directory, the cached bundle, the
// container's lifecycle and the cleanup that always runs.
//
// # Lifecycle contract
//
// One step on one worker is an Execution, in four phases (as woodpecker's
// backend has Setup/Start/Wait/Destroy):
//
//   - Controller.Start validates the step, runs the preflight (which
//     writes the step's run record before anything else, so gc can sweep
//     it), makes the work directory, uploads what is missing, pulls or
//     builds the image, arms the heartbeat and launches the container
//     cuttle-<step id>. On the fast path the preflight launches it
//     itself, in one command. Start returns an Execution even when it
//     fails, with whatever it created recorded in it.
//   - Wait waits for the container's end, reattaches within the reattach
//     window when the link drops, and sets the exit code. The output is
//     whole when it returns.
//   - Collect downloads the artifacts the script asked for; that command
//     also removes the step.
//   - Destroy removes the container and the work directory (unless kept)
//     and stops the heartbeat. Whoever called Start calls Destroy once,
//     whatever happened (script failure, cuttle failure, timeout,
//     cancellation). It is idempotent, safe after a failed or partial
//     Start (nothing created: nothing to do), counts "not found" as
//     removed, and runs on context.WithoutCancel(ctx) with its own time
//     limit, so a cancelled step is still cleaned up. What it could not
//     remove is Result.CleanupErr: the step's own result stands.
//
// Controller.Run is Start, Wait, Collect and Destroy in order, stopping at
// the first error. Controller.Resume (cuttle attach) makes an Execution
// from a Ticket instead of Start and runs the same Wait, Collect and
// Destroy (Execution.complete, for both), except that when its context
// ends it detaches: Destroy then leaves the step running for its dead
// man's switch. Before it runs anything of the step's cached bundle it
// checks it, when it is this cuttle's: a changed one is refused, and the
// step, which has it mounted, is left to its dead man's switch.
//
// A Controller is per process: it holds what steps share (bundle uploads
// in flight, digests, the busy count per worker). Nothing in this package
// is package-level mutable state.
package remote
