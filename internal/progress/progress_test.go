package progress

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/vbauerster/mpb/v8"
)

// syncBuffer is a terminal's screen for mpb, written from its goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// fakeTerminal is a Display drawing into a buffer, redrawn only when the
// test says so.
func fakeTerminal() (*Display, *syncBuffer, chan any) {
	screen := &syncBuffer{}
	refresh := make(chan any)
	return NewDisplay(screen, mpb.ForceTTY(), mpb.WithWidth(120), mpb.WithManualRefresh(refresh)), screen, refresh
}

// drawn returns once mpb has drawn a frame: the second request is taken
// only after the first frame began, and a write is served after it ends.
func drawn(d *Display, refresh chan any) {
	refresh <- struct{}{}
	refresh <- struct{}{}
	d.mu.Lock()
	d.p.Write(nil)
	d.mu.Unlock()
}

func TestTransferShowsBytesRateAndName(t *testing.T) {
	d, screen, refresh := fakeTerminal()
	up := d.Transfer("w1", "step runner bundle", 4<<20)
	if _, err := io.Copy(io.Discard, Reader(up, bytes.NewReader(make([]byte, 1<<20)))); err != nil {
		t.Fatal(err)
	}
	drawn(d, refresh)
	up.Done()
	got := screen.String()
	for _, want := range []string{"w1: step runner bundle", "1.0 MiB / 4.0 MiB"} {
		if !strings.Contains(got, want) {
			t.Errorf("screen lacks %q:\n%q", want, got)
		}
	}
	// The rate's unit follows the machine's speed (an idle one copies
	// 1 MiB at GiB/s).
	if !regexp.MustCompile(`[0-9.]+ [KMG]?i?B/s`).MatchString(got) {
		t.Errorf("screen lacks a rate:\n%q", got)
	}
}

func TestWriterPrintsAboveBarsAndStraightAfter(t *testing.T) {
	d, screen, refresh := fakeTerminal()
	var direct syncBuffer
	w := d.Writer(&direct)
	wait := d.Wait("w1", "waiting for a slot (4 steps running)")
	io.WriteString(w, "a log line\n")
	drawn(d, refresh)
	wait.Done()
	if got := screen.String(); !strings.Contains(got, "a log line") || !strings.Contains(got, "waiting for a slot (4 steps running)") {
		t.Errorf("the screen should have the line above the spinner:\n%q", got)
	}
	if direct.String() != "" {
		t.Errorf("with a bar up, text went around the display: %q", direct.String())
	}
	io.WriteString(w, "after\n")
	if direct.String() != "after\n" {
		t.Errorf("with no bar up, text should go straight to its writer, got %q", direct.String())
	}
}

func TestDockerPullCountsLayersAndDropsTheirLines(t *testing.T) {
	r := &fakeReporter{}
	var passed bytes.Buffer
	w, end := Docker(r, "w1", "pull", &passed)
	io.WriteString(w, "1.0: Pulling from team/tools\n0123456789ab: Pulling fs layer\nbbbbbbbbbbbb: Already exists\n")
	io.WriteString(w, "0123456789ab: Downloading  1MB/2MB\n0123456789ab: Pull complete\nDigest: sha256:00\nStatus: Downloaded")
	c := r.only(t, "count w1 pull")
	if c.total != 2 || c.current != 2 {
		t.Errorf("layers: %d of %d, want 2 of 2", c.current, c.total)
	}
	end()
	if want := "1.0: Pulling from team/tools\nDigest: sha256:00\nStatus: Downloaded"; passed.String() != want {
		t.Errorf("passed on %q, want %q", passed.String(), want)
	}
	if !c.done {
		t.Error("end did not end the bar")
	}
}

func TestDockerBuildCountsSteps(t *testing.T) {
	for _, out := range []string{
		"Step 1/4 : FROM x\nStep 3/4 : RUN make\n",
		"#4 [1/4] FROM x\n#6 [build 3/4] RUN make\n#6 DONE 0.1s\n",
	} {
		r := &fakeReporter{}
		var passed bytes.Buffer
		w, _ := Docker(r, "w1", "build", &passed)
		io.WriteString(w, out)
		if c := r.only(t, "count w1 build"); c.total != 4 || c.current != 2 {
			t.Errorf("%q: %d of %d steps done, want 2 of 4", out, c.current, c.total)
		}
		if passed.String() != out {
			t.Errorf("build output should pass on whole, got %q", passed.String())
		}
	}
}

func TestDockerLockWaitShowsUntilTheNextLine(t *testing.T) {
	r := &fakeReporter{}
	var passed bytes.Buffer
	w, _ := Docker(r, "w1", "build", &passed)
	io.WriteString(w, "cuttle: waiting for the build lock (another step builds this image)\n")
	wait := r.only(t, "wait w1 waiting for the build lock (another step builds this image)")
	if wait.done {
		t.Fatal("the wait ended before anything else came")
	}
	io.WriteString(w, "cuttle: reusing cuttle-build/x\n")
	if !wait.done {
		t.Error("the next line should end the wait")
	}
	if passed.String() != "cuttle: reusing cuttle-build/x\n" {
		t.Errorf("the wait line shows as a bar, not as text; got %q", passed.String())
	}
}

func TestNoReporterIsSilent(t *testing.T) {
	r := From(context.Background())
	if On(context.Background()) {
		t.Error("a bare context should have no display")
	}
	var out bytes.Buffer
	w, end := Docker(r, "w1", "pull", &out)
	io.WriteString(w, "0123456789ab: Pull complete\n")
	end()
	if out.String() != "0123456789ab: Pull complete\n" {
		t.Errorf("with no display docker's lines must pass as they are, got %q", out.String())
	}
	src := strings.NewReader("x")
	if Reader(r.Transfer("w1", "x", 1), src) != src {
		t.Error("with no display the reader should not be wrapped")
	}
}

// fakeReporter records the bars asked for.
type fakeReporter struct{ bars map[string]*counter }

func (f *fakeReporter) add(key string) Tracker {
	if f.bars == nil {
		f.bars = map[string]*counter{}
	}
	c := &counter{}
	f.bars[key] = c
	return c
}

func (f *fakeReporter) Transfer(w, what string, size int64) Tracker {
	return f.add("transfer " + w + " " + what)
}
func (f *fakeReporter) Count(w, what string) Tracker { return f.add("count " + w + " " + what) }
func (f *fakeReporter) Wait(w, why string) Tracker   { return f.add("wait " + w + " " + why) }

// only returns the one bar made, which must be key.
func (f *fakeReporter) only(t *testing.T, key string) *counter {
	t.Helper()
	if c := f.bars[key]; c != nil && len(f.bars) == 1 {
		return c
	}
	t.Fatalf("bars %v, want only %q", f.bars, key)
	return nil
}

type counter struct {
	total, current int64
	done           bool
}

func (c *counter) Add(n int64)        { c.current += n }
func (c *counter) SetCurrent(n int64) { c.current = n }
func (c *counter) SetTotal(n int64)   { c.total = n }
func (c *counter) Done()              { c.done = true }
