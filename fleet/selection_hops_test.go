package fleet

import (
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/config"
)

// TestSelectionLeavesOutHops: with no names and no pool, commands act on
// every worker but the jump hosts.
func TestSelectionLeavesOutHops(t *testing.T) {
	cfg := &config.Config{Workers: map[string]config.Worker{
		"bastion": {Host: "b", Role: config.RoleJump},
		"w1":      {Host: "1", Jump: "bastion"},
		"w2":      {Host: "2"},
	}}
	got, err := Selection(cfg, nil, "")
	if err != nil || strings.Join(got, ",") != "w1,w2" {
		t.Errorf("Selection = %v, %v; want w1,w2", got, err)
	}
	if got, _ := Selection(cfg, []string{"bastion"}, ""); strings.Join(got, ",") != "bastion" {
		t.Errorf("a hop named explicitly is still checked: %v", got)
	}
}
