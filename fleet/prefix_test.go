package fleet

import (
	"bytes"
	"context"
	"io"
	"sort"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/remote"
)

// TestOutputPrefixOnlyWhenInterleaved: a step on one worker prints as ssh
// would, partial last line and all; a fan-out and steps run in parallel
// prefix each line with [step@worker].
func TestOutputPrefixOnlyWhenInterleaved(t *testing.T) {
	say := func(_ context.Context, worker string, st remote.Step, out remote.Output) (remote.Result, error) {
		io.WriteString(out.Stdout, st.Name+" on "+worker+"\n")
		return remote.Result{}, nil
	}
	for _, tc := range []struct {
		name  string
		steps []config.RunbookStep
		want  string
	}{
		{"one worker", []config.RunbookStep{step("a", "w1"), step("b", "w2")}, "a on w1\nb on w2\n"},
		{"fan-out", []config.RunbookStep{step("a", "", onPool("linux", "all"))}, "[a@a] a on a\n[a@b] a on b\n[a@c] a on c\n"},
		{"parallel", []config.RunbookStep{step("a", "w1"), step("b", "w2", parallelWithPrevious), step("c", "w1")},
			"[a@w1] a on w1\n[b@w2] b on w2\nc on w1\n"},
	} {
		f := &fakeFleet{do: say}
		var logs bytes.Buffer
		ctx := zerolog.New(zerolog.SyncWriter(&logs)).WithContext(t.Context()) // steps run at once log at once
		if _, err := f.runner(testConfig()).Run(ctx, &config.Runbook{Name: "rb", Steps: tc.steps}, nil); err != nil {
			t.Fatal(err)
		}
		// Each step on each worker has its header in the log.
		for _, line := range strings.Split(strings.TrimSpace(tc.want), "\n") {
			name, worker, _ := strings.Cut(strings.TrimPrefix(line[strings.Index(line, "]")+1:], " "), " on ")
			if want := `"message":"step ` + name + ` on ` + worker + `"`; !strings.Contains(logs.String(), want) {
				t.Errorf("%s: log lacks %s:\n%s", tc.name, want, logs.String())
			}
		}
		if got := sortedLines(f.out.String()); got != sortedLines(tc.want) {
			t.Errorf("%s: output %q, want %q", tc.name, f.out.String(), tc.want)
		}
	}
}

// sortedLines is s's lines in order, for output of steps run at once.
func sortedLines(s string) string {
	lines := strings.SplitAfter(s, "\n")
	sort.Strings(lines)
	return strings.Join(lines, "")
}
