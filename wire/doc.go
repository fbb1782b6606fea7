// Package wire is the contract between the controller (package remote) and
// the worker-side programs (package agent): the payload on the runner's
// stdin, the frames the follower sends, the step logs' cipher and file
// names, the pack stream's header, the launch template's placeholders, and
// the exit codes and message prefix that tell the controller how the worker
// side ended. It imports only the standard library; both sides import it,
// and neither imports the other.
package wire
