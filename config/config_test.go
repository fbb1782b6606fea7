package config

import (
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
