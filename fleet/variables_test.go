package fleet

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/remote"
)

func TestSubstitute(t *testing.T) {
	t.Setenv("CUTTLE_TEST_SECRET", "hunter2")
	v, err := ParseVariables([]string{"Env=prod", "Empty=", "Region=eu"}, []string{"Password=CUTTLE_TEST_SECRET"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Substitute("deploy #{Env} in #{ region } #{Unknown} [#{Empty}]")
	if err != nil || got != "deploy prod in eu #{Unknown} []" {
		t.Fatalf("substitute = %q, %v", got, err)
	}
	if _, err := v.Substitute("echo #{Password}"); err == nil || !strings.Contains(err.Error(), "get_octopusvariable") || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("sensitive substitution: %v", err)
	}
	if v.masks.Mask("pw hunter2") != "pw ********" {
		t.Fatal("sensitive value not masked")
	}
}

func TestParseVariablesErrors(t *testing.T) {
	for _, c := range []struct{ plain, sens []string }{
		{plain: []string{"novalue"}},
		{plain: []string{"=x"}},
		{sens: []string{"A"}},
		{sens: []string{"A=CUTTLE_TEST_DEFINITELY_UNSET"}},
	} {
		if _, err := ParseVariables(c.plain, c.sens); err == nil {
			t.Errorf("ParseVariables(%q, %q) accepted", c.plain, c.sens)
		}
	}
}

// TestMasksAreRunWide: a value made sensitive in one step's copy of the
// variables (its own sensitive variable, a value its script masked) is
// masked in every other copy: masks belong to the run, not the step.
func TestMasksAreRunWide(t *testing.T) {
	run, err := ParseVariables([]string{"Env=prod"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, b := run.Clone(), run.Clone()
	a.Set("StepSecret", "only-in-step-a", true)
	a.Masks().Add("masked-by-a-script")
	for name, v := range map[string]*Variables{"run": run, "step b": b, "b's clone": b.Clone()} {
		if got := v.Masks().Mask("only-in-step-a masked-by-a-script"); got != "******** ********" {
			t.Errorf("%s masks %q", name, got)
		}
	}
	if _, ok := b.Get("StepSecret"); ok {
		t.Error("step a's variable reached step b")
	}
}

// TestOutputsHoldingMasks: an output variable whose value holds a value
// masked in the run goes on as sensitive, one whose name holds one goes
// nowhere, even when the mask came after the step's end (from a step on
// another worker).
func TestOutputsHoldingMasks(t *testing.T) {
	run, _ := ParseVariables(nil, nil)
	run.Masks().Add("late-secret")
	sr := StepResult{Step: "a", Worker: "w2", Result: remote.Result{
		OutputOrder: []string{"Copy", "N-late-secret", "Plain"},
		OutputVariables: map[string]remote.OutputVariable{
			"Copy": {Value: "x-late-secret"}, "N-late-secret": {Value: "1"}, "Plain": {Value: "ok"},
		},
	}}
	nop := zerolog.Nop()
	run.setOutputs(sr, true, &nop)
	got := map[string]bool{}
	for _, x := range run.List() {
		got[x.Name] = x.Sensitive
	}
	want := map[string]bool{
		"Octopus.Action[a].Output.Copy": true, "Octopus.Action[a].Output[w2].Copy": true,
		"Octopus.Action[a].Output.Plain": false, "Octopus.Action[a].Output[w2].Plain": false,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("variables (name: sensitive) (-want +got):\n%s", diff)
	}
}

func TestSubstituteTemplates(t *testing.T) {
	t.Setenv("CUTTLE_TEST_SECRET", "hunter2")
	v, err := ParseVariables([]string{"Env=prod", "Hosts=a,b", "Msg=#{Env | ToUpper}", "Indirect=#{Password}"}, []string{"Password=CUTTLE_TEST_SECRET"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Substitute(`#{if Env == "prod"}#{Msg}#{/if} #{each h in Hosts}[#{h}]#{/each} ${#arr[@]} #{ broken`)
	if err != nil || got != "PROD [a][b] ${#arr[@]} #{ broken" {
		t.Fatalf("substitute = %q, %v", got, err)
	}
	if _, err := v.Substitute("echo #{Indirect}"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("a sensitive variable reached through another one: %v", err)
	}
}
