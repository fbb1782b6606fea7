package remote

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGCRemovesBundleByRenamingFirst runs gc's removal script through sh
// with rm replaced by a shim that records, each time it runs, whether the
// bundle is still at its own path: it must be gone (renamed away in one
// step) before anything deletes a file, so no step ever sees half a bundle.
func TestGCRemovesBundleByRenamingFirst(t *testing.T) {
	home := t.TempDir()
	bundle := filepath.Join(home, ".cuttle", "bundles", "0123abcd")
	if err := os.MkdirAll(filepath.Join(bundle, "helpers"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"cuttle", "helpers/octopus.bash", ".complete"} {
		if err := os.WriteFile(filepath.Join(bundle, f), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shims, log := t.TempDir(), filepath.Join(t.TempDir(), "rm.log")
	realRm, err := exec.LookPath("rm")
	if err != nil {
		t.Fatal(err)
	}
	shim := `#!/bin/sh
if [ -e "$BUNDLE" ]; then echo "bundle present: $*" >> "$LOG"; else echo "bundle gone: $*" >> "$LOG"; fi
exec "$REAL_RM" "$@"
`
	if err := os.WriteFile(filepath.Join(shims, "rm"), []byte(shim), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sh", "-c", gcRemoveScript, "sh", home, "--bundles", "0123abcd")
	cmd.Env = append(os.Environ(), "PATH="+shims+":"+os.Getenv("PATH"), "BUNDLE="+bundle, "LOG="+log, "REAL_RM="+realRm)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "removed bundle 0123abcd" {
		t.Fatalf("gc script: %v\n%s", err, out)
	}
	calls, err := os.ReadFile(log)
	if err != nil {
		t.Fatalf("rm was never run: %v", err)
	}
	for _, c := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
		if !strings.HasPrefix(c, "bundle gone: ") || strings.Contains(c, bundle+" ") || strings.HasSuffix(c, bundle) {
			t.Errorf("rm ran while the bundle was still in place, or on its own path: %s", c)
		}
	}
	left, _ := os.ReadDir(filepath.Dir(bundle))
	if len(left) != 0 {
		t.Errorf("left in bundles/: %v", left)
	}
}
