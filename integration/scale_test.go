//go:build integration

package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cuttle-sh/cuttle/internal/testenv"
)

// workersConfig writes a cuttle.yaml with n workers (servers of their own)
// in pool "many", each reached through jump when it is not "".
func workersConfig(t *testing.T, n int, jump string, moreWorkers, pools string) string {
	t.Helper()
	var servers []*testenv.SSHD
	for range n {
		servers = append(servers, newSSHD(t))
	}
	kh := joinKnownHosts(t, append(servers, env.sshd)...)
	var b strings.Builder
	b.WriteString("workers:\n")
	for i, s := range servers {
		fmt.Fprintf(&b, "  w%02d: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s, pool: many", i+1, s.Port, workerUser, env.key.PrivateFile, kh)
		if jump != "" {
			fmt.Fprintf(&b, ", jump: %s", jump)
		}
		b.WriteString("}\n")
	}
	b.WriteString(moreWorkers)
	b.WriteString("pools:\n" + pools)
	f := filepath.Join(t.TempDir(), "cuttle.yaml")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// TestTwentyWorkersBehindOneBastion: a step on twenty workers that are
// reached through one bastion crosses it on one SSH connection.
func TestTwentyWorkersBehindOneBastion(t *testing.T) {
	t.Parallel()
	bastion := newSSHD(t)
	// The bastion is a worker entry too, so jump: can name it.
	kh := joinKnownHosts(t, bastion)
	cfg := workersConfig(t, 20, "bastion", fmt.Sprintf("  bastion: {host: 127.0.0.1, port: %d, user: %s, identity_file: %s, known_hosts: %s}\n",
		bastion.Port, workerUser, env.key.PrivateFile, kh), "  many: {max_steps_per_worker: 20}\n")
	rb := filepath.Join(t.TempDir(), "rb.yaml")
	os.WriteFile(rb, []byte(fmt.Sprintf(`steps:
  - name: hello
    pool: many
    run_on: all
    container: {image: %s, pull: never}
    script: {inline: 'echo "hello from $(get_octopusvariable Octopus.Machine.Name)"'}
`, env.image)), 0o644)
	r := runCuttle(t, "runbook", "run", rb, "--config", cfg, "--max-parallel", "20")
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for i := 1; i <= 20; i++ {
		if w := fmt.Sprintf("w%02d", i); !strings.Contains(r.stdout, "hello from "+w) {
			t.Errorf("no output from %s", w)
		}
	}
	if len(r.report.Steps) != 20 {
		t.Errorf("report has %d steps, want 20", len(r.report.Steps))
	}
	if got := bastion.Accepted(); got != 1 {
		t.Errorf("the bastion took %d connections for 20 workers, want 1", got)
	}
}

// TestHundredStepsAcrossFiveWorkers: four controllers at once, each
// running five steps on each of five workers: 100 steps, no two sharing a
// work directory or container, every artifact holding its own step's
// content, nothing left behind.
func TestHundredStepsAcrossFiveWorkers(t *testing.T) {
	t.Parallel()
	cfg := workersConfig(t, 5, "", "", "  many: {max_steps_per_worker: 8}\n")
	var steps strings.Builder
	steps.WriteString("steps:\n")
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&steps, `  - name: s%d
    pool: many
    run_on: all
    container: {image: %s, pull: never}
    script: {inline: 'printf "%%s %%s %%s\n" "#{Controller}" s%d "$(get_octopusvariable Octopus.Machine.Name)" > out.txt; new_octopusartifact out.txt'}
`, i, env.image, i)
	}
	rb := filepath.Join(t.TempDir(), "rb.yaml")
	os.WriteFile(rb, []byte(steps.String()), 0o644)
	var wg sync.WaitGroup
	results := make([]result, 4)
	arts := make([]string, 4)
	for c := range 4 {
		arts[c] = t.TempDir()
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[c] = runCuttle(t, "runbook", "run", rb, "--config", cfg, "--artifacts", arts[c], "--var", fmt.Sprintf("Controller=c%d", c), "--max-parallel", "5")
		}()
	}
	wg.Wait()
	ids := map[string]bool{}
	for c, r := range results {
		if r.code != 0 {
			t.Fatalf("controller %d: exit %d\n%s\n%s", c, r.code, r.stdout, r.stderr)
		}
		if len(r.report.Steps) != 25 {
			t.Errorf("controller %d: %d steps in the report, want 25", c, len(r.report.Steps))
		}
		for _, s := range r.report.Steps {
			if ids[s.ID] {
				t.Errorf("step id %s used twice", s.ID)
			}
			ids[s.ID] = true
			assertStepGone(t, s)
		}
		for i := 1; i <= 5; i++ {
			for w := 1; w <= 5; w++ {
				worker := fmt.Sprintf("w%02d", w)
				b, err := os.ReadFile(filepath.Join(arts[c], fmt.Sprintf("s%d", i), worker, "out.txt"))
				if want := fmt.Sprintf("c%d s%d %s\n", c, i, worker); err != nil || string(b) != want {
					t.Errorf("artifact of controller %d, s%d on %s: %q (%v), want %q", c, i, worker, b, err, want)
				}
			}
		}
	}
	if len(ids) != 100 {
		t.Errorf("%d distinct step ids, want 100", len(ids))
	}
}
