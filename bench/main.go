// Command bench measures cuttle against peers in the same run, on this
// machine: real sshd workers on loopback, the local engine and a local
// image. It prints a Markdown table of medians, ranges and ratios, and
// with -results writes all of RESULTS.md. It asserts nothing about speed,
// but it checks what each side did (output bytes and digest, artifacts,
// uploaded sizes) and fails when a side did less. Needs root. Ansible is
// measured when ansible-core is installed.
//
//	go run ./bench [-cuttle bin/cuttle] [-results bench/RESULTS.md] [-only hello,step,...]
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

var (
	runs       = flag.Int("n", 9, "rounds for the cheap rows (hello, step, latency)")
	heavyRuns  = flag.Int("heavy-n", 5, "rounds for the expensive rows (runbook, output, SFTP, bundle, fan-out)")
	cuttleBin  = flag.String("cuttle", "bin/cuttle", "cuttle binary (static)")
	results    = flag.String("results", "", "also write the whole report to this file (make bench: bench/RESULTS.md)")
	nWorkers   = flag.Int("workers", 20, "workers for the one-step fan-out")
	seqWorkers = flag.Int("seq-workers", 10, "workers for the steps-in-sequence fan-out")
	seqSteps   = flag.Int("seq-steps", 3, "steps in sequence, each on every one of -seq-workers")
	atOnce     = flag.Int("at-once", 30, "steps started at once from one controller")
	outputMiB  = flag.Int("output-mib", 256, "MiB printed in the output-throughput scenario")
	sftpMiB    = flag.Int("sftp-mib", 256, "MiB moved in the SFTP scenario")
	deltaPiece = flag.Int("delta-piece", 64, "KiB in each changed piece of the package delta scenario (1 percent of 100 MiB in all)")
	noAnsible  = flag.Bool("no-ansible", false, "leave Ansible's rows out (quicker, while iterating)")
	only       = flag.String("only", "", "run only these scenarios, comma-separated: "+strings.Join(scenarioNames(), ","))
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

type env struct {
	w       *testenv.LocalWorker
	dir     string
	image   string
	user    string
	key     testenv.Key
	sshd    *testenv.SSHD
	cuttle  string
	ansible bool
	fleet   []*testenv.SSHD // the fan-out's workers, started on first use
}

// scenario is one group of rows; its name selects it with -only.
type scenario struct {
	name string
	run  func(e *env, r *report) error
}

var scenarios = []scenario{
	{"hello", (*env).hello},
	{"step", (*env).step},
	{"runbook", (*env).runbookOnOne},
	{"latency", (*env).latency},
	{"output", (*env).output},
	{"sftp", (*env).sftpBench},
	{"bundle", (*env).bundleBench},
	{"delta", (*env).deltaBench},
	{"fanout", (*env).fanOut},
	{"atonce", (*env).atOnceBench},
}

func scenarioNames() []string {
	var n []string
	for _, s := range scenarios {
		n = append(n, s.name)
	}
	return n
}

func run() error {
	want := map[string]bool{}
	for _, n := range strings.Split(*only, ",") {
		if n = strings.TrimSpace(n); n == "" {
			continue
		}
		if !strings.Contains(","+strings.Join(scenarioNames(), ",")+",", ","+n+",") {
			return fmt.Errorf("-only %s: no such scenario (have %s)", n, strings.Join(scenarioNames(), ","))
		}
		want[n] = true
	}
	rep := newReport(append([]string{"go run ./bench"}, os.Args[1:]...))
	w, err := testenv.StartLocalWorker(context.Background(), "cuttle-bench")
	if err != nil {
		return err
	}
	defer w.Close()
	cuttle, err := filepath.Abs(*cuttleBin)
	if err != nil {
		return err
	}
	_, lookErr := exec.LookPath("ansible")
	e := &env{w: w, dir: w.Dir, image: w.Image, user: w.User.Name, key: w.Key, sshd: w.SSHD, cuttle: cuttle, ansible: lookErr == nil && !*noAnsible}
	defer e.closeFleet()
	// One warm-up step places cuttle's runner bundle on the worker, as on
	// any worker that has run a step before.
	if _, err := e.runCuttle(e.runArgs("echo warm")...); err != nil {
		return fmt.Errorf("warm-up step: %w", err)
	}
	fmt.Println(tableHead)
	for _, s := range scenarios {
		if len(want) > 0 && !want[s.name] {
			continue
		}
		if err := s.run(e, rep); err != nil {
			rep.add(row{name: s.name, err: err})
		}
	}
	if *results != "" {
		if err := rep.write(*results); err != nil {
			return err
		}
	}
	if rep.failed() {
		return errors.New("a scenario failed (its row says why)")
	}
	return nil
}

func (e *env) runArgs(script string) []string {
	return []string{"run", "--worker", e.sshd.URL(e.user), "--identity", e.key.PrivateFile, "--known-hosts", e.sshd.KnownHosts,
		"--image", e.image, "--pull", "never", "--inline", script}
}

// sshOpts are the options every OpenSSH client here gets: the key, this
// server's known_hosts, no prompts.
func (e *env) sshOpts(knownHosts string) []string {
	return []string{"-i", e.key.PrivateFile, "-o", "UserKnownHostsFile=" + knownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes"}
}

// endpoint is where an OpenSSH client connects: a worker's sshd, or the
// latency proxy in front of it.
type endpoint struct {
	host       string
	port       int
	knownHosts string
}

func at(s *testenv.SSHD) endpoint { return endpoint{s.Host, s.Port, s.KnownHosts} }

// sshArgs are an OpenSSH command line running remote on a new connection.
func (e *env) sshArgs(ep endpoint, remote string, extra ...string) []string {
	return append(append(append(e.sshOpts(ep.knownHosts), extra...), "-p", strconv.Itoa(ep.port), e.user+"@"+ep.host), remote)
}

// runCuttle runs the cuttle binary and returns its stdout.
func (e *env) runCuttle(args ...string) ([]byte, error) {
	return output(exec.Command(e.cuttle, args...))
}

// ssh runs a command on the main worker with OpenSSH and returns its stdout.
func (e *env) ssh(remote string, extra ...string) ([]byte, error) {
	return output(exec.Command("ssh", e.sshArgs(at(e.sshd), remote, extra...)...))
}

// output runs cmd and returns its stdout; the error carries the end of
// its stderr.
func output(cmd *exec.Cmd) ([]byte, error) {
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", filepath.Base(cmd.Path), err, tail(errb.Bytes()))
	}
	return out, nil
}

// expect checks that a side printed exactly want.
func expect(who string, got []byte, err error, want string) error {
	if err != nil {
		return err
	}
	if string(got) != want {
		return fmt.Errorf("%s printed %q, want %q", who, tail(got), want)
	}
	return nil
}

func tail(b []byte) string {
	if len(b) > 500 {
		b = b[len(b)-500:]
	}
	return strings.TrimSpace(string(b))
}
