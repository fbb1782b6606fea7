package remote

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDoctorBoundsAHungEngine runs the doctor script with a docker that
// never answers (it sleeps past the test's patience, as a hung engine
// does): the probe is cut at its bound, and the finding says the engine
// is not answering, not that the link timed out.
func TestDoctorBoundsAHungEngine(t *testing.T) {
	shims := t.TempDir()
	if err := os.WriteFile(filepath.Join(shims, "docker"), []byte("#!/bin/sh\nexec sleep 120\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	cmd := exec.CommandContext(t.Context(), "sh", "-c", doctorScript, "sh", "0123", "1")
	cmd.Env = append(os.Environ(), "PATH="+shims+":"+os.Getenv("PATH"), "HOME="+home)
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("doctor script: %v\n%s", err, out)
	}
	kv := parseKV(out)
	if kv["docker_error"] != "engine not answering within 1s" {
		t.Fatalf("docker_error = %q\n%s", kv["docker_error"], out)
	}
	var found bool
	for _, f := range Diagnose(kv, testBundle, time.Now()) {
		if f.Check == "docker" {
			found = true
			if f.Status != "fail" || !strings.Contains(f.Detail, "engine not answering within 1s") {
				t.Errorf("docker finding %+v", f)
			}
		}
	}
	if !found {
		t.Error("no docker finding")
	}
}
