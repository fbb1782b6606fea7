//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
)

// TestConcurrentStepsOnOneWorker: 50 controllers at once on one worker.
// No two share a work directory, container or bundle upload, and every
// artifact comes back with its own step's bytes.
//
// Not parallel with the other tests: it is a load test, and it gets the
// machine to itself (the others run after it).
func TestConcurrentStepsOnOneWorker(t *testing.T) {
	const n = 50
	results := make([]result, n)
	arts := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		arts[i] = filepath.Join(t.TempDir(), "a")
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--artifacts", arts[i],
				"--var", "Index="+strconv.Itoa(i), "--name", "c",
				"--inline", `printf 'step %s in %s\n' "#{Index}" "$PWD" > out.txt; new_octopusartifact out.txt`)...)
		}()
	}
	wg.Wait()
	ids := map[string]int{}
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("step %d: exit %d\n%s", i, r.code, r.stderr)
			continue
		}
		s := step(t, r)
		if j, dup := ids[s.ID]; dup {
			t.Errorf("steps %d and %d share the id %s", j, i, s.ID)
		}
		ids[s.ID] = i
		want := fmt.Sprintf("step %d in %s\n", i, s.WorkDir)
		if len(s.Artifacts) != 1 {
			t.Errorf("step %d: artifacts %+v", i, s.Artifacts)
			continue
		}
		if got, _ := os.ReadFile(s.Artifacts[0].Path); string(got) != want {
			t.Errorf("step %d: artifact %q, want %q", i, got, want)
		}
		assertNothingLeft(t, r)
	}
	if len(ids) != n {
		t.Errorf("%d distinct step ids for %d steps", len(ids), n)
	}
}
