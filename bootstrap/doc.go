// Package bootstrap is what cuttle puts on the worker and in the container:
// the bundle (cuttle's own static binary, cached on the worker by content
// hash) and the step runner that binary becomes inside the container.
//
// The runner needs nothing from the image: no glibc, no openssl, no base64.
// It runs the script with the image's bash (or sh), passes the exit code
// through, and hands the work directory back to the SSH user at the end.
package bootstrap
