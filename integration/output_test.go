//go:build integration

package integration

import (
	"bufio"
	"io"
	"testing"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// TestLargeOutputBoundedMemory streams 100 MB through sshd, docker, the
// service-message scanner and the masker, and checks every byte arrived
// while the controller's memory stayed bounded.
func TestLargeOutputBoundedMemory(t *testing.T) {
	t.Parallel()
	const lines = 1_000_000 // 100 bytes each
	cmd, _ := cuttleCmd(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--sensitive-var", "S=CUTTLE_IT_S",
		"--inline", `yes 'line of output that is exactly one hundred bytes long, padded with dots ...........................' | head -n 1000000`)...)
	cmd.Env = append(cmd.Env, "CUTTLE_IT_S=never-printed-secret")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	peak := testenv.PeakRSS(cmd.Process.Pid)
	br := bufio.NewReaderSize(out, 1<<16)
	var n, count int64
	for {
		line, err := br.ReadSlice('\n')
		n += int64(len(line))
		if len(line) > 0 {
			count++
			if len(line) != 100 {
				t.Fatalf("line %d has %d bytes: %q", count, len(line), line)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("cuttle: %v", err)
	}
	if count != lines || n != lines*100 {
		t.Fatalf("got %d lines, %d bytes; want %d lines, %d bytes", count, n, lines, lines*100)
	}
	maxRSSKiB := <-peak
	if maxRSSKiB == 0 {
		t.Fatal("could not sample the controller's VmHWM")
	}
	t.Logf("controller peak RSS for 100 MB of output: %d MiB", maxRSSKiB>>10)
	if maxRSSKiB > 100<<10 {
		t.Errorf("controller peak RSS %d MiB for 100 MB of output: memory is not bounded", maxRSSKiB>>10)
	}
}
