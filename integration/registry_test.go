//go:build integration

package integration

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func uniq(t *testing.T) string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// pushed pushes the base image to the test registry as repo:1, removes it
// from the engine, and returns its reference.
func pushed(t *testing.T, repo string) string {
	t.Helper()
	ref, err := env.registry.Push(env.image, repo+":1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", ref).Run() })
	return ref
}

// registryArgs give the test registry's user; the password comes from
// CUTTLE_IT_REGISTRY_PW (see runWithPassword).
func registryArgs() []string {
	return []string{"--registry-username", "ci", "--registry-password-env", "CUTTLE_IT_REGISTRY_PW"}
}

func runWithPassword(t *testing.T, password string, args ...string) result {
	t.Helper()
	return runCuttleEnv(t, []string{"CUTTLE_IT_REGISTRY_PW=" + password}, args...)
}

func TestPrivateRegistry(t *testing.T) {
	t.Parallel()
	ref := pushed(t, "team/tool-"+uniq(t))
	dockerCfg := filepath.Join(env.user.Home, ".docker", "config.json")
	before, beforeErr := os.ReadFile(dockerCfg)

	r := runWithPassword(t, env.registry.Password, append(append(workerArgs(), registryArgs()...), "--image", ref, "--inline", "echo pulled-and-ran")...)
	if r.code != 0 || !strings.Contains(r.stdout, "pulled-and-ran") {
		t.Fatalf("right password: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	if r.report.Raw == "" || strings.Contains(r.report.Raw, env.registry.Password) {
		t.Errorf("no report, or the password is in it: %q", r.report.Raw)
	}
	for _, s := range []string{r.stdout, r.stderr} {
		if strings.Contains(s, env.registry.Password) {
			t.Errorf("password in output: %s", s)
		}
	}
	assertNothingLeft(t, r)

	r = runWithPassword(t, "wrong-password", append(append(workerArgs(), registryArgs()...), "--image", ref, "--inline", "echo SHOULD-NOT-RUN")...)
	want := "registry login failed for " + env.registry.Addr + " as ci"
	if r.code != 125 || !strings.Contains(r.stderr, want) || strings.Contains(r.stdout, "SHOULD-NOT-RUN") {
		t.Fatalf("wrong password: exit %d, want 125 and %q\nstderr %s", r.code, want, r.stderr)
	}
	assertNothingLeft(t, r)

	exec.Command("docker", "rmi", ref).Run()
	r = runCuttle(t, append(workerArgs(), "--image", ref, "--inline", "echo SHOULD-NOT-RUN")...)
	if r.code != 125 || !strings.Contains(r.stderr, "docker pull "+ref+" failed") {
		t.Fatalf("no credentials: exit %d\nstderr %s", r.code, r.stderr)
	}
	assertNothingLeft(t, r)

	after, afterErr := os.ReadFile(dockerCfg)
	if string(before) != string(after) || (beforeErr == nil) != (afterErr == nil) {
		t.Errorf("the worker user's %s changed: before %q (%v), after %q (%v)", dockerCfg, before, beforeErr, after, afterErr)
	}
	if hits := grepTree(t, env.registry.Password, env.user.Home); len(hits) > 0 {
		t.Errorf("registry password left on the worker: %v", hits)
	}
}

// TestPullPolicies observes pulls in the registry's access log.
func TestPullPolicies(t *testing.T) {
	t.Parallel()
	repo := "policy/p-" + uniq(t)
	ref := pushed(t, repo)
	step := func(policy string) result {
		t.Helper()
		return runWithPassword(t, env.registry.Password, append(append(workerArgs(), registryArgs()...),
			"--image", ref, "--pull", policy, "--inline", "echo ran")...)
	}
	if r := step("never"); r.code != 125 || !strings.Contains(r.stderr, "--pull never") {
		t.Fatalf("never, absent: exit %d stderr %s", r.code, r.stderr)
	}
	for _, c := range []struct {
		policy string
		pulls  bool
	}{{"missing", true}, {"missing", false}, {"always", true}, {"never", false}, {"always", true}} {
		before := env.registry.ManifestGets(repo)
		r := step(c.policy)
		if r.code != 0 {
			t.Fatalf("%s: exit %d stderr %s", c.policy, r.code, r.stderr)
		}
		if pulled := env.registry.ManifestGets(repo) > before; pulled != c.pulls {
			t.Errorf("--pull %s: pulled = %v, want %v", c.policy, pulled, c.pulls)
		}
	}
}

// assertBuilt checks from a run's output whether docker build ran in it
// (the builder prints its steps) or the image was reused.
func assertBuilt(t *testing.T, r result, want bool) {
	t.Helper()
	out := r.stdout + r.stderr
	built := strings.Contains(out, "Step 1/")
	if built != want || want == strings.Contains(out, "reusing") {
		t.Errorf("docker build ran: %v, want %v (reused: %v)\nstderr %s", built, want, strings.Contains(out, "reusing"), r.stderr)
	}
}

func builtAt(t *testing.T, r result) string {
	t.Helper()
	for _, l := range strings.Split(r.stdout, "\n") {
		if v, ok := strings.CutPrefix(l, "built-at "); ok {
			return v
		}
	}
	t.Fatalf("no built-at line: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	return ""
}

// TestInlineDockerfileBuiltOnce: two concurrent steps need the same new
// build; it is built once, then reused.
func TestInlineDockerfileBuiltOnce(t *testing.T) {
	t.Parallel()
	df := filepath.Join(t.TempDir(), "Dockerfile")
	os.WriteFile(df, []byte("FROM "+env.image+"\nLABEL test="+uniq(t)+"\nRUN date +%s%N > /built-at\n"), 0o644)
	args := append(workerArgs(), "--dockerfile", df, "--inline", `echo "built-at $(cat /built-at)"`)
	var wg sync.WaitGroup
	var first [2]result
	for i := range first {
		wg.Add(1)
		go func() { defer wg.Done(); first[i] = runCuttle(t, args...) }()
	}
	wg.Wait()
	a, b := builtAt(t, first[0]), builtAt(t, first[1])
	if a != b {
		t.Errorf("two concurrent steps built twice: %s and %s", a, b)
	}
	again := runCuttle(t, args...)
	if builtAt(t, again) != a || !strings.Contains(again.stderr, "reusing") {
		t.Errorf("third run rebuilt or did not say it reused: %s\n%s", builtAt(t, again), again.stderr)
	}
	// Of the two concurrent steps one built and the other waited for it.
	if strings.Contains(first[0].stdout+first[0].stderr, "Step 1/") {
		assertBuilt(t, first[0], true)
		assertBuilt(t, first[1], false)
	} else {
		assertBuilt(t, first[1], true)
		assertBuilt(t, first[0], false)
	}
	assertBuilt(t, again, false)
	if img := step(t, again).Image; !strings.HasPrefix(img, "cuttle-build/") {
		t.Errorf("report image = %q", img)
	}
	for _, r := range append(first[:], again) {
		assertNothingLeft(t, r)
	}
	t.Cleanup(func() { exec.Command("docker", "rmi", step(t, again).Image).Run() })
}

func TestGitURLBuild(t *testing.T) {
	t.Parallel()
	name := "app-" + uniq(t) + ".git"
	files := map[string]string{"docker/Dockerfile": "FROM " + env.image + "\nRUN date +%s%N > /built-at\n", "README": "x"}
	if _, err := env.git.CommitFiles(name, "main", files); err != nil {
		t.Fatal(err)
	}
	args := append(workerArgs(), "--dockerfile-url", env.git.URL(name)+"#main:docker", "--inline", `echo "built-at $(cat /built-at)"`)
	r1 := runCuttle(t, args...)
	r2 := runCuttle(t, args...)
	// A rebuild of the same commit would hit Docker's layer cache and keep
	// /built-at, so what tells a rebuild apart is whether docker build ran.
	assertBuilt(t, r1, true)
	assertBuilt(t, r2, false)
	if builtAt(t, r1) != builtAt(t, r2) {
		t.Errorf("unchanged ref rebuilt")
	}
	if step(t, r1).Image != step(t, r2).Image {
		t.Errorf("unchanged ref gave two tags")
	}
	files["docker/Dockerfile"] = "FROM " + env.image + "\nLABEL v=2\nRUN date +%s%N > /built-at\n"
	if _, err := env.git.CommitFiles(name, "main", files); err != nil {
		t.Fatal(err)
	}
	r3 := runCuttle(t, args...)
	if builtAt(t, r3) == builtAt(t, r1) || step(t, r3).Image == step(t, r1).Image {
		t.Errorf("a new commit did not rebuild")
	}
	for _, r := range []result{r1, r2, r3} {
		assertNothingLeft(t, r)
		t.Cleanup(func() { exec.Command("docker", "rmi", step(t, r).Image).Run() })
	}
}

// TestCachedPrivateImageNeedsAccess: an image pulled with good credentials
// stays cached on the worker; a step with pull policy missing and
// credentials that cannot read it must not run on the cached copy.
func TestCachedPrivateImageNeedsAccess(t *testing.T) {
	t.Parallel()
	ref := pushed(t, "private/p-"+uniq(t))
	args := append(append(workerArgs(), registryArgs()...), "--image", ref, "--pull", "missing", "--inline", "echo ran-on-cached")
	r := runWithPassword(t, env.registry.Password, args...)
	if r.code != 0 || !strings.Contains(r.stdout, "ran-on-cached") {
		t.Fatalf("first pull: exit %d\n%s", r.code, r.stderr)
	}
	repo := strings.SplitN(strings.TrimPrefix(ref, env.registry.Addr+"/"), ":", 2)[0]
	pulls, checks := env.registry.ManifestGets(repo), env.registry.ManifestChecks(repo)
	r = runWithPassword(t, env.registry.Password, args...)
	if r.code != 0 {
		t.Fatalf("cached, right credentials: exit %d\n%s", r.code, r.stderr)
	}
	if env.registry.ManifestGets(repo) != pulls || env.registry.ManifestChecks(repo) != checks+1 {
		t.Errorf("reusing the cached image should check access once and pull nothing: pulls %d->%d, checks %d->%d",
			pulls, env.registry.ManifestGets(repo), checks, env.registry.ManifestChecks(repo))
	}
	r = runWithPassword(t, "someone-elses-password", args...)
	if r.code != 125 || strings.Contains(r.stdout, "ran-on-cached") || !strings.Contains(r.stderr, "registry login failed") {
		t.Fatalf("cached image with credentials that cannot read it: exit %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}
	assertNothingLeft(t, r)
}

// TestRecordListsBuild: while a step built from a Dockerfile runs, its
// per-run record lists the work directory, the container, the Docker
// config, and the built image tag and its lock (shared caches, kept by
// cleanup); afterwards the record is gone with the rest.
func TestRecordListsBuild(t *testing.T) {
	t.Parallel()
	df := filepath.Join(t.TempDir(), "Dockerfile")
	os.WriteFile(df, []byte("FROM "+env.image+"\nLABEL test="+uniq(t)+"\n"), 0o644)
	_, rep, wd, _, stderr, done := startStep(t, append(workerArgs(), "--dockerfile", df,
		"--inline", `echo "ready $PWD"; while [ ! -e go ]; do sleep 0.05; done`))
	rec, err := os.ReadFile(recordOf(wd))
	goAhead(t, wd)
	if err := waitDone(t, done, time.Minute); err != nil {
		t.Fatalf("step: %v\n%s", err, stderr)
	}
	id := filepath.Base(wd)
	for _, want := range []string{`"workdir":"` + wd + `"`, `"container":"cuttle-` + id + `"`, `"docker_config":"` + env.user.Home + `/.cuttle/cfg/` + id + `"`,
		`"built_image":"cuttle-build/`, `"lock":"` + env.user.Home + `/.cuttle/locks/build-`, `"shared":true`} {
		if err != nil || !strings.Contains(string(rec), want) {
			t.Errorf("record lacks %s:\n%s (%v)", want, rec, err)
		}
	}
	r := result{report: readReport(t, rep)}
	assertNothingLeft(t, r)
	t.Cleanup(func() { exec.Command("docker", "rmi", step(t, r).Image).Run() })
}
