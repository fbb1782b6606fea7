package testenv

import (
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TestInheritedDescriptorsDoNotReachDockerd: a descriptor this process
// inherited (as flock(1) passes its lock to the test run) is not open in
// a program started after closeInheritedOnExec, as dockerd is.
func TestInheritedDescriptorsDoNotReachDockerd(t *testing.T) {
	// Opened without O_CLOEXEC, as an inherited descriptor is.
	fd, err := syscall.Open(filepath.Join(t.TempDir(), "lock"), syscall.O_CREAT|syscall.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	closeInheritedOnExec()
	out, err := exec.Command("sh", "-c", `ls /proc/$$/fd`).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Fields(string(out)) {
		if f == strconv.Itoa(fd) {
			t.Fatalf("descriptor %d reached the child (its descriptors: %s)", fd, strings.Join(strings.Fields(string(out)), " "))
		}
	}
}
