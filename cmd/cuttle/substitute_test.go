package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSubstituteCommand(t *testing.T) {
	t.Setenv("CUTTLE_TEST_SUB_SECRET", "hunter2")
	for _, tc := range []struct {
		name, stdin, out, errText string
		args                      []string
		code                      int
	}{
		{name: "template", args: []string{"--var", "Env=prod", "--var", "Roles=web,db"},
			stdin: "#{Env | ToUpper}:#{each r in Roles}#{r}#{unless Octopus.Template.Each.Last}+#{/unless}#{/each} #{Missing}",
			out:   "PROD:web+db #{Missing}", errText: "#{Missing}"},
		{name: "parse error names the position", stdin: "ok\n #{Env", code: exitCannotRun, errText: "line 2, column 2"},
		{name: "sensitive refused", args: []string{"--sensitive-var", "Pw=CUTTLE_TEST_SUB_SECRET"}, stdin: "#{Pw}", code: exitCannotRun, errText: "get_octopusvariable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(t.Context(), append([]string{"substitute"}, tc.args...), stdio{In: strings.NewReader(tc.stdin), Out: &out, Err: &errb})
			if code != tc.code || out.String() != tc.out || !strings.Contains(errb.String(), tc.errText) {
				t.Fatalf("code %d, stdout %q, stderr %q", code, out.String(), errb.String())
			}
			if strings.Contains(out.String()+errb.String(), "hunter2") {
				t.Fatal("the secret was printed")
			}
		})
	}
}
