package remote

import (
	"io"
	"slices"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// busy lets some time pass on the clock (the phases compare intervals,
// they assert no speed).
func busy() time.Duration {
	t0 := time.Now()
	for time.Since(t0) == 0 {
	}
	return time.Since(t0)
}

// phaseNames are the phases' names in order.
func phaseNames(ps Phases) []string {
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
	}
	return names
}

// checkPhases checks that the phases are want, in order, add up to at
// most the step's duration, and that each phase in within holds the
// interval the fake worker spent in it.
func checkPhases(t *testing.T, res Result, want []string, within map[string]time.Duration) {
	t.Helper()
	if got := phaseNames(res.Phases); !slices.Equal(got, want) {
		t.Errorf("phases %v, want %v", got, want)
	}
	if total := res.Phases.Total(); total > res.Duration || total <= 0 {
		t.Errorf("phases add up to %s, the step took %s: want (0, duration]", total, res.Duration)
	}
	for name, d := range within {
		if got, _ := res.Phases.Get(name); got < d {
			t.Errorf("phase %s = %s, but the worker spent %s in it", name, got, d)
		}
	}
}

// The full path: the preflight, then docker run, whose time before its
// first output is the start and after it the script, then the cleanup.
func TestPhasesFullPath(t *testing.T) {
	spent := map[string]time.Duration{}
	w := &fakeWorker{started: "2026", preflightRun: func(cmd *transport.Cmd) error {
		spent[PhasePreflight] = busy()
		io.WriteString(cmd.Stdout, factsOK) // no launch line: the full path
		return nil
	}, dockerRun: func(cmd *transport.Cmd) error {
		spent[PhaseStart] = busy()
		io.WriteString(cmd.Stdout, "hi\n")
		spent[PhaseScript] = busy()
		return nil
	}}
	res, err := NewController().Run(t.Context(), w, testBundle, Step{Name: "s", Image: "img:1", Pull: PullMissing, Script: []byte("x"), Syntax: "bash"}, Output{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	checkPhases(t, res, []string{PhasePreflight, PhaseBundle, PhaseImage, PhaseStart, PhaseScript, PhaseOutput, PhaseCleanup}, spent)
	res.AddConnect(time.Second)
	if d, _ := res.Phases.Get(PhaseConnect); res.Phases[0].Name != PhaseConnect || d != time.Second || res.Phases.Total() > res.Duration {
		t.Errorf("after AddConnect: phases %v, duration %s", res.Phases, res.Duration)
	}
}

// The fast path: the preflight ends when the runner launches the step; a
// step that prints nothing has no start phase of its own.
func TestPhasesFastPath(t *testing.T) {
	spent := map[string]time.Duration{}
	w := &fakeWorker{started: "2026", preflightRun: func(cmd *transport.Cmd) error {
		spent[PhasePreflight] = busy()
		io.WriteString(cmd.Stdout, factsOK+wire.LaunchLine+"\n")
		spent[PhaseScript] = busy()
		return nil
	}}
	res, err := NewController().Run(t.Context(), w, testBundle, Step{Name: "s", Image: "img:1", Pull: PullMissing, Script: []byte("x"), Syntax: "bash"}, Output{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	checkPhases(t, res, []string{PhasePreflight, PhaseScript, PhaseOutput, PhaseCleanup}, spent)
}
