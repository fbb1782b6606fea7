package remote

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/octopus"
)

// TestOutputProcessorRecordsReports: the messages Octopus acts on and
// cuttle records (environment state, manifests, targets), from either
// stream; a sensitive state's value is masked from then on.
func TestOutputProcessorRecordsReports(t *testing.T) {
	var out, errb, logs bytes.Buffer
	p := newOutputProcessor(mask.NewSet(), Output{Stdout: &out, Stderr: &errb}, zerolog.New(&logs))
	o, e, flush := p.writers()
	for _, line := range []string{
		octopus.Format("set-environmentstate", "key", "MyKey", "value", "MyValue", "type", "State"),
		octopus.Format("set-environmentstate", "key", "SecretKey", "value", "Secret Value", "sensitive", "True", "type", "State"),
		octopus.Format("set-environmentstate", "key", "MyKey", "value", "Replaced", "type", "State"),
		octopus.Format("set-environmentstate", "key", "MyKey", "value", "https://x", "type", "Url"),
		octopus.Format("set-environmentstate", "value", "no key"),
		octopus.Format("k8s-manifest-applied", "manifest", "kind: A\n", "ns", "my"),
		"##octopus[createStepPackageTarget  name='" + octopus.EncodeValue("web") + "' targetId='" + octopus.EncodeValue("t1") +
			"' octopusRoles='" + octopus.EncodeValue("r") + "' updateIfExisting='" + octopus.EncodeValue("true") + "']",
		"echo Secret Value",
	} {
		io.WriteString(o, line+"\n")
	}
	io.WriteString(e, octopus.Format("delete-target", "machine", "old")+"\n")
	flush()
	got := p.results().reported
	want := Reported{
		EnvironmentState: []EnvironmentState{{Key: "SecretKey", Value: "Secret Value", Type: "State", Sensitive: true},
			{Key: "MyKey", Value: "Replaced", Type: "State"}, {Key: "MyKey", Value: "https://x", Type: "Url"}},
		KubernetesManifests: []KubernetesManifest{{Namespace: "my", Manifest: "kind: A\n"}},
		Targets:             []TargetChange{{Action: "create", Name: "web", TargetID: "t1", Roles: "r", UpdateIfExisting: true}, {Action: "delete", Machine: "old"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("reported (-want +got):\n%s", diff)
	}
	if out.String() != "echo ********\n" || errb.Len() != 0 {
		t.Errorf("stdout %q stderr %q", out.String(), errb.String())
	}
	if strings.Contains(logs.String(), "Secret Value") || !strings.Contains(logs.String(), "without a key") {
		t.Errorf("logs:\n%s", logs.String())
	}
}
