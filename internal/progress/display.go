package progress

import (
	"io"
	"sync"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Display is a Reporter drawing bars with mpb on a terminal. Bars go
// when their work ends; while any is up, text written through Writer is
// printed above them, so the bars are not torn.
type Display struct {
	out  io.Writer
	opts []mpb.ContainerOption

	mu   sync.Mutex
	p    *mpb.Progress
	bars int
}

// NewDisplay draws on out, which should be a terminal; opts are for
// tests (a manual refresh, a forced terminal).
func NewDisplay(out io.Writer, opts ...mpb.ContainerOption) *Display {
	return &Display{out: out, opts: opts}
}

// Writer returns a writer to w, a writer to the same terminal, that
// prints above the bars while there are any.
func (d *Display) Writer(w io.Writer) io.Writer { return &aboveBars{d: d, w: w} }

type aboveBars struct {
	d *Display
	w io.Writer
}

func (a *aboveBars) Write(b []byte) (int, error) {
	a.d.mu.Lock()
	defer a.d.mu.Unlock()
	if a.d.p != nil {
		if n, err := a.d.p.Write(b); err == nil {
			return n, nil
		}
	}
	return a.w.Write(b)
}

// Close ends every bar still up and waits for the last drawing.
func (d *Display) Close() {
	d.mu.Lock()
	p := d.p
	d.p, d.bars = nil, 0
	d.mu.Unlock()
	if p != nil {
		p.Shutdown()
	}
}

func (d *Display) add(total int64, style mpb.BarFillerBuilder, name string, decorators ...decor.Decorator) *bar {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.p == nil {
		d.p = mpb.New(append([]mpb.ContainerOption{mpb.WithOutput(d.out)}, d.opts...)...)
	}
	d.bars++
	b := d.p.New(total, style, mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(name, decor.WC{C: decor.DindentRight | decor.DextraSpace})),
		mpb.AppendDecorators(decorators...))
	return &bar{d: d, b: b}
}

// release notes that a bar ended; after the last one the container goes,
// once it has drawn its last frame, and text is written straight again.
func (d *Display) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.bars--; d.bars == 0 && d.p != nil {
		d.p.Wait()
		d.p = nil
	}
}

// Transfer implements Reporter: bytes, rate and time left.
func (d *Display) Transfer(worker, what string, size int64) Tracker {
	amount := decor.Counters(decor.SizeB1024(0), "% .1f / % .1f")
	if size <= 0 {
		amount = decor.Current(decor.SizeB1024(0), "% .1f")
	}
	return d.add(size, mpb.BarStyle(), worker+": "+what, amount,
		decor.AverageSpeed(decor.SizeB1024(0), " % .1f", decor.WC{W: 12}),
		decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO, decor.WC{W: 6}), ""))
}

// Count implements Reporter: done out of total.
func (d *Display) Count(worker, what string) Tracker {
	return d.add(0, mpb.BarStyle(), worker+": "+what, decor.CountersNoUnit("%d/%d"), decor.Elapsed(decor.ET_STYLE_GO, decor.WC{W: 6}))
}

// Wait implements Reporter: a spinner and the time waited.
func (d *Display) Wait(worker, why string) Tracker {
	return d.add(0, mpb.SpinnerStyle(), worker+": "+why, decor.Elapsed(decor.ET_STYLE_GO))
}

type bar struct {
	d    *Display
	b    *mpb.Bar
	once sync.Once
}

func (b *bar) Add(n int64)        { b.b.IncrInt64(n) }
func (b *bar) SetCurrent(n int64) { b.b.SetCurrent(n) }
func (b *bar) SetTotal(n int64)   { b.b.SetTotal(n, false) }

func (b *bar) Done() {
	b.once.Do(func() {
		b.b.SetTotal(-1, true)
		b.d.release()
	})
}
