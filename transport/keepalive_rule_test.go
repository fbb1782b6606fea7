package transport

import (
	"errors"
	"testing"
	"time"
)

// TestKeepaliveRule: the README promises that a link silent for 3
// keepalive intervals (KeepAliveMax) is declared dead. Driven tick by tick,
// with no clock: one request is outstanding at a time, answered requests
// keep the link alive forever, and an unanswered one kills it exactly
// when max whole intervals have passed since it was sent.
func TestKeepaliveRule(t *testing.T) {
	for _, max := range []int{1, 3, 5} {
		k := keepalive{max: max}
		// Twenty answered rounds: never dead.
		for i := range 20 {
			send, dead := k.tick()
			if !send || dead {
				t.Fatalf("max %d, answered round %d: send %v dead %v, want a request and no death", max, i, send, dead)
			}
			k.reply(nil, time.Unix(int64(i), 0))
		}
		if k.lastHeard != time.Unix(19, 0) {
			t.Errorf("lastHeard = %v, want the last reply", k.lastHeard)
		}
		// Now silence: the request goes out, then max intervals pass.
		if send, dead := k.tick(); !send || dead {
			t.Fatalf("max %d: first silent tick: send %v dead %v", max, send, dead)
		}
		for i := 1; i <= max; i++ {
			send, dead := k.tick()
			if send {
				t.Fatalf("max %d: a second request while one is outstanding", max)
			}
			if dead != (i == max) {
				t.Fatalf("max %d: after %d silent intervals dead = %v, want dead exactly after %d", max, i, dead, max)
			}
		}
	}
	// A failed request (the connection ended) is not a reply heard.
	k := keepalive{max: 3, lastHeard: time.Unix(5, 0)}
	k.tick()
	k.reply(errors.New("closed"), time.Unix(9, 0))
	if k.lastHeard != time.Unix(5, 0) || k.pending {
		t.Errorf("after a failed request: lastHeard %v pending %v", k.lastHeard, k.pending)
	}
}
