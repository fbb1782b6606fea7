package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// sample is one side's timings over a row's runs, in run order: the i-th
// entries of two sides come from the same round.
type sample []time.Duration

func (s sample) median() time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	return c[len(c)/2]
}

// String is the median and the range, "573 ms (541-620)".
func (s sample) String() string {
	if len(s) == 0 {
		return "-"
	}
	return fmt.Sprintf("%s (%s-%s)", ms(s.median()), msBare(slices.Min(s)), msBare(slices.Max(s)))
}

// side is one contender in a round: it does its own untimed set-up and
// checks, and returns the time of the part being compared.
type side func() (time.Duration, error)

// timed runs f and returns how long it took.
func timed(f func() error) (time.Duration, error) {
	start := time.Now()
	err := f()
	return time.Since(start), err
}

// wall is a side whose whole run is timed.
func wall(f func() error) side { return func() (time.Duration, error) { return timed(f) } }

// rounds runs every side once per round, n rounds, the first side of each
// round rotating (a b, b a, ... for two), so a change in the machine's load
// falls on every side alike. It stops at the first error.
func rounds(n int, sides ...side) ([]sample, error) {
	out := make([]sample, len(sides))
	for i := range n {
		for j := range sides {
			k := (i + j) % len(sides)
			d, err := sides[k]()
			if err != nil {
				return out, fmt.Errorf("round %d of %d: %w", i+1, n, err)
			}
			out[k] = append(out[k], d)
		}
	}
	return out, nil
}

// values is a per-run figure other than time (turns, CPU seconds, MiB).
type values []float64

func (v values) median() float64 {
	if len(v) == 0 {
		return 0
	}
	c := slices.Clone(v)
	slices.Sort(c)
	return c[len(c)/2]
}

// format shows the median and the range with the given verb.
func (v values) format(verb string) string {
	if len(v) == 0 {
		return "-"
	}
	f := func(x float64) string { return fmt.Sprintf(verb, x) }
	return fmt.Sprintf("%s (%s-%s)", f(v.median()), f(slices.Min(v)), f(slices.Max(v)))
}

// ratios are the per-round quotients a[i]/b[i].
func ratios(a, b sample) values {
	var r values
	for i := range min(len(a), len(b)) {
		if b[i] > 0 {
			r = append(r, a[i].Seconds()/b[i].Seconds())
		}
	}
	return r
}

// row is one line of the table. A row with no peer has an empty peer
// sample; a failed scenario has err set and nothing else.
type row struct {
	name     string
	cuttle   sample
	peer     sample
	peerName string
	note     string
	err      error
}

func (r row) markdown() string {
	if r.err != nil {
		msg := strings.NewReplacer("|", `\|`, "\n", "<br>").Replace(r.err.Error())
		return fmt.Sprintf("| %s | **failed** | | | | %s |", r.name, msg)
	}
	ratio, peer := "-", "-"
	if len(r.peer) > 0 {
		peer = r.peer.String() + " " + r.peerName
		ratio = ratios(r.cuttle, r.peer).format("%.2fx")
	} else if r.peerName != "" {
		peer = r.peerName
	}
	return fmt.Sprintf("| %s | %d | %s | %s | %s | %s |", r.name, len(r.cuttle), r.cuttle, peer, ratio, r.note)
}

const tableHead = "| scenario | runs | cuttle: median (range) | peer: median (range) | ratio cuttle / peer: median of rounds (range) | notes |\n|---|---|---|---|---|---|"

func ms(d time.Duration) string { return msBare(d) + " ms" }

func msBare(d time.Duration) string { return fmt.Sprintf("%.0f", float64(d.Microseconds())/1000) }

func mbps(bytes int64, d time.Duration) float64 { return float64(bytes) / d.Seconds() / 1e6 }
