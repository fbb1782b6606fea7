// Package integration holds cuttle's end-to-end tests: the real cuttle
// binary, over a real OpenSSH sshd, driving a real Docker engine. Build tag
// "integration"; they need root (to start sshd and create users).
package integration
