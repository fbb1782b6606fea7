package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunbookRetriesAndTemplates(t *testing.T) {
	cfg := &Config{Pools: map[string]Pool{"linux": {}}}
	for _, c := range []struct{ name, step, wantErr string }{
		{"retries", "pool: linux\n    retries: 2\n    retry_delay: 5s\n    parameters: \"a 'b c'\"", ""},
		{"templated pool checked later", "pool: '#{Pool}'", ""},
		{"unknown pool", "pool: nope", `pool "nope" is not defined`},
		{"negative retries", "pool: linux\n    retries: -1", "retries -1"},
		{"bad delay", "pool: linux\n    retries: 1\n    retry_delay: soon", `retry_delay "soon"`},
		{"negative delay", "pool: linux\n    retries: 1\n    retry_delay: -1s", `retry_delay "-1s"`},
		{"delay without retries", "pool: linux\n    retry_delay: 1s", "retry_delay needs retries"},
		{"substitute in a package", "pool: linux\n    packages: [{name: web, source: w.zip}]\n    substitute_in_files: ['web/**/*.json']", ""},
		{"substitute out of the work directory", "pool: linux\n    packages: [{name: web, source: w.zip}]\n    substitute_in_files: ['web/../../x']", "cannot be substituted"},
		{"substitute without packages", "pool: linux\n    substitute_in_files: ['web/a.json']", "no extracted package"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "rb.yaml")
			body := "steps:\n  - name: s\n    " + c.step + "\n    container: {image: alpine}\n    script: {inline: 'true'}\n"
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			rb, err := LoadRunbook(p, cfg)
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if c.name == "retries" {
					if d, _ := rb.Steps[0].RetryDelayDuration(); rb.Steps[0].Retries != 2 || d.Seconds() != 5 || rb.Steps[0].Parameters != "a 'b c'" {
						t.Errorf("step = %+v", rb.Steps[0])
					}
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("LoadRunbook error = %v, want %q", err, c.wantErr)
			}
		})
	}
}
