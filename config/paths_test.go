package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

var (
	linuxHost   = Host{GOOS: "linux", Home: "/home/ann", Getenv: envOf(nil)}
	darwinHost  = Host{GOOS: "darwin", Home: "/Users/ann", Getenv: envOf(nil)}
	windowsHost = Host{GOOS: "windows", Home: `C:\Users\ann`, Getenv: envOf(map[string]string{
		"LOCALAPPDATA": `C:\Users\ann\AppData\Local`, "APPDATA": `C:\Users\ann\AppData\Roaming`, "PROGRAMDATA": `D:\ProgramData`})}
)

func TestHostJoin(t *testing.T) {
	for _, tt := range []struct {
		h    Host
		elem []string
		want string
	}{
		{linuxHost, []string{"/home/ann/", "x", "y.yaml"}, "/home/ann/x/y.yaml"},
		{windowsHost, []string{`C:\Users\ann`, ".ssh", "config"}, `C:\Users\ann\.ssh\config`},
		{windowsHost, []string{`C:\`, "x"}, `C:\x`},
		{windowsHost, []string{`C:\Users\ann\`, "a/b"}, `C:\Users\ann\a\b`},
		{windowsHost, []string{`\\srv\share`, "x"}, `\\srv\share\x`},
	} {
		if got := tt.h.Join(tt.elem...); got != tt.want {
			t.Errorf("%s: Join(%q) = %q, want %q", tt.h.GOOS, tt.elem, got, tt.want)
		}
	}
}

func TestHostExpandHome(t *testing.T) {
	for _, tt := range []struct {
		h        Host
		in, want string
	}{
		{linuxHost, "~/.ssh/id", "/home/ann/.ssh/id"},
		{linuxHost, "~", "/home/ann"},
		{linuxHost, `~\x`, `~\x`}, // a file named so on Linux
		{linuxHost, "~bob/x", "~bob/x"},
		{linuxHost, "/abs", "/abs"},
		{darwinHost, "~/k", "/Users/ann/k"},
		{windowsHost, "~/.ssh/id", `C:\Users\ann\.ssh\id`},
		{windowsHost, `~\.ssh\id`, `C:\Users\ann\.ssh\id`},
		{windowsHost, `D:\keys\id`, `D:\keys\id`},
		{Host{GOOS: "linux"}, "~/x", "~/x"}, // no home known
	} {
		if got := tt.h.ExpandHome(tt.in); got != tt.want {
			t.Errorf("%s: ExpandHome(%q) = %q, want %q", tt.h.GOOS, tt.in, got, tt.want)
		}
	}
}

func TestHostStateDir(t *testing.T) {
	xdg := func(h Host, env map[string]string) Host { h.Getenv = envOf(env); return h }
	for _, tt := range []struct {
		name string
		h    Host
		want string
	}{
		{"linux", linuxHost, "/home/ann/.local/state/cuttle"},
		{"darwin", darwinHost, "/Users/ann/Library/Application Support/cuttle"},
		{"windows", windowsHost, `C:\Users\ann\AppData\Local\cuttle`},
		{"windows without LOCALAPPDATA", Host{GOOS: "windows", Home: `C:\Users\ann`, Getenv: envOf(nil)}, `C:\Users\ann\AppData\Local\cuttle`},
		{"XDG_STATE_HOME on linux", xdg(linuxHost, map[string]string{"XDG_STATE_HOME": "/st"}), "/st/cuttle"},
		{"XDG_STATE_HOME on darwin", xdg(darwinHost, map[string]string{"XDG_STATE_HOME": "/st"}), "/st/cuttle"},
		{"CUTTLE_STATE_DIR wins", xdg(windowsHost, map[string]string{"CUTTLE_STATE_DIR": `E:\s`, "XDG_STATE_HOME": "/st"}), `E:\s`},
	} {
		got, err := tt.h.StateDir()
		if err != nil || got != tt.want {
			t.Errorf("%s: StateDir() = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
	if _, err := (Host{GOOS: "linux", Getenv: envOf(nil)}).StateDir(); err == nil {
		t.Error("no home and no CUTTLE_STATE_DIR: want an error naming CUTTLE_STATE_DIR")
	}
}

func TestHostConfigPaths(t *testing.T) {
	for _, tt := range []struct {
		h    Host
		want []string
	}{
		{linuxHost, []string{"cuttle.yaml", "/home/ann/.config/cuttle/cuttle.yaml"}},
		{darwinHost, []string{"cuttle.yaml", "/Users/ann/.config/cuttle/cuttle.yaml"}},
		{windowsHost, []string{"cuttle.yaml", `C:\Users\ann\AppData\Roaming\cuttle\cuttle.yaml`}},
		{Host{GOOS: "linux", Home: "/h", Getenv: envOf(map[string]string{"XDG_CONFIG_HOME": "/c"})}, []string{"cuttle.yaml", "/c/cuttle/cuttle.yaml"}},
	} {
		if diff := cmp.Diff(tt.want, tt.h.ConfigPaths()); diff != "" {
			t.Errorf("%s: ConfigPaths (-want +got):\n%s", tt.h.GOOS, diff)
		}
	}
}

func TestHostSSHFiles(t *testing.T) {
	for _, tt := range []struct {
		h    Host
		want SSHFiles
	}{
		{linuxHost, SSHFiles{UserConfig: "/home/ann/.ssh/config", SystemConfig: "/etc/ssh/ssh_config",
			UserKnownHosts: "/home/ann/.ssh/known_hosts", SystemKnownHosts: "/etc/ssh/ssh_known_hosts"}},
		{darwinHost, SSHFiles{UserConfig: "/Users/ann/.ssh/config", SystemConfig: "/etc/ssh/ssh_config",
			UserKnownHosts: "/Users/ann/.ssh/known_hosts", SystemKnownHosts: "/etc/ssh/ssh_known_hosts"}},
		{windowsHost, SSHFiles{UserConfig: `C:\Users\ann\.ssh\config`, SystemConfig: `D:\ProgramData\ssh\ssh_config`,
			UserKnownHosts: `C:\Users\ann\.ssh\known_hosts`, SystemKnownHosts: `D:\ProgramData\ssh\ssh_known_hosts`}},
		{Host{GOOS: "windows", Home: `C:\Users\ann`}, SSHFiles{UserConfig: `C:\Users\ann\.ssh\config`, SystemConfig: `C:\ProgramData\ssh\ssh_config`,
			UserKnownHosts: `C:\Users\ann\.ssh\known_hosts`, SystemKnownHosts: `C:\ProgramData\ssh\ssh_known_hosts`}},
	} {
		if diff := cmp.Diff(tt.want, tt.h.SSHFiles()); diff != "" {
			t.Errorf("%s: SSHFiles (-want +got):\n%s", tt.h.GOOS, diff)
		}
	}
}
