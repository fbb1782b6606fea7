package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestRoundsAlternate checks that the side going first changes every
// round, and that each side's times stay in round order.
func TestRoundsAlternate(t *testing.T) {
	var order []string
	side := func(name string, d time.Duration) side {
		return func() (time.Duration, error) { order = append(order, name); return d, nil }
	}
	got, err := rounds(3, side("a", 1), side("b", 2))
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(order, ""); s != "abbaab" {
		t.Errorf("call order %q, want abbaab", s)
	}
	if len(got[0]) != 3 || len(got[1]) != 3 || got[0][1] != 1 || got[1][1] != 2 {
		t.Errorf("samples %v, want three 1s for a and three 2s for b", got)
	}
}

func TestRoundsStopAtError(t *testing.T) {
	calls := 0
	_, err := rounds(5, func() (time.Duration, error) {
		calls++
		if calls == 2 {
			return 0, errors.New("boom")
		}
		return 1, nil
	})
	if err == nil || !strings.Contains(err.Error(), "round 2 of 5") || calls != 2 {
		t.Fatalf("err %v after %d calls, want the round 2 of 5 error after 2", err, calls)
	}
}

func TestMedianAndRatios(t *testing.T) {
	c := sample{3 * time.Second, 1 * time.Second, 2 * time.Second}
	p := sample{2 * time.Second, 4 * time.Second, 2 * time.Second}
	if m := c.median(); m != 2*time.Second {
		t.Errorf("median %v, want 2s", m)
	}
	if c[0] != 3*time.Second {
		t.Errorf("median sorted the sample in place: %v", c)
	}
	// Per round: 1.5, 0.25, 1.0; the median is 1.0, not 2s/2s of the medians.
	if got := ratios(c, p).format("%.2f"); got != "1.00 (0.25-1.50)" {
		t.Errorf("ratios %s, want 1.00 (0.25-1.50)", got)
	}
}

func TestFailedRowStaysOneTableRow(t *testing.T) {
	md := row{name: "x", err: errors.New("a | b\nc")}.markdown()
	if strings.Count(md, "\n") != 0 || !strings.Contains(md, `a \| b<br>c`) {
		t.Errorf("failed row %q: want one line with the pipe escaped and the newline as <br>", md)
	}
}

func TestSaidHi(t *testing.T) {
	out := []byte("[s0@w0] hi\n[s0@w1] hi\n[s0@w1] other\n")
	if err := saidHi(out, 2); err != nil {
		t.Errorf("two his, want 2: %v", err)
	}
	if err := saidHi(out, 3); err == nil {
		t.Error("two his passed for 3")
	}
	// One worker: its lines are not prefixed.
	if err := saidHi([]byte("hi\nhi\nhigh\n"), 2); err != nil {
		t.Errorf("one worker's two his, want 2: %v", err)
	}
}
