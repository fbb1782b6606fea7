//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestImportedRunbook imports an Octopus project (OCL process and
// variables) and runs the runbook it becomes on the fleet: an execution
// container from a feed, output variables, a step started with the
// previous one, a step for another environment (skipped), a Variable
// condition that is false, environment-scoped and sensitive variables.
func TestImportedRunbook(t *testing.T) {
	t.Parallel()
	cfg, _ := fleetConfig(t)
	b, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(b, []byte("feeds:\n  reg: {registry: "+env.registry.Addr+", username: ci, password_env: CUTTLE_IT_REGISTRY_PW}\n")...), 0o600)
	ref := pushed(t, "import/p-"+uniq(t))
	dir := t.TempDir()
	octo := filepath.Join(dir, ".octopus")
	os.MkdirAll(octo, 0o755)
	script := func(slug, name, extra, body string) string {
		return fmt.Sprintf(`step %q {
    name = %q
%s
    action {
        action_type = "Octopus.Script"
        properties = {
            Octopus.Action.Script.ScriptBody = <<-EOT
                %s
                EOT
            Octopus.Action.Script.ScriptSource = "Inline"
            Octopus.Action.Script.Syntax = "Bash"
        }
        worker_pool = "Hosted Ubuntu"

        container {
            feed = "octo-reg"
            image = %q
        }
    }
}
`, slug, name, extra, body, ref)
	}
	process := script("build", "Build", "", `set_octopusvariable Version "#{Release.Prefix}.${HOME:+1}"; echo "built #{Release.Prefix}"`) +
		script("lint", "Lint", `    start_trigger = "StartWithPrevious"`, `echo "linted beside build"`) +
		script("prod", "Production only", "", `echo SHOULD-NOT-RUN`) +
		script("smoke", "Smoke", `    condition = "Variable"
    properties = {
        Octopus.Step.ConditionVariableExpression = "#{Smoke.Enabled}"
    }`, `echo SMOKE-RAN`) +
		script("report", "Report", "", `echo "version $(get_octopusvariable "Octopus.Action[Build].Output.Version") in #{Octopus.Environment.Name} at #{App.Url}"; echo "pw=$(get_octopusvariable Db.Password)"`) +
		`step "approve" {
    name = "Approve"

    action {
        action_type = "Octopus.Manual"
    }
}
`
	// The production-only step: its action's environments.
	process = strings.Replace(process, "    action {\n        action_type = \"Octopus.Script\"\n        properties = {\n            Octopus.Action.Script.ScriptBody = <<-EOT\n                echo SHOULD-NOT-RUN",
		"    action {\n        action_type = \"Octopus.Script\"\n        environments = [\"production\"]\n        properties = {\n            Octopus.Action.Script.ScriptBody = <<-EOT\n                echo SHOULD-NOT-RUN", 1)
	os.WriteFile(filepath.Join(octo, "deployment_process.ocl"), []byte(process), 0o644)
	os.WriteFile(filepath.Join(octo, "variables.ocl"), []byte(`variable "Release.Prefix" {
    value "1.2" {}
}

variable "App.Url" {
    value "https://staging.example.com" {
        environment = ["staging"]
    }

    value "https://www.example.com" {
        environment = ["production"]
    }
}

variable "Smoke.Enabled" {
    value "False" {}
}

variable "Db.Password" {
    type = "Sensitive"
}
`), 0o644)

	out := filepath.Join(dir, "out")
	r := runCuttle(t, "import", "octopus", "--out", out, "--worker-pool-map", "Hosted Ubuntu=linux", "--feed-map", "octo-reg=reg",
		filepath.Join(octo, "deployment_process.ocl"), filepath.Join(octo, "variables.ocl"))
	if r.code != 0 {
		t.Fatalf("import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"  converted:      Build", "  not converted:  Approve [Octopus.Manual]", "sensitive variable Db.Password: set the environment variable DB_PASSWORD"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("import report lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "needs runbook support") {
		t.Fatalf("this sample should need nothing the loader lacks:\n%s", r.stdout)
	}

	const secret = "s3cr3t-imported-pw"
	r = runCuttleEnv(t, []string{"CUTTLE_IT_REGISTRY_PW=" + env.registry.Password, "DB_PASSWORD=" + secret},
		"runbook", "run", filepath.Join(out, "deployment-process.yaml"), "--config", cfg, "--environment", "staging")
	if r.code != 0 {
		t.Fatalf("runbook run: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"built 1.2", "linted beside build", "Octopus condition is false: step skipped",
		"version 1.2.1 in staging at https://staging.example.com"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, bad := range []string{"SHOULD-NOT-RUN", "SMOKE-RAN", secret, env.registry.Password} {
		if strings.Contains(r.stdout+r.stderr, bad) {
			t.Errorf("output holds %q:\n%s\n%s", bad, r.stdout, r.stderr)
		}
	}
	skipped := map[string]bool{}
	for _, s := range r.report.Steps {
		skipped[s.Name] = s.Skipped
		if !s.Skipped {
			assertStepGone(t, s)
		}
	}
	if !skipped["Production only"] || len(skipped) != 5 {
		t.Errorf("report steps (name: skipped) %v: want five, Production only skipped", skipped)
	}
}

// TestImportedRunbookWithPackage: the migration path for a step whose
// script comes from a package: import the OCL, set the package's source
// (the one thing Octopus decided at release time), and run it. The
// package is extracted, its script runs with its parameters, and its
// substitution target, relative to the package in Octopus, is evaluated
// with the project's variables, the sensitive one included.
func TestImportedRunbookWithPackage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	octo := filepath.Join(dir, ".octopus")
	os.MkdirAll(octo, 0o755)
	os.WriteFile(filepath.Join(octo, "deployment_process.ocl"), []byte(fmt.Sprintf(`step "deploy-web" {
    name = "Deploy web"

    action {
        action_type = "Octopus.Script"
        properties = {
            Octopus.Action.EnabledFeatures = "Octopus.Features.SubstituteInFiles"
            Octopus.Action.Script.ScriptFileName = "deploy.sh"
            Octopus.Action.Script.ScriptParameters = "--to staging"
            Octopus.Action.Script.ScriptSource = "Package"
            Octopus.Action.Script.Syntax = "Bash"
            Octopus.Action.SubstituteInFiles.TargetFiles = "config\\app.json"
        }
        worker_pool = "Hosted Ubuntu"

        container {
            image = %q
        }

        packages {
            acquisition_location = "ExecutionTarget"
            feed = "octopus-server-built-in"
            package_id = "Acme/Web"
            properties = {
                SelectionMode = "immediate"
            }
        }
    }
}
`, env.image)), 0o644)
	os.WriteFile(filepath.Join(octo, "variables.ocl"), []byte(`variable "App.Url" {
    value "https://staging.example.com" {}
}

variable "Db.Password" {
    type = "Sensitive"
}
`), 0o644)
	out := filepath.Join(dir, "out")
	r := runCuttle(t, "import", "octopus", "--out", out, "--worker-pool-map", "Hosted Ubuntu=linux",
		filepath.Join(octo, "deployment_process.ocl"), filepath.Join(octo, "variables.ocl"))
	if r.code != 0 || strings.Contains(r.stdout, "needs runbook support") || !strings.Contains(r.stdout, "set its source") {
		t.Fatalf("import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// What the report asks of the user: the package's source.
	pkg := writePackage(t, dir, "Acme.Web.1.4.0.tar.gz", []pkgEntry{
		{name: "deploy.sh", body: "#!/bin/bash\necho \"deploying $* from ${PWD##*/}\"\necho \"url line: $(grep -o '\"url\":\"[^\"]*\"' config/app.json)\"\necho \"pw matches: $(grep -c \"$(get_octopusvariable Db.Password)\" config/app.json)\"\n", mode: 0o755},
		{name: "config/app.json", body: `{"url":"#{App.Url}","pw":"#{Db.Password}"}`, mode: 0o640},
	})
	rbFile := filepath.Join(out, "deployment-process.yaml")
	b, err := os.ReadFile(rbFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	st := doc["steps"].([]any)[0].(map[string]any)
	pk := st["packages"].([]any)[0].(map[string]any)
	pk["source"] = pkg
	delete(pk, "feed")
	if pk["acquisition"] != "worker" {
		t.Errorf("ExecutionTarget converted to acquisition %v, want worker", pk["acquisition"])
	}
	// A local archive is on the controller, as the report says.
	delete(pk, "acquisition")
	st["container"].(map[string]any)["pull"] = "never" // the test image is only on the worker
	if b, err = yaml.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(rbFile, b, 0o644)
	cfg := filepath.Join(dir, "cuttle.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("workers:\n  w1: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, pool: linux}\npools:\n  linux: {}\n",
		env.sshd.Port, workerUser, env.key.PrivateFile, env.sshd.KnownHosts)), 0o600)

	const secret = "s3cr3t-package-pw"
	r = runCuttleEnv(t, []string{"DB_PASSWORD=" + secret}, "runbook", "run", rbFile, "--config", cfg)
	if r.code != 0 {
		t.Fatalf("runbook run: exit %d\nrunbook:\n%s\nstdout %s\nstderr %s", r.code, b, r.stdout, r.stderr)
	}
	for _, want := range []string{"deploying --to staging from Acme-Web", `url line: "url":"https://staging.example.com"`, "pw matches: 1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout+r.stderr, secret) {
		t.Errorf("output holds the secret:\n%s\n%s", r.stdout, r.stderr)
	}
	for _, s := range r.report.Steps {
		assertStepGone(t, s)
	}
}
