// Package agent is the worker side of cuttle: the programs the same static
// binary runs, as `cuttle step-runner SUBCOMMAND`, on the worker host and
// inside the step's container (runner, follow, heartbeat and watchdog,
// launch, pack, remove-contents, detect-libc, base64, and
// package-get and package-put, which keep the package cache and extract
// packages into the work directory). Main dispatches them.
//
// The runner needs nothing from the image: no glibc, no openssl, no base64.
// It runs the script with the image's bash (or sh), passes the exit code
// through, and hands the work directory back to the SSH user at the end.
//
// agent imports only package wire and the standard library: what it shares
// with the controller is the wire contract, nothing else.
package agent
