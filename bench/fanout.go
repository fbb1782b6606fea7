package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cuttle-sh/cuttle/internal/testenv"
	"github.com/cuttle-sh/cuttle/transport"
)

// workers returns the first n fan-out workers (each its own sshd),
// starting more when needed.
func (e *env) workers(n int) ([]*testenv.SSHD, error) {
	for len(e.fleet) < n {
		s, err := e.w.NewSSHD("fan" + strconv.Itoa(len(e.fleet)))
		if err != nil {
			return nil, err
		}
		e.fleet = append(e.fleet, s)
	}
	return e.fleet[:n], nil
}

func (e *env) closeFleet() {
	for _, s := range e.fleet {
		s.Close()
	}
}

// fleetFiles writes a config with n workers named <pool>0.. in pool
// (spread over servers, max steps per worker as given; 0: no limit) and a
// runbook of steps steps, each running script on all of them; it returns
// both paths.
func (e *env) fleetFiles(pool string, n int, servers []*testenv.SSHD, maxPerWorker, steps int, script string) (cfgFile, runbook string) {
	var cfg strings.Builder
	cfg.WriteString("workers:\n")
	for i := range n {
		s := servers[i%len(servers)]
		fmt.Fprintf(&cfg, "  %s%d: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, pool: %s}\n", pool, i, s.Port, e.user, e.key.PrivateFile, s.KnownHosts, pool)
	}
	fmt.Fprintf(&cfg, "pools:\n  %s: {max_steps_per_worker: %d}\n", pool, maxPerWorker)
	cfgFile = filepath.Join(e.dir, pool+".cuttle.yaml")
	os.WriteFile(cfgFile, []byte(cfg.String()), 0o644)
	var rb strings.Builder
	rb.WriteString("steps:\n")
	for i := range steps {
		fmt.Fprintf(&rb, "  - name: %s%d\n    pool: %s\n    run_on: all\n    container: {image: %s, pull: never}\n    script: {inline: '%s'}\n", pool, i, pool, e.image, script)
	}
	runbook = filepath.Join(e.dir, pool+".yaml")
	os.WriteFile(runbook, []byte(rb.String()), 0o644)
	return cfgFile, runbook
}

// runbook runs a runbook with cuttle and returns its stdout, CPU time and
// peak RSS (KiB).
func (e *env) runbook(rb, cfg string, maxParallel int) (out []byte, cpu time.Duration, peak int64, err error) {
	cmd := exec.Command(e.cuttle, "runbook", "run", rb, "--config", cfg, "--max-parallel", strconv.Itoa(maxParallel))
	var outb, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &errb
	if err := cmd.Start(); err != nil {
		return nil, 0, 0, err
	}
	p := testenv.PeakRSS(cmd.Process.Pid)
	err = cmd.Wait()
	peak = <-p
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if err != nil {
		return outb.Bytes(), cpu, peak, fmt.Errorf("cuttle runbook run: %w: %s", err, tail(errb.Bytes()))
	}
	return outb.Bytes(), cpu, peak, nil
}

// fleetRun is a side running a runbook whose steps each print hi, want
// times in all; it records the controller's CPU time and peak RSS.
func (e *env) fleetRun(rb, cfg string, maxParallel, want int, cpu, rss *values) side {
	return wall(func() error {
		out, c, peak, err := e.runbook(rb, cfg, maxParallel)
		*cpu = append(*cpu, c.Seconds())
		*rss = append(*rss, float64(peak)/1024)
		if err != nil {
			return err
		}
		return saidHi(out, want)
	})
}

// saidHi checks a runbook's output holds want lines "[step@worker] hi"
// (several workers) or "hi" (one worker: its lines are not prefixed).
func saidHi(out []byte, want int) error {
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if l == "hi" || strings.HasSuffix(l, "] hi") {
			n++
		}
	}
	if n != want {
		return fmt.Errorf("the runbook printed %d lines of hi, want %d: %s", n, want, tail(out))
	}
	return nil
}

// withCPU is f that also records the CPU time of every process its run
// started, once they have all ended: the controller or the OpenSSH and
// Ansible clients, and the sshd servers with everything they ran (the
// docker CLI, the runner outside the container). The engine, its shims
// and the containers are not the bench's descendants and are not in it;
// nor are other agents' processes, which /proc/stat's machine-wide figure
// would count on this shared machine.
func (e *env) withCPU(into *values, f side) side {
	return func() (time.Duration, error) {
		before := childCPU()
		d, err := f()
		e.settle()
		*into = append(*into, (childCPU() - before).Seconds())
		return d, err
	}
}

// childCPU is the CPU time of this process's children that have ended,
// and of their own children that they waited for.
func childCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settle waits, at most 30 s, until no sshd process of the bench's servers
// is left, so their CPU time is in childCPU. It polls: a server reports
// its processes, not their end.
func (e *env) settle() {
	deadline := time.Now().Add(30 * time.Second)
	for _, s := range append([]*testenv.SSHD{e.sshd}, e.fleet...) {
		for len(s.Pids()) > 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// fanOut: one step on -workers workers, then -seq-steps steps in sequence
// on each of -seq-workers workers, against Ansible.
func (e *env) fanOut(r *report) error {
	workers, err := e.workers(max(*nWorkers, *seqWorkers))
	if err != nil {
		return err
	}
	const cmd = "sh -c 'echo hi'"
	var cpu, rss, wc, wa values
	cfg, rb := e.fleetFiles("fan", *nWorkers, workers, 0, 1, "echo hi")
	sides := []side{e.withCPU(&wc, e.fleetRun(rb, cfg, *nWorkers, *nWorkers, &cpu, &rss))}
	if e.ansible {
		sides = append(sides, e.withCPU(&wa, wall(func() error {
			return e.ansibleAdhoc(*nWorkers, "docker run --rm "+e.image+" "+cmd, workers[:*nWorkers]...)
		})))
	}
	s, err := rounds(*heavyRuns, sides...)
	if err != nil {
		return err
	}
	note := fmt.Sprintf("controller CPU %s s, peak RSS %s MiB; CPU of all it started %s s", cpu.format("%.2f"), rss.format("%.0f"), wc.format("%.1f"))
	name := fmt.Sprintf("one step on %d workers", *nWorkers)
	if e.ansible {
		r.add(row{name: name, cuttle: s[0], peer: s[1], peerName: fmt.Sprintf("Ansible, forks=%d", *nWorkers), note: note + "; Ansible's " + wa.format("%.1f") + " s"})
	} else {
		r.add(row{name: name, cuttle: s[0], peerName: "(ansible-core not installed)", note: note})
	}

	cpu, rss, wc, wa = nil, nil, nil, nil
	cfg, rb = e.fleetFiles("seq", *seqWorkers, workers, 0, *seqSteps, "echo hi")
	sides = []side{e.withCPU(&wc, e.fleetRun(rb, cfg, *seqWorkers, *seqSteps**seqWorkers, &cpu, &rss))}
	if e.ansible {
		var play strings.Builder
		play.WriteString("- hosts: w\n  gather_facts: false\n  tasks:\n")
		for range *seqSteps {
			fmt.Fprintf(&play, "    - command: docker run --rm %s %s\n", e.image, cmd)
		}
		playFile := filepath.Join(e.dir, "play.yml")
		if err := os.WriteFile(playFile, []byte(play.String()), 0o644); err != nil {
			return err
		}
		sides = append(sides, e.withCPU(&wa, wall(func() error {
			return e.runAnsible("ansible-playbook", *seqWorkers, []string{playFile}, workers[:*seqWorkers]...)
		})))
	}
	if s, err = rounds(*heavyRuns, sides...); err != nil {
		return err
	}
	name = fmt.Sprintf("%d steps in sequence, each on %d workers", *seqSteps, *seqWorkers)
	note = fmt.Sprintf("%d steps; controller CPU %s s, peak RSS %s MiB; CPU of all it started %s s", *seqSteps**seqWorkers, cpu.format("%.2f"), rss.format("%.0f"), wc.format("%.1f"))
	if e.ansible {
		r.add(row{name: name, cuttle: s[0], peer: s[1], peerName: fmt.Sprintf("ansible-playbook, forks=%d, same tasks", *seqWorkers), note: note + "; Ansible's " + wa.format("%.1f") + " s"})
	} else {
		r.add(row{name: name, cuttle: s[0], peerName: "(ansible-core not installed)", note: note})
	}
	r.method("fan-out: each worker is its own `sshd -i` server on loopback, all sharing this machine's Docker engine; cuttle is one `cuttle runbook run` process with --max-parallel equal to the workers. "+
		"\"CPU of all it started\" is the CPU time of the processes the run started, once ended: the controller or Ansible, the OpenSSH clients, and the sshd servers with what they ran (the docker CLI, shells), from getrusage(RUSAGE_CHILDREN); the engine and the containers are not in it, nor are other agents' processes. "+
		"Sized for 2 cores: a bare `docker run` cost about 0.5 s of CPU on the earlier machine (NOTES.md), so %d steps need at least %.0f s of wall time on 2 cores, and the sequence row (%d steps x %d workers; 10 x 20 before, 69 s for cuttle alone) keeps a round short enough for %d rounds. %s",
		*nWorkers, float64(*nWorkers)*0.5/2, *seqSteps, *seqWorkers, *heavyRuns, ansibleSettings)
	return nil
}

// atOnceBench: many steps started at once from one controller, against
// as many OpenSSH clients started at once.
func (e *env) atOnceBench(r *report) error {
	workers, err := e.workers(*nWorkers)
	if err != nil {
		return err
	}
	const script = "echo hi; sleep 5"
	var cpu, rss, wc, wp, hc, hp values
	cfg, rb := e.fleetFiles("wide", *atOnce, workers, 0, 1, script)
	s, err := rounds(*heavyRuns,
		e.withCPU(&wc, e.probed(&hc, e.fleetRun(rb, cfg, *atOnce, *atOnce, &cpu, &rss))),
		e.withCPU(&wp, e.probed(&hp, wall(func() error {
			errs := make(chan error, *atOnce)
			for i := range *atOnce {
				go func() {
					out, err := output(exec.Command("ssh", e.sshArgs(at(workers[i%len(workers)]), "docker run --rm "+e.image+" sh -c '"+script+"'")...))
					errs <- expect("ssh", out, err, "hi\n")
				}()
			}
			var first error
			for range *atOnce {
				if err := <-errs; err != nil && first == nil {
					first = err
				}
			}
			return first
		}))))
	if err != nil {
		return err
	}
	r.add(row{name: fmt.Sprintf("%d steps at once from one controller", *atOnce), cuttle: s[0], peer: s[1], peerName: fmt.Sprintf("%d `ssh host docker run --rm` at once", *atOnce),
		note: fmt.Sprintf("each step sleeps 5 s; controller CPU %s s, peak RSS %s MiB; CPU of all it started %s s (peer: %s s); a probe connection's set-up during the runs %s ms (peer's: %s ms)",
			cpu.format("%.2f"), rss.format("%.0f"), wc.format("%.1f"), wp.format("%.1f"), hc.format("%.0f"), hp.format("%.0f"))})
	r.method("at once: %d steps (`echo hi; sleep 5`) from one `cuttle runbook run` (--max-parallel %d, no per-worker limit, spread over %d sshd servers) against %d `ssh host docker run --rm` processes started together. "+
		"While each side runs, the bench opens a connection to the main worker every second and times its set-up (the probe's connections are in both sides' CPU). "+
		"Sized for 2 cores: 100 at once (before) needs about a minute of CPU for the steps alone, and connections waiting behind it timed out (NOTES.md).", *atOnce, *atOnce, *nWorkers, *atOnce)
	return nil
}

// probed runs f while the bench dials the main worker every second
// and records how long each connection took to set up (milliseconds):
// handshakes wait for CPU like everything else on the machine.
func (e *env) probed(into *values, f side) side {
	return func() (time.Duration, error) {
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan values)
		go func() {
			var v values
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					done <- v
					return
				case <-tick.C:
				}
				d, err := timed(func() error {
					c, err := transport.Dial(ctx, e.target())
					if err == nil {
						c.Close()
					}
					return err
				})
				if err == nil {
					v = append(v, float64(d.Milliseconds()))
				} else if ctx.Err() == nil {
					v = append(v, -1) // failed: shown as -1
				}
			}
		}()
		d, err := f()
		stop()
		*into = append(*into, <-done...)
		return d, err
	}
}
