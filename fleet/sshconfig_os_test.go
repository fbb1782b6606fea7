package fleet

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/config"
)

// The system's ssh_config is read after the user's, as ssh reads both:
// the user's values win, the system's fill in and add aliases; a file
// given with --ssh-config replaces both, as ssh -F does.
func TestResolveSystemSSHConfig(t *testing.T) {
	home := testHome(t)
	sys := filepath.Join(home, "etc-ssh")
	if err := os.MkdirAll(sys, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sys, "ssh_config"), []byte("Host web\n  User sysuser\n  Port 2201\nHost sysonly\n  HostName sys.example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	writeSSHConfig(t, home)
	empty := &config.Config{}
	got, err := Resolve(empty, "web", Defaults{})
	if err != nil || got.User != "webuser" || got.Port != 2200 {
		t.Errorf("web: the user's config must win over the system's: %+v, %v", got, err)
	}
	got, err = Resolve(empty, "sysonly", Defaults{})
	if err != nil || got.Host != "sys.example" || got.User != "fallback" {
		t.Errorf("sysonly: an alias of the system config: %+v, %v", got, err)
	}
	if _, err := Resolve(empty, "sysonly", Defaults{SSHConfig: filepath.Join(home, ".ssh", "config")}); err == nil {
		t.Error("--ssh-config FILE must leave the system config out, as ssh -F")
	}
	// A system file this parser cannot read (Match, as Fedora's has) is
	// skipped: the user cannot fix it, and ssh_config is optional.
	if err := os.WriteFile(filepath.Join(sys, "ssh_config"), []byte("Match final all\n  GSSAPIAuthentication yes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Resolve(empty, "web", Defaults{}); err != nil || got.User != "webuser" {
		t.Errorf("an unreadable system config must be skipped: %+v, %v", got, err)
	}
	if err := os.WriteFile(filepath.Join(sys, "ssh_config"), []byte("Host web\n  User sysuser\n  Port 2201\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// With no user config the system's alone is read.
	os.Remove(filepath.Join(home, ".ssh", "config"))
	if got, err := Resolve(empty, "web", Defaults{}); err != nil || got.User != "sysuser" || got.Port != 2201 {
		t.Errorf("web from the system config only: %+v, %v", got, err)
	}
}

func TestSSHConfigFilesPerOS(t *testing.T) {
	win := config.Host{GOOS: "windows", Home: `C:\Users\ann`, Getenv: func(k string) string {
		return map[string]string{"PROGRAMDATA": `C:\ProgramData`}[k]
	}}
	mac := config.Host{GOOS: "darwin", Home: "/Users/ann", Getenv: os.Getenv}
	for _, tt := range []struct {
		h            config.Host
		flag         string
		want         []string
		wantExplicit bool
	}{
		{win, "", []string{`C:\Users\ann\.ssh\config`, `C:\ProgramData\ssh\ssh_config`}, false},
		{mac, "", []string{"/Users/ann/.ssh/config", "/etc/ssh/ssh_config"}, false},
		{win, `~\cfg`, []string{`C:\Users\ann\cfg`}, true},
		{mac, "~/cfg", []string{"/Users/ann/cfg"}, true},
		{mac, "none", nil, true},
	} {
		got, explicit := sshConfigFiles(tt.h, tt.flag)
		if !cmp.Equal(got, tt.want) || explicit != tt.wantExplicit {
			t.Errorf("%s %q: %q, %v; want %q, %v", tt.h.GOOS, tt.flag, got, explicit, tt.want, tt.wantExplicit)
		}
	}
	if got := defaultKnownHosts(win); !cmp.Equal(got, []string{`C:\Users\ann\.ssh\known_hosts`, `C:\ProgramData\ssh\ssh_known_hosts`}) {
		t.Errorf("windows known_hosts: %q", got)
	}
}
