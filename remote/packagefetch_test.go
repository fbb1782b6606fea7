package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/internal/progress"
	"github.com/cuttle-sh/cuttle/internal/secret"
	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// fetchShell plays the worker's package-fetch: it keeps the command and
// its stdin, and answers as told.
type fetchShell struct {
	countingShell
	args   []string
	stdin  []byte
	answer string
	stderr string
}

func (f *fetchShell) Run(_ context.Context, c *transport.Cmd) error {
	f.args = c.Args
	f.stdin, _ = io.ReadAll(c.Stdin)
	io.WriteString(c.Stdout, f.answer)
	if f.stderr != "" {
		io.WriteString(c.Stderr, f.stderr)
		return &transport.ExitError{Code: 125}
	}
	return nil
}

// TestFetchPackage: the source and the feed's credentials go to the
// worker on stdin, never in argv; the worker's answer fills the result,
// with nothing sent.
func TestFetchPackage(t *testing.T) {
	p := Package{Name: "Chart", ID: "web", Version: "1.4.0", FileName: "web", Extract: true,
		Feed:  &Feed{Registry: "r.example", Username: "ci", Password: secret.New("hunter2")},
		Fetch: &wire.PackageSource{Registry: "r.example", Repository: "charts/web", Reference: "1.4.0", CAPEM: "-----BEGIN CERTIFICATE-----"}}
	sum := strings.Repeat("ab", 32)
	sh := &fetchShell{answer: fmt.Sprintf(`{"sha256":%q,"file_name":"web.1.4.0.tgz","size":10,"cached":false}`+"\n", sum)}
	r, name, err := fetchPackage(t.Context(), sh, p, Facts{Home: "/h", Ticket: "T"}, "/b/cuttle", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	want := PackageResult{Name: "Chart", ID: "web", Version: "1.4.0", SHA256: sum, Acquired: AcquiredWorker}
	if diff := cmp.Diff(want, r); diff != "" || name != "web.1.4.0.tgz" {
		t.Errorf("result (-want +got)\n%s\nfile name %q", diff, name)
	}
	argv := strings.Join(sh.args, " ")
	for _, secretish := range []string{"hunter2", "r.example", "charts/web", "CERTIFICATE"} {
		if strings.Contains(argv, secretish) {
			t.Errorf("argv holds %q: %s", secretish, argv)
		}
	}
	if !strings.Contains(argv, "package-fetch") || !strings.Contains(argv, "--cache-max-bytes 1048576") {
		t.Errorf("argv %s: want package-fetch with the cache's cap", argv)
	}
	var req wire.PackageFetch
	if err := json.Unmarshal(sh.stdin, &req); err != nil {
		t.Fatalf("stdin %q: %v", sh.stdin, err)
	}
	wantReq := wire.PackageFetch{Source: *p.Fetch, Username: "ci", Password: "hunter2"}
	if diff := cmp.Diff(wantReq, req); diff != "" {
		t.Errorf("request on stdin (-want +got)\n%s", diff)
	}
	if s := fmt.Sprintf("%v %+v %#v", req, req, req); strings.Contains(s, "hunter2") {
		t.Errorf("a printed request shows the password: %s", s)
	}
}

// TestFetchPackageFails: the worker's refusal of the download (its
// digest) is the step's input; other failures name the package, and an
// answer that is not one is the runner's fault.
func TestFetchPackageFails(t *testing.T) {
	p := Package{Name: "Web", FileName: "Acme.Web.1.0.0.zip", Fetch: &wire.PackageSource{URL: "https://h/Acme.Web.1.0.0.zip"}}
	tests := []struct {
		name   string
		sh     *fetchShell
		reason FailureReason
		want   string
	}{
		{"digest refused", &fetchShell{stderr: "cuttle: " + wire.PackageRefused + ": package Web: what arrived (3 bytes) has sha256 x, not y\n"},
			ReasonInput, "package refused: package Web"},
		{"download failed", &fetchShell{stderr: "cuttle: package Web: GET https://h/Acme.Web.1.0.0.zip: 404 Not Found: check the URL\n"},
			ReasonWorkspace, "acquiring it on the worker"},
		{"no answer", &fetchShell{answer: "what\n"}, ReasonRunner, "answered \"what\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := fetchPackage(t.Context(), tc.sh, p, Facts{Home: "/h", Ticket: "T"}, "/b/cuttle", 0)
			var se *StepError
			if !errors.As(err, &se) || se.Reason != tc.reason || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want a %s error with %q", err, tc.reason, tc.want)
			}
		})
	}
}

// barRecorder records the bars a Reporter was asked for, and where each
// ended.
type barRecorder struct {
	what    []string
	sizes   []int64
	current int64
	done    bool
}

func (b *barRecorder) Transfer(_, what string, size int64) progress.Tracker {
	b.what, b.sizes = append(b.what, what), append(b.sizes, size)
	return b
}
func (b *barRecorder) Count(_, what string) progress.Tracker { return b.Transfer("", what, -1) }
func (b *barRecorder) Wait(_, why string) progress.Tracker   { return b.Transfer("", why, -2) }
func (b *barRecorder) Add(n int64)                           { b.current += n }
func (b *barRecorder) SetCurrent(n int64)                    { b.current = n }
func (b *barRecorder) SetTotal(int64)                        {}
func (b *barRecorder) Done()                                 { b.done = true }

// TestFetchPackageProgress: the worker's progress lines, however they are
// cut into writes, move one bar sized by the download and ended; its
// other stderr lines, not the progress, are what a failure quotes.
func TestFetchPackageProgress(t *testing.T) {
	p := Package{Name: "Web", FileName: "Acme.Web.1.0.0.zip", Fetch: &wire.PackageSource{URL: "https://h/Acme.Web.1.0.0.zip"}}
	lines := wire.FormatFetchProgress(100, 300) + wire.FormatFetchProgress(300, 300)
	for _, tc := range []struct {
		name   string
		stderr string
		fail   bool
	}{
		{"a download", lines, false},
		{"a failed download", lines + "cuttle: package Web: the connection was reset\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &barRecorder{}
			sh := &progressShell{stderr: tc.stderr, fail: tc.fail, answer: fmt.Sprintf(`{"sha256":%q,"file_name":"Acme.Web.1.0.0.zip","size":300}`+"\n", strings.Repeat("ab", 32))}
			_, _, err := fetchPackage(progress.WithReporter(t.Context(), rec), sh, p, Facts{Home: "/h", Ticket: "T"}, "/b/cuttle", 0)
			if !slices.Contains(sh.args, "--progress") {
				t.Errorf("argv %v: want --progress", sh.args)
			}
			if len(rec.sizes) != 1 || rec.sizes[0] != 300 || rec.current != 300 || !rec.done || !strings.Contains(rec.what[0], "package Web") {
				t.Errorf("bars %v %v at %d (ended %v), want one of 300 bytes for package Web, ended at 300", rec.what, rec.sizes, rec.current, rec.done)
			}
			if tc.fail != (err != nil) {
				t.Fatalf("err %v", err)
			}
			if err != nil && (!strings.Contains(err.Error(), "the connection was reset") || strings.Contains(err.Error(), wire.FetchProgress)) {
				t.Errorf("err %v: want the worker's message, without progress lines", err)
			}
		})
	}
}

// progressShell writes its stderr a few bytes at a time.
type progressShell struct {
	countingShell
	args           []string
	stderr, answer string
	fail           bool
}

func (s *progressShell) Run(_ context.Context, c *transport.Cmd) error {
	s.args = c.Args
	io.Copy(io.Discard, c.Stdin)
	for b := []byte(s.stderr); len(b) > 0; b = b[min(7, len(b)):] {
		c.Stderr.Write(b[:min(7, len(b))])
	}
	if s.fail {
		return &transport.ExitError{Code: 1}
	}
	io.WriteString(c.Stdout, s.answer)
	return nil
}
