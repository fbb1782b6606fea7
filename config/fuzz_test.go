package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds cuttle.yaml and runbook texts to the loaders: they must
// never panic, every error names the file, and what loads keeps the
// invariants the rest of cuttle relies on.
func FuzzLoad(f *testing.F) {
	f.Add("workers:\n  w1: {host: h, user: u, pool: p}\npools:\n  p: {max_steps_per_worker: 2}\n",
		"steps:\n  - name: s\n    worker: w1\n    container: {image: i}\n    script: {inline: echo}\n")
	f.Add("defaults: {user: u}\nfeeds:\n  f: {registry: r, username: u, password_env: E}\n",
		"variables: {A: b}\nsteps:\n  - name: s\n    pool: p\n    run_on: all\n    timeout: 5s\n    condition: always\n")
	f.Add("workers: [1, 2]\n", "steps: {}\n")
	f.Add("\x00\xff: &a [*a]\n", "- !!binary x\n")
	f.Fuzz(func(t *testing.T, cfgText, rbText string) {
		dir := t.TempDir()
		cfgFile := filepath.Join(dir, "cuttle.yaml")
		rbFile := filepath.Join(dir, "rb.yaml")
		os.WriteFile(cfgFile, []byte(cfgText), 0o600)
		os.WriteFile(rbFile, []byte(rbText), 0o600)
		cfg, err := Load(cfgFile)
		if err != nil {
			if !strings.Contains(err.Error(), cfgFile) {
				t.Fatalf("config error does not name the file: %v", err)
			}
			cfg = &Config{}
		} else {
			for name, w := range cfg.Workers {
				if _, ok := cfg.Pools[w.Pool]; w.Pool != "" && !ok {
					t.Fatalf("worker %s loaded with undefined pool %q", name, w.Pool)
				}
			}
		}
		rb, err := LoadRunbook(rbFile, cfg)
		if err != nil {
			if !strings.Contains(err.Error(), rbFile) {
				t.Fatalf("runbook error does not name the file: %v", err)
			}
			return
		}
		for _, s := range rb.Steps {
			if s.Name == "" {
				t.Fatal("a runbook step loaded without a name")
			}
			if _, err := s.TimeoutDuration(); err != nil {
				t.Fatalf("step %s loaded with a bad timeout: %v", s.Name, err)
			}
		}
	})
}
