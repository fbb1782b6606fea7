package fleet

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/golden"
	"github.com/cuttle-sh/cuttle/remote"
)

// planSecrets are the sensitive values the plans in testdata/plans are
// given through the environment; none may show in a plan's JSON.
var planSecrets = map[string]string{
	"PLAN_TOKEN":    "tok-7f3a9c1e",
	"PLAN_DB":       "db-2b8d4e6f",
	"PLAN_FEED_PW":  "feed-5c1e9a3b",
	"PLAN_PROXY_PW": "proxy-9e4f2a7d",
}

// stepPlanJSON is what a golden file holds for one step: when and where
// it runs (the runbook's words), and its compiled plan on each worker it
// may run on.
type stepPlanJSON struct {
	Name      string           `json:"name"`
	Condition string           `json:"condition"`
	Placement string           `json:"placement"`
	Plans     []workerPlanJSON `json:"plans"`
}

type workerPlanJSON struct {
	Worker string   `json:"worker"`
	Plan   planJSON `json:"plan"`
}

// planJSON is remote.Step as data, its byte fields as text so that the
// run's masks (applied to the whole JSON) reach them. The plan holds no
// mask set, callback or cache: those are the run's (remote.Output) and
// the controller's (remote.Controller).
type planJSON struct {
	remote.Step
	Script string     `json:"Script"`
	Build  *buildJSON `json:"Build"`
}

type buildJSON struct {
	remote.Build
	Dockerfile string `json:"Dockerfile"`
}

// TestPlans compiles each runbook in testdata/plans (with the flags in
// its leading "# --var ..." comments) through the path `runbook run
// --dry-run` takes, and compares the plans, as JSON with the run's masks
// applied, with NAME.json (-update rewrites them).
func TestPlans(t *testing.T) {
	for k, v := range planSecrets {
		t.Setenv(k, v)
	}
	cfg, err := config.Load(filepath.Join("testdata", "plans", "config", "cuttle.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join("testdata", "plans", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no plans in testdata/plans: %v", err)
	}
	abs, err := filepath.Abs(filepath.Join("testdata", "plans"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			got := compilePlans(t, cfg, file)
			got = strings.ReplaceAll(got, abs, "<plans>")
			for env, v := range planSecrets {
				if strings.Contains(got, v) {
					t.Errorf("the plan shows the value of %s:\n%s", env, got)
				}
			}
			golden.CheckFile(t, strings.TrimSuffix(file, ".yaml")+".json", got, *update)
		})
	}
}

// compilePlans is the JSON of every step's plans in file, masked.
func compilePlans(t *testing.T, cfg *config.Config, file string) string {
	t.Helper()
	rb, err := config.LoadRunbook(file, cfg)
	if err != nil {
		t.Fatal(err)
	}
	flags := planFlags(t, file)
	if err := rb.ForEnvironment(flags["--environment"][0]); err != nil {
		t.Fatal(err)
	}
	extra, err := ParseVariables(flags["--var"], flags["--sensitive-var"])
	if err != nil {
		t.Fatal(err)
	}
	vars, err := runbookVariables(rb, extra)
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Config: cfg, ArtifactsDir: "artifacts"}
	var steps []stepPlanJSON
	for _, s := range rb.Steps {
		workers, err := r.candidates(s)
		if err != nil {
			t.Fatal(err)
		}
		sp := stepPlanJSON{Name: s.Name, Condition: orDefault(s.Condition, "success"), Placement: placement(s, workers)}
		for _, w := range workers {
			st, err := r.compileStep(rb, s, w, vars, s.Worker == "" && s.RunOn == "all" && len(workers) > 1)
			if err != nil {
				t.Fatalf("step %s on %s: %v", s.Name, w, err)
			}
			p := planJSON{Step: st, Script: string(st.Script)}
			if st.Build != nil {
				p.Build = &buildJSON{Build: *st.Build, Dockerfile: string(st.Build.Dockerfile)}
			}
			sp.Plans = append(sp.Plans, workerPlanJSON{Worker: w, Plan: p})
		}
		steps = append(steps, sp)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(steps); err != nil {
		t.Fatal(err)
	}
	return vars.Masks().Mask(b.String())
}

// planFlags reads the command-line flags a plan's runbook is run with
// from its leading comment lines ("# --var NAME=VALUE").
func planFlags(t *testing.T, file string) map[string][]string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags := map[string][]string{"--environment": {""}}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "# --")
		if !ok {
			continue
		}
		name, value, _ := strings.Cut(line, " ")
		switch name = "--" + name; name {
		case "--var", "--sensitive-var":
			flags[name] = append(flags[name], value)
		case "--environment":
			flags[name] = []string{value}
		default:
			t.Fatalf("%s: flag %s: want --var, --sensitive-var or --environment", file, name)
		}
	}
	return flags
}
