package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadText(t *testing.T, text string) (*Config, error) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "cuttle.yaml")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(f)
}

func TestUnknownTopLevelKeys(t *testing.T) {
	for _, tt := range []struct {
		name, text, want string
	}{
		{name: "empty misspelt key", text: "wokers:\n", want: `line 1: unknown key "wokers": did you mean "workers"?`},
		{name: "empty map", text: "workers: {}\npols: {}\n", want: `line 2: unknown key "pools"`},
		{name: "far from any key", text: "workers: {}\nbananas: 3\n", want: `line 2: unknown key "bananas" (cuttle.yaml has`},
		{name: "all known", text: "workers: {}\npools: {}\nfeeds: {}\ndefaults: {}\nrunner: {}\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadText(t, tt.text)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			// "pols" suggests "pools"
			want := strings.Replace(tt.want, `unknown key "pools"`, `unknown key "pols": did you mean "pools"?`, 1)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want it to contain %q", err, want)
			}
		})
	}
}

func TestEmptyPoolIsDefined(t *testing.T) {
	c, err := loadText(t, "workers:\n  w1: {host: h, pool: linux}\npools:\n  linux: {}\n  other:\n")
	if err != nil {
		t.Fatalf("an empty pool was refused: %v", err)
	}
	for _, p := range []string{"linux", "other"} {
		if _, ok := c.Pools[p]; !ok {
			t.Errorf("pool %s missing: %v", p, c.Pools)
		}
	}
}

func TestJumpHostsAreHops(t *testing.T) {
	c, err := loadText(t, `defaults: {pool: linux}
workers:
  bastion: {host: b}
  inner: {host: i, jump: bastion}
  edge: {host: e, jump: "hop2,bastion"}
  hop2: {host: h2, role: jump}
  both: {host: x, role: worker}
  via-both: {host: y, jump: both}
pools:
  linux: {}
`)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"bastion": true, "hop2": true, "inner": false, "edge": false, "both": false, "via-both": false} {
		if got := c.IsHop(name); got != want {
			t.Errorf("IsHop(%s) = %v, want %v", name, got, want)
		}
	}
	if p := c.Workers["bastion"].Pool; p != "" {
		t.Errorf("the jump host got the default pool %q", p)
	}
	if p := c.Workers["inner"].Pool; p != "linux" {
		t.Errorf("a worker lost the default pool: %q", p)
	}
	if _, err := loadText(t, "workers:\n  w: {host: h, role: bastion}\n"); err == nil || !strings.Contains(err.Error(), "want worker or jump") {
		t.Errorf("bad role: %v", err)
	}
}
