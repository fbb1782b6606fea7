package fleet

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/transport"
)

// thisHost is the controller's host; tests replace its system ssh files.
var thisHost = config.ThisHost

// sshConfigFiles are the OpenSSH client configs read for flag (--ssh-config):
// as ssh -F, a file given replaces both defaults and must exist; "none"
// is no config; else the user's config and then the system's, those that
// exist, as this OS's ssh reads them (see config.Host.SSHFiles).
func sshConfigFiles(h config.Host, flag string) (files []string, explicit bool) {
	switch flag {
	case "none":
		return nil, true
	case "":
		f := h.SSHFiles()
		for _, p := range []string{f.UserConfig, f.SystemConfig} {
			if p != "" {
				files = append(files, p)
			}
		}
		return files, false
	}
	return []string{h.ExpandHome(flag)}, true
}

// loadSSHConfigs reads the configs sshConfigFiles names into one: hosts of
// the user's file come first, so its values win, as with ssh.
func loadSSHConfigs(h config.Host, flag string) (*ssh_config.Config, error) {
	files, explicit := sshConfigFiles(h, flag)
	var all *ssh_config.Config
	for i, p := range files {
		c, err := loadSSHConfig(p, explicit)
		if err != nil && i > 0 {
			// The system's file is not the user's to fix, and it may hold
			// what this parser lacks (Fedora's Match final): skipped.
			continue
		}
		if err != nil {
			return nil, err
		}
		if c == nil {
			continue
		}
		if all == nil {
			all = &ssh_config.Config{}
		}
		all.Hosts = append(all.Hosts, c.Hosts...)
	}
	return all, nil
}

// loadSSHConfig reads an OpenSSH client config; a missing default file is
// no config at all.
func loadSSHConfig(path string, explicit bool) (*ssh_config.Config, error) {
	if path == "none" {
		return nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("ssh config %s: %w", path, err)
	}
	defer f.Close()
	c, err := ssh_config.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("ssh config %s: %w", path, err)
	}
	return c, nil
}

// applySSHConfig fills what the address left open from alias's entry, as
// ssh does: values already set (from the address or flags) win. It returns
// the ProxyJump chain, if any.
func applySSHConfig(c *ssh_config.Config, alias string, t *transport.Target, flagKnownHosts bool) (jump string, err error) {
	get := func(key string) string {
		v, _ := c.Get(alias, key)
		return strings.TrimSpace(v)
	}
	if hn := get("HostName"); hn != "" {
		t.Host = strings.ReplaceAll(hn, "%h", alias)
	}
	if t.User == "" {
		t.User = get("User")
	}
	if p := get("Port"); t.Port == 0 && p != "" {
		if t.Port, err = strconv.Atoi(p); err != nil {
			return "", fmt.Errorf("ssh config, Host %s: Port %q is not a number", alias, p)
		}
	}
	ids, _ := c.GetAll(alias, "IdentityFile")
	for _, id := range ids {
		t.IdentityFiles = append(t.IdentityFiles, ExpandHome(strings.ReplaceAll(id, "%h", alias)))
	}
	if strings.EqualFold(get("IdentitiesOnly"), "yes") {
		t.UseAgent = false
	}
	if kh := get("UserKnownHostsFile"); kh != "" && !flagKnownHosts {
		for _, f := range strings.Fields(kh) {
			t.KnownHostsFiles = append(t.KnownHostsFiles, ExpandHome(f))
		}
	}
	switch v := strings.ToLower(get("StrictHostKeyChecking")); v {
	case "", "yes", "ask":
	case "accept-new":
		t.AcceptNew = true
	default:
		return "", fmt.Errorf("ssh config, Host %s: StrictHostKeyChecking %s: cuttle never trusts an unverified host key; use accept-new to record new hosts' keys", alias, v)
	}
	if v := get("ServerAliveInterval"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			t.KeepAliveInterval = time.Duration(n) * time.Second
		}
	}
	if v := get("ConnectTimeout"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			t.ConnectTimeout = time.Duration(n) * time.Second
		}
	}
	if pj := get("ProxyJump"); pj != "" && !strings.EqualFold(pj, "none") {
		jump = pj
	}
	return jump, nil
}

// defaultKnownHosts are the known_hosts files ssh reads when none is
// given: the user's, where keys accepted anew are also recorded, then the
// system's.
func defaultKnownHosts(h config.Host) []string {
	f := h.SSHFiles()
	var files []string
	for _, p := range []string{f.UserKnownHosts, f.SystemKnownHosts} {
		if p != "" {
			files = append(files, p)
		}
	}
	return files
}
