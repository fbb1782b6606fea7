package transport

import (
	"os"
	"testing"
)

func TestKeyTooOpenPerOS(t *testing.T) {
	for _, tt := range []struct {
		goos string
		perm os.FileMode
		want bool
	}{
		{"linux", 0o600, false},
		{"linux", 0o400, false},
		{"linux", 0o640, true},
		{"linux", 0o604, true},
		{"darwin", 0o644, true},
		{"darwin", 0o600, false},
		// Go reports 0666 for any writable file on Windows: ACLs, not mode
		// bits, guard keys there, so refusing would refuse every key.
		{"windows", 0o666, false},
	} {
		if got := keyTooOpen(tt.goos, tt.perm); got != tt.want {
			t.Errorf("keyTooOpen(%s, %04o) = %v, want %v", tt.goos, tt.perm, got, tt.want)
		}
	}
}

func TestTerminalFilesPerOS(t *testing.T) {
	for goos, want := range map[string][2]string{
		"linux": {"/dev/tty", "/dev/tty"}, "darwin": {"/dev/tty", "/dev/tty"}, "windows": {"CONIN$", "CONOUT$"},
	} {
		if in, out := terminalFiles(goos); in != want[0] || out != want[1] {
			t.Errorf("terminalFiles(%s) = %s, %s; want %s, %s", goos, in, out, want[0], want[1])
		}
	}
}
