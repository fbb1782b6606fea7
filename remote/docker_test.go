package remote

import (
	"flag"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/internal/golden"
	"github.com/cuttle-sh/cuttle/internal/shellquote"
)

var update = flag.Bool("update", false, "rewrite golden files")

func goldenArgs(t *testing.T, name string, args []string) {
	t.Helper()
	got, err := shellquote.Join(args...)
	if err != nil {
		t.Fatal(err)
	}
	goldenText(t, name, got+"\n")
}

// goldenText compares got with testdata/<name>.golden (go test -update
// rewrites it).
func goldenText(t *testing.T, name, got string) {
	t.Helper()
	golden.Check(t, name, got, *update)
}

var testPlan = runPlan{
	StepID: "20261127000000-42-1", Started: "2026-11-27T00:00:00Z", Home: "/home/deploy",
	WorkDir: "/home/deploy/.cuttle/work/20261127000000-42-1", BundleDir: "/home/deploy/.cuttle/bundles/abc",
	Image: "registry.example.com/tools:1", NoPull: true, Script: "script.sh", Syntax: "bash",
	OwnerUID: 1000, OwnerGID: 1000,
}

func TestDockerRunArgsGolden(t *testing.T) {
	goldenArgs(t, "docker_run", dockerRunArgs(testPlan))
	old := testPlan
	old.NoPull = false
	goldenArgs(t, "docker_run_old_client", dockerRunArgs(old))
	goldenArgs(t, "remove_tree", removeTreeArgs(testPlan))
	slotted := testPlan
	slotted.SlotDir, slotted.Slots = "/home/deploy/.cuttle/locks", 2
	goldenArgs(t, "docker_run_slots", dockerRunArgs(slotted))
}

func TestDockerRunArgsKeepsTheContract(t *testing.T) {
	args := dockerRunArgs(testPlan)
	line := strings.Join(args, " ")
	for _, want := range []string{
		"--name cuttle-" + testPlan.StepID,
		"--label io.cuttle.step=" + testPlan.StepID,
		"--label io.cuttle.started=",
		"--entrypoint  ", // cleared: an empty argument
		"-v " + testPlan.WorkDir + ":" + testPlan.WorkDir + " ",
		"-w " + testPlan.WorkDir,
		":ro",
		"-- " + testPlan.Image,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("docker run args lack %q:\n%s", want, line)
		}
	}
	for i, a := range args {
		if a == "--" && args[i+1] != testPlan.Image {
			t.Errorf("the image must follow --, got %q", args[i+1])
		}
	}
}

func TestParsePullPolicy(t *testing.T) {
	tests := []struct {
		name, in, image string
		want            PullPolicy
		wantErr         bool
	}{
		{"tag defaults to always", "", "x:1", PullAlways, false},
		{"digest defaults to missing", "", "x@sha256:" + strings.Repeat("a", 64), PullMissing, false},
		{"explicit never", "never", "x:1", PullNever, false},
		{"unknown", "sometimes", "x", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePullPolicy(tt.in, tt.image)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParsePullPolicy(%q, %q) = %q, %v", tt.in, tt.image, got, err)
			}
		})
	}
}

func TestValidateImage(t *testing.T) {
	for _, ok := range []string{"alpine", "alpine:3.20", "reg.example.com:5000/team/tool:1.2-rc1", "x@sha256:" + strings.Repeat("0", 64), "localhost/a_b.c"} {
		if err := ValidateImage(ok); err != nil {
			t.Errorf("ValidateImage(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "--privileged", "-v", "a b", "x;rm -rf ~", "$(id)", "x\ny", "`id`"} {
		if err := ValidateImage(bad); err == nil {
			t.Errorf("ValidateImage(%q) accepted", bad)
		}
	}
}

func TestSupportsPullFlag(t *testing.T) {
	for v, want := range map[string]bool{"20.10.24+dfsg1": true, "28.2.2": true, "19.03.1": false, "20.9": false, "": false, "garbage": false} {
		if got := supportsPullFlag(v); got != want {
			t.Errorf("supportsPullFlag(%q) = %v, want %v", v, got, want)
		}
	}
}
