package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// The cipher cuttle's SSH library prefers; OpenSSH's own default is
// chacha20-poly1305, so where bytes are the point the OpenSSH peers are
// given this one.
const cipher = "aes128-gcm@openssh.com"

// hello: one step, bundle and image cached, against a bare docker run
// over ssh and Ansible's command module.
func (e *env) hello(r *report) error {
	const script = "echo hi"
	rep := filepath.Join(e.dir, "hello-report.json")
	phases := phaseSamples{}
	sides := []side{
		wall(func() error {
			out, err := e.runCuttle(append(e.runArgs(script), "--report", rep)...)
			if err := expect("cuttle", out, err, "hi\n"); err != nil {
				return err
			}
			return phases.read(rep)
		}),
		wall(func() error {
			out, err := e.ssh("docker run --rm " + e.image + " sh -c '" + script + "'")
			return expect("ssh", out, err, "hi\n")
		}),
	}
	if e.ansible {
		sides = append(sides, wall(func() error { return e.ansibleAdhoc(1, "docker run --rm "+e.image+" sh -c '"+script+"'", e.sshd) }))
	}
	s, err := rounds(*runs, sides...)
	if err != nil {
		return err
	}
	sessions, err := e.stepSessions()
	if err != nil {
		return err
	}
	r.add(row{name: "hello step (bundle and image cached)", cuttle: s[0], peer: s[1], peerName: "plain `ssh host docker run --rm`", note: sessions + "; phases, median ms: " + phases.String()})
	if e.ansible {
		r.add(row{name: "hello step", cuttle: s[0], peer: s[2], peerName: "Ansible ad-hoc `command` module"})
	}
	r.method("hello: `cuttle run --inline 'echo hi' --pull never` with its defaults (the dead man's switch's heartbeat session and the output follower on), a new process and connection each run; " +
		"the peer `ssh host docker run --rm IMAGE sh -c 'echo hi'`, one process and connection each run. Both outputs are checked (`hi`).")
	return nil
}

// stepSessions runs the hello step once more at --log-level debug and
// reports the SSH sessions and SFTP calls it logged.
func (e *env) stepSessions() (string, error) {
	cmd := exec.Command(e.cuttle, append(e.runArgs("echo hi"), "--log-level", "debug", "--log-format", "json")...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cuttle at --log-level debug: %w: %s", err, tail(errb.Bytes()))
	}
	for _, l := range strings.Split(errb.String(), "\n") {
		var m struct {
			Message  string `json:"message"`
			Sessions *int   `json:"sessions"`
			SFTP     *int   `json:"sftp_calls"`
		}
		if json.Unmarshal([]byte(l), &m) == nil && m.Message == "step finished" && m.Sessions != nil && m.SFTP != nil {
			return fmt.Sprintf("per step %d SSH sessions on one connection and %d SFTP calls (cuttle's debug log)", *m.Sessions, *m.SFTP), nil
		}
	}
	return "", fmt.Errorf("cuttle at --log-level debug logged no \"step finished\" with its sessions: %s", tail(errb.Bytes()))
}

// step: script upload, run, one artifact back, cleanup.
func (e *env) step(r *report) error {
	arts := filepath.Join(e.dir, "arts")
	s, err := rounds(*runs,
		wall(func() error { return e.cuttleArtifactStep(e.sshd.URL(e.user), e.sshd.KnownHosts, arts) }),
		wall(func() error { return e.sequence(at(e.sshd)) }))
	if err != nil {
		return err
	}
	r.add(row{name: "script upload, run, 1 artifact, cleanup", cuttle: s[0], peer: s[1], peerName: "scp + ssh docker run + scp + ssh rm on one ControlMaster connection"})
	r.method("step: cuttle runs `echo result > out.txt; new_octopusartifact out.txt` and the artifact's content is checked. " +
		"The peer is the same work by hand with OpenSSH on one multiplexed connection: `ssh -M -N -f` opens it, then `scp` the script, `ssh docker run` with the work directory mounted, `scp` the artifact back (content checked), `ssh rm -rf`, `ssh -O exit`; opening and closing that connection are inside its time, as cuttle's are inside its.")
	return nil
}

// cuttleArtifactStep runs the artifact step against worker and checks the
// artifact that came back.
func (e *env) cuttleArtifactStep(worker, knownHosts, arts string) error {
	os.RemoveAll(arts)
	_, err := e.runCuttle("run", "--worker", worker, "--identity", e.key.PrivateFile, "--known-hosts", knownHosts,
		"--image", e.image, "--pull", "never", "--artifacts", arts, "--inline", `echo result > out.txt; new_octopusartifact out.txt`)
	if err != nil {
		return err
	}
	return checkFile("cuttle's artifact", filepath.Join(arts, "run", "out.txt"), "result\n")
}

func checkFile(what, path, want string) error {
	got, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if string(got) != want {
		return fmt.Errorf("%s holds %q, want %q", what, got, want)
	}
	return nil
}

// sequence is the artifact step done by hand with OpenSSH over one
// multiplexed connection, opened and closed inside the call.
func (e *env) sequence(ep endpoint) error {
	script := filepath.Join(e.dir, "s.sh")
	if err := os.WriteFile(script, []byte("echo result > /w/out.txt\n"), 0o644); err != nil {
		return err
	}
	got := filepath.Join(e.dir, "out.txt")
	os.Remove(got)
	base := append(e.sshOpts(ep.knownHosts), "-o", "ControlPath="+filepath.Join(e.dir, "cm-%C"))
	port := strconv.Itoa(ep.port)
	dest := e.user + "@" + ep.host
	ssh := func(args ...string) error {
		_, err := output(exec.Command("ssh", append(append(append(base, "-p", port), args...), dest)...))
		return err
	}
	// The master goes to the background and keeps its stderr: a file,
	// not a pipe that Wait would wait on.
	logf, err := os.Create(filepath.Join(e.dir, "master.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	master := exec.Command("ssh", append(append(base, "-M", "-N", "-f", "-o", "ControlPersist=yes", "-p", port), dest)...)
	master.Stderr = logf
	if err := master.Run(); err != nil {
		return fmt.Errorf("ssh -M: %w: %s", err, readFile(logf.Name()))
	}
	run := func(remote string) error {
		_, err := output(exec.Command("ssh", append(append(base, "-p", port, dest), remote)...))
		return err
	}
	scp := func(from, to string) error {
		_, err := output(exec.Command("scp", append(append(append([]string{"-q"}, base...), "-P", port), from, to)...))
		return err
	}
	err = scp(script, dest+":s.sh")
	if err == nil {
		err = run(`mkdir -p w && docker run --rm -v "$HOME/w:/w" -v "$HOME/s.sh:/s.sh" ` + e.image + " sh /s.sh")
	}
	if err == nil {
		err = scp(dest+":w/out.txt", got)
	}
	if err == nil {
		err = run("rm -rf w s.sh")
	}
	// Exit fails when there is no master: the commands above did not
	// share one connection.
	if exitErr := ssh("-O", "exit"); err == nil && exitErr != nil {
		err = fmt.Errorf("closing the ControlMaster connection: %w", exitErr)
	}
	if err != nil {
		return err
	}
	return checkFile("the peer's artifact", got, "result\n")
}

// runbookOnOne: ten steps on one worker in one runbook (one connection)
// against ten bare docker runs over ten ssh connections.
func (e *env) runbookOnOne(r *report) error {
	const steps = 10
	cfg, rb := e.fleetFiles("one", 1, []*testenv.SSHD{e.sshd}, 0, steps, "echo hi")
	s, err := rounds(*heavyRuns,
		wall(func() error {
			out, _, _, err := e.runbook(rb, cfg, 1)
			if err != nil {
				return err
			}
			return saidHi(out, steps)
		}),
		wall(func() error {
			for range steps {
				out, err := e.ssh("docker run --rm " + e.image + " sh -c 'echo hi'")
				if err := expect("ssh", out, err, "hi\n"); err != nil {
					return err
				}
			}
			return nil
		}))
	if err != nil {
		return err
	}
	r.add(row{name: "runbook of 10 steps on one worker", cuttle: s[0], peer: s[1], peerName: "10 sequential `ssh host docker run --rm`"})
	r.method("runbook: `cuttle runbook run` of ten `echo hi` steps on a pool of one worker (one controller process, one connection); the peer runs `ssh host docker run --rm IMAGE sh -c 'echo hi'` ten times in a row, a connection each. Outputs are checked.")
	return nil
}

// output: the same file printed by cat on every side, through cuttle's
// scanner and masker, through docker's attach stream, and by sshd alone.
func (e *env) output(r *report) error {
	n := int64(*outputMiB) << 20
	gen := fmt.Sprintf("yes 'output line of exactly sixty-four bytes, padded to length....' | head -c %d > out.bin", n)
	if _, err := e.ssh(gen); err != nil {
		return err
	}
	defer e.ssh("rm -f out.bin")
	want, err := fileDigest(filepath.Join(e.w.User.Home, "out.bin"))
	if err != nil {
		return err
	}
	mount := "-v " + e.w.User.Home + "/out.bin:/data/out.bin:ro"
	var peak values
	check := func(who, name string, args ...string) side {
		return func() (time.Duration, error) {
			d := &digest{h: sha256.New()}
			cmd := exec.Command(name, args...)
			cmd.Env = append(os.Environ(), "BENCH_SECRET=not-in-the-output")
			cmd.Stdout = d
			var errb bytes.Buffer
			cmd.Stderr = &errb
			start := time.Now()
			if err := cmd.Start(); err != nil {
				return 0, err
			}
			p := testenv.PeakRSS(cmd.Process.Pid)
			err := cmd.Wait()
			took := time.Since(start)
			if who == "cuttle" {
				peak = append(peak, float64(<-p)/1024)
			}
			if err != nil {
				return took, fmt.Errorf("%s: %w: %s", who, err, tail(errb.Bytes()))
			}
			return took, d.check(who, n, want)
		}
	}
	s, err := rounds(*heavyRuns,
		check("cuttle", e.cuttle, append(e.runArgs("cat /data/out.bin"), "--container-options", mount, "--allow-privileged", "--sensitive-var", "S=BENCH_SECRET")...),
		check("ssh docker run", "ssh", e.sshArgs(at(e.sshd), "docker run --rm "+mount+" "+e.image+" cat /data/out.bin", "-c", cipher)...),
		check("ssh cat", "ssh", e.sshArgs(at(e.sshd), "cat out.bin", "-c", cipher)...))
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%d MiB of output", *outputMiB)
	r.add(row{name: name, cuttle: s[0], peer: s[1], peerName: "ssh host docker run (same bytes)",
		note: fmt.Sprintf("cuttle %.0f MB/s, peer %.0f MB/s (medians); controller peak RSS %s MiB", mbps(n, s[0].median()), mbps(n, s[1].median()), peak.format("%.0f"))})
	r.add(row{name: name, cuttle: s[0], peer: s[2], peerName: "ssh host cat FILE (same bytes, no container)", note: fmt.Sprintf("peer %.0f MB/s", mbps(n, s[2].median()))})
	r.method("output: one %d MiB file of 64-byte lines, printed with `cat` by every side: a cuttle step (a sensitive variable set, so the masker runs), `ssh host docker run --rm ... cat`, and `ssh host cat` with no container; the OpenSSH peers use %s, the cipher cuttle negotiates. Every side's stdout is counted and hashed (SHA-256) as it arrives, and the run fails unless the count and digest equal the file's.", *outputMiB, cipher)
	return nil
}

// digest counts and hashes what a side printed.
type digest struct {
	h hash.Hash
	n int64
}

func (d *digest) Write(p []byte) (int, error) {
	d.h.Write(p)
	d.n += int64(len(p))
	return len(p), nil
}

func (d *digest) check(who string, n int64, want []byte) error {
	if d.n != n || !bytes.Equal(d.h.Sum(nil), want) {
		return fmt.Errorf("%s printed %d bytes with SHA-256 %x, want %d bytes with %x", who, d.n, d.h.Sum(nil), n, want)
	}
	return nil
}

func fileDigest(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
