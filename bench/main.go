// Command bench measures cuttle against peers in the same run, on this
// machine: real sshd workers on loopback, the local engine and a local
// image. It prints a Markdown table of medians and ratios and asserts
// nothing. Needs root. Ansible is measured when ansible-core is installed.
//
//	go run ./bench [-n 9] [-cuttle bin/cuttle] [-workers 20] [-output-mib 1024]
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cuttle-sh/cuttle/internal/testenv"
	"github.com/cuttle-sh/cuttle/remote"
	"github.com/cuttle-sh/cuttle/transport"
)

var (
	runs      = flag.Int("n", 9, "runs per measurement")
	cuttleBin = flag.String("cuttle", "bin/cuttle", "cuttle binary (static)")
	nWorkers  = flag.Int("workers", 20, "workers for the fan-out scenario")
	outputMiB = flag.Int("output-mib", 1024, "MiB printed in the output-throughput scenario")
	sftpMiB   = flag.Int("sftp-mib", 256, "MiB moved in the SFTP scenario")
	only      = flag.String("only", "", "run only these scenarios, comma-separated: hello,step,latency,output,sftp,bundle,fanout")
)

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

type env struct {
	w                *testenv.LocalWorker
	dir, image, user string
	key              testenv.Key
	sshd             *testenv.SSHD
	cuttle           string
}

func run() error {
	w, err := testenv.StartLocalWorker(context.Background(), "cuttle-bench")
	if err != nil {
		return err
	}
	defer w.Close()
	cuttle, _ := filepath.Abs(*cuttleBin)
	e := env{w: w, dir: w.Dir, image: w.Image, user: w.User.Name, key: w.Key, sshd: w.SSHD, cuttle: cuttle}
	image := e.image
	dir := e.dir

	fmt.Printf("# cuttle benchmarks\n\n%s UTC, %d cores (%s), %s; `%s`\n\n", time.Now().UTC().Format("2006-01-02 15:04"), runtime.NumCPU(), cpuModel(), runtime.Version(), strings.Join(append([]string{"go run ./bench"}, os.Args[1:]...), " "))
	fmt.Println("| scenario | cuttle | peer | ratio (cuttle / peer) | notes |")
	fmt.Println("|---|---|---|---|---|")
	if out, err := exec.Command(cuttle, e.runArgs("echo warm")...).CombinedOutput(); err != nil {
		return fmt.Errorf("warm-up step: %w: %s", err, out)
	}
	_, hasAnsible := exec.LookPath("ansible")

	want := func(name string) bool {
		return *only == "" || strings.Contains(","+*only+",", ","+name+",")
	}
	var c, s time.Duration

	// 1. One step, bundle and image cached.
	if want("hello") {
		c = median(func() error { return exec.Command(cuttle, e.runArgs("echo hi")...).Run() })
		s = median(func() error {
			return exec.Command("ssh", e.sshArgs(e.sshd, "docker run --rm "+image+" sh -c 'echo hi'")...).Run()
		})
		row("hello step (bundle and image cached)", c, s, "plain `ssh host docker run --rm`", "")
		if hasAnsible == nil {
			a := median(func() error { return e.ansible(1, "docker run --rm "+image+" sh -c 'echo hi'", e.sshd) })
			row("hello step", c, a, "Ansible ad-hoc `command` module", "")
		}
	}

	// 2. Script upload + run + one artifact download + cleanup.
	if want("step") {
		arts := filepath.Join(dir, "arts")
		c = median(func() error {
			return exec.Command(cuttle, append(e.runArgs(`echo result > out.txt; new_octopusartifact out.txt`), "--artifacts", arts)...).Run()
		})
		script := filepath.Join(dir, "s.sh")
		os.WriteFile(script, []byte("echo result > /w/out.txt\n"), 0o644)
		s = median(func() error {
			if err := exec.Command("scp", append(e.scpArgs(), script, e.user+"@127.0.0.1:s.sh")...).Run(); err != nil {
				return err
			}
			if err := exec.Command("ssh", e.sshArgs(e.sshd, "mkdir -p w && docker run --rm -v $HOME/w:/w -v $HOME/s.sh:/s.sh "+image+" sh /s.sh")...).Run(); err != nil {
				return err
			}
			if err := exec.Command("scp", append(e.scpArgs(), e.user+"@127.0.0.1:w/out.txt", filepath.Join(dir, "out.txt"))...).Run(); err != nil {
				return err
			}
			return exec.Command("ssh", e.sshArgs(e.sshd, "rm -rf w s.sh")...).Run()
		})
		row("script upload, run, 1 artifact, cleanup", c, s, "scp + ssh docker run + scp + ssh rm", "")
	}

	// 2b. The same with 50 ms round trips (25 ms each way).
	if want("latency") {
		if err := e.latency(); err != nil {
			return err
		}
	}

	// 3. Output throughput through the scanner and masker. Every side
	// prints the same file with cat, so what is compared is the way the
	// bytes travel, not how fast the image's busybox can make them (its
	// yes | head tops out near 150 MB/s here).
	if want("output") {
		n := *outputMiB << 20
		gen := fmt.Sprintf("yes 'output line of exactly sixty-four bytes, padded to length....' | head -c %d", n)
		if err := exec.Command("ssh", e.sshArgs(e.sshd, gen+" > out.bin")...).Run(); err != nil {
			return err
		}
		// A bind mount of a worker file: the bench runs as the worker's
		// operator, who may grant it.
		mount := "-v " + e.w.User.Home + "/out.bin:/data/out.bin:ro"
		var cPeak int64
		c = once(func() error {
			cmd := exec.Command(cuttle, append(e.runArgs("cat /data/out.bin"), "--container-options", mount, "--allow-privileged", "--sensitive-var", "S=BENCH_SECRET")...)
			cmd.Env = append(os.Environ(), "BENCH_SECRET=not-in-the-output")
			cmd.Stdout = io.Discard
			if err := cmd.Start(); err != nil {
				return err
			}
			peak := testenv.PeakRSS(cmd.Process.Pid)
			err := cmd.Wait()
			cPeak = <-peak
			return err
		})
		s = once(func() error {
			cmd := exec.Command("ssh", e.sshArgs(e.sshd, "docker run --rm "+mount+" "+image+" cat /data/out.bin")...)
			cmd.Stdout = io.Discard
			return cmd.Run()
		})
		row(fmt.Sprintf("%d MiB of output", *outputMiB), c, s, "ssh host docker run (same bytes)", fmt.Sprintf("cuttle %.0f MB/s, peer %.0f MB/s; controller peak RSS %d MiB", float64(n)/c.Seconds()/1e6, float64(n)/s.Seconds()/1e6, cPeak>>10))
		// The same bytes with no container: what the link and sshd alone
		// can do.
		cat := once(func() error {
			cmd := exec.Command("ssh", e.sshArgs(e.sshd, "cat out.bin")...)
			cmd.Stdout = io.Discard
			return cmd.Run()
		})
		exec.Command("ssh", e.sshArgs(e.sshd, "rm -f out.bin")...).Run()
		row(fmt.Sprintf("%d MiB of output", *outputMiB), c, cat, "ssh host cat FILE (same bytes, no container)", fmt.Sprintf("peer %.0f MB/s", float64(n)/cat.Seconds()/1e6))
	}

	// 4. SFTP, one large file each way, same cipher.
	if want("sftp") {
		if err := e.sftpBench(); err != nil {
			return err
		}
	}

	// 5. A 1,000-file, 100 MiB bundle: first upload, then unchanged.
	if want("bundle") {
		if err := e.bundleBench(); err != nil {
			return err
		}
	}

	// 6. Fan-out: one step on N workers.
	if want("fanout") {
		return e.fanOut(hasAnsible == nil)
	}
	return nil
}

func (e env) runArgs(script string) []string {
	return []string{"run", "--worker", e.sshd.URL(e.user), "--identity", e.key.PrivateFile, "--known-hosts", e.sshd.KnownHosts,
		"--image", e.image, "--pull", "never", "--inline", script}
}

func (e env) sshArgs(s *testenv.SSHD, remote string) []string {
	return []string{"-i", e.key.PrivateFile, "-o", "UserKnownHostsFile=" + s.KnownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-p", strconv.Itoa(s.Port), e.user + "@" + s.Host, remote}
}

func (e env) scpArgs() []string {
	return []string{"-q", "-i", e.key.PrivateFile, "-o", "UserKnownHostsFile=" + e.sshd.KnownHosts, "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-P", strconv.Itoa(e.sshd.Port)}
}

// ansible runs cmd on the given workers with forks = len(workers).
// runbook runs a runbook with cuttle and returns its CPU time and peak RSS.
func (e env) runbook(rb, cfg string, maxParallel int) (cpu time.Duration, peak int64, err error) {
	cmd := exec.Command(e.cuttle, "runbook", "run", rb, "--config", cfg, "--max-parallel", strconv.Itoa(maxParallel))
	cmd.Stdout = io.Discard
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	p := testenv.PeakRSS(cmd.Process.Pid)
	err = cmd.Wait()
	peak = <-p
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if err != nil {
		return cpu, peak, fmt.Errorf("%v: %s", err, tail(errb.Bytes()))
	}
	return cpu, peak, nil
}

func (e env) ansible(forks int, cmd string, workers ...*testenv.SSHD) error {
	return e.runAnsible("ansible", forks, []string{"w", "-m", "command", "-a", cmd}, workers...)
}

func (e env) ansiblePlaybook(forks int, playbook string, workers ...*testenv.SSHD) error {
	return e.runAnsible("ansible-playbook", forks, []string{playbook}, workers...)
}

// runAnsible runs an Ansible command against an inventory of workers.
func (e env) runAnsible(bin string, forks int, args []string, workers ...*testenv.SSHD) error {
	var inv strings.Builder
	inv.WriteString("[w]\n")
	var kh []byte
	for i, s := range workers {
		fmt.Fprintf(&inv, "w%d ansible_host=127.0.0.1 ansible_port=%d ansible_user=%s\n", i, s.Port, e.user)
		b, _ := os.ReadFile(s.KnownHosts)
		kh = append(kh, b...)
	}
	invFile := filepath.Join(e.dir, "inventory")
	khFile := filepath.Join(e.dir, "ansible_known_hosts")
	os.WriteFile(invFile, []byte(inv.String()), 0o644)
	os.WriteFile(khFile, kh, 0o644)
	c := exec.Command(bin, append(append([]string(nil), args...), "-i", invFile, "-f", strconv.Itoa(forks),
		"--private-key", e.key.PrivateFile, "--ssh-extra-args=-o UserKnownHostsFile="+khFile)...)
	c.Env = append(os.Environ(), "ANSIBLE_HOST_KEY_CHECKING=True", "ANSIBLE_PYTHON_INTERPRETER=auto_silent", "ANSIBLE_NOCOLOR=1")
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", bin, err, tail(out))
	}
	return nil
}

// latency runs the upload+run+artifact+cleanup step through a proxy that
// adds 25 ms each way, and reports the difference to plain ssh in round
// trips. (tc netem would do this in a network namespace; this machine's
// kernel has no netem qdisc.)
func (e env) latency() error {
	const oneWay = 25 * time.Millisecond
	proxy, err := testenv.StartLatencyProxy(e.sshd.Addr, oneWay)
	if err != nil {
		return err
	}
	defer proxy.Close()
	kh := filepath.Join(e.dir, "latency_known_hosts")
	line, _ := os.ReadFile(e.sshd.KnownHosts)
	// The proxy is another port: record the same key under it.
	os.WriteFile(kh, []byte(strings.Replace(string(line), strconv.Itoa(e.sshd.Port), strconv.Itoa(proxy.Port), 1)), 0o644)
	args := []string{"run", "--worker", fmt.Sprintf("ssh://%s@127.0.0.1:%d", e.user, proxy.Port), "--identity", e.key.PrivateFile,
		"--known-hosts", kh, "--image", e.image, "--pull", "never", "--artifacts", filepath.Join(e.dir, "arts-latency"),
		"--inline", `echo result > out.txt; new_octopusartifact out.txt`}
	c := median(func() error { return exec.Command(e.cuttle, args...).Run() })
	sshArgs := []string{"-i", e.key.PrivateFile, "-o", "UserKnownHostsFile=" + kh, "-o", "StrictHostKeyChecking=yes",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-p", strconv.Itoa(proxy.Port), e.user + "@127.0.0.1",
		"docker run --rm " + e.image + " sh -c 'echo result'"}
	s := median(func() error { return exec.Command("ssh", sshArgs...).Run() })
	rtt := 2 * oneWay
	row("step with 1 artifact at 50 ms RTT", c, s, "plain `ssh host docker run --rm` (no upload, no artifact)",
		fmt.Sprintf("cuttle costs %.1f round trips more than plain ssh (target <= 3)", (c-s).Seconds()/rtt.Seconds()))
	return nil
}

func (e env) sftpBench() error {
	size := int64(*sftpMiB) << 20
	local := filepath.Join(e.dir, "blob")
	f, _ := os.Create(local)
	io.CopyN(f, rand.Reader, size)
	f.Close()
	const cipher = "aes128-gcm@openssh.com"
	conn, err := transport.Dial(context.Background(), transport.Target{Host: "127.0.0.1", Port: e.sshd.Port, User: e.user,
		IdentityFiles: []string{e.key.PrivateFile}, KnownHostsFiles: []string{e.sshd.KnownHosts}, Ciphers: []string{cipher}})
	if err != nil {
		return err
	}
	defer conn.Close()
	home, _, _ := func() ([]byte, []byte, error) {
		return conn.Output(context.Background(), "sh", "-c", `printf %s "$HOME"`)
	}()
	remote := string(home) + "/blob"
	up := median(func() error {
		f, _ := os.Open(local)
		defer f.Close()
		return conn.Upload(context.Background(), remote, f, 0o644)
	})
	down := median(func() error { _, _, err := conn.Download(context.Background(), remote, io.Discard); return err })
	batch := filepath.Join(e.dir, "batch")
	sftp := func(cmds string) error {
		os.WriteFile(batch, []byte(cmds), 0o644)
		c := exec.Command("sftp", "-q", "-b", batch, "-c", cipher, "-i", e.key.PrivateFile, "-o", "UserKnownHostsFile="+e.sshd.KnownHosts,
			"-o", "StrictHostKeyChecking=yes", "-P", strconv.Itoa(e.sshd.Port), e.user+"@127.0.0.1")
		c.Stdout = io.Discard
		return c.Run()
	}
	pUp := median(func() error { return sftp("put " + local + " blob2\n") })
	pDown := median(func() error { return sftp("get blob2 /dev/null\n") })
	conn.Run(context.Background(), &transport.Cmd{Args: []string{"rm", "-f", remote, string(home) + "/blob2"}})
	rate := func(d time.Duration) string { return fmt.Sprintf("%.0f MB/s", float64(size)/d.Seconds()/1e6) }
	row(fmt.Sprintf("SFTP upload %d MiB (%s)", *sftpMiB, cipher), up, pUp, "OpenSSH sftp put", "cuttle "+rate(up)+", sftp "+rate(pUp)+"; ratio < 1 is faster")
	row(fmt.Sprintf("SFTP download %d MiB (%s)", *sftpMiB, cipher), down, pDown, "OpenSSH sftp get", "cuttle "+rate(down)+", sftp "+rate(pDown))
	return nil
}

func (e env) bundleBench() error {
	src := filepath.Join(e.dir, "bundle")
	for i := range 1000 {
		d := filepath.Join(src, fmt.Sprintf("d%02d", i%20))
		os.MkdirAll(d, 0o755)
		f, _ := os.Create(filepath.Join(d, fmt.Sprintf("f%04d.bin", i)))
		io.CopyN(f, rand.Reader, 100<<20/1000)
		f.Close()
	}
	conn, err := transport.Dial(context.Background(), transport.Target{Host: "127.0.0.1", Port: e.sshd.Port, User: e.user,
		IdentityFiles: []string{e.key.PrivateFile}, KnownHostsFiles: []string{e.sshd.KnownHosts}})
	if err != nil {
		return err
	}
	defer conn.Close()
	clear := func() {
		conn.Run(context.Background(), &transport.Cmd{Args: []string{"sh", "-c", `rm -rf "$HOME"/.cuttle/bundles/ext-* "$HOME/sftp-bundle"`}})
	}
	// A new mtime makes cuttle hash the bundle again, as a fresh
	// controller process does.
	touch := func() {
		now := time.Now()
		os.Chtimes(filepath.Join(src, "d00", "f0000.bin"), now, now)
	}
	var sent int64
	first := median(func() error {
		clear()
		touch()
		var err error
		sent, _, err = remote.EnsureDirBundle(context.Background(), conn, &remote.ExternalRunner{BundleDir: src, Command: "x {script}"})
		return err
	})
	peer := median(func() error {
		clear()
		batch := filepath.Join(e.dir, "batch-r")
		os.WriteFile(batch, []byte("put -r "+src+" sftp-bundle\n"), 0o644)
		c := exec.Command("sftp", "-q", "-b", batch, "-i", e.key.PrivateFile, "-o", "UserKnownHostsFile="+e.sshd.KnownHosts,
			"-o", "StrictHostKeyChecking=yes", "-P", strconv.Itoa(e.sshd.Port), e.user+"@127.0.0.1")
		c.Stdout = io.Discard
		return c.Run()
	})
	row("first upload, 1,000 files / 100 MiB bundle", first, peer, "OpenSSH `sftp put -r`", fmt.Sprintf("one tar stream, %d MiB sent", sent>>20))
	var again int64
	var commands int
	prepared := &remote.ExternalRunner{BundleDir: src, Command: "x {script}"}
	hash := median(func() error { touch(); return prepared.Prepare() })
	cached := median(prepared.Prepare)
	reup := median(func() error {
		var err error
		again, commands, err = remote.EnsureDirBundle(context.Background(), conn, prepared)
		return err
	})
	row("re-upload of the unchanged bundle", reup, 0, "", fmt.Sprintf("%d bytes sent, %d command on the open connection; a new controller process hashes the 100 MiB once (%s), later steps only stat it (%s)", again, commands, ms(hash), ms(cached)))
	clear()
	return nil
}

// fleetFiles writes a config with n workers named <pool>0.. in pool
// (spread over servers, max steps per worker as given; 0: no limit) and
// a runbook running script once on all of them; it returns both paths.
func (e env) fleetFiles(pool string, n int, servers []*testenv.SSHD, maxPerWorker int, script string) (cfgFile, runbook string) {
	var cfg strings.Builder
	cfg.WriteString("workers:\n")
	for i := range n {
		s := servers[i%len(servers)]
		fmt.Fprintf(&cfg, "  %s%d: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, pool: %s}\n", pool, i, s.Port, e.user, e.key.PrivateFile, s.KnownHosts, pool)
	}
	fmt.Fprintf(&cfg, "pools:\n  %s: {max_steps_per_worker: %d}\n", pool, maxPerWorker)
	cfgFile = filepath.Join(e.dir, pool+".cuttle.yaml")
	os.WriteFile(cfgFile, []byte(cfg.String()), 0o644)
	runbook = filepath.Join(e.dir, pool+".yaml")
	os.WriteFile(runbook, []byte(fmt.Sprintf("steps:\n  - name: %s\n    pool: %s\n    run_on: all\n    container: {image: %s, pull: never}\n    script: {inline: '%s'}\n", pool, pool, e.image, script)), 0o644)
	return cfgFile, runbook
}

func (e env) fanOut(withAnsible bool) error {
	var workers []*testenv.SSHD
	for i := range *nWorkers {
		s, err := e.w.NewSSHD("fan" + strconv.Itoa(i))
		if err != nil {
			return err
		}
		defer s.Close()
		workers = append(workers, s)
	}
	cfgFile, rb := e.fleetFiles("fan", len(workers), workers, 20, "echo hi")
	var cpu time.Duration
	var peak int64
	c, cAll := onceCPU(func() (err error) {
		cpu, peak, err = e.runbook(rb, cfgFile, 20)
		return err
	})
	note := fmt.Sprintf("controller CPU %.2fs, peak RSS %d MiB; whole machine CPU %.1fs", cpu.Seconds(), peak>>10, cAll.Seconds())
	if withAnsible {
		a, aAll := onceCPU(func() error { return e.ansible(*nWorkers, "docker run --rm "+e.image+" sh -c 'echo hi'", workers...) })
		row(fmt.Sprintf("one step on %d workers", *nWorkers), c, a, "Ansible, forks=20", note+fmt.Sprintf(" (Ansible: %.1fs)", aAll.Seconds()))
	} else {
		row(fmt.Sprintf("one step on %d workers", *nWorkers), c, 0, "(ansible-core not installed)", note)
	}

	// 100 steps at once from one controller: five names per worker, no
	// per-worker limit, --max-parallel 100.
	cfg100File, rb100 := e.fleetFiles("wide", 100, workers, 0, "echo hi; sleep 5")
	c = once(func() (err error) {
		_, peak, err = e.runbook(rb100, cfg100File, 100)
		return err
	})
	row("100 steps at once from one controller", c, 0, "", fmt.Sprintf("each step sleeps 5 s; controller peak RSS %d MiB", peak>>10))

	// Ten steps, each on every worker: 200 steps over 20 workers.
	const steps = 10
	var rbText strings.Builder
	rbText.WriteString("steps:\n")
	for i := range steps {
		fmt.Fprintf(&rbText, "  - name: s%d\n    pool: fan\n    run_on: all\n    container: {image: %s, pull: never}\n    script: {inline: 'echo hi'}\n", i, e.image)
	}
	rbMany := filepath.Join(e.dir, "fan-many.yaml")
	os.WriteFile(rbMany, []byte(rbText.String()), 0o644)
	c, cAll = onceCPU(func() (err error) {
		cpu, peak, err = e.runbook(rbMany, cfgFile, 20)
		return err
	})
	note = fmt.Sprintf("%d steps; controller CPU %.2fs, peak RSS %d MiB; whole machine CPU %.1fs", steps**nWorkers, cpu.Seconds(), peak>>10, cAll.Seconds())
	name := fmt.Sprintf("%d steps in sequence, each on %d workers", steps, *nWorkers)
	if withAnsible {
		var play strings.Builder
		play.WriteString("- hosts: w\n  gather_facts: false\n  tasks:\n")
		for range steps {
			fmt.Fprintf(&play, "    - command: docker run --rm %s sh -c 'echo hi'\n", e.image)
		}
		playFile := filepath.Join(e.dir, "play.yml")
		os.WriteFile(playFile, []byte(play.String()), 0o644)
		a, aAll := onceCPU(func() error { return e.ansiblePlaybook(*nWorkers, playFile, workers...) })
		row(name, c, a, "ansible-playbook, forks=20, same tasks", note+fmt.Sprintf(" (Ansible: %.1fs)", aAll.Seconds()))
	} else {
		row(name, c, 0, "(ansible-core not installed)", note)
	}
	return nil
}

func row(name string, c, p time.Duration, peer, note string) {
	ratio := "-"
	if p > 0 {
		ratio = fmt.Sprintf("%.2fx", c.Seconds()/p.Seconds())
	}
	fmt.Printf("| %s | %s | %s %s | %s | %s |\n", name, ms(c), ms(p), peer, ratio, note)
}

func median(f func() error) time.Duration {
	var d []time.Duration
	for range *runs {
		start := time.Now()
		if err := f(); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			os.Exit(1)
		}
		d = append(d, time.Since(start))
	}
	slices.Sort(d)
	return d[len(d)/2]
}

func once(f func() error) time.Duration {
	start := time.Now()
	if err := f(); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
	return time.Since(start)
}

// machineCPU is the CPU time every process on this machine has used so
// far (user + system, from /proc/stat): the worker's share of a fan-out
// (sshd, docker, containers) shows in its difference.
func machineCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ = 100
}

// onceCPU is once, also returning the machine-wide CPU time used.
func onceCPU(f func() error) (wall, cpu time.Duration) {
	before := machineCPU()
	wall = once(f)
	return wall, machineCPU() - before
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000)
}

func tail(b []byte) string {
	if len(b) > 500 {
		b = b[len(b)-500:]
	}
	return string(b)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
