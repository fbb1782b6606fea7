package remote

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// pkgWorker plays a worker for a step's image and packages: it keeps
// each command as a short name (the step-runner subcommand with its
// --cache-only and --share, "pull", "inspect FORMAT"), in the order they
// started, and runs the test's hooks for them.
type pkgWorker struct {
	countingShell
	mu    sync.Mutex
	calls []string
	// The hooks; a nil one answers as a worker with an empty cache would
	// not: get says hit, the others succeed silently.
	onPull, onPut func(ctx context.Context) error
	onGet         func(ctx context.Context, stdout io.Writer) error
	// placed is package-place's answer; inspect is docker image inspect's.
	placed, inspect string
}

func (w *pkgWorker) Run(ctx context.Context, c *transport.Cmd) error {
	name := callName(c.Args)
	w.mu.Lock()
	w.calls = append(w.calls, name)
	w.mu.Unlock()
	sub, _, _ := strings.Cut(name, " ")
	switch {
	case sub == "pull" && w.onPull != nil:
		return w.onPull(ctx)
	case sub == "package-get" && w.onGet != nil:
		return w.onGet(ctx, c.Stdout)
	case sub == "package-get":
		io.WriteString(c.Stdout, wire.PackageHit+"\n")
	case sub == "package-put":
		io.Copy(io.Discard, c.Stdin)
		if w.onPut != nil {
			return w.onPut(ctx)
		}
	case sub == "package-place":
		io.WriteString(c.Stdout, w.placed)
	case sub == "inspect":
		io.WriteString(c.Stdout, w.inspect)
	}
	return nil
}

func callName(args []string) string {
	if i := slices.Index(args, "step-runner"); i >= 0 && i+1 < len(args) {
		name := args[i+1]
		for _, f := range []string{"--cache-only", "--share"} {
			if slices.Contains(args, f) {
				name += " " + f
			}
		}
		return name
	}
	if slices.Contains(args, "pull") {
		return "pull"
	}
	if len(args) > 4 && args[1] == "image" && args[2] == "inspect" {
		return "inspect " + args[4]
	}
	return strings.Join(args, " ")
}

func (w *pkgWorker) called() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.calls)
}

// pkgStep is a step with one package, a file on the controller, whose
// image policy is pull.
func pkgStep(t *testing.T, pull PullPolicy, opts ...string) (Step, Facts) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "Acme.Web.1.0.0.tar.gz")
	data := []byte("not really a tar.gz: the fake worker does not open it")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	p := Package{Name: "Web", ID: "Acme.Web", Version: "1.0.0", FileName: "Acme.Web.1.0.0.tar.gz", Path: file,
		SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data)), Extract: true}
	return Step{Image: "r.example/app:1", Pull: pull, Packages: []Package{p}, ContainerOptions: opts},
		Facts{Home: "/h", Ticket: "T", Arch: "x86_64"}
}

// guard turns a hang into a failure: the tests order events by channels,
// and a step that does things one after the other waits here for an
// event that never comes. It times nothing that passes.
func guard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func acquireWith(ctx context.Context, sh Shell, st *Step, facts Facts, res *Result) error {
	j := packageJob{sh: sh, facts: facts, runner: "/b/cuttle"}
	return acquireDuringImage(ctx, j, st, res, func(ctx context.Context) (string, bool, error) {
		return ensureImage(ctx, sh, st, facts, io.Discard)
	})
}

// TestPackagesAcquiredWhileImagePulls: the package's lookup waits for the
// pull to have started, and the pull for the package's upload to have
// ended: only a step that does both at once gets through. The
// acquisition only fills the cache; the pull's own inspect reads the
// image's USER (no docker call of its own), and one package-place call
// places the package for that non-root user.
func TestPackagesAcquiredWhileImagePulls(t *testing.T) {
	ctx := guard(t)
	pulling, uploaded := make(chan struct{}), make(chan struct{})
	w := &pkgWorker{inspect: "linux/amd64 app\n"}
	w.onGet = func(ctx context.Context, stdout io.Writer) error {
		select {
		case <-pulling:
		case <-ctx.Done():
			return errors.New("package-get: the pull did not start while the package was looked up")
		}
		io.WriteString(stdout, wire.PackageMiss+"\n")
		return nil
	}
	w.onPut = func(context.Context) error { close(uploaded); return nil }
	w.onPull = func(ctx context.Context) error {
		close(pulling)
		select {
		case <-uploaded:
			return nil
		case <-ctx.Done():
			return errors.New("docker pull: the package was not uploaded while the image was pulled")
		}
	}
	st, facts := pkgStep(t, PullAlways)
	var res Result
	if err := acquireWith(ctx, w, &st, facts, &res); err != nil {
		t.Fatalf("%v: the package was not acquired while the image was pulled", err)
	}
	calls := w.called()
	if len(calls) < 2 {
		t.Fatalf("calls %q", calls)
	}
	slices.Sort(calls[:2]) // the pull and the lookup start in either order
	want := []string{"package-get --cache-only", "pull", "package-put --cache-only", "inspect {{.Os}}/{{.Architecture}} " + userFormat, "package-place --share"}
	if diff := cmp.Diff(want, calls); diff != "" {
		t.Errorf("calls (-want +got)\n%s", diff)
	}
	if r := res.Packages; len(r) != 1 || r[0].BytesSent != st.Packages[0].Size || r[0].Cached {
		t.Errorf("result %+v, want the whole file sent", r)
	}
}

// TestPackagesPlacedInTheirAcquisition: when whom for is known before the
// image is ready (the image was on the worker: the preflight read its
// USER; or --user), a cached package costs one call, which places it, and
// nothing else asks docker for the user.
func TestPackagesPlacedInTheirAcquisition(t *testing.T) {
	tests := []struct {
		name      string
		imageUser string
		opts      []string
		want      []string
	}{
		{"root image", "", nil, []string{"package-get"}},
		{"non-root image", "app:app", nil, []string{"package-get --share"}},
		{"uid 0", "0", nil, []string{"package-get"}},
		{"--user root over a non-root image", "app", []string{"--user", "root"}, []string{"package-get"}},
		{"--user over a root image", "", []string{"-u", "1000"}, []string{"package-get --share"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, facts := pkgStep(t, PullMissing, tc.opts...)
			facts.ImageID, facts.ImageUser, facts.ImageUserKnown = "sha256:1", tc.imageUser, true
			w := &pkgWorker{}
			var res Result
			if err := acquireWith(guard(t), w, &st, facts, &res); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, w.called()); diff != "" {
				t.Errorf("calls (-want +got)\n%s", diff)
			}
			if r := res.Packages; len(r) != 1 || !r[0].Cached || r[0].BytesSent != 0 {
				t.Errorf("result %+v, want a cache hit", r)
			}
		})
	}
	// An image found by a preflight that did not read its USER (the fast
	// path's runner does not): asked once, after, and placed in one call.
	st, facts := pkgStep(t, PullMissing)
	facts.ImageID = "sha256:1"
	w := &pkgWorker{inspect: "app\n"}
	if err := acquireWith(guard(t), w, &st, facts, &Result{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"package-get --cache-only", "inspect " + userFormat, "package-place --share"}, w.called()); diff != "" {
		t.Errorf("user not read by the preflight: calls (-want +got)\n%s", diff)
	}
	// A --user option decides before the image is pulled, too.
	st, facts = pkgStep(t, PullAlways, "--user=app")
	w = &pkgWorker{inspect: "linux/amd64 \n"}
	if err := acquireWith(guard(t), w, &st, facts, &Result{}); err != nil {
		t.Fatal(err)
	}
	if calls := w.called(); !slices.Contains(calls, "package-get --share") || slices.Contains(calls, "package-place") {
		t.Errorf("calls %q: want the package placed for --user in its acquisition", calls)
	}
}

// TestPackageOrImageFailureCancelsTheOther: whichever side fails first,
// the other is cancelled (it sees its context end, not the guard's
// deadline), its error is the one returned, and nothing is placed.
func TestPackageOrImageFailureCancelsTheOther(t *testing.T) {
	waitCancel := func(ctx context.Context, cancelled chan<- bool) error {
		<-ctx.Done()
		cancelled <- errors.Is(ctx.Err(), context.Canceled)
		return ctx.Err()
	}
	t.Run("the pull fails during the upload", func(t *testing.T) {
		uploading, cancelled := make(chan struct{}), make(chan bool, 1)
		w := &pkgWorker{}
		w.onGet = func(_ context.Context, stdout io.Writer) error {
			io.WriteString(stdout, wire.PackageMiss+"\n")
			return nil
		}
		w.onPut = func(ctx context.Context) error { close(uploading); return waitCancel(ctx, cancelled) }
		w.onPull = func(ctx context.Context) error {
			select {
			case <-uploading:
			case <-ctx.Done():
			}
			return &transport.ExitError{Code: 1}
		}
		st, facts := pkgStep(t, PullAlways)
		err := acquireWith(guard(t), w, &st, facts, &Result{})
		var se *StepError
		if !errors.As(err, &se) || se.Reason != ReasonImage || !strings.Contains(err.Error(), "docker pull") {
			t.Errorf("err %v, want the pull's", err)
		}
		if !<-cancelled {
			t.Error("the upload was not cancelled")
		}
		if calls := w.called(); slices.ContainsFunc(calls, func(c string) bool { return strings.HasPrefix(c, "package-place") }) {
			t.Errorf("calls %q: something was placed", calls)
		}
	})
	t.Run("the package is refused during the pull", func(t *testing.T) {
		pulling, cancelled := make(chan struct{}), make(chan bool, 1)
		w := &pkgWorker{}
		w.onPull = func(ctx context.Context) error { close(pulling); return waitCancel(ctx, cancelled) }
		w.onGet = func(ctx context.Context, _ io.Writer) error {
			select {
			case <-pulling:
			case <-ctx.Done():
			}
			return &transport.ExitError{Code: 125}
		}
		st, facts := pkgStep(t, PullAlways)
		err := acquireWith(guard(t), w, &st, facts, &Result{})
		var se *StepError
		if !errors.As(err, &se) || se.Reason != ReasonWorkspace || !strings.Contains(err.Error(), "package Web") {
			t.Errorf("err %v, want the package's", err)
		}
		if !<-cancelled {
			t.Error("the pull was not cancelled")
		}
	})
}

// TestPackageGoneBeforePlacement: a package the cache lost between its
// acquisition and package-place (a gc during a long pull) is acquired
// again, and placed in that call.
func TestPackageGoneBeforePlacement(t *testing.T) {
	w := &pkgWorker{inspect: "linux/amd64 app\n", placed: wire.PackageGone + "Web\n"}
	st, facts := pkgStep(t, PullAlways)
	var res Result
	if err := acquireWith(guard(t), w, &st, facts, &res); err != nil {
		t.Fatal(err)
	}
	calls := w.called()
	want := []string{"package-place --share", "package-get --share"}
	if len(calls) < 2 || !cmp.Equal(want, calls[len(calls)-2:]) {
		t.Errorf("calls %q, want them to end with %q", calls, want)
	}
	if len(res.Packages) != 1 {
		t.Errorf("results %+v, want one", res.Packages)
	}
}
