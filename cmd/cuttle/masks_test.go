package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/remote"
)

// TestReportMasksEverything: the report masks what the script chose as
// well as what it printed: variable names, artifact names and paths, the
// result message and errors.
func TestReportMasksEverything(t *testing.T) {
	const secret = "S3cr3t-Zq9xW7"
	res := remote.Result{
		OutputVariables: map[string]remote.OutputVariable{
			"N-" + secret: {Value: "x"},
			"Copy":        {Value: "pw=" + secret},
			"Sens":        {Value: "anything", Sensitive: true},
		},
		Artifacts:     []remote.Artifact{{Name: secret + ".txt", Path: "/arts/a/" + secret + ".txt"}},
		ResultMessage: "failed with " + secret,
		CleanupErr:    errors.New("rm " + secret),
	}
	var sr stepReport
	sr.record(res, errors.New("docker said "+secret), mask.NewSet(secret))
	b, err := json.Marshal(sr)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) {
		t.Fatalf("the report holds the secret: %s", b)
	}
	if sr.OutputVariables["N-"+mask.Placeholder] != "x" || sr.OutputVariables["Copy"] != "pw="+mask.Placeholder || sr.OutputVariables["Sens"] != mask.Placeholder {
		t.Fatalf("output variables: %v", sr.OutputVariables)
	}
}

// TestConsoleLogEscapesMessages: a worker's text in a log message cannot
// forge a log line or reach the terminal as an escape sequence.
func TestConsoleLogEscapesMessages(t *testing.T) {
	var buf bytes.Buffer
	log, err := newLogger(stdio{Err: &buf}, "console", "info")
	if err != nil {
		t.Fatal(err)
	}
	log.Error().Str("detail", "a\x1b[2Jb").Msg("bad\n19:99:99 INF all good\x1b]52;c;cHduZWQ=\a")
	out := buf.String()
	if strings.Count(out, "\n") != 1 || strings.ContainsAny(out, "\x1b\a") || !strings.Contains(out, `bad\n19:99:99 INF all good\x1b]52;c;cHduZWQ=\a`) {
		t.Fatalf("console log line: %q", out)
	}
	var errb bytes.Buffer
	root := &cobra.Command{}
	root.SetErr(&errb)
	if code := exitCode(root, errors.New("step: docker said \x1b]0;title\a\nok")); code != exitCannotRun || errb.String() != "cuttle: step: docker said \\x1b]0;title\\a\nok\n" {
		t.Fatalf("exit %d, printed %q", code, errb.String())
	}
}
