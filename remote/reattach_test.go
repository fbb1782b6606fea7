package remote

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/wire"
)

// TestFollowerWithoutExitCode: a follower that ends well but sent no exit
// code (which cuttle's own never does) is an error, not exit 0.
func TestFollowerWithoutExitCode(t *testing.T) {
	key := make([]byte, wire.LogKeySize)
	err := followToEnd(t.Context(), &countingShell{}, runPlan{StepID: "s", WorkDir: "/h/.cuttle/work/s"}, key, &attachment{}, time.Minute, func() {}, false, zerolog.Nop())
	var se *StepError
	if !errors.As(err, &se) || !strings.Contains(err.Error(), "without the step's exit code") {
		t.Fatalf("err = %v, want a StepError about the missing exit code", err)
	}
}
