package progress

import (
	"bytes"
	"io"
	"regexp"
	"strconv"
)

var (
	// "0123456789ab: Pull complete", docker pull's plain output.
	layerLine = regexp.MustCompile(`^([0-9a-f]{12}): (Pulling fs layer|Waiting|Downloading|Verifying Checksum|Download complete|Extracting|Pull complete|Already exists)`)
	// "Step 2/5 : RUN make", the legacy builder.
	legacyStep = regexp.MustCompile(`^Step (\d+)/(\d+) :`)
	// "#6 [stage 2/5] RUN make", BuildKit's plain output.
	kitStep = regexp.MustCompile(`^#\d+ \[(?:[^\]]* )?(\d+)/(\d+)\]`)
)

// Docker returns a writer for the output of docker pull or docker build
// on worker: it counts the layers pulled or the build's steps on a bar
// named what (made at the first such line), and passes the text on to w,
// but for the per-layer status lines the bar stands for. A line
// "cuttle: waiting for ..." (a lock) shows as a wait until the next line.
// end passes on a last unterminated line and ends the bars.
func Docker(r Reporter, worker, what string, w io.Writer) (out io.Writer, end func()) {
	if _, off := r.(nop); off {
		return w, func() {}
	}
	d := &dockerWriter{r: r, worker: worker, what: what, layers: map[string]bool{}}
	out, flush := Filter(w, d.count)
	return out, func() {
		flush()
		d.endWait()
		if d.t != nil {
			d.t.Done()
		}
	}
}

type dockerWriter struct {
	r            Reporter
	worker, what string
	t, wait      Tracker
	layers       map[string]bool // layer id -> pulled
}

func (d *dockerWriter) endWait() {
	if d.wait != nil {
		d.wait.Done()
		d.wait = nil
	}
}

func (d *dockerWriter) bar() Tracker {
	if d.t == nil {
		d.t = d.r.Count(d.worker, d.what)
	}
	return d.t
}

// count updates the bars from one line; it reports whether the line is
// one they stand for (a layer's status, a wait).
func (d *dockerWriter) count(line []byte) bool {
	if m := layerLine.FindSubmatch(line); m != nil {
		d.endWait()
		id, status := string(m[1]), string(m[2])
		done := d.layers[id] || status == "Pull complete" || status == "Already exists"
		d.layers[id] = done
		pulled := 0
		for _, ok := range d.layers {
			if ok {
				pulled++
			}
		}
		d.bar().SetTotal(int64(len(d.layers)))
		d.t.SetCurrent(int64(pulled))
		return true
	}
	d.endWait()
	if why, ok := bytes.CutPrefix(line, []byte("cuttle: waiting for ")); ok {
		d.wait = d.r.Wait(d.worker, "waiting for "+string(why))
		return true
	}
	m := legacyStep.FindSubmatch(line)
	if m == nil {
		m = kitStep.FindSubmatch(line)
	}
	if m != nil {
		step, _ := strconv.ParseInt(string(m[1]), 10, 64)
		total, _ := strconv.ParseInt(string(m[2]), 10, 64)
		d.bar().SetTotal(total)
		d.t.SetCurrent(step - 1)
	}
	return false
}
