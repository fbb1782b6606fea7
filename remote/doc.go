// Package remote drives a worker's own docker CLI over an SSH connection:
// the preflight, the per-step work directory, the cached bundle, the
// container's lifecycle and the cleanup that always runs.
//
// Lifecycle contract: Run creates a work directory and a container named
// cuttle-<step id>; whatever happens (script failure, cuttle failure,
// timeout, cancellation) it removes both before returning, on a fresh
// context with its own time limit. Removing is idempotent: "not found"
// counts as removed.
package remote
