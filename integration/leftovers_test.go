//go:build integration

package integration

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Every test that runs cuttle gets a leftover check from the harness:
// cuttleCmd puts each report in the test's ledger, and when the test ends
// the ledger checks every step any report names. A step's container, its
// work directory and anything else under the worker's ~/.cuttle that
// carries its ID (run record, credentials, locks) must be gone, and no
// cleanup error may have been reported. Tests do not add this by hand.

// ledger is one test's reports.
type ledger struct {
	dir string
	mu  sync.Mutex
	n   int
	// kept are step IDs the test keeps on purpose (--keep-workspace).
	kept map[string]bool
	// cleanupFailed are step IDs whose cleanup the test made fail on
	// purpose (and then cleaned up another way): still checked for
	// leftovers, but a reported cleanup error is expected.
	cleanupFailed map[string]bool
}

var ledgers sync.Map // *testing.T -> *ledger

// ledgerOf returns t's ledger, registering its check on first use.
func ledgerOf(t *testing.T) *ledger {
	t.Helper()
	if l, ok := ledgers.Load(t); ok {
		return l.(*ledger)
	}
	dir, err := os.MkdirTemp("", "cuttle-it-reports-")
	if err != nil {
		t.Fatal(err)
	}
	l := &ledger{dir: dir, kept: map[string]bool{}, cleanupFailed: map[string]bool{}}
	ledgers.Store(t, l)
	t.Cleanup(func() {
		defer os.RemoveAll(dir)
		defer ledgers.Delete(t)
		for _, s := range l.steps(t) {
			l.mu.Lock()
			kept, failed := l.kept[s.ID], l.cleanupFailed[s.ID]
			l.mu.Unlock()
			if failed {
				s.CleanupError = ""
			}
			if !kept {
				checkStepGone(t, s)
			}
		}
	})
	return l
}

// reportPath hands out a fresh report file name in the ledger.
func (l *ledger) reportPath() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	return filepath.Join(l.dir, fmt.Sprintf("report-%d.json", l.n))
}

// steps reads every report the test's cuttle runs wrote.
func (l *ledger) steps(t *testing.T) []reportStep {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(l.dir, "report-*.json"))
	var steps []reportStep
	for _, f := range files {
		steps = append(steps, readReport(t, f).Steps...)
	}
	return steps
}

// keepStep exempts step id from t's leftover check: the test keeps its
// work directory on purpose and checks the rest itself.
func keepStep(t *testing.T, id string) {
	l := ledgerOf(t)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kept[id] = true
}

// cleanupFailedOnPurpose tells t's leftover check that step id's cleanup
// was made to fail by the test, which removed the step another way: the
// step must still be gone.
func cleanupFailedOnPurpose(t *testing.T, id string) {
	l := ledgerOf(t)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cleanupFailed[id] = true
}

// checkStepGone fails t when anything of step s is left on its worker: the
// container (by label), the work directory, or any entry under the
// worker's ~/.cuttle (bundles aside) whose name holds the step's ID.
func checkStepGone(t *testing.T, s reportStep) {
	t.Helper()
	if s.ID == "" {
		return
	}
	out, err := exec.Command("docker", "ps", "-a", "-q", "--filter", "label=io.cuttle.step="+s.ID).Output()
	if err != nil {
		t.Errorf("docker ps: %v", err)
	}
	if len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("step %s (%s): container left behind: %s", s.Name, s.ID, out)
	}
	if s.CleanupError != "" {
		t.Errorf("step %s (%s): cleanup error reported: %s", s.Name, s.ID, s.CleanupError)
	}
	if s.WorkDir == "" {
		return
	}
	if _, err := os.Lstat(s.WorkDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("step %s (%s): work directory %s left behind (stat: %v)", s.Name, s.ID, s.WorkDir, err)
	}
	state := filepath.Dir(filepath.Dir(s.WorkDir)) // ~/.cuttle
	filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return nil
		case d.IsDir() && d.Name() == "bundles":
			return filepath.SkipDir
		case p != state && strings.Contains(d.Name(), s.ID):
			t.Errorf("step %s (%s): %s left behind on the worker", s.Name, s.ID, p)
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
}
