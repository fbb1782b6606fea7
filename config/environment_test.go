package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestForEnvironment(t *testing.T) {
	tests := []struct {
		name    string
		rb      Runbook
		env     string
		wantErr string
		want    map[string]string
	}{
		{name: "no filter, no environment", rb: Runbook{Steps: []RunbookStep{{Name: "a"}}}},
		{name: "a filtered step needs an environment", rb: Runbook{Steps: []RunbookStep{{Name: "a", Environments: []string{"prod"}}}},
			wantErr: "name one with --environment"},
		{name: "an excluding step needs an environment", rb: Runbook{Steps: []RunbookStep{{Name: "a", ExcludedEnvironments: []string{"prod"}}}},
			wantErr: "name one with --environment"},
		{name: "outside the runbook's environments", rb: Runbook{Environments: []string{"staging", "prod"}}, env: "dev",
			wantErr: `environment "dev": the runbook runs only in staging, prod`},
		{name: "environment values take over, names in any case",
			rb: Runbook{Environments: []string{"Prod"}, Variables: map[string]string{"Url": "x", "Keep": "k"},
				EnvironmentVariables: map[string]map[string]string{"prod": {"Url": "https://prod"}, "staging": {"Url": "https://staging"}}},
			env:  "PROD",
			want: map[string]string{"Url": "https://prod", "Keep": "k", "Octopus.Environment.Name": "PROD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rb.ForEnvironment(tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != nil {
				if d := cmp.Diff(tt.want, tt.rb.Variables); d != "" {
					t.Errorf("variables (-want +got):\n%s", d)
				}
			}
		})
	}
}

func TestRunsIn(t *testing.T) {
	s := RunbookStep{Environments: []string{"staging", "prod"}, ExcludedEnvironments: []string{"prod"}}
	for env, want := range map[string]bool{"staging": true, "Staging": true, "prod": false, "dev": false, "": false} {
		if got := s.RunsIn(env); got != want {
			t.Errorf("RunsIn(%q) = %v, want %v", env, got, want)
		}
	}
	if !(RunbookStep{}).RunsIn("") || !(RunbookStep{}).RunsIn("dev") {
		t.Error("a step without a filter runs everywhere")
	}
}

func TestParallelWithValidation(t *testing.T) {
	st := func(name, par string) RunbookStep {
		return RunbookStep{Name: name, Worker: "w", Container: Container{Image: "alpine"}, Script: Script{Inline: "true"}, ParallelWith: par}
	}
	for _, tt := range []struct {
		name    string
		steps   []RunbookStep
		wantErr string
	}{
		{"second step with previous", []RunbookStep{st("a", ""), st("b", "previous")}, ""},
		{"first step", []RunbookStep{st("a", "previous")}, "the first step has no previous step"},
		{"unknown value", []RunbookStep{st("a", ""), st("b", "next")}, `parallel_with "next": want previous`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := (&Runbook{Steps: tt.steps}).validate(&Config{})
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("got %v, want %q", err, tt.wantErr)
			}
		})
	}
}
