//go:build integration

package integration

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/cuttle-sh/cuttle/octopus"
	"github.com/cuttle-sh/cuttle/wire"
)

// Calamari's own bash tests, replayed through cuttle as behaviour: the
// NUnit tests of OctopusDeploy/Calamari's
// source/Calamari.Tests/Fixtures/Bash/BashFixture.cs, BashProxyFixture.cs
// (its tests live in Fixtures/Integration/Proxies/ScriptProxyFixtureBase.cs)
// and Fixtures/Integration/Scripting/BashScriptEngineFixture.cs, one
// subtest each, named after it. The scripts are those of
// Fixtures/Bash/Scripts, byte order marks included. All 26 tests of
// Calamari 86358955 (2026-08-21) are here: BashFixture's 20 (39 NUnit
// cases with the toggle below; the 37 were its 19 of b9a6a4184).
//
// Calamari asserts on its raw output, where service messages are still
// text for Octopus Server to act on. cuttle is both: it acts on them, so
// each subtest checks what the message asks for (an output variable,
// environment state, a manifest in the report...), with the values decoded
// from the very message Calamari's test expects. The exact text the
// helpers print is checked by agent's TestHelpersPrintCalamarisMessages.
//
// Each NUnit test runs twice, with Calamari's
// BashParametersArrayFeatureToggle on and off; the toggle only decides
// whether Calamari fills octopus_parameters, which cuttle always does, so
// one run stands for both.

const (
	bom          = "\ufeff"
	helloScript  = bom + "#!/bin/bash\necho \"Hello\" $(get_octopusvariable \"Name\")"
	stderrScript = bom + "#!/bin/bash\n>&2 echo \"hello\""
	paramsScript = bom + "#!/bin/bash\necho \"Parameters (\\$1='$1' \\$2='$2')\""
	proxyScript  = bom + "#!/bin/bash\necho \"HTTP_PROXY:$HTTP_PROXY\"\necho \"HTTPS_PROXY:$HTTPS_PROXY\"\necho \"NO_PROXY:$NO_PROXY\""
	// The manifest of report-kubernetes-manifest.sh and of
	// ShouldReportKubernetesManifestFile.
	k8sManifest = "\"apiVersion\": \"v1\"\n\"kind\": \"Namespace\"\n\"metadata\":\n  \"name\": \"example\"\n\"labels\":\n    \"name\": \"example\"\n---    \n\"apiVersion\": \"v1\"\n\"kind\": \"Namespace\"\n\"metadata\":\n  \"name\": \"diffs\"\n\"labels\":\n    \"name\": \"diffs\""
)

// What ShouldReportKubernetesManifest and ...File expect, in order.
var calamariManifestMessages = []string{
	"##octopus[k8s-manifest-applied manifest='ImFwaVZlcnNpb24iOiAidjEiCiJraW5kIjogIk5hbWVzcGFjZSIKIm1ldGFkYXRhIjoKICAibmFtZSI6ICJleGFtcGxlIgoibGFiZWxzIjoKICAgICJuYW1lIjogImV4YW1wbGUiCg==']",
	"##octopus[k8s-manifest-applied manifest='ImFwaVZlcnNpb24iOiAidjEiCiJraW5kIjogIk5hbWVzcGFjZSIKIm1ldGFkYXRhIjoKICAibmFtZSI6ICJkaWZmcyIKImxhYmVscyI6CiAgICAibmFtZSI6ICJkaWZmcyIK']",
	"##octopus[k8s-manifest-applied manifest='ImFwaVZlcnNpb24iOiAidjEiCiJraW5kIjogIk5hbWVzcGFjZSIKIm1ldGFkYXRhIjoKICAibmFtZSI6ICJleGFtcGxlIgoibGFiZWxzIjoKICAgICJuYW1lIjogImV4YW1wbGUiCg==' ns='bXk=']",
	"##octopus[k8s-manifest-applied manifest='ImFwaVZlcnNpb24iOiAidjEiCiJraW5kIjogIk5hbWVzcGFjZSIKIm1ldGFkYXRhIjoKICAibmFtZSI6ICJkaWZmcyIKImxhYmVscyI6CiAgICAibmFtZSI6ICJkaWZmcyIK' ns='bXk=']",
}

// calamariStep is what these tests read from a report beyond reportStep.
type calamariStep struct {
	EnvironmentState    []envState `json:"environment_state"`
	KubernetesManifests []manifest `json:"kubernetes_manifests"`
	Attempts            []struct {
		Attempt  int    `json:"attempt"`
		ID       string `json:"id"`
		WorkDir  string `json:"work_dir"`
		ExitCode int    `json:"exit_code"`
		Error    string `json:"error"`
	} `json:"attempts"`
}

type envState struct {
	Key       string `json:"key"`
	Value     string `json:"value"`
	Type      string `json:"type"`
	Sensitive bool   `json:"sensitive"`
}

type manifest struct {
	Namespace string `json:"namespace"`
	Manifest  string `json:"manifest"`
}

// calamariSteps reads the report's steps for the fields above.
func calamariSteps(t *testing.T, r result) []calamariStep {
	t.Helper()
	var rep struct {
		Steps []calamariStep `json:"steps"`
	}
	if err := json.Unmarshal([]byte(r.report.Raw), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, r.report.Raw)
	}
	return rep.Steps
}

// calamariMessage parses a service message as a Calamari test expects it.
func calamariMessage(t *testing.T, line string) octopus.ServiceMessage {
	t.Helper()
	m, err := octopus.ParseServiceMessage(strings.TrimSuffix(strings.TrimPrefix(line, octopus.Marker), "]"))
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return m
}

// scriptFile writes a script as Calamari's fixture keeps it.
func scriptFile(t *testing.T, body string) string {
	t.Helper()
	return tempFile(t, "script.sh", body)
}

// runBash runs a script file with cuttle run on the shared worker.
func runBash(t *testing.T, extraEnv []string, script string, args ...string) result {
	t.Helper()
	return runCuttleEnv(t, extraEnv, append(append(workerArgs(), "--image", env.image, "--pull", "never", "--script", scriptFile(t, script)), args...)...)
}

// oneWorkerConfig is a cuttle.yaml naming the shared worker w1, in pool
// linux; workerExtra and poolExtra are added to their entries.
func oneWorkerConfig(t *testing.T, workerExtra, poolExtra string) string {
	t.Helper()
	cfg := fmt.Sprintf("workers:\n  w1: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, pool: linux%s}\npools:\n  linux: {max_steps_per_worker: 8%s}\n",
		env.sshd.Port, workerUser, env.key.PrivateFile, env.sshd.KnownHosts, workerExtra, poolExtra)
	p := filepath.Join(t.TempDir(), "cuttle.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// runSaying runs script, which must succeed and print want (with a
// newline before it at the start of the output).
func runSaying(t *testing.T, extraEnv []string, script, want string, args ...string) result {
	t.Helper()
	r := runBash(t, extraEnv, script, args...)
	mustSucceed(t, r)
	if !strings.Contains("\n"+r.stdout, want) {
		t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
	}
	return r
}

func mustSucceed(t *testing.T, r result) {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

// hasLine reports whether out holds line as a whole line.
func hasLine(out, line string) bool {
	return strings.HasPrefix(out, line+"\n") || strings.Contains(out, "\n"+line+"\n") || strings.HasSuffix(out, "\n"+line) || out == line
}

func TestCalamariBash(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string // Calamari's test
		run  func(t *testing.T)
	}{
		// BashFixture.ShouldPrintEncodedVariable
		{"ShouldPrintEncodedVariable", func(t *testing.T) {
			r := runBash(t, nil, "#!/bin/bash\nset_octopusvariable \"Super\" \"Mario Bros\"\n")
			mustSucceed(t, r)
			want := calamariMessage(t, "##octopus[setVariable name='U3VwZXI=' value='TWFyaW8gQnJvcw==']")
			if got := step(t, r).OutputVariables; got[want.Attrs["name"]] != want.Attrs["value"] {
				t.Errorf("output variables = %v, want %s=%q", got, want.Attrs["name"], want.Attrs["value"])
			}
		}},
		// BashFixture.ShouldPrintSensitiveVariable
		{"ShouldPrintSensitiveVariable", func(t *testing.T) {
			r := runBash(t, nil, "#!/bin/bash\nset_octopusvariable \"Password\" \"correct horse battery staple\" -sensitive\necho \"said: correct horse battery staple\"\n")
			mustSucceed(t, r)
			want := calamariMessage(t, "##octopus[setVariable name='UGFzc3dvcmQ=' value='Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==' sensitive='VHJ1ZQ==']")
			if want.Attrs["sensitive"] != "True" {
				t.Fatalf("expected message %v", want)
			}
			if got := step(t, r).OutputVariables[want.Attrs["name"]]; got != "********" {
				t.Errorf("output variable %s = %q, want it set and masked", want.Attrs["name"], got)
			}
			for _, s := range []string{r.stdout, r.stderr, r.report.Raw} {
				if strings.Contains(s, want.Attrs["value"]) {
					t.Errorf("the sensitive value shows:\n%s", s)
				}
			}
			if !hasLine(r.stdout, "said: ********") {
				t.Errorf("stdout %q", r.stdout)
			}
		}},
		// BashFixture.ShouldSetEnvironmentState
		{"ShouldSetEnvironmentState", func(t *testing.T) {
			checkEnvironmentState(t, "#!/bin/bash\nset_environmentstate \"MyKey\" \"MyValue\"\n",
				"##octopus[set-environmentstate key='TXlLZXk=' value='TXlWYWx1ZQ==' type='U3RhdGU=']")
		}},
		// BashFixture.ShouldSetSensitiveEnvironmentState
		{"ShouldSetSensitiveEnvironmentState", func(t *testing.T) {
			r := checkEnvironmentState(t, "#!/bin/bash\nset_environmentstate \"SecretKey\" \"Secret Value\" -sensitive\necho \"state: Secret Value\"\n",
				"##octopus[set-environmentstate key='U2VjcmV0S2V5' value='U2VjcmV0IFZhbHVl' sensitive='VHJ1ZQ==' type='U3RhdGU=']")
			if strings.Contains(r.report.Raw+r.stdout+r.stderr, "Secret Value") || !hasLine(r.stdout, "state: ********") {
				t.Errorf("the sensitive state is not masked:\nstdout %s\nreport %s", r.stdout, r.report.Raw)
			}
		}},
		// BashFixture.ShouldSetEnvironmentUrl
		{"ShouldSetEnvironmentUrl", func(t *testing.T) {
			checkEnvironmentState(t, "#!/bin/bash\nset_environmenturl \"MyEnvironment\" \"https://my-environment.example.com\"\n",
				"##octopus[set-environmentstate key='TXlFbnZpcm9ubWVudA==' value='aHR0cHM6Ly9teS1lbnZpcm9ubWVudC5leGFtcGxlLmNvbQ==' type='VXJs']")
		}},
		// BashFixture.ShouldCreateArtifact
		{"ShouldCreateArtifact", func(t *testing.T) {
			r := runBash(t, nil, "#!/bin/bash\n\nrm -fr ./subdir\nmkdir -p ./subdir/anotherdir\ntouch ./subdir/anotherdir/myfile\n\nnew_octopusartifact \"./subdir/anotherdir/myfile\"",
				"--verbose", "--artifacts", filepath.Join(t.TempDir(), "arts"))
			mustSucceed(t, r)
			// Calamari: createArtifact path='(\S+)' name='bXlmaWxl' length='MA==', the path ending in /subdir/anotherdir/myfile.
			name, length := decodeB64(t, "bXlmaWxl"), decodeB64(t, "MA==")
			s := step(t, r)
			if len(s.Artifacts) != 1 || s.Artifacts[0].Name != name || fmt.Sprint(s.Artifacts[0].Size) != length {
				t.Fatalf("artifacts = %+v, want one %q of %s bytes", s.Artifacts, name, length)
			}
			said := regexp.MustCompile(`Artifact ` + name + ` will be collected from (\S+) after this step completes`).FindStringSubmatch(r.stdout)
			if said == nil || !strings.HasSuffix(said[1], "/subdir/anotherdir/myfile") || !strings.HasPrefix(said[1], s.WorkDir+"/") {
				t.Errorf("collected from %q (work dir %s), want .../subdir/anotherdir/myfile:\n%s", said, s.WorkDir, r.stdout)
			}
		}},
		// BashFixture.ShouldUpdateProgress
		{"ShouldUpdateProgress", func(t *testing.T) {
			r := runBash(t, nil, "#!/bin/bash\nupdate_progress 50 \"Half Way\"\n")
			mustSucceed(t, r)
			m := calamariMessage(t, "##octopus[progress percentage='NTA=' message='SGFsZiBXYXk=']")
			if !strings.Contains(r.stderr, "progress: "+m.Attrs["message"]) || !strings.Contains(r.stderr, "percentage="+m.Attrs["percentage"]) {
				t.Errorf("stderr lacks progress %v:\n%s", m.Attrs, r.stderr)
			}
		}},
		// BashFixture.ShouldReportKubernetesManifest
		{"ShouldReportKubernetesManifest", func(t *testing.T) {
			r := runBash(t, nil, "#!/bin/bash\nread -r -d '' manifest << EOM\n"+k8sManifest+"\n---\n---\nEOM\n\nreport_kubernetes_manifest \"$manifest\"\nreport_kubernetes_manifest \"$manifest\" \"my\"")
			mustSucceed(t, r)
			checkManifests(t, r)
		}},
		// BashFixture.ShouldReportKubernetesManifestFile. Calamari's test
		// writes the manifest file beside the script; here the step writes
		// it from a variable first, then runs Calamari's script.
		{"ShouldReportKubernetesManifestFile", func(t *testing.T) {
			r := runBash(t, nil, "#!/bin/bash\nprintf '%s' \"$(get_octopusvariable Manifest)\" > \"$(get_octopusvariable ManifestFilePath)\"\n"+
				"ManifestFilePath=$(get_octopusvariable \"ManifestFilePath\")\nreport_kubernetes_manifest_file \"$ManifestFilePath\"\nreport_kubernetes_manifest_file \"$ManifestFilePath\" \"my\"",
				"--var", "Manifest="+k8sManifest, "--var", "ManifestFilePath=ShouldWriteServiceMessageForKubernetesManifestFile.manifest.yaml")
			mustSucceed(t, r)
			checkManifests(t, r)
		}},
		// BashFixture.ShouldConsumeParametersWithQuotes
		{"ShouldConsumeParametersWithQuotes", func(t *testing.T) {
			runSaying(t, nil, paramsScript, "Parameters ($1='Para meter0' $2='Para meter1'", "--script-parameters", `"Para meter0" 'Para meter1'`)
		}},
		// BashFixture.ShouldNotReceiveParametersIfNoneProvided (Calamari
		// passes its variables encrypted: here with a sensitive one).
		{"ShouldNotReceiveParametersIfNoneProvided", func(t *testing.T) {
			runSaying(t, []string{"CUTTLE_IT_PARAM_SECRET=5XETGOgqYR2bRhlfhDruEg=="}, paramsScript, "Parameters ($1='' $2='')", "--sensitive-var", "Secret=CUTTLE_IT_PARAM_SECRET")
		}},
		// BashFixture.ShouldCallHello
		{"ShouldCallHello", func(t *testing.T) {
			runSaying(t, nil, helloScript, "Hello Paul", "--var", "Name=Paul", "--var", "Variable2=DEF", "--var", "Variable3=GHI", "--var", "Foo_bar=Hello", "--var", "Host=Never")
		}},
		// BashFixture.ShouldCallHelloWithSensitiveVariable. The value is
		// sensitive here, so cuttle masks it as Octopus Server would: the
		// mask shows the script read it.
		{"ShouldCallHelloWithSensitiveVariable", func(t *testing.T) {
			r := runSaying(t, []string{"CUTTLE_IT_NAME=NameToEncrypt"}, helloScript, "\nHello ********\n", "--sensitive-var", "Name=CUTTLE_IT_NAME")
			if strings.Contains(r.stdout+r.report.Raw, "NameToEncrypt") {
				t.Errorf("the sensitive value shows: %q", r.stdout)
			}
		}},
		// BashFixture.ShouldCallHelloWithNullVariable (no null on a command
		// line: empty).
		{"ShouldCallHelloWithNullVariable", func(t *testing.T) {
			runSaying(t, nil, helloScript, "\nHello\n", "--var", "Name=")
		}},
		// BashFixture.ShouldCallHelloWithNullSensitiveVariable
		{"ShouldCallHelloWithNullSensitiveVariable", func(t *testing.T) {
			runSaying(t, []string{"CUTTLE_IT_NAME="}, helloScript, "\nHello\n", "--sensitive-var", "Name=CUTTLE_IT_NAME")
		}},
		// BashFixture.ShouldNotFailOnStdErr
		{"ShouldNotFailOnStdErr", func(t *testing.T) {
			r := runBash(t, nil, stderrScript)
			mustSucceed(t, r)
			if !strings.Contains(r.stderr, "hello") {
				t.Errorf("stderr %q", r.stderr)
			}
		}},
		// BashFixture.ShouldFailOnStdErrWithTreatScriptWarningsAsErrors
		{"ShouldFailOnStdErrWithTreatScriptWarningsAsErrors", func(t *testing.T) {
			r := runBash(t, nil, stderrScript, "--var", "Octopus.Action.FailScriptOnErrorOutput=True")
			if r.code == 0 || !strings.Contains(r.stderr, "hello") {
				t.Fatalf("exit %d, want a failure\nstderr: %s", r.code, r.stderr)
			}
			if s := step(t, r); s.ExitCode != r.code || s.ResultMessage != wire.ErrorOutputFailure {
				t.Errorf("report step = %+v", s)
			}
		}},
		// BashFixture.ShouldNotFailOnStdErrFromServiceMessagesWithTreatScriptWarningsAsErrors
		// (hello.sh starts with a byte order mark: bash would complain about
		// it on stderr if it saw it).
		{"ShouldNotFailOnStdErrFromServiceMessagesWithTreatScriptWarningsAsErrors", func(t *testing.T) {
			r := runBash(t, nil, helloScript, "--var", "Octopus.Action.FailScriptOnErrorOutput=True")
			mustSucceed(t, r)
		}},
		// BashFixture.ShouldSupportStrictVariableUnset
		{"ShouldSupportStrictVariableUnset", func(t *testing.T) {
			r := runBash(t, nil, bom+"#!/bin/bash\nset -euo pipefail\n\nset_octopusvariable \"Password\" \"correct horse battery staple\"")
			mustSucceed(t, r)
			want := calamariMessage(t, "##octopus[setVariable name='UGFzc3dvcmQ=' value='Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==']")
			if got := step(t, r).OutputVariables[want.Attrs["name"]]; got != want.Attrs["value"] {
				t.Errorf("output variable = %q, want %q", got, want.Attrs["value"])
			}
		}},
		// BashFixture.ShouldBeAbleToEnumerateVariableValues. Names hold '=',
		// newlines and tabs, so they come from a runbook's variables:.
		{"ShouldBeAbleToEnumerateVariableValues", testEnumerateVariableValues},
		// BashScriptEngineFixture.BashDecryptsVariables
		{"BashDecryptsVariables", func(t *testing.T) {
			runSaying(t, nil, "#!/bin/bash\necho $(get_octopusvariable \"mysecrect\")", "\nKingKong\n", "--var", "foo=bar", "--var", "mysecrect=KingKong")
		}},
		// ScriptProxyFixtureBase.Initialize_NoSystemProxy_NoProxy
		{"Initialize_NoSystemProxy_NoProxy", func(t *testing.T) {
			checkProxy(t, ", proxy: {use_default: false}", "", "", "*")
		}},
		// ScriptProxyFixtureBase.Initialize_NoSystemProxy_UseSystemProxy
		{"Initialize_NoSystemProxy_UseSystemProxy", func(t *testing.T) {
			checkProxy(t, ", proxy: {use_default: true}", "", "", "")
		}},
		// ScriptProxyFixtureBase.Initialize_NoSystemProxy_UseSystemProxyWithCredentials
		{"Initialize_NoSystemProxy_UseSystemProxyWithCredentials", func(t *testing.T) {
			checkProxy(t, `, proxy: {use_default: true, username: "some@:/user", password_env: CUTTLE_IT_PROXY_PW}`, "", "", "")
		}},
		// ScriptProxyFixtureBase.Initialize_NoSystemProxy_CustomProxy (set on
		// the worker's pool: the worker inherits it).
		{"Initialize_NoSystemProxy_CustomProxy", func(t *testing.T) {
			checkProxy(t, "", "http://proxy-initializer-fixture-good-proxy:8888", "", "127.0.0.1,localhost,169.254.169.254")
		}},
		// ScriptProxyFixtureBase.Initialize_NoSystemProxy_CustomProxyWithCredentials
		{"Initialize_NoSystemProxy_CustomProxyWithCredentials", func(t *testing.T) {
			checkProxy(t, `, proxy: {host: proxy-initializer-fixture-good-proxy, port: 8888, username: "some@:/user", password_env: CUTTLE_IT_PROXY_PW}`,
				"http://some%40%3A%2Fuser:some%40%3A%2Fpassword@proxy-initializer-fixture-good-proxy:8888", "some%40%3A%2Fpassword", "127.0.0.1,localhost,169.254.169.254")
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.run(t)
		})
	}
}

func decodeB64(t *testing.T, s string) string {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkEnvironmentState runs script and checks the report holds the state
// Calamari's message sets, its value masked when the message marks it
// sensitive.
func checkEnvironmentState(t *testing.T, script, message string) result {
	t.Helper()
	r := runBash(t, nil, script)
	mustSucceed(t, r)
	m := calamariMessage(t, message)
	want := envState{Key: m.Attrs["key"], Value: m.Attrs["value"], Type: m.Attrs["type"], Sensitive: m.Attrs["sensitive"] == "True"}
	if want.Sensitive {
		want.Value = "********"
	}
	if diff := cmp.Diff([]envState{want}, calamariSteps(t, r)[0].EnvironmentState); diff != "" {
		t.Errorf("environment state (-want +got):\n%s", diff)
	}
	return r
}

// checkManifests checks the report holds the manifests Calamari's
// ShouldReportKubernetesManifest* tests expect, in order.
func checkManifests(t *testing.T, r result) {
	t.Helper()
	var want []manifest
	for _, line := range calamariManifestMessages {
		m := calamariMessage(t, line)
		want = append(want, manifest{Namespace: m.Attrs["ns"], Manifest: m.Attrs["manifest"]})
	}
	if diff := cmp.Diff(want, calamariSteps(t, r)[0].KubernetesManifests); diff != "" {
		t.Errorf("manifests (-want +got):\n%s", diff)
	}
}

// checkProxy runs proxy.sh on w1 with proxy (the worker entry's extra;
// empty puts Calamari's custom proxy on the pool instead) and the password
// some@:/password, as ScriptProxyFixtureBase does, and checks the three
// variables (their lower-case twins too). masked is the form of the
// password the output shows as ********; the exact values are checked by
// their SHA-256, which the script prints.
func checkProxy(t *testing.T, proxy, wantProxy, masked, wantNoProxy string) {
	t.Helper()
	pool := ""
	if proxy == "" {
		pool = ", proxy: {host: proxy-initializer-fixture-good-proxy, port: 8888}"
	}
	cfg := oneWorkerConfig(t, proxy, pool)
	script := proxyScript + "\n" + `for v in HTTP_PROXY HTTPS_PROXY NO_PROXY http_proxy https_proxy no_proxy; do
  printf '%s ' "sha-$v"; printf '%s' "${!v-}" | sha256sum
done`
	r := runCuttleEnv(t, []string{"CUTTLE_IT_PROXY_PW=some@:/password"},
		"run", "--config", cfg, "--worker", "w1", "--image", env.image, "--pull", "never", "--script", scriptFile(t, script))
	mustSucceed(t, r)
	shown := wantProxy
	if masked != "" {
		shown = strings.ReplaceAll(wantProxy, masked, "********")
	}
	for _, line := range []string{"HTTP_PROXY:" + shown, "HTTPS_PROXY:" + shown, "NO_PROXY:" + wantNoProxy} {
		if !hasLine(r.stdout, line) {
			t.Errorf("stdout lacks %s\n%s", line, r.stdout)
		}
	}
	// Calamari sets both spellings, but bypassing sets NO_PROXY alone.
	lowerNoProxy := wantNoProxy
	if wantProxy == "" {
		lowerNoProxy = ""
	}
	for name, want := range map[string]string{"HTTP_PROXY": wantProxy, "HTTPS_PROXY": wantProxy, "NO_PROXY": wantNoProxy,
		"http_proxy": wantProxy, "https_proxy": wantProxy, "no_proxy": lowerNoProxy} {
		sum := sha256.Sum256([]byte(want))
		if !strings.Contains(r.stdout, "sha-"+name+" "+hex.EncodeToString(sum[:])+"  -\n") {
			t.Errorf("%s is not %q:\n%s", name, want, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr+r.report.Raw, "some@:/password") || strings.Contains(r.stdout+r.stderr+r.report.Raw, "some%40%3A%2Fpassword") {
		t.Errorf("the proxy password shows:\n%s\n%s", r.stdout, r.stderr)
	}
}

// specialCharacters is BashFixture's specialCharacters.
const specialCharacters = "! \" # $ % & ' ( ) * + , - . / : ; < = > ? @ [ \\ ] ^ _ ` { | } ~  \n\u00b1 \u00d7 \u00f7 \u2211 \u220f \u2202 \u221e \u222b \u2248 \u2260 \u2264 \u2265 \u221a \u221b \u2206 \u2207 \u221d  \n$ \u00a2 \u00a3 \u00a5 \u20ac \u20b9 \u20a9 \u20b1 \u20aa \u20bf  \n• ‣ … ′ ″ ‘ ’ “ ” ‽ ¡ ¿ – — ―  \n( ) [ ] { } ⟨ ⟩ « » ‘ ’ “ ”  \n\u2190 \u2191 \u2192 \u2193 \u2194 \u2195 \u2196 \u2197 \u2198 \u2199 \u2b05 \u2b06 \u2b07 \u27a1 \u27f3  \nα β γ δ ε ζ η θ ι κ λ μ ν ξ ο π ρ σ τ υ φ χ ψ ω  \n\u00a9 \u00ae \u2122 § ¶ † ‡ µ #"

func testEnumerateVariableValues(t *testing.T) {
	vars := map[string]string{
		"VariableName1":                            "Value 1",
		"VariableName 2":                           "Value 2",
		"VariableName3":                            "Value 3",
		"VariableName '4'":                         "Value '4'",
		"VariableName \"5\"":                       "Value \"5\"",
		"VariableName, 6":                          "Value, 6",
		"VariableName [7]":                         "Value [7]",
		"VariableName {8}":                         "Value {8}",
		"VariableName\t9":                          "Value\t9",
		"VariableName 10 !@#$%^&*()_+1234567890-=": "Value 10 !@#$%^&*()_+1234567890-=",
		"VariableName \n 11":                       "Value \n 11",
		"VariableName.prop.anotherprop 12":         "Value.prop.12",
		"VariableName`prop`anotherprop` 13":        "Value`prop`13",
		specialCharacters:                          specialCharacters,
		"EmojiKey 🎉💡🔥":                             "EmojiValue 😀🌍🚀",
		"CJK 中文 日本語 한국어":                           "中文值 你好世界",
		"Arabic مفتاح":                             "قيمة عربية",
		"InjectionAttempt $(echo injected)":        "$(echo injected) `echo injected` ${HOME}",
		"EmptyValueKey":                            "",
		"LeadingTrailingSpaces":                    "  value padded with spaces  ",
		"MultipleEquals":                           "a=b=c=d",
		"ZeroWidth\u200bKey":                       "zero\u200bwidth\u200bvalue",
		"AnsiEscapeKey":                            "\x1b[31mRed\x1b[0m",
		"SupplementaryPlane 𝒜𝄞":                    "value 𝐀𝁆",
		"CombiningDiacritical Caf\u0301":           "Caf\u00e9",
	}
	script := scriptFile(t, "#!/bin/bash\n\nfor key in \"${!octopus_parameters[@]}\"; do\n    value=\"${octopus_parameters[$key]}\"\n    echo \"Key: $key, Value: $value\"\ndone\n\necho \"Still ran this script\"\n")
	rb, err := yaml.Marshal(map[string]any{
		"variables": vars,
		"steps": []map[string]any{{"name": "enumerate", "worker": "w1",
			"container": map[string]string{"image": env.image, "pull": "never"}, "script": map[string]string{"file": script}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rbFile := filepath.Join(t.TempDir(), "enumerate.yaml")
	if err := os.WriteFile(rbFile, rb, 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCuttle(t, "runbook", "run", rbFile, "--config", oneWorkerConfig(t, "", ""))
	mustSucceed(t, r)
	out := r.stdout
	if !strings.Contains(out, "Still ran this script") {
		t.Fatalf("stdout %q", out)
	}
	for name, value := range vars {
		if want := "Key: " + name + ", Value: " + value + "\n"; !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
}
