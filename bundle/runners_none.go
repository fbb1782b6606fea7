//go:build !embedrunners

package bundle

// Without the embedrunners tag (go build, go install, go test), the
// controller carries no runner of its own beyond itself.
func embeddedRunners() map[string]string { return nil }
