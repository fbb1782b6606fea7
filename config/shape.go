package config

import (
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// topLevelKeys are the keys cuttle.yaml may have.
var topLevelKeys = []string{"defaults", "feeds", "pools", "runner", "workers"}

// shape is what viper cannot tell about cuttle.yaml: it drops keys whose
// value is empty, so an unknown top-level key with nothing under it, or a
// pool written as `linux: {}`, would vanish without a word.
type shape struct {
	pools []string // every pool named under pools:, empty ones included
}

// readShape checks cuttle.yaml's top-level keys, naming the line of an
// unknown one, and lists its pools.
func readShape(file string) (shape, error) {
	var sh shape
	b, err := os.ReadFile(file)
	if err != nil {
		return sh, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return sh, err
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return sh, nil // empty, or not a mapping: viper says what is wrong
	}
	top := doc.Content[0]
	var unknown []string
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if !contains(topLevelKeys, k.Value) {
			unknown = append(unknown, fmt.Sprintf("line %d: unknown key %q%s", k.Line, k.Value, suggest(k.Value, topLevelKeys)))
			continue
		}
		if k.Value == "pools" && v.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(v.Content); j += 2 {
				sh.pools = append(sh.pools, v.Content[j].Value)
			}
		}
	}
	if len(unknown) > 0 {
		return sh, fmt.Errorf("%s (cuttle.yaml has %s)", strings.Join(unknown, "; "), strings.Join(topLevelKeys, ", "))
	}
	return sh, nil
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// suggest names the known key closest to a misspelt one, if any is close.
func suggest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(s, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(": did you mean %q?", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// inferHops marks as role jump the workers that serve only as jump hosts:
// named by another worker's (or the defaults') jump, with no pool of their
// own and no role given. Run before defaults fill in pools.
func (c *Config) inferHops() {
	used := map[string]bool{}
	for _, chain := range append([]string{c.Defaults.Jump}, jumpsOf(c.Workers)...) {
		for _, hop := range strings.Split(chain, ",") {
			if hop = strings.TrimSpace(hop); hop != "" {
				used[hop] = true
			}
		}
	}
	for name, w := range c.Workers {
		if w.Role == "" && w.Pool == "" && used[name] {
			w.Role = RoleJump
			c.Workers[name] = w
		}
	}
}

func jumpsOf(workers map[string]Worker) []string {
	var out []string
	for _, w := range workers {
		out = append(out, w.Jump)
	}
	return out
}

// IsHop reports whether the named worker is only a jump host: commands that
// act on every worker (workers check, images pull) leave it out, since it
// needs sshd, not Docker.
func (c *Config) IsHop(name string) bool {
	return c.Workers[name].Role == RoleJump
}
