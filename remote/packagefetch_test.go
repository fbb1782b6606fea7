package remote

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

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
