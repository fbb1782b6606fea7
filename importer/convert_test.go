package importer

import (
	"os/exec"
	"strings"
	"testing"
)

// TestConditionGuard runs the guard a Variable condition becomes through
// bash: the step's script runs only when the evaluated condition is true
// in Octopus's sense.
func TestConditionGuard(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	tests := []struct {
		name, value string
		runs        bool
	}{
		{"True", "True", true},
		{"true with spaces", "  true \n", true},
		{"any text", "yes please", true},
		{"empty", "", false},
		{"False", "False", false},
		{"0", "0", false},
		{"No", "No", false},
		{"quotes do not escape", `"; echo injected; "`, true},
		{"command substitution stays text", "$(echo false)", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			script := conditionGuard(tt.value, "bash") + "echo ran\n"
			out, err := exec.Command("bash", "-c", script).CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			if got := strings.Contains(string(out), "ran\n"); got != tt.runs {
				t.Errorf("ran = %v, want %v (output %q)", got, tt.runs, out)
			}
			if strings.Contains(string(out), "injected") {
				t.Errorf("the condition's value ran as shell: %q", out)
			}
		})
	}
}

func TestConvertStatuses(t *testing.T) {
	bash := map[string]string{"Octopus.Action.Script.Syntax": "Bash", "Octopus.Action.Script.ScriptBody": "echo hi"}
	tests := []struct {
		name   string
		action Action
		status string
		reason string
	}{
		{"bash in a mapped pool and container", Action{ActionType: "Octopus.Script", Properties: bash, WorkerPool: "p", Container: ActionContainer{Image: "alpine"}}, StatusConverted, ""},
		{"unmapped pool warns", Action{ActionType: "Octopus.Script", Properties: bash, WorkerPool: "other", Container: ActionContainer{Image: "alpine"}}, StatusWarnings, ""},
		{"python", Action{ActionType: "Octopus.Script", Properties: map[string]string{"Octopus.Action.Script.Syntax": "Python"}}, StatusNotConverted, "Python scripts"},
		{"disabled", Action{ActionType: "Octopus.Script", Properties: bash, Disabled: true}, StatusNotConverted, "disabled"},
		{"template", Action{Properties: map[string]string{"Octopus.Action.Template.Id": "ActionTemplates-1"}}, StatusNotConverted, "ActionTemplates-1"},
		{"platform", Action{ActionType: "Octopus.HelmChartUpgrade"}, StatusNotConverted, "platform step"},
		{"git script", Action{ActionType: "Octopus.Script", Properties: map[string]string{"Octopus.Action.Script.Syntax": "Bash", "Octopus.Action.Script.ScriptSource": "GitRepository"}}, StatusNotConverted, "GitRepository"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.action.Name = "s"
			_, rep := Convert(&Process{Steps: []Step{{Name: "s", Actions: []Action{tt.action}}}}, nil, Options{PoolMap: map[string]string{"p": "linux"}})
			got := rep.Steps[0]
			if got.Status != tt.status || !strings.Contains(got.Reason, tt.reason) {
				t.Errorf("got %s (%s), want %s (%s); warnings %q", got.Status, got.Reason, tt.status, tt.reason, got.Warnings)
			}
		})
	}
}

func TestEnvName(t *testing.T) {
	for in, want := range map[string]string{"Db.Password": "DB_PASSWORD", "azure-key": "AZURE_KEY", "1st": "_1ST", "": "_"} {
		if got := EnvName(in); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUnsupported: the report's "needs" are exactly the fields the
// runbook loader (config.Runbook) lacks, found from its yaml names.
func TestUnsupported(t *testing.T) {
	plain := &Runbook{Name: "rb", Environments: []string{"prod"}, Steps: []RunbookStep{{Name: "a", Pool: "linux",
		ParallelWith: "previous", Container: RunbookContainer{Image: "alpine", Feed: "hub"}, Script: RunbookScript{Syntax: "bash", Inline: "true"}}}}
	if got := Unsupported(plain); len(got) != 0 {
		t.Errorf("fields the loader reads reported unsupported: %v", got)
	}
	// Packages, where they are acquired and scripts from packages are
	// read.
	f := false
	withPackage := &Runbook{Name: "rb", Steps: []RunbookStep{{Name: "a", Pool: "linux", Packages: []RunbookPackage{{Name: "Db", Extract: &f, Acquisition: "worker"}},
		Container: RunbookContainer{Image: "alpine"}, Script: RunbookScript{Package: "Db", File: "x.sh"}}}}
	if got := Unsupported(withPackage); len(got) != 0 {
		t.Errorf("Unsupported = %q: the loader reads packages, their acquisition and script.package", got)
	}
}

// TestSubstituteInFilesFeature: Octopus's "Substitute Variables in
// Templates" becomes substitute_in_files (one target per line, \ as /),
// and the runbook loader reads it; other features stay warnings.
func TestSubstituteInFilesFeature(t *testing.T) {
	props := map[string]string{"Octopus.Action.Script.Syntax": "Bash", "Octopus.Action.Script.ScriptBody": "echo hi",
		"Octopus.Action.EnabledFeatures":               "Octopus.Features.JsonConfigurationVariables,Octopus.Features.SubstituteInFiles",
		"Octopus.Action.SubstituteInFiles.TargetFiles": "Web\\config\\*.json\n\n  Web/appsettings.json \n"}
	a := Action{Name: "s", ActionType: "Octopus.Script", Properties: props, WorkerPool: "p", Container: ActionContainer{Image: "alpine"}}
	rb, rep := Convert(&Process{Steps: []Step{{Name: "s", Actions: []Action{a}}}}, nil, Options{PoolMap: map[string]string{"p": "linux"}})
	got := rb.Steps[0].SubstituteInFiles
	if strings.Join(got, "|") != "Web/config/*.json|Web/appsettings.json" {
		t.Errorf("substitute_in_files = %q", got)
	}
	w := strings.Join(rep.Steps[0].Warnings, "\n")
	if !strings.Contains(w, "features Octopus.Features.JsonConfigurationVariables not converted") || strings.Contains(w, "SubstituteInFiles") {
		t.Errorf("warnings %q: want JSON configuration variables named, substitution not", w)
	}
	if u := Unsupported(rb); len(u) != 0 {
		t.Errorf("the loader does not read %v", u)
	}

	// A script from a package: Octopus's targets are relative to that
	// package, which cuttle extracts into $PWD/NAME.
	props["Octopus.Action.Script.ScriptSource"], props["Octopus.Action.Script.ScriptFileName"] = "Package", "deploy.sh"
	a.Packages = []Package{{PackageID: "Acme/Web"}}
	rb, _ = Convert(&Process{Steps: []Step{{Name: "s", Actions: []Action{a}}}}, nil, Options{PoolMap: map[string]string{"p": "linux"}})
	if got := strings.Join(rb.Steps[0].SubstituteInFiles, "|"); got != "Acme-Web/Web/config/*.json|Acme-Web/Web/appsettings.json" {
		t.Errorf("substitute_in_files of a package script = %q", got)
	}
}

func TestPackageName(t *testing.T) {
	for in, want := range map[string]string{"Acme.Web": "Acme.Web", "Alex-Yates/safe-schema-updates-demo": "Alex-Yates-safe-schema-updates-demo", "a b:c": "a-b-c"} {
		if got := packageName(in); got != want {
			t.Errorf("packageName(%q) = %q, want %q", in, got, want)
		}
	}
}
