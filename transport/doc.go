// Package transport reaches workers over SSH: it dials (through jump hosts),
// verifies host keys strictly, authenticates, keeps the link alive, runs
// os/exec-shaped remote commands and moves files over SFTP.
//
// It knows nothing of Docker or steps; package remote builds on it.
package transport
