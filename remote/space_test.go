package remote

import "testing"

func TestDfAvailable(t *testing.T) {
	out := "Filesystem     1024-blocks  Used Available Capacity Mounted on\ntmpfs                 8192  8000       192      98% /home/x\n"
	if n, ok := dfAvailable(out); !ok || n != 192<<10 {
		t.Errorf("dfAvailable = %d, %v", n, ok)
	}
	if _, ok := dfAvailable("df: /nope: No such file or directory\n"); ok {
		t.Error("an error message parsed as a size")
	}
}
