package fleet

import (
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/config"
)

// TestBuildStepGrants: a step gets the grants of its worker, its pool and
// the defaults from cuttle.yaml, and its container options are checked
// against them before anything connects.
func TestBuildStepGrants(t *testing.T) {
	cfg := &config.Config{
		File:     "cuttle.yaml",
		Defaults: config.WorkerDefaults{AllowedMounts: []string{"/srv/shared:/shared:ro"}},
		Workers: map[string]config.Worker{
			"w1":  {Host: "h", Pool: "p", Grants: config.Grants{AllowedMounts: []string{"/srv/cache:/cache:ro"}}},
			"w2":  {Host: "h"},
			"w3":  {Host: "h", Pool: "priv"},
			"bad": {Host: "h", Grants: config.Grants{AllowedMounts: []string{"relative"}}},
		},
		Pools: map[string]config.Pool{
			"p":    {Grants: config.Grants{AllowedDevices: []string{"/dev/fuse"}}},
			"priv": {Grants: config.Grants{AllowPrivileged: true}},
		},
	}
	build := func(worker, opts string, cliPrivileged bool) error {
		vars, err := ParseVariables(nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := config.RunbookStep{Name: "s", Container: config.Container{Image: "img", Options: opts}, Script: config.Script{Inline: "true"}}
		_, err = BuildStep(cfg, StepInput{Step: s, Vars: vars, Worker: worker, AllowPrivileged: cliPrivileged})
		return err
	}
	for _, tt := range []struct {
		worker, opts string
		cli          bool
		wantErr      string
	}{
		{worker: "w1", opts: "-v /srv/cache:/cache:ro -v /srv/shared:/shared:ro --device /dev/fuse"},
		{worker: "w2", opts: "-v /srv/shared:/shared:ro"},
		{worker: "w2", opts: "-v /srv/cache:/cache:ro", wantErr: "allowed_mounts of worker w2"},
		{worker: "w2", opts: "--device /dev/fuse", wantErr: "allowed_devices of worker w2"},
		{worker: "w1", opts: "--privileged", wantErr: "allow_privileged: true for worker w1"},
		{worker: "w3", opts: "--privileged -v /:/host"},
		{worker: "w2", opts: "--privileged", cli: true},
		{worker: "ssh://u@h:22", opts: "--network host", wantErr: "this worker"},
		{worker: "w3", opts: "--log-driver json-file", wantErr: "is not allowed"},
		{worker: "bad", opts: "", wantErr: "workers.bad.allowed_mounts[0]"},
	} {
		err := build(tt.worker, tt.opts, tt.cli)
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("worker %s, options %q: BuildStep = %v, want error %q", tt.worker, tt.opts, err, tt.wantErr)
		}
	}
}
