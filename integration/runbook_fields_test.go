//go:build integration

package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestScriptNormalisedAsCalamari runs a script saved on Windows: a byte
// order mark and CRLF line ends, which bash would trip over (a command
// named "\ufeff#!/bin/bash", "set: -\r: invalid option", "a\r").
func TestScriptNormalisedAsCalamari(t *testing.T) {
	t.Parallel()
	r := runBash(t, nil, bom+"#!/bin/bash\r\nset -eu\r\nword=a\r\necho \"[$word]\"\r\n", "--var", "Octopus.Action.FailScriptOnErrorOutput=True")
	mustSucceed(t, r)
	if !hasLine(r.stdout, "[a]") || strings.Contains(r.stdout, "\r") || r.stderr != "" {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
}

// TestErrorOutputOfServiceMessagesOnly: with
// Octopus.Action.FailScriptOnErrorOutput, service messages and blank lines
// on stderr do not fail the step (Calamari's own bootstrap writes a mask
// message there), a line with text does, even one that ends the output
// without a newline.
func TestErrorOutputOfServiceMessagesOnly(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, script string
		fails        bool
	}{
		{"service messages and blank lines", "echo \"##octopus[mask value='$(encode_servicemessagevalue k3y-v4lue)']\" >&2\necho '   ' >&2\necho fine", false},
		{"text without a newline", "printf 'late warning' >&2", true},
		{"text before a service message", "echo \"note ##octopus[stdout-default]\" >&2", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := runBash(t, nil, "#!/bin/bash\n"+c.script+"\n", "--var", "Octopus.Action.FailScriptOnErrorOutput=true")
			if (r.code != 0) != c.fails {
				t.Fatalf("exit %d, want failure %v\nstderr %s", r.code, c.fails, r.stderr)
			}
		})
	}
}

// tempFile writes body to a file named name in a fresh directory.
func tempFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeRunbook writes a runbook file.
func writeRunbook(t *testing.T, body string) string {
	t.Helper()
	return tempFile(t, "runbook.yaml", body)
}

// TestRunbookFieldsAreTemplates: a runbook step's worker, pool, image,
// container options, parameters and variables are Octopus templates over
// the runbook's variables, as in Octopus; runbook variables whose names
// hold '=' keep them.
func TestRunbookFieldsAreTemplates(t *testing.T) {
	t.Parallel()
	cfg := oneWorkerConfig(t, "", "")
	rb := writeRunbook(t, fmt.Sprintf(`variables:
  Image: %s
  Where: w1
  Pool: linux
  Who: world
  Greeting: "hello #{Who}"
  "Odd=Name": "kept = whole"
  Opts: "--env FROM_OPTS=#{Who | ToUpper}"
steps:
  - name: by-worker
    worker: "#{Where}"
    container: {image: "#{Image}", options: "#{Opts}", pull: never}
    parameters: '"#{Greeting}" ''two words'' $HOME'
    variables: {Derived: "#{Greeting}!"}
    script: {inline: 'echo "1=[$1] 2=[$2] 3=[$3] n=$#"; echo "odd=[$(get_octopusvariable "Odd=Name")]"; echo "derived=[$(get_octopusvariable Derived)]"; echo "opts=[$FROM_OPTS]"'}
  - name: by-pool
    pool: "#{Pool}"
    container: {image: "#{Image}", pull: never}
    script: {inline: 'echo "on $(get_octopusvariable Octopus.Machine.Name)"'}
`, env.image))
	r := runCuttle(t, "runbook", "run", rb, "--config", cfg)
	mustSucceed(t, r)
	// One worker each: the lines come unprefixed, as from ssh.
	for _, want := range []string{"1=[hello world] 2=[two words] 3=[/root] n=3", "odd=[kept = whole]",
		"derived=[hello world!]", "opts=[WORLD]", "on w1"} {
		if !hasLine(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

// TestRunbookFieldRefusesSensitive: a field that reads a sensitive
// variable would put the secret in docker's command line on the worker:
// the step is refused before anything runs, naming the field and the fix.
func TestRunbookFieldRefusesSensitive(t *testing.T) {
	t.Parallel()
	cfg := oneWorkerConfig(t, "", "")
	for _, c := range []struct{ name, container, want string }{
		{"image", `{image: "%s:#{Tag}", pull: never}`, "container.image refers to sensitive variable #{Tag}"},
		{"options", `{image: %s, options: "--env X=#{Tag}", pull: never}`, "container.options refers to sensitive variable #{Tag}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rb := writeRunbook(t, `sensitive_variables: {Tag: CUTTLE_IT_TAG}
steps:
  - name: refused
    worker: w1
    container: `+fmt.Sprintf(c.container, env.image)+`
    script: {inline: 'echo RAN'}
`)
			r := runCuttleEnv(t, []string{"CUTTLE_IT_TAG=s3cr3t-tag"}, "runbook", "run", rb, "--config", cfg)
			if r.code != 125 || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stdout, "RAN") {
				t.Fatalf("exit %d, want 125 with %q\nstdout %s\nstderr %s", r.code, c.want, r.stdout, r.stderr)
			}
			if strings.Contains(r.stderr+r.report.Raw, "s3cr3t-tag") {
				t.Errorf("the secret shows:\n%s\n%s", r.stderr, r.report.Raw)
			}
		})
	}
}

// TestRunbookRetries: a failed step runs again, each attempt in a fresh
// work directory that is removed after it; each failed attempt is logged
// and all are listed in the report. The first step fails once (a host
// directory mounted into both attempts remembers), the second always.
func TestRunbookRetries(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	if err := os.Chmod(state, 0o777); err != nil {
		t.Fatal(err)
	}
	// The operator grants the mount (a runbook cannot).
	cfg := oneWorkerConfig(t, ", allowed_mounts: ['"+state+":/state']", "")
	rb := writeRunbook(t, fmt.Sprintf(`steps:
  - name: flaky
    worker: w1
    retries: 2
    retry_delay: 10ms
    container: {image: %[1]s, pull: never, options: "-v %[2]s:/state"}
    script: {inline: 'echo "max=$(get_octopusvariable Octopus.Action.AutoRetry.MaximumCount) wd=$PWD"; if [ -e /state/ran ]; then echo second; exit 0; fi; touch /state/ran; echo first; exit 3'}
  - name: hopeless
    worker: w1
    retries: 1
    container: {image: %[1]s, pull: never}
    script: {inline: 'echo trying; exit 7'}
`, env.image, state))
	r := runCuttle(t, "runbook", "run", rb, "--config", cfg)
	if r.code != 7 {
		t.Fatalf("exit %d, want 7 (the hopeless step's)\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	// One worker: the attempts' lines come unprefixed, in order.
	if first, second := strings.Index(r.stdout, "\nfirst\n"), strings.Index(r.stdout, "\nsecond\n"); first < 0 || second < first ||
		strings.Count(r.stdout, "trying\n") != 2 || !strings.HasPrefix(r.stdout, "max=2 ") {
		t.Errorf("stdout:\n%s", r.stdout)
	}
	if n := strings.Count(r.stderr, "running the step again"); n != 2 {
		t.Errorf("%d retries logged, want 2 (flaky once, hopeless once):\n%s", n, r.stderr)
	}
	steps := calamariSteps(t, r)
	if len(steps) != 2 {
		t.Fatalf("report has %d steps", len(steps))
	}
	for i, wantCodes := range [][]int{{3, 0}, {7, 7}} {
		attempts := steps[i].Attempts
		if len(attempts) != len(wantCodes) {
			t.Fatalf("step %s: %d attempts, want %d:\n%s", r.report.Steps[i].Name, len(attempts), len(wantCodes), r.report.Raw)
		}
		for j, a := range attempts {
			if a.Attempt != j+1 || a.ExitCode != wantCodes[j] || a.WorkDir == "" || !strings.Contains(r.stdout, "wd="+a.WorkDir+"\n") && i == 0 {
				t.Errorf("step %s attempt %d = %+v, want exit %d in its own work dir", r.report.Steps[i].Name, j+1, a, wantCodes[j])
			}
			if j > 0 && a.WorkDir == attempts[j-1].WorkDir {
				t.Errorf("attempts %d and %d share work dir %s", j, j+1, a.WorkDir)
			}
			checkStepGone(t, reportStep{Name: fmt.Sprintf("%s attempt %d", r.report.Steps[i].Name, a.Attempt), ID: a.ID, WorkDir: a.WorkDir})
		}
		if last := attempts[len(attempts)-1]; last.ID != r.report.Steps[i].ID || last.ExitCode != r.report.Steps[i].ExitCode {
			t.Errorf("step %s: last attempt %+v is not the step's result %+v", r.report.Steps[i].Name, last, r.report.Steps[i])
		}
	}
}

// TestScriptParametersPosixSh: under --syntax sh the parameters become
// the script's arguments too.
func TestScriptParametersPosixSh(t *testing.T) {
	t.Parallel()
	r := runBash(t, nil, "echo \"n=$# 1=[$1] 2=[$2]\"", "--syntax", "sh", "--script-parameters", `'a b' "c"`)
	mustSucceed(t, r)
	if !hasLine(r.stdout, "n=2 1=[a b] 2=[c]") {
		t.Errorf("stdout %q", r.stdout)
	}
}

// TestTargetHelpersRecorded: new_octopustarget and remove_octopustarget
// (bash, and POSIX sh through the shebang) end in the report's targets,
// since cuttle has no target model; a sensitive value inside the inputs
// stays masked there.
func TestTargetHelpersRecorded(t *testing.T) {
	t.Parallel()
	type target struct {
		Action           string `json:"action"`
		Name             string `json:"name"`
		TargetID         string `json:"target_id"`
		Inputs           string `json:"inputs"`
		Roles            string `json:"roles"`
		WorkerPool       string `json:"worker_pool"`
		UpdateIfExisting bool   `json:"update_if_existing"`
		Machine          string `json:"machine"`
	}
	want := []target{
		{Action: "create", Name: "web 1", TargetID: "t-1", Inputs: `{"pw":"********"}`, Roles: "web,api", WorkerPool: "linux", UpdateIfExisting: true},
		{Action: "delete", Machine: "old-web"},
	}
	script := `new_octopustarget -n "web 1" --target-id t-1 --inputs "{\"pw\":\"$(get_octopusvariable Pw)\"}" --roles web,api --worker-pool linux --update-if-existing
remove_octopustarget old-web
`
	for _, shebang := range []string{"#!/bin/bash", "#!/bin/sh"} {
		t.Run(shebang, func(t *testing.T) {
			t.Parallel()
			r := runBash(t, []string{"CUTTLE_IT_TARGET_PW=t4rget-s3cret"}, shebang+"\n"+script, "--sensitive-var", "Pw=CUTTLE_IT_TARGET_PW")
			mustSucceed(t, r)
			var rep struct {
				Steps []struct {
					Targets []target `json:"targets"`
				} `json:"steps"`
			}
			if err := json.Unmarshal([]byte(r.report.Raw), &rep); err != nil || len(rep.Steps) != 1 {
				t.Fatalf("report: %v\n%s", err, r.report.Raw)
			}
			if diff := cmp.Diff(want, rep.Steps[0].Targets); diff != "" {
				t.Errorf("targets (-want +got):\n%s", diff)
			}
			if strings.Contains(r.stdout+r.stderr+r.report.Raw, "t4rget-s3cret") {
				t.Errorf("the sensitive value shows:\n%s\n%s", r.stderr, r.report.Raw)
			}
		})
	}
}
