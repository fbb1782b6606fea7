// Package golden compares what a test produced with a file under
// testdata, for tests only.
package golden

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Check compares got with testdata/<name>.golden. With update (a test's
// -update flag) it writes got there first, so that the diff of the file
// shows what changed.
func Check(t testing.TB, name, got string, update bool) {
	t.Helper()
	CheckFile(t, filepath.Join("testdata", name+".golden"), got, update)
}

// CheckFile compares got with the file at p, as Check does.
func CheckFile(t testing.TB, p, got string, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", p, diff)
	}
}
