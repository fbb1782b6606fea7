package config

import (
	"errors"
	"os"
	"path"
	"runtime"
	"strings"
)

// Host is what the controller's local paths depend on: its operating
// system, the user's home directory and the environment. Each path it
// gives is a pure function of these, so every OS's answer is tested on
// any machine. These are controller paths only: a path on a worker is
// always POSIX and built with package path.
type Host struct {
	GOOS   string              // "linux", "darwin", "windows"...
	Home   string              // the user's home; "" if unknown
	Getenv func(string) string // the environment
	// SystemSSHDir replaces the OS's directory of system-wide ssh files
	// (/etc/ssh); "" keeps it. Tests set it to keep the machine's out.
	SystemSSHDir string
}

// ThisHost is the running controller's Host.
func ThisHost() Host {
	home, _ := os.UserHomeDir()
	return Host{GOOS: runtime.GOOS, Home: home, Getenv: os.Getenv}
}

func (h Host) env(key string) string {
	if h.Getenv == nil {
		return ""
	}
	return h.Getenv(key)
}

// Join joins path elements with the host's separator (\ on Windows).
func (h Host) Join(elem ...string) string {
	if h.GOOS != "windows" {
		return path.Join(elem...)
	}
	var parts []string
	for _, e := range elem {
		if e != "" {
			parts = append(parts, e)
		}
	}
	s := strings.ReplaceAll(strings.Join(parts, `\`), "/", `\`)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		// Runs of separators collapse, but for a UNC path's leading \\.
		if s[i] == '\\' && i > 1 && s[i-1] == '\\' {
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ExpandHome expands a leading ~ ("~", "~/x", and on Windows "~\x" too),
// as ssh does in its config. Any other path, or a ~ with no home known,
// is returned as it is.
func (h Host) ExpandHome(p string) string {
	if h.Home == "" || !strings.HasPrefix(p, "~") {
		return p
	}
	rest := p[1:]
	switch {
	case rest == "":
		return h.Home
	case rest[0] == '/', h.GOOS == "windows" && rest[0] == '\\':
		return h.Join(h.Home, rest[1:])
	}
	return p // ~user is not expanded
}

// StateDir is where the controller keeps its state (tickets of detached
// steps, trusted bundle digests, serve's database): $CUTTLE_STATE_DIR;
// else $XDG_STATE_HOME/cuttle; else per OS, ~/.local/state/cuttle on
// Linux, ~/Library/Application Support/cuttle on macOS and
// %LOCALAPPDATA%\cuttle on Windows.
func (h Host) StateDir() (string, error) {
	if d := h.env("CUTTLE_STATE_DIR"); d != "" {
		return d, nil
	}
	if x := h.env("XDG_STATE_HOME"); x != "" {
		return h.Join(x, "cuttle"), nil
	}
	if h.GOOS == "windows" {
		if x := h.env("LOCALAPPDATA"); x != "" {
			return h.Join(x, "cuttle"), nil
		}
	}
	if h.Home == "" {
		return "", errors.New("no state directory: the home directory is unknown; set CUTTLE_STATE_DIR")
	}
	switch h.GOOS {
	case "windows":
		return h.Join(h.Home, "AppData", "Local", "cuttle"), nil
	case "darwin", "ios":
		return h.Join(h.Home, "Library", "Application Support", "cuttle"), nil
	}
	return h.Join(h.Home, ".local", "state", "cuttle"), nil
}

// ConfigPaths are the config files searched in order when no --config is
// given: ./cuttle.yaml, then $XDG_CONFIG_HOME/cuttle/cuttle.yaml, else
// ~/.config/cuttle/cuttle.yaml (Linux, macOS) or
// %APPDATA%\cuttle\cuttle.yaml (Windows).
func (h Host) ConfigPaths() []string {
	paths := []string{"cuttle.yaml"}
	switch x, appData := h.env("XDG_CONFIG_HOME"), h.env("APPDATA"); {
	case x != "":
		paths = append(paths, h.Join(x, "cuttle", "cuttle.yaml"))
	case h.GOOS == "windows" && appData != "":
		paths = append(paths, h.Join(appData, "cuttle", "cuttle.yaml"))
	case h.Home != "":
		paths = append(paths, h.Join(h.Home, ".config", "cuttle", "cuttle.yaml"))
	}
	return paths
}

// SSHFiles are the OpenSSH client files this OS's ssh reads: the user's
// and the system's config and known_hosts.
type SSHFiles struct {
	UserConfig, SystemConfig         string
	UserKnownHosts, SystemKnownHosts string
}

// SSHFiles gives the locations of OpenSSH's files: ~/.ssh/config and
// ~/.ssh/known_hosts for the user on every OS (%USERPROFILE%\.ssh on
// Windows); /etc/ssh/ssh_config and /etc/ssh/ssh_known_hosts for the
// system, %PROGRAMDATA%\ssh\ on Windows (OpenSSH for Windows).
func (h Host) SSHFiles() SSHFiles {
	sys := "/etc/ssh"
	if h.GOOS == "windows" {
		sys = orDefault(h.env("PROGRAMDATA"), `C:\ProgramData`)
		sys = h.Join(sys, "ssh")
	}
	if h.SystemSSHDir != "" {
		sys = h.SystemSSHDir
	}
	f := SSHFiles{SystemConfig: h.Join(sys, "ssh_config"), SystemKnownHosts: h.Join(sys, "ssh_known_hosts")}
	if h.Home != "" {
		f.UserConfig = h.Join(h.Home, ".ssh", "config")
		f.UserKnownHosts = h.Join(h.Home, ".ssh", "known_hosts")
	}
	return f
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
