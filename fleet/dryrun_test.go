package fleet

import (
	"flag"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/golden"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestRunbookDryRun(t *testing.T) {
	t.Setenv("DRY_TOKEN", "s3cr3t-token")
	extra, err := ParseVariables([]string{"Env=prod"}, []string{"Token=DRY_TOKEN"})
	if err != nil {
		t.Fatal(err)
	}
	rb := &config.Runbook{Name: "rb", Steps: []config.RunbookStep{
		step("build", "w1", func(s *config.RunbookStep) {
			s.Script.Inline = "make ENV=#{Env}\ncurl -H 'Authorization: s3cr3t-token' https://example.com"
			s.Container.Options = "--memory 512m"
		}),
		step("deploy", "", onPool("linux", "all"), condition("success")),
		step("notify", "", onPool("linux", "one"), condition("always"), func(s *config.RunbookStep) {
			s.Script.Inline = "echo #{Octopus.Action[build].Output.Version}"
		}),
	}}
	r := &Runner{Config: testConfig(), ArtifactsDir: "artifacts",
		Bundle: bundle.Bundle{Digest: strings.Repeat("a", 64), Arch: "amd64"}}
	var out strings.Builder
	if err := r.DryRun(&out, rb, extra); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "s3cr3t-token") {
		t.Errorf("the dry run shows a secret:\n%s", out.String())
	}
	golden.Check(t, "runbook_dry_run", out.String(), *update)
}

func TestRunbookDryRunRefusesWhatRunRefuses(t *testing.T) {
	rb := &config.Runbook{Name: "rb", Steps: []config.RunbookStep{
		step("build", "w1"),
		step("deploy", "w1", func(s *config.RunbookStep) { s.Container.Options = "--privileged" }),
	}}
	var out strings.Builder
	err := (&Runner{Config: testConfig()}).DryRun(&out, rb, nil)
	if err == nil || !strings.Contains(err.Error(), "step deploy on w1") || !strings.Contains(err.Error(), "--privileged") {
		t.Fatalf("err = %v, want deploy's --privileged refused", err)
	}
}
