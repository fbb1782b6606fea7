// Package sshtest is an in-process SSH server for unit tests, built on
// golang.org/x/crypto/ssh: no root, no Docker, no sshd.
//
// Start listens on 127.0.0.1:0 with a host key generated for the test,
// accepts the public keys, user certificates and password its Config
// names, and runs every exec request through a Handler the test supplies,
// so a test scripts stdout, stderr and the exit status (or leaves the
// status out, or blocks until the client goes away). The server can also
// refuse session channels past MaxSessions as sshd does, serve the "sftp"
// subsystem from the real file system through pkg/sftp, act as a jump host
// for loopback addresses, stop answering global requests (keepalives), and
// drop every TCP connection at once.
//
// What happened is counted in Stats; Wait blocks, on a channel and not on
// a timer, until the counts satisfy a condition.
package sshtest
