// Command bench measures cuttle against peers in the same run, on this
// machine: a real sshd worker on loopback, the local engine and a local
// image. It prints medians and ratios; it asserts nothing. Needs root.
//
//	go run ./bench [-n 15] [-cuttle bin/cuttle]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

func main() {
	n := flag.Int("n", 15, "runs per measurement")
	cuttle := flag.String("cuttle", "bin/cuttle", "cuttle binary (static)")
	flag.Parse()
	if err := run(*n, *cuttle); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

type worker struct {
	sshd  *testenv.SSHD
	user  string
	key   testenv.Key
	image string
}

func run(n int, cuttle string) error {
	ctx := context.Background()
	if err := testenv.EnsureDocker(ctx); err != nil {
		return err
	}
	image, err := testenv.EnsureBaseImage(ctx)
	if err != nil {
		return err
	}
	u, err := testenv.EnsureUser("cuttle-bench", true)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "cuttle-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	key, err := testenv.NewKey(filepath.Join(dir, "id_ed25519"))
	if err != nil {
		return err
	}
	sshd, err := testenv.StartSSHD(testenv.SSHDOptions{Dir: dir, AuthorizedKeys: []ssh.PublicKey{key.Public}})
	if err != nil {
		return err
	}
	defer sshd.Close()
	w := worker{sshd: sshd, user: u.Name, key: key, image: image}

	fmt.Printf("# cuttle bench, %s, %d cores, %s, %d runs each (median)\n\n", time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), cpuModel(), n)
	fmt.Println("| scenario | cuttle | plain ssh + docker run | ratio (cuttle / ssh) |")
	fmt.Println("|---|---|---|---|")

	cuttleHello := func() error {
		return exec.Command(cuttle, "run", "--worker", sshd.URL(w.user), "--identity", key.PrivateFile,
			"--known-hosts", sshd.KnownHosts, "--image", image, "--pull", "never", "--inline", "echo hi").Run()
	}
	sshHello := func() error {
		return exec.Command("ssh", w.sshArgs("docker", "run", "--rm", image, "sh", "-c", "'echo hi'")...).Run()
	}
	if err := cuttleHello(); err != nil { // warm: bundle upload
		return fmt.Errorf("cuttle warm-up: %w", err)
	}
	c, err := median(n, cuttleHello)
	if err != nil {
		return err
	}
	s, err := median(n, sshHello)
	if err != nil {
		return err
	}
	fmt.Printf("| hello step, bundle and image cached | %s | %s | %.2fx |\n", ms(c), ms(s), float64(c)/float64(s))
	return nil
}

func (w worker) sshArgs(remote ...string) []string {
	return append([]string{"-i", w.key.PrivateFile, "-o", "UserKnownHostsFile=" + w.sshd.KnownHosts,
		"-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
		"-p", strconv.Itoa(w.sshd.Port), w.user + "@" + w.sshd.Host}, remote...)
}

func median(n int, f func() error) (time.Duration, error) {
	var d []time.Duration
	for range n {
		start := time.Now()
		if err := f(); err != nil {
			return 0, err
		}
		d = append(d, time.Since(start))
	}
	slices.Sort(d)
	return d[len(d)/2], nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
