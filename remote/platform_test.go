package remote

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/cuttle-sh/cuttle/transport"
)

// binfmtShell answers the binfmt probe with a canned entry and records
// which entry was asked for.
type binfmtShell struct {
	*countingShell
	answer string
	asked  []string
}

func (b *binfmtShell) Run(_ context.Context, c *transport.Cmd) error {
	b.asked = append(b.asked, c.Args[len(c.Args)-1])
	_, err := io.WriteString(c.Stdout, b.answer)
	return err
}

func TestCheckPlatform(t *testing.T) {
	amd64 := Facts{Arch: "x86_64"}
	for _, c := range []struct {
		name, platform, answer string
		facts                  Facts
		wantErr, wantAsked     string
	}{
		{"same platform", "linux/amd64", "", amd64, "", ""},
		{"arm64 image, qemu with F", "linux/arm64", "enabled\nflags: OCF\n", amd64, "", "qemu-aarch64"},
		{"amd64 image on arm64", "linux/amd64", "enabled\nflags: F\n", Facts{Arch: "aarch64"}, "", "qemu-x86_64"},
		{"arm/v7 image", "linux/arm/v7", "enabled\nflags: F\n", amd64, "", "qemu-arm"},
		{"no emulator", "linux/arm64", "missing\n", amd64, "install qemu-user-static", "qemu-aarch64"},
		{"disabled", "linux/arm64", "disabled\nflags: F\n", amd64, "update-binfmts --enable qemu-aarch64", "qemu-aarch64"},
		{"without F", "linux/arm64", "enabled\nflags: OC\n", amd64, "without the F flag", "qemu-aarch64"},
		{"windows image", "windows/amd64", "", amd64, "multi-platform tag", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			sh := &binfmtShell{countingShell: &countingShell{}, answer: c.answer}
			err := checkPlatform(t.Context(), sh, "img:1", c.platform, c.facts)
			if (err == nil) != (c.wantErr == "") || err != nil && !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("err = %v, want one saying %q", err, c.wantErr)
			}
			if got := strings.Join(sh.asked, ","); got != c.wantAsked {
				t.Errorf("probed %q, want %q", got, c.wantAsked)
			}
		})
	}
}
