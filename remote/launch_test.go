package remote

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// The template the fast path sends, filled in on the worker, is exactly
// the docker run the full path would have run.
func TestLaunchTemplateMatchesFullPath(t *testing.T) {
	st := Step{Image: "img:1", Syntax: "bash", Pull: PullMissing}
	digest := strings.Repeat("d", 64)
	started := "2026-11-27T00:00:00Z"
	for _, client := range []string{"28.2.2", "19.03.15"} {
		f := wire.LaunchFacts{Home: "/home/deploy", ID: "20261127000000-42-1", UID: "1000", GID: "1001",
			Arch: "x86_64", ImagePlatform: "linux/amd64", DockerClient: client}
		got, why := wire.FillLaunch(f, launchTemplate(st, digest, started, true))
		if why != "" {
			t.Fatalf("refused: %s", why)
		}
		wd := "/home/deploy/.cuttle/work/20261127000000-42-1"
		want := dockerRunArgs(runPlan{StepID: "20261127000000-42-1", Started: started, Home: "/home/deploy", WorkDir: wd,
			BundleDir: "/home/deploy/.cuttle/bundles/" + digest, Image: "img:1", NoPull: supportsPullFlag(client),
			Script: ScriptName, Syntax: "bash", OwnerUID: 1000, OwnerGID: 1001, LogOnly: true})
		if !slices.Equal(got, want) {
			t.Errorf("client %s:\n got %q\nwant %q", client, got, want)
		}
	}
	if _, why := wire.FillLaunch(wire.LaunchFacts{Arch: "x86_64", ImagePlatform: "linux/arm64"}, launchTemplate(st, digest, started, true)); why == "" {
		t.Error("an arm64 image was launched on amd64")
	}
}

// On the fast path the preflight command runs the step: no separate
// docker run, the facts before the launch line are read, the output after
// it is the step's, and stderr held back until then is not lost.
func TestFastPathOneCommand(t *testing.T) {
	w := &fakeWorker{started: "2026", preflightRun: func(cmd *transport.Cmd) error {
		io.WriteString(cmd.Stderr, "early stderr\n")
		io.WriteString(cmd.Stdout, factsOK+wire.LaunchLine+"\nhello from the step\n")
		if cmd.Stdin == nil {
			t.Error("no payload on the fast path's stdin")
		}
		return nil
	}}
	var out, errb bytes.Buffer
	res, err := NewController().Run(t.Context(), w, testBundle, Step{Name: "s", Image: "img:1", Pull: PullMissing, Script: []byte("x"), Syntax: "bash"}, Output{Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"preflight", "cleanup"}; !slices.Equal(w.commands, want) {
		t.Errorf("commands %v, want %v", w.commands, want)
	}
	if res.ID != "T-1" || out.String() != "hello from the step\n" || !strings.Contains(errb.String(), "early stderr") {
		t.Errorf("id %q stdout %q stderr %q", res.ID, out.String(), errb.String())
	}
	// Options, builds, pull always and credentials take the full path.
	for _, st := range []Step{{Pull: PullAlways}, {Pull: PullMissing, ContainerOptions: []string{"--cpus", "1"}}, {Pull: PullNever, Slots: 2}} {
		if fastPathOK(st) {
			t.Errorf("fast path allowed for %+v", st)
		}
	}
}
