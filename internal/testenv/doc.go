// Package testenv starts the real things cuttle's integration tests,
// benchmarks and demo run against, all on this machine: the Docker engine,
// a small local base image (no registry is reachable), a non-root user in
// the docker group, and OpenSSH sshd servers on loopback.
//
// It needs root, and Debian's openssh-server, docker.io and busybox-static.
package testenv
