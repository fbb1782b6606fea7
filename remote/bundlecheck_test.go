package remote

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/transport"
)

// installedBundle installs a bundle of files into a temporary bundles
// directory with installBundleScript, as an upload does; it returns the
// bundle's directory, its sums and the fingerprint the install printed.
func installedBundle(t testing.TB, files map[string][]byte) (dir, sums, fp string) {
	t.Helper()
	d := t.TempDir()
	t.Cleanup(func() { exec.Command("chmod", "-R", "u+w", d).Run() }) // bundles are read-only
	args := []string{"-c", installBundleScript, "sh", d, "dg", ""}
	var sb strings.Builder
	for _, name := range []string{"cuttle", "octopus.bash", "octopus.sh"} {
		up := filepath.Join(d, ".upload-"+name)
		if err := os.WriteFile(up, files[name], 0o755); err != nil {
			t.Fatal(err)
		}
		args = append(args, up, name)
		fmt.Fprintf(&sb, "%x  %s\n", sha256.Sum256(files[name]), name)
	}
	args[5] = sb.String()
	out, err := exec.Command("sh", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("install: %v: %s", err, out)
	}
	return filepath.Join(d, "dg"), sb.String(), parseKV(out)["bundle_fp"]
}

// bundleCheck runs bundle_check as the preflight does; path, when not
// empty, is the only PATH the shell has.
func bundleCheck(t testing.TB, dir, sums, known, path string) (state, fp string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", bundleCheckFunc+`bundle_check "$1" "$2" "$3"; echo "state=$bundle"`, "sh", dir, sums, known)
	if path != "" {
		cmd.Env = []string{"PATH=" + path}
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bundle_check: %v: %s", err, out)
	}
	kv := parseKV(out)
	return kv["state"], kv["bundle_fp"]
}

// pathWithout is a directory of symlinks to the commands the check may
// use, without sha256sum: a check that passes with it hashed nothing.
func pathWithout(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	for _, c := range []string{"stat"} {
		p, err := exec.LookPath(c)
		if err != nil {
			t.Skipf("no %s", c)
		}
		os.Symlink(p, filepath.Join(bin, c))
	}
	return bin
}

// TestBundleCheck: a cached bundle is used only while its files are the
// ones its sums list. A fingerprint the controller recorded proves that
// without hashing; any change to a file (in place, by replacing it, behind
// a symlink, with its time set back) makes the check hash, and a changed
// content is "tampered".
func TestBundleCheck(t *testing.T) {
	files := map[string][]byte{"cuttle": []byte("runner v1\n"), "octopus.bash": []byte("get_octopusvariable() { :; }\n"), "octopus.sh": []byte("# sh helpers\n")}
	dir, sums, fp := installedBundle(t, files)
	noSha := pathWithout(t)
	if fp == "" || strings.Count(fp, "|") != 3 {
		t.Fatalf("the install printed fingerprint %q, want one part per file", fp)
	}
	for _, m := range []struct {
		name string
		mode os.FileMode
	}{{"", 0o555}, {"cuttle", 0o555}, {"octopus.bash", 0o444}, {"octopus.sh", 0o444}} {
		if fi, err := os.Stat(filepath.Join(dir, m.name)); err != nil || fi.Mode().Perm() != m.mode {
			t.Errorf("bundle file %q: mode %v (%v), want %v", m.name, fi.Mode().Perm(), err, m.mode)
		}
	}
	if st, _ := bundleCheck(t, dir, sums, fp, noSha); st != "present" {
		t.Fatalf("known fingerprint, nothing changed: %s, want present without hashing", st)
	}
	st, got := bundleCheck(t, dir, sums, "", "")
	if st != "present" || got != fp {
		t.Fatalf("no fingerprint known: %s with %q, want present after a full hash, fingerprint %q", st, got, fp)
	}
	if st, _ := bundleCheck(t, dir, sums, "", noSha); st != "nosha" {
		t.Errorf("no fingerprint and no sha256sum: %s, want nosha", st)
	}
	if st, _ := bundleCheck(t, filepath.Join(filepath.Dir(dir), "other"), sums, fp, ""); st != "absent" {
		t.Errorf("no bundle: %s, want absent", st)
	}

	bash := filepath.Join(dir, "octopus.bash")
	os.Chmod(dir, 0o755)
	os.Chmod(bash, 0o644)
	tamper := func(t *testing.T, f func()) {
		t.Helper()
		f()
		if st, _ := bundleCheck(t, dir, sums, fp, ""); st != "tampered" {
			t.Errorf("tampered, known fingerprint: %s", st)
		}
		if st, _ := bundleCheck(t, dir, sums, "", ""); st != "tampered" {
			t.Errorf("tampered, no fingerprint: %s", st)
		}
		if err := os.WriteFile(bash, files["octopus.bash"], 0o644); err != nil {
			t.Fatal(err)
		}
		st, again := bundleCheck(t, dir, sums, fp, noSha)
		if st != "nosha" {
			t.Errorf("restored content, old fingerprint: %s, want a full hash (nosha without sha256sum)", st)
		}
		st, again = bundleCheck(t, dir, sums, fp, "")
		if st != "present" || again == "" || again == fp {
			t.Errorf("restored content: %s, fingerprint %q (was %q): want present and a new fingerprint", st, again, fp)
		}
		fp = again
	}
	t.Run("appended, mtime set back", func(t *testing.T) {
		tamper(t, func() {
			fi, _ := os.Stat(bash)
			f, _ := os.OpenFile(bash, os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("echo TAMPERED\n")
			f.Close()
			os.Chtimes(bash, fi.ModTime(), fi.ModTime())
		})
	})
	t.Run("same size", func(t *testing.T) {
		tamper(t, func() { os.WriteFile(bash, []byte(strings.ToUpper(string(files["octopus.bash"]))), 0o644) })
	})
	t.Run("same size, mtime set back", func(t *testing.T) {
		tamper(t, func() {
			fi, _ := os.Stat(bash)
			os.WriteFile(bash, []byte(strings.ToUpper(string(files["octopus.bash"]))), 0o644)
			os.Chtimes(bash, fi.ModTime(), fi.ModTime())
		})
	})
	t.Run("replaced by rename", func(t *testing.T) {
		tamper(t, func() {
			os.WriteFile(bash+".new", []byte("evil\n"), 0o644)
			os.Rename(bash+".new", bash)
		})
	})
	t.Run("symlink to a copy changed later", func(t *testing.T) {
		copyPath := filepath.Join(t.TempDir(), "copy")
		os.WriteFile(copyPath, files["octopus.bash"], 0o644)
		os.Remove(bash)
		os.Symlink(copyPath, bash)
		st, linked := bundleCheck(t, dir, sums, fp, "")
		if st != "present" || linked == fp {
			t.Fatalf("a symlink to the same content: %s (fingerprint changed: %v)", st, linked != fp)
		}
		os.WriteFile(copyPath, []byte("evil\n"), 0o644)
		if st, _ := bundleCheck(t, dir, sums, linked, ""); st != "tampered" {
			t.Errorf("the symlink's target changed: %s, want tampered", st)
		}
		os.Remove(bash)
		os.WriteFile(bash, files["octopus.bash"], 0o644)
		_, fp = bundleCheck(t, dir, sums, "", "")
	})
	t.Run("runner changed", func(t *testing.T) {
		runner := filepath.Join(dir, "cuttle")
		os.Chmod(runner, 0o755)
		os.WriteFile(runner, []byte("runner v2\n"), 0o755)
		if st, _ := bundleCheck(t, dir, sums, fp, ""); st != "tampered" {
			t.Errorf("runner changed: %s", st)
		}
	})

	// The replacement removes the tampered copy, and leaves a good one.
	out, err := exec.Command("sh", "-c", replaceBundleScript, "sh", dir, sums).CombinedOutput()
	if err != nil {
		t.Fatalf("replace: %v: %s", err, out)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("the tampered bundle is still there")
	}
	if es, _ := os.ReadDir(filepath.Dir(dir)); len(es) != 0 {
		t.Errorf("the replacement left %v", es)
	}
	good, gsums, _ := installedBundle(t, files)
	if out, err := exec.Command("sh", "-c", replaceBundleScript, "sh", good, gsums).CombinedOutput(); err != nil {
		t.Fatalf("replace: %v: %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(good, ".complete")); err != nil {
		t.Errorf("a good bundle was removed by the replacement: %v", err)
	}
}

// BenchmarkBundleCheck measures what checking a cached bundle adds to a
// step's preflight, with a runner as large as cuttle's (19 MB): by the
// recorded fingerprint (every step after the first of a controller), by
// a full hash (the first), against a shell that checks nothing and one
// that runs one more command (/bin/true), the peers. Run: go test -run
// '^$' -bench BundleCheck -benchtime 40x ./remote
func BenchmarkBundleCheck(b *testing.B) {
	runner := make([]byte, 19<<20)
	for i := range runner {
		runner[i] = byte(i * 7)
	}
	dir, sums, fp := installedBundle(b, map[string][]byte{"cuttle": runner, "octopus.bash": []byte("x"), "octopus.sh": []byte("y")})
	// CPU time (the shell's and the commands it ran) says more than wall
	// time on a machine shared with other work.
	run := func(b *testing.B, script, known string) {
		var cpu time.Duration
		for b.Loop() {
			cmd := exec.Command("/bin/sh", "-c", bundleCheckFunc+script, "sh", dir, sums, known)
			out, err := cmd.CombinedOutput()
			if err != nil || (known != "none" && !strings.Contains(string(out), "state=present")) {
				b.Fatalf("%v: %s", err, out)
			}
			cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
	b.Run("none", func(b *testing.B) { run(b, `echo state=present`, "none") })
	// The least any check made of commands can cost: one more exec.
	b.Run("one-exec", func(b *testing.B) { run(b, `x=$(/bin/true); echo state=present`, "none") })
	b.Run("fingerprint", func(b *testing.B) { run(b, `bundle_check "$1" "$2" "$3"; echo "state=$bundle"`, fp) })
	b.Run("full-hash", func(b *testing.B) { run(b, `bundle_check "$1" "$2" "$3"; echo "state=$bundle"`, "") })
}

// localShell runs commands on this machine, as the worker would.
type localShell struct{ *countingShell }

func (localShell) Run(ctx context.Context, c *transport.Cmd) error {
	cmd := exec.CommandContext(ctx, c.Args[0], c.Args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = c.Stdin, c.Stdout, c.Stderr
	return cmd.Run()
}

// TestAttachChecksTheBundle: attach runs nothing of a step's bundle that
// was changed since the step started; another cuttle's bundle, whose
// files this one does not know, is not judged.
func TestAttachChecksTheBundle(t *testing.T) {
	files := map[string][]byte{"cuttle": []byte("runner\n"), "octopus.bash": []byte("b\n"), "octopus.sh": []byte("s\n")}
	dir, sums, _ := installedBundle(t, files)
	b := bundle.Bundle{Digest: filepath.Base(dir), Sums: sums}
	if err := checkAttachBundle(t.Context(), localShell{&countingShell{}}, b, dir); err != nil {
		t.Fatalf("an untouched bundle: %v", err)
	}
	os.Chmod(filepath.Join(dir, "cuttle"), 0o755)
	os.WriteFile(filepath.Join(dir, "cuttle"), []byte("evil\n"), 0o755)
	err := checkAttachBundle(t.Context(), localShell{&countingShell{}}, b, dir)
	if err == nil || !strings.Contains(err.Error(), "does not match its digest") || !strings.Contains(err.Error(), dir) {
		t.Errorf("a changed bundle: %v", err)
	}
	if err := checkAttachBundle(t.Context(), localShell{&countingShell{}}, bundle.Bundle{Digest: "other", Sums: sums}, dir); err != nil {
		t.Errorf("another cuttle's bundle was judged: %v", err)
	}
}

// TestPreflightBundleAndModes runs the preflight through sh with a docker
// shim: ~/.cuttle and its directories are made private again when opened
// up, and left alone (no chmod run) when they are private; a bundle the
// controller knows is present at the cost of its fingerprint, and a
// changed one is reported tampered.
func TestPreflightBundleAndModes(t *testing.T) {
	home := t.TempDir()
	bundles := filepath.Join(home, ".cuttle", "bundles")
	os.MkdirAll(bundles, 0o755)
	files := map[string][]byte{"cuttle": []byte("runner\n"), "octopus.bash": []byte("b\n"), "octopus.sh": []byte("s\n")}
	dir, sums, _ := installedBundle(t, files)
	digest := "d1"
	if err := os.Rename(dir, filepath.Join(bundles, digest)); err != nil {
		t.Fatal(err)
	}
	shims, log := t.TempDir(), filepath.Join(t.TempDir(), "calls")
	realChmod, _ := exec.LookPath("chmod")
	os.WriteFile(filepath.Join(shims, "docker"), []byte("#!/bin/sh\n[ \"$1\" = version ] && { echo '28.2.2 28.2.2'; exit 0; }\nexit 1\n"), 0o755)
	os.WriteFile(filepath.Join(shims, "chmod"), []byte("#!/bin/sh\necho \"chmod $*\" >> \"$CALLS\"\nexec "+realChmod+" \"$@\"\n"), 0o755)
	preflight := func(known string) map[string]string {
		t.Helper()
		os.Remove(log)
		cmd := exec.Command("sh", preflightArgs("20261201000000-1-00", 1, bundleRef{Digest: digest, Sums: sums, Known: known}, "", "", nil)[1:]...)
		cmd.Env = append(os.Environ(), "HOME="+home, "PATH="+shims+":"+os.Getenv("PATH"), "CALLS="+log)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("preflight: %v\n%s", err, out)
		}
		return parseKV(out)
	}
	chmods := func() string {
		b, _ := os.ReadFile(log)
		return string(b)
	}
	private := func() {
		t.Helper()
		for _, d := range []string{"", "work", "bundles", "runs", "cfg"} {
			if fi, err := os.Stat(filepath.Join(home, ".cuttle", d)); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("~/.cuttle/%s: mode %v (%v), want 0700", d, fi.Mode().Perm(), err)
			}
		}
	}

	kv := preflight("")
	private()
	fp := kv["bundle_fp"]
	if kv["bundle"] != "present" || fp == "" {
		t.Fatalf("first preflight: bundle %q, fingerprint %q", kv["bundle"], fp)
	}
	kv = preflight(fp)
	if kv["bundle"] != "present" || kv["bundle_fp"] != "" {
		t.Errorf("known fingerprint: bundle %q, fingerprint printed %q (a full hash ran)", kv["bundle"], kv["bundle_fp"])
	}
	// The check reads the mode argument: a temporary directory's name may
	// itself contain "700".
	if strings.Contains("\n"+chmods(), "\nchmod 700 ") {
		t.Errorf("private directories were chmodded again: %s", chmods())
	}
	os.Chmod(filepath.Join(home, ".cuttle", "runs"), 0o755)
	preflight(fp)
	private()

	runner := filepath.Join(bundles, digest, "cuttle")
	os.Chmod(runner, 0o755)
	os.WriteFile(runner, []byte("evil\n"), 0o755)
	if kv := preflight(fp); kv["bundle"] != "tampered" {
		t.Errorf("changed runner: bundle %q, want tampered", kv["bundle"])
	}
}
