package remote

import (
	"strings"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/wire"
)

func TestDryRun(t *testing.T) {
	masks := mask.NewSet()
	masks.Add("s3cr3t-token")
	steps := map[string]Step{
		"dry_run_fast": {Name: "deploy", Image: "registry.example.com/tools:1", Pull: PullMissing, Syntax: "bash",
			Script:    []byte("echo deploying\ncurl -H 'Authorization: s3cr3t-token' https://example.com\n"),
			Variables: []wire.Variable{{Name: "Env", Value: "prod"}, {Name: "Token", Value: "s3cr3t-token", Sensitive: true}}},
		"dry_run_full": {Name: "build", Image: "registry.example.com/tools:1", Pull: PullAlways, Syntax: "sh",
			Script: []byte("make\n"), ContainerOptions: []string{"--memory", "512m", "-e", "TOKEN=s3cr3t-token"},
			Feed: &Feed{Registry: "registry.example.com", Username: "ci"}, ReattachWindow: 2 * time.Minute, Slots: 2},
	}
	for name, st := range steps {
		t.Run(name, func(t *testing.T) {
			var out strings.Builder
			if err := NewController().DryRun(&out, "web1", testBundle, st, masks); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), "s3cr3t-token") {
				t.Errorf("the dry run shows a secret:\n%s", out.String())
			}
			goldenText(t, name, out.String())
		})
	}
}

func TestDryRunRefusesWhatRunRefuses(t *testing.T) {
	st := Step{Name: "s", Image: "img:1", Syntax: "bash", ContainerOptions: []string{"--privileged"}}
	err := NewController().DryRun(&strings.Builder{}, "web1", testBundle, st, nil)
	if err == nil || !strings.Contains(err.Error(), "--privileged") {
		t.Fatalf("err = %v, want --privileged refused", err)
	}
}
