package remote

import "testing"

// TestDockerComplaint: docker run's own failure is summed up by what it
// complained of, not by the usage lines after it.
func TestDockerComplaint(t *testing.T) {
	for stderr, want := range map[string]string{
		// docker 28 with a mistyped option (captured).
		"unknown flag: --memroy\n\nUsage:  docker run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'docker run --help' for more information\n": "unknown flag: --memroy",
		"docker: Error response from daemon: invalid mount config.\nSee 'docker run --help'.\n":                                             "docker: Error response from daemon: invalid mount config.",
		"some message\n": "some message",
		"":               "no message",
	} {
		if got := dockerComplaint(stderr); got != want {
			t.Errorf("dockerComplaint(%q) = %q, want %q", stderr, got, want)
		}
	}
}
