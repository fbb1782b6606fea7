package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// latency runs the artifact step through a proxy that adds 25 ms each way
// (tc netem would do this in a network namespace; this machine's kernel
// has no netem qdisc). Round trips are counted at the proxy as turns, and
// also inferred from the wall time.
func (e *env) latency(r *report) error {
	const oneWay = 25 * time.Millisecond
	rtt := 2 * oneWay
	proxy, err := testenv.StartLatencyProxy(e.sshd.Addr, oneWay)
	if err != nil {
		return err
	}
	defer proxy.Close()
	kh := filepath.Join(e.dir, "latency_known_hosts")
	line, err := os.ReadFile(e.sshd.KnownHosts)
	if err != nil {
		return err
	}
	// The proxy is another port: record the same key under it.
	if err := os.WriteFile(kh, []byte(strings.Replace(string(line), strconv.Itoa(e.sshd.Port), strconv.Itoa(proxy.Port), 1)), 0o644); err != nil {
		return err
	}
	ep := endpoint{"127.0.0.1", proxy.Port, kh}
	arts := filepath.Join(e.dir, "arts-latency")
	worker := fmt.Sprintf("ssh://%s@127.0.0.1:%d", e.user, proxy.Port)
	var cTurns, sTurns, qTurns values
	// counted times f and records the turns of its run, once every one of
	// its connections has ended.
	counted := func(into *values, f func() error) side {
		return func() (time.Duration, error) {
			before := proxy.Turns()
			d, err := timed(f)
			proxy.WaitIdle()
			*into = append(*into, float64(proxy.Turns()-before))
			return d, err
		}
	}
	s, err := rounds(*runs,
		counted(&cTurns, func() error { return e.cuttleArtifactStep(worker, kh, arts) }),
		counted(&sTurns, func() error {
			out, err := output(exec.Command("ssh", e.sshArgs(ep, "docker run --rm "+e.image+" sh -c 'echo result'")...))
			return expect("ssh", out, err, "result\n")
		}),
		counted(&qTurns, func() error { return e.sequence(ep) }))
	if err != nil {
		return err
	}
	var extra, inferred values
	for i := range s[0] {
		extra = append(extra, cTurns[i]-sTurns[i])
		inferred = append(inferred, (s[0][i]-s[1][i]).Seconds()/rtt.Seconds())
	}
	r.add(row{name: "step with 1 artifact at 50 ms RTT", cuttle: s[0], peer: s[1], peerName: "plain `ssh host docker run --rm` (no upload, no artifact)",
		note: fmt.Sprintf("round trips beyond plain ssh (target <= 3): counted at the proxy %s (cuttle %s turns, ssh %s); inferred from wall time, (cuttle - ssh) / 50 ms: %s",
			extra.format("%.0f"), cTurns.format("%.0f"), sTurns.format("%.0f"), inferred.format("%.1f"))})
	r.add(row{name: "step with 1 artifact at 50 ms RTT", cuttle: s[0], peer: s[2], peerName: "scp + ssh docker run + scp + ssh rm on one ControlMaster connection",
		note: fmt.Sprintf("turns counted at the proxy: cuttle %s, peer %s", cTurns.format("%.0f"), qTurns.format("%.0f"))})
	r.method("latency: the step and peers of the rows above, through a userspace proxy that delays every chunk 25 ms each way (50 ms round trips). " +
		"It counts turns: a burst of client-to-server bytes that follows bytes from the server on the same connection, summed over a run's connections (the first burst of a connection counts too). " +
		"A turn is a round trip the client waited for unless it was off the critical path (a keepalive, the heartbeat), so the count is an upper bound; the wall-time figure also counts CPU contention, which is why both are shown.")
	return nil
}
