package fleet

import (
	"context"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/transport"
)

// TestForEachErrorsPerWorker: every worker gets its own outcome, and a
// worker that cannot be resolved or dialled never reaches fn. No dial
// leaves the machine: the fingerprint is refused before any connect.
func TestForEachErrorsPerWorker(t *testing.T) {
	testHome(t)
	cfg := &config.Config{Workers: map[string]config.Worker{
		"a":  {Host: "127.0.0.1", Port: 1},
		"pw": {Host: "127.0.0.1", Port: 1, PasswordEnv: "CUTTLE_TEST_UNSET"},
	}}
	names := []string{"pw", "ssh://u@127.0.0.1:1", "a"}
	called := 0
	errs := ForEach(t.Context(), cfg, names, Defaults{Fingerprint: "MD5:aa", SSHConfig: "none"}, 0, func(context.Context, string, *transport.Conn) error {
		called++
		return nil
	})
	if called != 0 {
		t.Errorf("fn called %d times", called)
	}
	if len(errs) != 3 {
		t.Fatalf("errs = %v", errs)
	}
	for _, n := range []string{"a", "ssh://u@127.0.0.1:1"} {
		if err := errs[n]; err == nil || !strings.Contains(err.Error(), `host key fingerprint "MD5:aa": want the SHA256:... form`) {
			t.Errorf("%s: %v", n, err)
		}
	}
	if err := errs["pw"]; err == nil || err.Error() != "worker pw: password_env CUTTLE_TEST_UNSET is not set" {
		t.Errorf("pw: %v", err)
	}
}
