package remote

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/internal/progress"
	"github.com/cuttle-sh/cuttle/octopus"
)

func newLiveRun(live bool, values ...string) *processorRun {
	r := &processorRun{}
	r.p = newOutputProcessor(mask.NewSet(values...), Output{Stdout: &r.out, Stderr: &r.errb, Live: live}, zerolog.New(&r.logs))
	r.stdout, r.stderr, r.flush = r.p.writers()
	return r
}

// TestLivePartialLines: on a terminal a line redrawn with \r shows as it
// comes; elsewhere it waits for its newline, as before.
func TestLivePartialLines(t *testing.T) {
	for _, live := range []bool{true, false} {
		r := newLiveRun(live)
		io.WriteString(r.stdout, "start\ndownloading 10%")
		shown := r.out.String()
		io.WriteString(r.stdout, "\rdownloading 60%")
		io.WriteString(r.stdout, "\rdownloading 100%\n")
		r.flush()
		if want := map[bool]string{true: "start\ndownloading 10%", false: "start\n"}[live]; shown != want {
			t.Errorf("live %v: before the newline, shown %q, want %q", live, shown, want)
		}
		if want := "start\ndownloading 10%\rdownloading 60%\rdownloading 100%\n"; r.out.String() != want {
			t.Errorf("live %v: in the end %q, want %q", live, r.out.String(), want)
		}
	}
}

// TestLiveSecretAcrossRedraws: a sensitive value split between two
// writes of a \r redraw is still masked, and its first bytes are held
// until it is known whether they begin it.
func TestLiveSecretAcrossRedraws(t *testing.T) {
	r := newLiveRun(true, "hunter2")
	io.WriteString(r.stdout, "\rlogin as admin:hun")
	if got := r.out.String(); got != "\rlogin as admin:" {
		t.Errorf("shown %q before the value completes, want the text up to where it may begin", got)
	}
	io.WriteString(r.stdout, "ter2 ok\rlogin hunt")
	io.WriteString(r.stdout, "ing done\n")
	r.flush()
	got := r.out.String()
	if strings.Contains(strings.ReplaceAll(got, "\r", ""), "hunter2") || strings.Contains(got, "hunter2") {
		t.Fatalf("the secret leaked: %q", got)
	}
	if want := "\rlogin as admin:" + mask.Placeholder + " ok\rlogin hunting done\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestLiveHoldsAnOpenServiceMessage: a service message still arriving is
// not shown in pieces; the text before it is.
func TestLiveHoldsAnOpenServiceMessage(t *testing.T) {
	r := newLiveRun(true)
	msg := octopus.Format("setVariable", "name", "V", "value", "1")
	io.WriteString(r.stdout, "text "+msg[:20])
	if got := r.out.String(); got != "text " {
		t.Errorf("shown %q, want only the text before the message", got)
	}
	io.WriteString(r.stdout, msg[20:]+"\n")
	r.flush()
	if r.out.String() != "text \n" || r.p.results().vars["V"].Value != "1" {
		t.Errorf("out %q vars %v", r.out.String(), r.p.results().vars)
	}
}

type waitRecorder struct {
	progress.Reporter
	whys []string
	done int
}

func (w *waitRecorder) Wait(worker, why string) progress.Tracker {
	w.whys = append(w.whys, worker+": "+why)
	return &waitDone{w}
}

type waitDone struct{ w *waitRecorder }

func (d *waitDone) Add(int64)        {}
func (d *waitDone) SetCurrent(int64) {}
func (d *waitDone) SetTotal(int64)   {}
func (d *waitDone) Done()            { d.w.done++ }

// TestSlotWaitShowsAsAWait: slot.sh's "all slots taken" line is a wait on
// the display until it says it got one; with no display the line is
// printed as before. The line saying it got one is never printed.
func TestSlotWaitShowsAsAWait(t *testing.T) {
	const lines = "cuttle: all 4 step slots on this worker are taken; waiting\ncuttle: got a step slot\nstep output\n"
	rec := &waitRecorder{}
	r := newLiveRun(false)
	r.p.showWaits(progress.WithReporter(context.Background(), rec), "w1")
	io.WriteString(r.stderr, lines)
	r.flush()
	if len(rec.whys) != 1 || rec.whys[0] != "w1: waiting for a slot (4 steps running)" || rec.done != 1 {
		t.Errorf("waits %q, ended %d; want one slot wait, ended", rec.whys, rec.done)
	}
	if r.errb.String() != "step output\n" {
		t.Errorf("stderr %q: the slot lines belong on the display", r.errb.String())
	}

	r = newLiveRun(false)
	r.p.showWaits(context.Background(), "w1")
	io.WriteString(r.stderr, lines)
	r.flush()
	if want := "cuttle: all 4 step slots on this worker are taken; waiting\nstep output\n"; r.errb.String() != want {
		t.Errorf("with no display stderr is %q, want %q", r.errb.String(), want)
	}
}

// TestLiveValueEndingWhereAFormBegins: a value whose last byte begins one
// of its own forms ("...c", its base64 "czNj...") arrives in pieces on a
// terminal: nothing of it shows unmasked at any point.
func TestLiveValueEndingWhereAFormBegins(t *testing.T) {
	secret := "s3cr3t-57cf5dec84381d6c"
	r := newLiveRun(true, secret)
	for _, piece := range []string{"half ", secret[:5], secret[5:], " done\n"} {
		io.WriteString(r.stdout, piece)
		if shown := r.out.String(); strings.Contains(shown, secret[:len(secret)-1]) {
			t.Fatalf("after %q, shown %q", piece, shown)
		}
	}
	r.flush()
	if want := "half " + mask.Placeholder + " done\n"; r.out.String() != want {
		t.Errorf("got %q, want %q", r.out.String(), want)
	}
}
