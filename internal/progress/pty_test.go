package progress

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/vbauerster/mpb/v8"
)

// TestDisplayOnAPseudoTerminal: on a real terminal (no forcing) the
// display draws the bar, sized to the terminal.
func TestDisplayOnAPseudoTerminal(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(tty, &pty.Winsize{Rows: 24, Cols: 100}); err != nil {
		t.Fatal(err)
	}
	refresh := make(chan any)
	d := NewDisplay(tty, mpb.WithManualRefresh(refresh))
	up := d.Transfer("w1", "uploading package Web", 2<<20)
	io.Copy(io.Discard, Reader(up, bytes.NewReader(make([]byte, 1<<20))))
	drawn(d, refresh)
	up.Done()
	d.Close()
	// A bound for a broken display, not a timing: the frame is written
	// already.
	ptmx.SetReadDeadline(time.Now().Add(10 * time.Second))
	var screen bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(screen.String(), "1.0 MiB / 2.0 MiB") {
		n, err := ptmx.Read(buf)
		screen.Write(buf[:n])
		if err != nil {
			t.Fatalf("no bar on the terminal: %v\n%q", err, screen.String())
		}
	}
	// The frame fills the terminal's 100 columns (a writer that is not a
	// terminal gets mpb's default of 80).
	line, _, _ := strings.Cut(screen.String(), "\r\n")
	if !strings.HasPrefix(line, "w1: uploading package Web") || len(line) != 100 {
		t.Errorf("frame %q (%d columns), want the bar across the terminal's 100", line, len(line))
	}
}
