package remote

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/rs/zerolog"

	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/internal/printable"
	"github.com/cuttle-sh/cuttle/internal/progress"
	"github.com/cuttle-sh/cuttle/octopus"
)

// MaxMessage bounds a service message: a line holding one is held whole
// up to this size (a 10 MB output variable is 14 MB of base64), so it is
// parsed rather than cut and printed. A longer message is dropped, with a
// warning, and nothing of it is printed.
const MaxMessage = 32 << 20

// OutputVariable is a variable a script set with set_octopusvariable.
type OutputVariable struct {
	Value     string
	Sensitive bool
}

// EnvironmentState is what set_environmentstate (or set_environmenturl)
// reported: Octopus keeps it on the environment; cuttle has no
// environments and records it in the report.
type EnvironmentState struct {
	Key, Value, Type string
	Sensitive        bool
}

// KubernetesManifest is a manifest report_kubernetes_manifest reported.
type KubernetesManifest struct {
	Namespace, Manifest string
}

// TargetChange is a new_octopustarget (Action "create") or
// remove_octopustarget (Action "delete") request. cuttle has no target
// model: it is recorded in the report.
type TargetChange struct {
	Action           string
	Name, TargetID   string
	Inputs, Roles    string
	WorkerPool       string
	UpdateIfExisting bool
	// Machine is the target to delete.
	Machine string
}

// Reported is what a script reported besides variables and artifacts.
type Reported struct {
	EnvironmentState    []EnvironmentState
	KubernetesManifests []KubernetesManifest
	Targets             []TargetChange
}

// artifactRequest is a createArtifact message.
type artifactRequest struct {
	Path, Name string
	Length     int64 // -1 when not given
}

// outputProcessor reads the step's stdout and stderr line by line: it
// acts on service messages, masks sensitive values and routes text by
// level. Both streams share its state.
type outputProcessor struct {
	masks   *mask.Set
	stdout  io.Writer
	stderr  io.Writer
	verbose bool
	log     zerolog.Logger
	// lineByLine turns off the block fast path (tests compare the two).
	lineByLine bool
	// live passes on partial lines at once (Output.Live).
	live bool
	// maxMessage is MaxMessage, smaller in tests.
	maxMessage int

	mu            sync.Mutex
	stdoutLevel   string
	stderrLevel   string
	vars          map[string]OutputVariable
	varOrder      []string
	artifacts     []artifactRequest
	resultMessage string
	reported      Reported
	// dropping is set, per stream (0 stdout, 1 stderr), while the rest
	// of an over-long service message arrives: it is thrown away up to
	// its closing ']'.
	dropping [2]bool
	// midLine is set, per stream, when the last text routed ended
	// without its newline.
	midLine [2]bool
	// pending output, written once per chunk received rather than once
	// per line.
	pendOut, pendErr []byte
	// bars shows the wait for a step slot (scripts/slot.sh says when it
	// waits and when it got one); worker names it.
	bars     progress.Reporter
	worker   string
	slotWait progress.Tracker
}

func newOutputProcessor(masks *mask.Set, out Output, log zerolog.Logger) *outputProcessor {
	return &outputProcessor{
		masks: masks, stdout: out.Stdout, stderr: out.Stderr, verbose: out.Verbose, log: log, live: out.Live,
		stdoutLevel: "default", stderrLevel: "default", vars: map[string]OutputVariable{}, maxMessage: MaxMessage,
	}
}

// writers returns the line-buffering writers for the two streams, and a
// function that flushes their last partial lines.
func (p *outputProcessor) writers() (stdout, stderr io.Writer, flush func()) {
	o := mask.NewLineWriter(func(line []byte, nl bool) { p.line(false, line, nl) })
	e := mask.NewLineWriter(func(line []byte, nl bool) { p.line(true, line, nl) })
	o.Cut = func(b []byte) int { return p.cut(false, b) }
	e.Cut = func(b []byte) int { return p.cut(true, b) }
	if !p.lineByLine {
		o.Block = func(b []byte) bool { return p.block(false, b) }
		e.Block = func(b []byte) bool { return p.block(true, b) }
	}
	if p.live {
		o.Live, e.Live = p.liveCut, p.liveCut
	}
	return chunkWriter{o, p}, chunkWriter{e, p}, func() {
		o.Close()
		e.Close()
		p.flushPending()
		p.mu.Lock()
		if p.slotWait != nil {
			p.slotWait.Done()
			p.slotWait = nil
		}
		p.mu.Unlock()
	}
}

// chunkWriter passes a chunk to its line writer, then writes out what the
// chunk's lines produced, so output stays live without a write per line.
type chunkWriter struct {
	lw *mask.LineWriter
	p  *outputProcessor
}

func (c chunkWriter) Write(b []byte) (int, error) {
	n, err := c.lw.Write(b)
	c.p.flushPending()
	return n, err
}

func (p *outputProcessor) flushPending() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pendOut) > 0 {
		p.stdout.Write(p.pendOut)
		p.pendOut = p.pendOut[:0]
	}
	if len(p.pendErr) > 0 {
		p.stderr.Write(p.pendErr)
		p.pendErr = p.pendErr[:0]
	}
}

// emit queues a masked line for w (the user's stdout or stderr).
func (p *outputProcessor) emit(w io.Writer, line []byte, newline bool) {
	buf := p.pending(w)
	*buf = p.masks.AppendMasked(*buf, line)
	if newline {
		*buf = append(*buf, '\n')
	}
	p.spill(w, buf)
}

func (p *outputProcessor) pending(w io.Writer) *[]byte {
	if w == p.stderr {
		return &p.pendErr
	}
	return &p.pendOut
}

// spill writes out a pending buffer that grew large.
func (p *outputProcessor) spill(w io.Writer, buf *[]byte) {
	if len(*buf) > 256<<10 {
		w.Write(*buf)
		*buf = (*buf)[:0]
	}
}

// block takes a run of whole lines at once when none of them holds a
// service message or a sensitive value (what line would do to each of
// them is then to route it): it reports whether it did.
func (p *outputProcessor) block(isStderr bool, lines []byte) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if bytes.Contains(lines, []byte(octopus.Marker)) || p.masks.Holds(lines) || bytes.Contains(lines, slotNote) {
		return false
	}
	if w := p.destination(isStderr); w != nil {
		buf := p.pending(w)
		*buf = append(*buf, lines...)
		p.spill(w, buf)
	}
	return true
}

// cut chooses how much of a line held past mask.MaxLine to pass on as a
// piece: the text before a service message still open (the message is
// held whole, up to MaxMessage; past that it is dropped), else up to where
// no sensitive value straddles the cut.
func (p *outputProcessor) cut(isStderr bool, held []byte) int {
	if m := openMessage(held); m > 0 {
		return m
	} else if m == 0 {
		if len(held) <= p.maxMessage {
			return 0
		}
		p.mu.Lock()
		p.dropping[stream(isStderr)] = true
		p.mu.Unlock()
		p.log.Warn().Int("max_bytes", p.maxMessage).Msg("a service message longer than the limit was dropped: nothing of it is printed, and what it set (an output variable?) is not set")
		return len(held)
	}
	n := p.masks.Cut(held)
	if n == 0 && len(held) > p.maxMessage {
		// No place to cut that splits no value (one repeated over
		// megabytes): bound the memory held rather than hold on.
		n = len(held)
	}
	return n
}

// liveCut is how much of a line still arriving may be shown now: up to
// a service message not yet closed (parsed whole) and short of a tail
// that could begin a sensitive value; nothing while that much shows
// nothing but blanks once its messages are taken out (a line of only a
// message shows no empty line, as when it is held whole).
func (p *outputProcessor) liveCut(held []byte) int {
	if m := openMessage(held); m >= 0 {
		held = held[:m]
	}
	n := p.masks.Safe(held)
	if !visible(held[:n]) {
		return 0
	}
	return n
}

// visible reports whether text, service messages aside, holds more than
// blanks.
func visible(text []byte) bool {
	if !bytes.Contains(text, []byte(octopus.Marker)) {
		return len(bytes.TrimSpace(text)) > 0
	}
	for _, seg := range octopus.SplitLine(string(text)) {
		if seg.Msg == nil && seg.Err == nil && strings.TrimSpace(seg.Text) != "" {
			return true
		}
	}
	return false
}

// openMessage is where a service message that has not ended starts in
// the held text (a marker with no ']' after it, or the start of a marker
// at the very end), or -1.
func openMessage(held []byte) int {
	from := bytes.LastIndexByte(held, ']') + 1
	if i := bytes.Index(held[from:], []byte(octopus.Marker)); i >= 0 {
		return from + i
	}
	for k := min(len(octopus.Marker)-1, len(held)-from); k > 0; k-- {
		if bytes.HasSuffix(held, []byte(octopus.Marker[:k])) {
			return len(held) - k
		}
	}
	return -1
}

func stream(isStderr bool) int {
	if isStderr {
		return 1
	}
	return 0
}

func (p *outputProcessor) line(isStderr bool, raw []byte, newline bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := stream(isStderr); p.dropping[s] {
		// The rest of a dropped message, up to its ']'.
		if i := bytes.IndexByte(raw, ']'); i >= 0 {
			raw, p.dropping[s] = raw[i+1:], false
		} else {
			raw, p.dropping[s] = nil, p.dropping[s] && !newline
		}
		if len(raw) == 0 {
			p.endLine(isStderr, newline)
			return
		}
	}
	if isStderr && p.slotLine(raw) {
		return
	}
	if !bytes.Contains(raw, []byte(octopus.Marker)) {
		if w := p.destination(isStderr); w != nil {
			p.emit(w, raw, newline)
		}
		p.midLine[stream(isStderr)] = !newline
		return
	}
	var text strings.Builder
	hadMessage := false
	for _, seg := range octopus.SplitLine(string(raw)) {
		switch {
		case seg.Msg != nil:
			hadMessage = true
			p.handle(isStderr, seg.Msg)
		case seg.Err != nil:
			hadMessage = true
			p.log.Warn().Str("text", printable.String(truncate(p.masks.Mask(seg.Raw), 120))).
				Err(p.masks.Error(seg.Err)).Msg("could not parse service message")
		default:
			text.WriteString(seg.Text)
		}
	}
	if hadMessage && strings.TrimSpace(text.String()) == "" {
		p.endLine(isStderr, newline)
		return
	}
	if w := p.destination(isStderr); w != nil {
		p.emit(w, []byte(text.String()), newline)
	}
	p.midLine[stream(isStderr)] = !newline
}

var (
	slotNote = []byte(" step slot")
	// slotWaiting and slotTaken are what scripts/slot.sh prints.
	slotWaiting = regexp.MustCompile(`^cuttle: all (\d+) step slots on this worker are taken; waiting$`)
	slotTaken   = []byte("cuttle: got a step slot")
)

// showWaits shows waits for a slot on ctx's progress display, if any.
func (p *outputProcessor) showWaits(ctx context.Context, worker string) {
	if progress.On(ctx) {
		p.bars, p.worker = progress.From(ctx), worker
	}
}

// slotLine acts on the slot script's lines: on a terminal the wait is a
// spinner ("waiting for a slot on w1 (4 steps running)") in place of its
// line; the line saying the wait ended is not shown. It reports whether
// the line was taken.
func (p *outputProcessor) slotLine(raw []byte) bool {
	if !bytes.Contains(raw, slotNote) {
		return false
	}
	if bytes.Equal(raw, slotTaken) {
		if p.slotWait != nil {
			p.slotWait.Done()
			p.slotWait = nil
		}
		return true
	}
	m := slotWaiting.FindSubmatch(raw)
	if m == nil || p.bars == nil {
		return false
	}
	p.slotWait = p.bars.Wait(p.worker, "waiting for a slot ("+string(m[1])+" steps running)")
	return true
}

// endLine ends a line that printed nothing more: with its newline when
// a piece of it was printed already.
func (p *outputProcessor) endLine(isStderr bool, newline bool) {
	s := stream(isStderr)
	if newline && p.midLine[s] {
		if w := p.destination(isStderr); w != nil {
			p.emit(w, nil, true)
		}
		p.midLine[s] = false
	}
}

// destination routes a line by the stream's current level: verbose lines
// only when verbose output was asked for, warnings and errors to stderr,
// "ignore" nowhere.
func (p *outputProcessor) destination(isStderr bool) io.Writer {
	level := p.stdoutLevel
	if isStderr {
		level = p.stderrLevel
	}
	switch level {
	case "ignore":
		return nil
	case "verbose", "progress":
		if !p.verbose {
			return nil
		}
	case "warning", "error":
		return p.stderr
	}
	if isStderr {
		return p.stderr
	}
	return p.stdout
}

func (p *outputProcessor) handle(isStderr bool, m *octopus.ServiceMessage) {
	a := m.Attrs
	switch name := strings.ToLower(m.Name); {
	case name == "setvariable":
		if a["name"] == "" {
			p.log.Warn().Msg("setVariable without a name ignored")
			return
		}
		sensitive := strings.EqualFold(a["sensitive"], "true")
		if sensitive {
			p.masks.Add(a["value"])
		}
		if p.masks.Holds([]byte(a["name"])) {
			// The name goes into reports, logs and later steps' variable
			// names, none of which masks it everywhere.
			p.log.Warn().Msg("setVariable ignored: its name holds a sensitive value")
			return
		}
		if _, seen := p.vars[a["name"]]; !seen {
			p.varOrder = append(p.varOrder, a["name"])
		}
		p.vars[a["name"]] = OutputVariable{Value: a["value"], Sensitive: sensitive}
		p.log.Debug().Str("variable", printable.String(a["name"])).Bool("sensitive", sensitive).Msg("output variable set")
	case name == "createartifact":
		req := artifactRequest{Path: a["path"], Name: a["name"], Length: -1}
		if n, err := parseLength(a["length"]); err == nil {
			req.Length = n
		}
		p.artifacts = append(p.artifacts, req)
	case name == "progress":
		p.log.Info().Str("percentage", printable.String(p.masks.Mask(a["percentage"]))).Msg("progress: " + printable.String(p.masks.Mask(a["message"])))
	case name == "resultmessage":
		p.resultMessage = a["message"]
	case name == "mask":
		p.masks.Add(a["value"])
	case name == "set-environmentstate", name == "k8s-manifest-applied", name == "createsteppackagetarget", name == "delete-target":
		p.record(name, a)
	case strings.HasPrefix(name, "stdout-"):
		p.stdoutLevel = strings.TrimPrefix(name, "stdout-")
	case strings.HasPrefix(name, "stderr-"):
		p.stderrLevel = strings.TrimPrefix(name, "stderr-")
	default:
		p.log.Debug().Str("service_message", m.Name).Msg("service message not acted on")
	}
}

// record keeps a message that Octopus acts on and cuttle reports.
func (p *outputProcessor) record(name string, a map[string]string) {
	r := &p.reported
	switch name {
	case "set-environmentstate":
		if a["key"] == "" {
			p.log.Warn().Msg("set-environmentstate without a key ignored")
			return
		}
		st := EnvironmentState{Key: a["key"], Value: a["value"], Type: a["type"], Sensitive: strings.EqualFold(a["sensitive"], "true")}
		if st.Type == "" {
			st.Type = "State"
		}
		if st.Sensitive {
			p.masks.Add(st.Value)
		}
		// A key set again replaces its value, as on an environment.
		for i, old := range r.EnvironmentState {
			if strings.EqualFold(old.Key, st.Key) && strings.EqualFold(old.Type, st.Type) {
				r.EnvironmentState = append(r.EnvironmentState[:i], r.EnvironmentState[i+1:]...)
				break
			}
		}
		r.EnvironmentState = append(r.EnvironmentState, st)
		p.log.Info().Str("type", st.Type).Bool("sensitive", st.Sensitive).Msg("environment state " + p.masks.Mask(st.Key) + " = " + p.masks.Mask(st.Value))
	case "k8s-manifest-applied":
		r.KubernetesManifests = append(r.KubernetesManifests, KubernetesManifest{Namespace: a["ns"], Manifest: a["manifest"]})
		p.log.Debug().Str("namespace", a["ns"]).Int("bytes", len(a["manifest"])).Msg("Kubernetes manifest reported")
	case "createsteppackagetarget":
		t := TargetChange{Action: "create", Name: a["name"], TargetID: a["targetid"], Inputs: a["inputs"], Roles: a["octopusroles"],
			WorkerPool: a["octopusdefaultworkerpoolidorname"], UpdateIfExisting: strings.EqualFold(a["updateifexisting"], "true")}
		r.Targets = append(r.Targets, t)
		p.log.Info().Str("target", p.masks.Mask(t.Name)).Msg("new deployment target requested: cuttle has no targets, it is recorded in the report")
	case "delete-target":
		r.Targets = append(r.Targets, TargetChange{Action: "delete", Machine: a["machine"]})
		p.log.Info().Str("target", p.masks.Mask(a["machine"])).Msg("deployment target removal requested: cuttle has no targets, it is recorded in the report")
	}
}

func parseLength(s string) (int64, error) {
	var n int64
	_, err := fmt.Sscan(strings.TrimSpace(s), &n)
	if err == nil && n < 0 {
		err = fmt.Errorf("negative length")
	}
	return n, err
}

// scriptReport is what the script reported through service messages.
type scriptReport struct {
	vars      map[string]OutputVariable
	order     []string
	artifacts []artifactRequest
	result    string
	reported  Reported
}

// results returns what the script reported, once its output has ended.
// A variable whose value holds a value masked by then is sensitive, and
// one whose name holds one is dropped: a mask may come after the
// variable, in this step or (masks are run-wide) in another.
func (p *outputProcessor) results() scriptReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	order := p.varOrder[:0:0]
	for _, name := range p.varOrder {
		v := p.vars[name]
		if p.masks.Holds([]byte(name)) {
			p.log.Warn().Msg("output variable dropped: its name holds a sensitive value")
			delete(p.vars, name)
			continue
		}
		if !v.Sensitive && p.masks.Holds([]byte(v.Value)) {
			v.Sensitive = true
			p.vars[name] = v
		}
		order = append(order, name)
	}
	p.varOrder = order
	return scriptReport{vars: p.vars, order: p.varOrder, artifacts: p.artifacts, result: p.resultMessage, reported: p.reported}
}
