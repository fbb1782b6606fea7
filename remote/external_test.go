package remote

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestExternalDigestFollowsChanges(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "Calamari"), []byte("v1"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "lib.so"), []byte("lib"), 0o644)
	digest := func() string {
		t.Helper()
		e := &ExternalRunner{BundleDir: dir, Command: "{bundle}/Calamari --script={script}"}
		if err := e.Prepare(); err != nil {
			t.Fatal(err)
		}
		if len(e.files) != 2 {
			t.Fatalf("files = %v", e.files)
		}
		return e.Digest
	}
	first := digest()
	if again := digest(); again != first {
		t.Fatalf("unchanged bundle: %s then %s", first, again)
	}
	// Same size, new content and mtime: a new digest.
	os.WriteFile(filepath.Join(dir, "Calamari"), []byte("v2"), 0o755)
	os.Chtimes(filepath.Join(dir, "Calamari"), time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	changed := digest()
	if changed == first {
		t.Fatal("changed bundle kept its digest")
	}
	// Only a mode changes (Calamari losing its executable bit): a new digest.
	os.Chmod(filepath.Join(dir, "sub", "lib.so"), 0o600)
	if digest() == changed {
		t.Fatal("mode change kept the digest")
	}
}
