//go:build integration

package integration

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode"
)

// The red team's masking attacks (reviews/security.md, HIGH 4, MEDIUM 5-7,
// LOW 8): each reproduction must leak nothing.

// oneWorkerRunbook writes a cuttle.yaml with w1 (the shared worker) and,
// in a directory of its own, the runbook rb (its %[1]s is the base
// image); it returns both paths.
func oneWorkerRunbook(t *testing.T, rb string) (cfg, file string) {
	t.Helper()
	return sharedWorkerConfig(t, ""), writeFile(t, filepath.Join(t.TempDir(), "rb.yaml"), fmt.Sprintf(rb, env.image), 0o644)
}

// killWhenReady starts cmd, reads its first line, "ready <work dir>", and
// kills it there (the step goes on without its controller).
func killWhenReady(t *testing.T, cmd *exec.Cmd) (workDir string) {
	t.Helper()
	pipe, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first, err := bufio.NewReader(pipe).ReadString('\n')
	// A step on one worker prints its lines unprefixed, as ssh would.
	_, wd, ok := strings.Cut(strings.TrimSpace(first), "ready ")
	if err != nil || !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("first line %q (%v)", first, err)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	go io.Copy(io.Discard, pipe)
	cmd.Wait()
	return wd
}

// assertNoLeak fails when any of needles is in the output or the report.
func assertNoLeak(t *testing.T, r result, needles ...string) {
	t.Helper()
	for _, n := range needles {
		for where, text := range map[string]string{"stdout": r.stdout, "stderr": r.stderr, "report": r.report.Raw} {
			if strings.Contains(text, n) {
				t.Errorf("%q leaked in %s:\n%s", n, where, text)
			}
		}
	}
}

// assertStepsLeftNothing checks every step of a runbook's report.
func assertStepsLeftNothing(t *testing.T, r result) {
	t.Helper()
	for _, s := range r.report.Steps {
		one := r
		one.report.Steps = []reportStep{s}
		assertNothingLeft(t, one)
	}
}

// The runbook of HIGH 4 and MEDIUM 7: step a holds a step-scoped secret
// and copies it into a plain output variable, masks another value, and
// puts the secret into a variable's name; step b prints all of it.
const leakRunbook = `steps:
  - name: a
    worker: w1
    sensitive_variables: {DbPass: CUTTLE_IT_SECRET}
    container: {image: %[1]s, pull: never}
    script: {inline: 'pw="$(get_octopusvariable DbPass)"; set_octopusvariable Leak "pw=$pw"; echo "##octopus[mask value=''$(printf masked-Value-5544 | base64)'']"; echo "##octopus[setVariable name=''$(printf "N-%%s" "$pw" | base64 -w0)'' value=''eA=='']"; set_octopusvariable Basic "$(printf "robot:%%s" "$pw" | base64 -w0)"'}
  - name: b
    worker: w1
    container: {image: %[1]s, pull: never}
    script: {inline: 'v="$(get_octopusvariable "Octopus.Action[a].Output.Leak")"; echo "leak=$v len=${#v}"; echo "m=masked-Value-5544"; echo "auth=$(get_octopusvariable "Octopus.Action[a].Output.Basic")"; echo "basic=$(printf "user:%%s" "${v#pw=}" | base64 -w0)"; printf "%%s\n" "${!octopus_parameters[@]}" | grep -c "Output.N-" || true; exit 3'}
`

// TestAttackMasksAreRunWide: nothing masked in step a is printed by step
// b, in the report, the logs or the final error; the copy still reaches
// step b whole.
func TestAttackMasksAreRunWide(t *testing.T) {
	t.Parallel()
	secret := randomSecret(t)
	cfg, rb := oneWorkerRunbook(t, leakRunbook)
	r := runCuttleEnv(t, []string{"CUTTLE_IT_SECRET=" + secret}, "runbook", "run", rb, "--config", cfg)
	if r.code != 3 || len(r.report.Steps) != 2 {
		t.Fatalf("exit %d, %d steps\nstdout: %s\nstderr: %s", r.code, len(r.report.Steps), r.stdout, r.stderr)
	}
	if want := fmt.Sprintf("leak=******** len=%d", len("pw="+secret)); !hasLine(r.stdout, want) {
		t.Errorf("step b did not get the copy whole, masked (want %q):\n%s", want, r.stdout)
	}
	if !hasLine(r.stdout, "m=********") || !hasLine(r.stdout, "auth=********") {
		t.Errorf("a masked value or the copy's encoding is printed by step b:\n%s", r.stdout)
	}
	if !hasLine(r.stdout, "0") {
		t.Errorf("the variable named after the secret reached step b:\n%s", r.stdout)
	}
	a := r.report.Steps[0].OutputVariables
	if a["Leak"] != "********" || a["Basic"] != "********" || len(a) != 2 {
		t.Errorf("step a's output variables in the report: %v", a)
	}
	basic := base64.StdEncoding.EncodeToString([]byte("user:" + secret))
	assertNoLeak(t, r, secret, "masked-Value-5544", basic[8:len(basic)-4])
	assertStepsLeftNothing(t, r)
}

// TestAttackMasksInServeRunLog: the same runbook on a schedule: serve's
// run log holds none of it.
func TestAttackMasksInServeRunLog(t *testing.T) {
	t.Parallel()
	secret := randomSecret(t)
	cfg, rb := oneWorkerRunbook(t, `schedule: "@every 1s"
`+leakRunbook)
	rbDir, state := filepath.Dir(rb), t.TempDir() // the runbook's directory holds it alone
	cmd, _ := cuttleCmd(t, "serve", "--listen", "127.0.0.1:0", "--config", cfg, "--runbooks", rbDir, "--state", state)
	cmd.Env = append(cmd.Env, "CUTTLE_IT_SECRET="+secret)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		<-exited
	}
	deadline := time.Now().Add(90 * time.Second)
	for finishedRuns(t, state) == 0 {
		select {
		case err := <-exited:
			t.Fatalf("serve ended (%v) before a run was recorded:\n%s", err, stderr.String())
		case <-time.After(200 * time.Millisecond): // polling an outside process, bounded by the deadline
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("no run recorded within 90s:\n%s", stderr.String())
		}
	}
	stop()
	run, log := firstRun(t, state)
	if run.Status != "failed" {
		t.Fatalf("run %+v", run)
	}
	if !strings.Contains(log, "leak=******** len=") || !strings.Contains(log, "script exited with code 3") {
		t.Errorf("the run log lacks step b's output or the failure:\n%s", log)
	}
	// Nothing under the state directory holds the secret: the database,
	// its journal, or a log file left behind.
	filepath.WalkDir(state, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		for _, n := range []string{secret, "masked-Value-5544"} {
			if strings.Contains(string(b), n) || strings.Contains(log, n) {
				t.Errorf("%q leaked in the run log or %s", n, path)
			}
		}
		return nil
	})
}

// TestAttackMasksInAttachReport: a step taken over by `cuttle attach`
// is reported masked with the step's masks (its masks file and what its
// output masked): a copied secret and fail_step's text.
func TestAttackMasksInAttachReport(t *testing.T) {
	t.Parallel()
	secret := randomSecret(t)
	state := t.TempDir()
	cmd, _ := cuttleCmd(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--reattach-window", "30s", "--sensitive-var", "S=CUTTLE_IT_SECRET",
		"--inline", `pw="$(get_octopusvariable S)"; set_octopusvariable Copy "pw=$pw"; echo "ready $PWD"; while [ ! -e go ]; do sleep 0.05; done; fail_step "failed with $pw"`)...)
	cmd.Env = append(cmd.Env, "CUTTLE_STATE_DIR="+state, "CUTTLE_IT_SECRET="+secret)
	wd := killWhenReady(t, cmd)
	goAhead(t, wd)
	rep := filepath.Join(t.TempDir(), "report.json")
	r := runAttach(t, state, filepath.Base(wd), "--identity", env.key.PrivateFile, "--known-hosts", env.sshd.KnownHosts, "--report", rep)
	r.report = readReport(t, rep)
	if r.code != 1 || len(r.report.Steps) != 1 {
		t.Fatalf("attach: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if s := r.report.Steps[0]; s.ResultMessage != "failed with ********" || s.OutputVariables["Copy"] != "********" {
		t.Errorf("attached step's report: result %q, variables %v", s.ResultMessage, s.OutputVariables)
	}
	assertNoLeak(t, r, secret)
	assertNothingLeft(t, r)
}

// TestAttackSecretAcrossLineSplit (MEDIUM 5): a secret just before the
// 1 MiB mark of a line, and a 3 MB line of nothing but the secret: every
// cut of the long lines falls between occurrences.
func TestAttackSecretAcrossLineSplit(t *testing.T) {
	t.Parallel()
	secret := randomSecret(t)
	const repeats = 150000
	r := runCuttleEnv(t, []string{"CUTTLE_IT_SECRET=" + secret}, append(workerArgs(), "--image", env.image, "--pull", "never", "--sensitive-var", "DbPass=CUTTLE_IT_SECRET",
		"--inline", fmt.Sprintf(`s=$(get_octopusvariable DbPass)
head -c $((1048576 - 10)) /dev/zero | tr '\0' 'x'; printf '%%s' "$s"; printf ' tail\n'
yes "$s" | head -n %d | tr -d '\n'; echo`, repeats))...)
	if r.code != 0 {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	want := strings.Repeat("x", 1<<20-10) + "******** tail\n" + strings.Repeat("********", repeats) + "\n"
	if r.stdout != want {
		i := 0
		for i < min(len(want), len(r.stdout)) && want[i] == r.stdout[i] {
			i++
		}
		t.Errorf("stdout (%d bytes, want %d) differs from byte %d: %q", len(r.stdout), len(want), i, r.stdout[max(0, i-20):min(len(r.stdout), i+40)])
	}
	assertNoLeak(t, r, secret[:10])
	assertNothingLeft(t, r)
}

// TestAttackLargeSensitiveOutputVariable (MEDIUM 6): a 10 MB -sensitive
// output variable is set (the next step gets it whole) and never printed.
func TestAttackLargeSensitiveOutputVariable(t *testing.T) {
	t.Parallel()
	cfg, rb := oneWorkerRunbook(t, `steps:
  - name: a
    worker: w1
    container: {image: %[1]s, pull: never}
    script: {inline: 'big="BIGSECRET-$(head -c 10485760 /dev/zero | tr "\0" y)-END"; echo before; set_octopusvariable Big "$big" -sensitive; echo after'}
  - name: b
    worker: w1
    container: {image: %[1]s, pull: never}
    script: {inline: 'v="$(get_octopusvariable "Octopus.Action[a].Output.Big")"; echo "len=${#v} ends=${v: -4}"'}
`)
	r := runCuttle(t, "runbook", "run", rb, "--config", cfg)
	if r.code != 0 || len(r.report.Steps) != 2 {
		t.Fatalf("exit %d\nstderr: %s", r.code, r.stderr)
	}
	if want := "before\nafter\nlen=10485774 ends=-END\n"; r.stdout != want {
		t.Errorf("stdout is %d bytes, starting %q; want %q", len(r.stdout), r.stdout[:min(len(r.stdout), 200)], want)
	}
	if got := r.report.Steps[0].OutputVariables["Big"]; got != "********" {
		t.Errorf("report: Big = %.40q", got)
	}
	assertNoLeak(t, r, "BIGSECRET", base64.StdEncoding.EncodeToString([]byte("BIGSECRET-yyy")), "yyyyyyyy")
	assertStepsLeftNothing(t, r)
}

// TestAttackWorkerTextInLogs (LOW 8): fail_step text with a forged log
// line and terminal escapes, and a malformed service message, reach the
// logs escaped, in both formats; JSON log lines have no key twice.
func TestAttackWorkerTextInLogs(t *testing.T) {
	t.Parallel()
	script := `echo "##octopus[setVariable name='@@$(printf '\033[2J')']"; fail_step "$(printf 'bad\n19:99:99 INF all good, fake line \033]52;c;cHduZWQ=\a')"`
	for _, format := range []string{"console", "json"} {
		r := runCuttle(t, append(workerArgs(), "--image", env.image, "--pull", "never", "--log-format", format, "--inline", script)...)
		if r.code != 1 || step(t, r).ResultMessage != "bad\n19:99:99 INF all good, fake line \x1b]52;c;cHduZWQ=\a" {
			t.Fatalf("%s: exit %d, report %+v\nstderr: %s", format, r.code, r.report.Steps, r.stderr)
		}
		if strings.ContainsAny(r.stderr, "\x1b\a") || strings.Contains(r.stderr, "\n19:99:99") {
			t.Errorf("%s: the script's text drives the controller's log:\n%q", format, r.stderr)
		}
		logged := r.stderr
		if format == "json" {
			logged = ""
			for _, line := range strings.Split(strings.TrimSpace(r.stderr), "\n") {
				logged += checkJSONLogLine(t, line)["message"] + "\n"
			}
		}
		if !strings.Contains(logged, `bad\n19:99:99 INF all good, fake line \x1b]52;c;cHduZWQ=\a`) {
			t.Errorf("%s: the fail_step text is not in the log, escaped:\n%s", format, logged)
		}
		assertNothingLeft(t, r)
	}
}

// checkJSONLogLine fails on a line that is not a JSON object, that has a
// key twice, or whose decoded values hold a control character; it
// returns the line's string fields.
func checkJSONLogLine(t *testing.T, line string) map[string]string {
	t.Helper()
	fields := map[string]string{}
	dec := json.NewDecoder(strings.NewReader(line))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Errorf("log line is not a JSON object: %q", line)
		return fields
	}
	seen := map[string]bool{}
	for dec.More() {
		k, err := dec.Token()
		var v any
		if err == nil {
			err = dec.Decode(&v)
		}
		if err != nil {
			t.Errorf("log line %q: %v", line, err)
			return fields
		}
		key := k.(string)
		if seen[key] {
			t.Errorf("log line has %q twice: %s", key, line)
		}
		seen[key] = true
		if s, ok := v.(string); ok {
			fields[key] = s
			if strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) {
				t.Errorf("log field %s holds a control character: %q", key, s)
			}
		}
	}
	return fields
}
