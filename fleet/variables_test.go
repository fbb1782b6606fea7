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
