package remote

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPlanGC(t *testing.T) {
	now := int64(1_800_000_000)
	old := time.Unix(now-7200, 0).UTC().Format(time.RFC3339)
	fresh := time.Unix(now-60, 0).UTC().Format(time.RFC3339)
	ts := func(ago int64) string { return itoa64(now - ago) }
	listing := strings.Join([]string{
		"now " + itoa64(now),
		"container c1 exited S1 " + old,                    // crashed controller's: remove
		"container c2 running S2 " + old,                   // running, however old: keep
		"container c3 exited S3 " + fresh,                  // finished just now: keep
		"container c5 created S5 " + old,                   // not started yet, its heartbeat is fresh: keep
		"workdir S1 " + ts(7200),                           // old, not running: remove
		"workdir S2 " + ts(7200),                           // old but its step runs: keep
		"workdir S4 " + ts(60),                             // young: keep
		"workdir S5 " + ts(7200) + " " + ts(20),            // pulling, no container yet, heartbeat fresh: keep
		"workdir S6 " + ts(7200) + " " + ts(3600),          // heartbeat stopped long ago: remove
		"workdir S7 " + ts(7200) + " " + ts(200) + " 5m0s", // controller gone 200s ago, window 5m: may reattach, keep
		"workdir S8 " + ts(7200) + " " + ts(20) + " 10s",   // gone 20s ago, window 10s: remove
		"cfg S1 " + ts(7200),                               // a pull cut short: remove
		"cfg S5 " + ts(7200),                               // its step is pulling: keep
		"cfg S9 " + ts(60),                                 // young: keep
		"record S1 " + ts(7200),                            // its step is over: remove
		"record S2 " + ts(7200),                            // running: keep
		"record S5 " + ts(7200),                            // in progress: keep
		"bundle current " + ts(99999),
		"bundle stale " + ts(99999),
		"temp /h/.cuttle/bundles/.tmp-x " + ts(7200),
		"temp /h/.cuttle/packages/.tmp-y " + ts(7200),
		"package aaaa " + ts(7200), // unused since the cut-off: remove
		"package bbbb " + ts(60),   // used a minute ago: keep
		"build cuttle-build/aa:latest " + ts(7200),
		"build cuttle-build/bb:latest " + ts(60),
	}, "\n")
	p := PlanGC([]byte(listing), time.Hour, "current")
	check := func(what string, got, want []string) {
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("containers", p.Containers, []string{"c1"})
	check("workdirs", p.WorkDirs, []string{"S1", "S6", "S8"})
	check("configs", p.Configs, []string{"S1"})
	check("bundles", p.Bundles, []string{"stale"})
	check("temps", p.Temps, []string{"/h/.cuttle/bundles/.tmp-x", "/h/.cuttle/packages/.tmp-y"})
	check("packages", p.Packages, []string{"aaaa"})
	check("builds", p.Builds, []string{"cuttle-build/aa:latest"})
	check("records", p.Records, []string{"S1"})
	if !strings.Contains(strings.Join(p.Kept, "\n"), "step S2 is running") {
		t.Errorf("kept = %v", p.Kept)
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
