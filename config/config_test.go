package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cuttle.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoad(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string
	}{
		{name: "valid", body: "workers:\n  w1: {host: 127.0.0.1, port: 2222, user: deploy, pool: linux}\npools:\n  linux: {max_steps_per_worker: 2}\n"},
		{name: "defaults fill in", body: "defaults: {port: 2222, user: deploy}\nworkers:\n  w1: {host: 127.0.0.1, pool: linux}\npools:\n  linux: {max_steps_per_worker: 2}\n"},
		{name: "typo in key", body: "workers:\n  w1: {hots: 127.0.0.1}\n", wantErr: "hots"},
		{name: "missing host", body: "workers:\n  w1: {user: x}\n", wantErr: "workers.w1.host is required"},
		{name: "undefined pool", body: "workers:\n  w1: {host: h, pool: nope}\n", wantErr: `workers.w1.pool "nope"`},
		{name: "inline password refused", body: "feeds:\n  f: {registry: r, username: u, password: p}\n", wantErr: "password"},
		{name: "feed without password ref", body: "feeds:\n  f: {registry: r, username: u}\n", wantErr: "no password_env"},
		{name: "feed acquired by the worker", body: "workers:\n  w1: {host: h, port: 2222}\nfeeds:\n  f: {registry: files.example.com, acquisition: worker, ca_file: ca.pem}\n"},
		{name: "unknown feed acquisition", body: "feeds:\n  f: {registry: r, acquisition: target}\n", wantErr: `feeds.f.acquisition "target": want controller or worker`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := write(t, tt.body)
			c, err := Load(p)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if c.Workers["w1"].Port != 2222 || c.File != p {
					t.Fatalf("Load = %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Load error = %v, want it to name %q and the file", err, tt.wantErr)
			}
		})
	}
}

func TestLoadMissingNamedFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); err == nil {
		t.Fatal("want an error for a named file that does not exist")
	}
}

// TestLoadGrants: the operator's grants are read per worker, per pool and
// under defaults.
func TestLoadGrants(t *testing.T) {
	p := write(t, `defaults: {allowed_mounts: ["/srv/shared:/shared:ro"]}
workers:
  w1: {host: h, pool: gpu, allow_privileged: true, allowed_mounts: ["/srv/cache:/cache:ro"], allowed_devices: [/dev/fuse]}
pools:
  gpu: {allow_privileged: false, allowed_devices: ["nvidia.com/gpu=all"]}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	w, pool := c.Workers["w1"], c.Pools["gpu"]
	if !w.AllowPrivileged || w.AllowedMounts[0] != "/srv/cache:/cache:ro" || w.AllowedDevices[0] != "/dev/fuse" ||
		pool.AllowedDevices[0] != "nvidia.com/gpu=all" || c.Defaults.AllowedMounts[0] != "/srv/shared:/shared:ro" {
		t.Fatalf("Load = %+v", c)
	}
}

// TestRunbookCannotGrant: a runbook is the step author's file; the keys
// that grant privileges are refused wherever it puts them, with where the
// operator sets them instead.
func TestRunbookCannotGrant(t *testing.T) {
	cfg := &Config{Workers: map[string]Worker{"w1": {Host: "h"}}}
	step := "  - name: s\n    worker: w1\n    container: {image: i%s}\n    script: {inline: echo}\n%s"
	for _, tt := range []struct{ name, body, where string }{
		{"top", "allow_privileged: true\nsteps:\n" + fmt.Sprintf(step, "", ""), "allow_privileged"},
		{"step", "steps:\n" + fmt.Sprintf(step, "", "    allow_privileged: true\n"), "steps[0].allow_privileged"},
		{"container", "steps:\n" + fmt.Sprintf(step, ", allowed_mounts: [/:/h]", ""), "steps[0].container.allowed_mounts"},
		{"devices", "steps:\n" + fmt.Sprintf(step, "", "    allowed_devices: [/dev/sda]\n"), "steps[0].allowed_devices"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "rb.yaml")
			if err := os.WriteFile(p, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadRunbook(p, cfg)
			if err == nil || !strings.Contains(err.Error(), tt.where) || !strings.Contains(err.Error(), "cannot grant") || !strings.Contains(err.Error(), "cuttle.yaml") {
				t.Fatalf("LoadRunbook = %v; want it to refuse %s and say the operator grants it in cuttle.yaml", err, tt.where)
			}
		})
	}
	// A variable may still be called so.
	p := filepath.Join(t.TempDir(), "rb.yaml")
	os.WriteFile(p, []byte("variables: {allow_privileged: x}\nsteps:\n"+fmt.Sprintf(step, "", "")), 0o600)
	if _, err := LoadRunbook(p, cfg); err != nil {
		t.Fatal(err)
	}
}
