package remote

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCleanupWaitsForAnEngineRemovalUnderWay: when docker run --rm's own
// removal is under way (the controller reattached and never saw docker
// run return), cleanup returns once the engine has finished it, not
// while the container is still listed.
func TestCleanupWaitsForAnEngineRemovalUnderWay(t *testing.T) {
	shims, state := t.TempDir(), t.TempDir()
	work := filepath.Join(t.TempDir(), ".cuttle", "work", "s-1")
	if err := os.MkdirAll(work, 0o755); err != nil {
		t.Fatal(err)
	}
	// The engine finishes the removal after the third look.
	docker := `#!/bin/sh
case "$1" in
rm) echo "Error response from daemon: removal of container $4 is already in progress" >&2; exit 1 ;;
container)
  n=$(cat "$STATE/looks" 2>/dev/null || echo 0); n=$((n+1)); echo "$n" > "$STATE/looks"
  if [ "$n" -le 3 ]; then echo '[{}]'; exit 0; fi
  echo "Error: No such container: $3" >&2; exit 1 ;;
esac
exit 2
`
	if err := os.WriteFile(filepath.Join(shims, "docker"), []byte(docker), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", cleanupScript, "sh", "cuttle-s-1", work, "-", "-", "-")
	cmd.Env = append(os.Environ(), "PATH="+shims+":"+os.Getenv("PATH"), "STATE="+state, "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Fatalf("cleanup script: %v\n%s", err, out)
	}
	looks, _ := os.ReadFile(filepath.Join(state, "looks"))
	if strings.TrimSpace(string(looks)) != "4" {
		t.Errorf("cleanup returned after %q looks at the container, want 4 (the last one finding it gone)", looks)
	}
	if _, err := os.Stat(work); !os.IsNotExist(err) {
		t.Errorf("work directory left: %v", err)
	}
}
