package fleet

import (
	"strings"
	"testing"
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
