package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/wire"
)

// fakeRunner stands in for the runner's base64 modes, which the helpers
// call, so the helpers run here under the real shells.
const fakeRunner = `#!/bin/sh
case "$1 $2 $3" in
  "step-runner base64 ") base64 -w0 ;;
  "step-runner base64 --decode") base64 -d ;;
  *) exit 64 ;;
esac
`

// runHelpers runs script after the helpers for shell (bash or sh) and
// returns its stdout lines.
func runHelpers(t *testing.T, shell, script string, vars ...wire.Variable) []string {
	t.Helper()
	dir := t.TempDir()
	runner := filepath.Join(dir, "runner")
	if err := os.WriteFile(runner, []byte(fakeRunner), 0o755); err != nil {
		t.Fatal(err)
	}
	// As in a bundle: the helper files side by side.
	for _, f := range bundle.HelperFiles() {
		if err := os.WriteFile(filepath.Join(dir, f.Name), f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	hp := filepath.Join(dir, wire.HelpersSh)
	if shell == "bash" {
		hp = filepath.Join(dir, wire.HelpersBash)
	}
	cmd := exec.Command(shell, "-c", `. "$CUTTLE_HELPERS" && eval "$1"`, "test", script)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "CUTTLE_RUNNER=" + runner, "CUTTLE_HELPERS=" + hp}
	if len(vars) > 0 {
		// As the runner hands them over: on fd 3.
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		go func() {
			w.Write(shellLines(vars))
			w.Close()
		}()
		cmd.ExtraFiles = []*os.File{r}
		cmd.Env = append(cmd.Env, "CUTTLE_VARIABLES_FD=3")
	}
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("%s: %v\n%s\n%s", shell, err, out, stderr)
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// TestHelpersPrintCalamarisMessages checks the helpers print, byte for
// byte, the service messages Calamari's BashFixture expects of its own
// Bootstrap.sh (and, for the target helpers, what Bootstrap.sh prints),
// under bash and under POSIX sh.
func TestHelpersPrintCalamarisMessages(t *testing.T) {
	manifest := "\"apiVersion\": \"v1\"\n\"kind\": \"Namespace\"\n\"metadata\":\n  \"name\": \"example\"\n\"labels\":\n    \"name\": \"example\"\n---    \n\"apiVersion\": \"v1\"\n\"kind\": \"Namespace\"\n\"metadata\":\n  \"name\": \"diffs\"\n\"labels\":\n    \"name\": \"diffs\""
	manifests := []string{
		"##octopus[k8s-manifest-applied manifest='ImFwaVZlcnNpb24iOiAidjEiCiJraW5kIjogIk5hbWVzcGFjZSIKIm1ldGFkYXRhIjoKICAibmFtZSI6ICJleGFtcGxlIgoibGFiZWxzIjoKICAgICJuYW1lIjogImV4YW1wbGUiCg==']",
		"##octopus[k8s-manifest-applied manifest='ImFwaVZlcnNpb24iOiAidjEiCiJraW5kIjogIk5hbWVzcGFjZSIKIm1ldGFkYXRhIjoKICAibmFtZSI6ICJkaWZmcyIKImxhYmVscyI6CiAgICAibmFtZSI6ICJkaWZmcyIK']",
		"##octopus[k8s-manifest-applied manifest='ImFwaVZlcnNpb24iOiAidjEiCiJraW5kIjogIk5hbWVzcGFjZSIKIm1ldGFkYXRhIjoKICAibmFtZSI6ICJleGFtcGxlIgoibGFiZWxzIjoKICAgICJuYW1lIjogImV4YW1wbGUiCg==' ns='bXk=']",
		"##octopus[k8s-manifest-applied manifest='ImFwaVZlcnNpb24iOiAidjEiCiJraW5kIjogIk5hbWVzcGFjZSIKIm1ldGFkYXRhIjoKICAibmFtZSI6ICJkaWZmcyIKImxhYmVscyI6CiAgICAibmFtZSI6ICJkaWZmcyIK' ns='bXk=']",
	}
	cases := []struct {
		name, script string
		want         []string
	}{
		{"ShouldPrintEncodedVariable", `set_octopusvariable "Super" "Mario Bros"`,
			[]string{"##octopus[setVariable name='U3VwZXI=' value='TWFyaW8gQnJvcw==']"}},
		{"ShouldPrintSensitiveVariable", `set_octopusvariable "Password" "correct horse battery staple" -sensitive`,
			[]string{"##octopus[setVariable name='UGFzc3dvcmQ=' value='Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==' sensitive='VHJ1ZQ==']"}},
		{"ShouldSetEnvironmentState", `set_environmentstate "MyKey" "MyValue"`,
			[]string{"##octopus[set-environmentstate key='TXlLZXk=' value='TXlWYWx1ZQ==' type='U3RhdGU=']"}},
		{"ShouldSetSensitiveEnvironmentState", `set_environmentstate "SecretKey" "Secret Value" -sensitive`,
			[]string{"##octopus[set-environmentstate key='U2VjcmV0S2V5' value='U2VjcmV0IFZhbHVl' sensitive='VHJ1ZQ==' type='U3RhdGU=']"}},
		{"ShouldSetEnvironmentUrl", `set_environmenturl "MyEnvironment" "https://my-environment.example.com"`,
			[]string{"##octopus[set-environmentstate key='TXlFbnZpcm9ubWVudA==' value='aHR0cHM6Ly9teS1lbnZpcm9ubWVudC5leGFtcGxlLmNvbQ==' type='VXJs']"}},
		{"ShouldUpdateProgress", `update_progress 50 "Half Way"`,
			[]string{"##octopus[progress percentage='NTA=' message='SGFsZiBXYXk=']"}},
		{"ShouldSupportStrictVariableUnset", `set -eu; set_octopusvariable "Password" "correct horse battery staple"`,
			[]string{"##octopus[setVariable name='UGFzc3dvcmQ=' value='Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==']"}},
		{"ShouldReportKubernetesManifest", "manifest=$(cat <<'EOM'\n" + manifest + "\n---\n---\nEOM\n)\nreport_kubernetes_manifest \"$manifest\"\nreport_kubernetes_manifest \"$manifest\" \"my\"", manifests},
		{"ShouldReportKubernetesManifestFile", "cat > m.yaml <<'EOM'\n" + manifest + "\nEOM\nreport_kubernetes_manifest_file m.yaml\nreport_kubernetes_manifest_file \"$PWD/m.yaml\" my\nreport_kubernetes_manifest_file missing.yaml", append(manifests,
			"##octopus[stdout-verbose]", "No Kubernetes manifest file was found at 'missing.yaml'.", "##octopus[stdout-default]")},
		{"new target", `set -u; new_octopustarget -n "web 1" -t tgt --inputs '{"a":1}' --roles web --worker-pool pool --update-if-existing`,
			[]string{"##octopus[createStepPackageTarget  name='d2ViIDE=' targetId='dGd0' inputs='eyJhIjoxfQ==' octopusRoles='d2Vi' octopusDefaultWorkerPoolIdOrName='cG9vbA==' updateIfExisting='dHJ1ZQ==']"}},
		{"remove target", `remove_octopustarget "web 1"`, []string{"##octopus[delete-target machine='d2ViIDE=']"}},
	}
	for _, shell := range []string{"bash", "sh"} {
		for _, c := range cases {
			t.Run(shell+"/"+c.name, func(t *testing.T) {
				got := runHelpers(t, shell, c.script)
				if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
					t.Errorf("printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
				}
			})
		}
	}
	t.Run("bash/remove-octopustarget", func(t *testing.T) {
		if got := runHelpers(t, "bash", `remove-octopustarget m`); len(got) != 1 || got[0] != "##octopus[delete-target machine='bQ==']" {
			t.Errorf("printed %q", got)
		}
	})
}

// TestHelpersReadScriptParameters: the helpers hand the runner the script
// parameters variable (any case in bash), which it evaluates as the
// script's arguments, as Calamari's bootstrap line does.
func TestHelpersReadScriptParameters(t *testing.T) {
	const show = `eval "set -- $__cuttle_params"; echo "n=$# 1=[${1-}] 2=[${2-}] 3=[${3-}]"`
	for _, shell := range []string{"bash", "sh"} {
		for _, c := range []struct {
			name string
			vars []wire.Variable
			want string
		}{
			{"quotes", []wire.Variable{{Name: "A", Value: "x"}, {Name: "Octopus.Action.Script.ScriptParameters", Value: `"Para meter0" 'Para meter1' \$A$(echo .)`}}, "n=3 1=[Para meter0] 2=[Para meter1] 3=[$A.]"},
			{"none", []wire.Variable{{Name: "A", Value: "x"}}, "n=0 1=[] 2=[] 3=[]"},
			{"empty", []wire.Variable{{Name: "Octopus.Action.Script.ScriptParameters", Value: ""}}, "n=0 1=[] 2=[] 3=[]"},
		} {
			t.Run(shell+"/"+c.name, func(t *testing.T) {
				if got := runHelpers(t, shell, show, c.vars...); len(got) != 1 || got[0] != c.want {
					t.Errorf("printed %q, want %q", got, c.want)
				}
			})
		}
	}
	t.Run("bash/any case", func(t *testing.T) {
		got := runHelpers(t, "bash", show, wire.Variable{Name: "octopus.action.script.scriptPARAMETERS", Value: "a b"})
		if len(got) != 1 || got[0] != "n=2 1=[a] 2=[b] 3=[]" {
			t.Errorf("printed %q", got)
		}
	})
}
