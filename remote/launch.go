package remote

import (
	"bytes"
	"io"
	"sync"

	"github.com/cuttle-sh/cuttle/wire"
)

// The fast path: when nothing needs doing between the preflight and docker
// run (bundle cached, image present and its pull policy satisfied, no
// build, no credentials to check, no extra options, no slots), the
// preflight command starts the step itself from a docker run template,
// saving a whole command's round trips. Anything else takes the full path.

// fastPathOK reports whether st may take the fast path.
func fastPathOK(st Step) bool {
	return st.External == nil && st.Build == nil && st.Pull != PullAlways &&
		(st.Feed == nil || st.Feed.Username == "") && st.Slots == 0 && len(st.ContainerOptions) == 0 &&
		len(st.Packages) == 0
}

// launchTemplate is dockerRunArgs with the facts the preflight learns
// (home, step id, uid, gid) as placeholders, filled in on the worker by
// wire.FillLaunch.
func launchTemplate(st Step, digest, started string, logOnly bool) []string {
	home, id := wire.PlaceholderHome, wire.PlaceholderID
	args := dockerRunArgs(runPlan{
		StepID: id, Started: started, Home: home, WorkDir: home + "/.cuttle/work/" + id,
		BundleDir: home + "/.cuttle/bundles/" + digest, Image: st.Image, NoPull: true,
		Script: ScriptName, Syntax: st.Syntax, OwnerUID: -1, OwnerGID: -1, LogOnly: logOnly,
	})
	for i := range args {
		if args[i] == "--owner" && i+1 < len(args) {
			args[i+1] = wire.PlaceholderUID + ":" + wire.PlaceholderGID
		}
	}
	return args
}

// launchStreams splits the fast path's output. Until the runner's
// wire.LaunchLine, stdout is the preflight's facts; after it, the
// step's. Stderr is held until stdout decides whose it is.
type launchStreams struct {
	mu       sync.Mutex
	launched bool
	facts    bytes.Buffer
	errPre   bytes.Buffer
	stdout   io.Writer
	stderr   io.Writer
	// onLaunch gets the facts once the step has started.
	onLaunch func(facts []byte)
}

func (l *launchStreams) Write(p []byte) (int, error) {
	l.mu.Lock()
	if l.launched {
		l.mu.Unlock()
		return l.stdout.Write(p)
	}
	l.facts.Write(p)
	b := l.facts.Bytes()
	marker := []byte(wire.LaunchLine + "\n")
	i := bytes.Index(b, marker)
	if i < 0 || (i > 0 && b[i-1] != '\n') {
		l.mu.Unlock()
		return len(p), nil
	}
	rest := append([]byte(nil), b[i+len(marker):]...)
	facts := append([]byte(nil), b[:i]...)
	l.onLaunch(facts)
	l.launched = true
	// Held stderr first, under the lock: later stderr waits for it.
	if l.errPre.Len() > 0 {
		l.stderr.Write(l.errPre.Bytes())
		l.errPre.Reset()
	}
	l.mu.Unlock()
	if len(rest) > 0 {
		l.stdout.Write(rest)
	}
	return len(p), nil
}

// stderrWriter is the stderr side.
func (l *launchStreams) stderrWriter() io.Writer { return launchStderr{l} }

type launchStderr struct{ l *launchStreams }

func (e launchStderr) Write(p []byte) (int, error) {
	e.l.mu.Lock()
	if !e.l.launched {
		e.l.errPre.Write(p)
		e.l.mu.Unlock()
		return len(p), nil
	}
	e.l.mu.Unlock()
	return e.l.stderr.Write(p)
}
