//go:build integration

package integration

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/creack/pty"
)

// TestLiveOutputOnATerminal: with stdout a terminal, a partial line shows
// before its newline, through SSH, the runner and the output processor;
// the start of a sensitive value is held until the bytes that complete
// it, then masked. stderr is a pipe: no progress is drawn on it.
func TestLiveOutputOnATerminal(t *testing.T) {
	t.Parallel()
	// Ending in "c", the secret ends with the first byte of its own
	// base64 ("czNj..."): a live piece once stopped there and showed the
	// rest unmasked.
	secret := randomSecret(t) + "c"
	state := t.TempDir()
	if err := os.Chmod(state, 0o777); err != nil {
		t.Fatal(err)
	}
	cfg := oneWorkerConfig(t, ", allowed_mounts: ['"+state+":/state']", "")
	// The script waits for the test to have seen the partial line: a
	// file it creates, looked for in a loop.
	script := `printf 'half '; printf '%s' "$(get_octopusvariable Pw)" | head -c 5
while [ ! -e /state/go ]; do sleep 0.05; done
printf '%s' "$(get_octopusvariable Pw)" | tail -c +6; echo ' done'`
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	cmd, _ := cuttleCmd(t, "run", "--config", cfg, "--worker", "w1", "--image", env.image, "--pull", "never",
		"--container-options", "-v "+state+":/state", "--sensitive-var", "Pw=CUTTLE_IT_PW", "--inline", script)
	cmd.Env = append(cmd.Env, "CUTTLE_IT_PW="+secret)
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = tty, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	var screen bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(screen.String(), "half ") {
		n, err := ptmx.Read(buf)
		screen.Write(buf[:n])
		if err != nil {
			cmd.Wait()
			t.Fatalf("the partial line never showed: %v\nscreen %q\nstderr %s", err, screen.String(), errb.String())
		}
	}
	if strings.Contains(screen.String(), secret[:5]) {
		t.Errorf("the start of the secret showed before it was known: %q", screen.String())
	}
	if err := os.WriteFile(filepath.Join(state, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(&screen, ptmx)
	if err != nil && !errors.Is(err, syscall.EIO) { // EIO: the terminal's last user left
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v\nscreen %q\nstderr %s", err, screen.String(), errb.String())
	}
	if got := strings.ReplaceAll(screen.String(), "\r\n", "\n"); !strings.Contains(got, "half ******** done\n") || strings.Contains(got, secret[:5]) {
		t.Errorf("screen %q, want the line whole and masked", got)
	}
	if bytes.ContainsRune(errb.Bytes(), 0x1b) || strings.Contains(errb.String(), "uploading") {
		t.Errorf("progress drawn on a stderr that is not a terminal:\n%q", errb.String())
	}
}
