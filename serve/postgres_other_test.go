//go:build !linux

package serve

import "testing"

// postgresDSN: the harness starts PostgreSQL on Linux only (the
// controller's tests are type-checked for macOS and Windows too).
func postgresDSN(t *testing.T) string {
	t.Helper()
	t.Skip("the PostgreSQL tests run on Linux")
	return ""
}
