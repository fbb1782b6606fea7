package fleet

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/kevinburke/ssh_config"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/progress"
	"github.com/cuttle-sh/cuttle/internal/secret"
	"github.com/cuttle-sh/cuttle/transport"
)

// Defaults fill in what a worker's entry (or an address) leaves out.
type Defaults struct {
	Identities     []string
	KnownHosts     string
	Fingerprint    string
	Password       secret.Value
	ConnectTimeout time.Duration
	KeepAlive      time.Duration
	// Jump is a comma-separated chain of worker names or addresses used
	// when the worker names none.
	Jump string
	// SSHConfig is an OpenSSH client config consulted for names that are
	// not workers in cuttle's config ("" is ~/.ssh/config if it exists,
	// "none" disables it).
	SSHConfig string
	// AcceptNew records unknown hosts' keys (StrictHostKeyChecking=accept-new).
	AcceptNew bool
}

// Resolve turns a worker name from the config, or an address
// (ssh://user@host:port, user@host:port), into a Target, jump chain
// included. Each hop gets its own entry's user, key and known_hosts.
func Resolve(cfg *config.Config, name string, d Defaults) (transport.Target, error) {
	sc, err := loadSSHConfigs(thisHost(), d.SSHConfig)
	if err != nil {
		return transport.Target{}, err
	}
	return resolve(cfg, sc, name, d, map[string]bool{})
}

func resolve(cfg *config.Config, sc *ssh_config.Config, name string, d Defaults, seen map[string]bool) (transport.Target, error) {
	if seen[name] {
		return transport.Target{}, fmt.Errorf("worker %s: its jump chain loops back to itself", name)
	}
	seen[name] = true
	defer delete(seen, name)
	var t transport.Target
	var jump string
	var err error
	w, inConfig := cfg.Workers[name]
	if inConfig {
		t, jump, err = configTarget(w, name)
	} else {
		t, jump, err = addressTarget(cfg, sc, name, d.KnownHosts != "")
	}
	if err != nil {
		return t, err
	}
	if jump == "" || !inConfig && d.Jump != "" {
		jump = d.Jump
	}
	applyDefaults(&t, d, inConfig)
	if jump == "" {
		return t, nil
	}
	hopDefaults := d
	hopDefaults.Jump, hopDefaults.Fingerprint = "", ""
	for _, h := range strings.Split(jump, ",") {
		hop, err := resolve(cfg, sc, strings.TrimSpace(h), hopDefaults, seen)
		if err != nil {
			return t, fmt.Errorf("jump host of %s: %w", name, err)
		}
		// A hop's own chain comes before it.
		t.Jump = append(t.Jump, hop.Jump...)
		hop.Jump = nil
		t.Jump = append(t.Jump, hop)
	}
	return t, nil
}

// configTarget is the target of a worker of the config, and its own jump
// hosts.
func configTarget(w config.Worker, name string) (t transport.Target, jump string, err error) {
	t = transport.Target{Host: w.Host, Port: w.Port, User: w.User, HostKeyFingerprint: w.HostKeyFingerprint}
	if w.IdentityFile != "" {
		t.IdentityFiles = []string{ExpandHome(w.IdentityFile)}
	}
	if w.KnownHosts != "" {
		t.KnownHostsFiles = []string{ExpandHome(w.KnownHosts)}
	}
	if w.PasswordEnv != "" {
		pw, ok := os.LookupEnv(w.PasswordEnv)
		if !ok {
			return t, "", fmt.Errorf("worker %s: password_env %s is not set", name, w.PasswordEnv)
		}
		t.Password = secret.New(pw)
	}
	return t, w.Jump, nil
}

// addressTarget is the target of an address (or an ssh_config alias),
// with what ssh_config says of it, and its ProxyJump.
func addressTarget(cfg *config.Config, sc *ssh_config.Config, name string, ownKnownHosts bool) (t transport.Target, jump string, err error) {
	if t, err = transport.ParseAddress(name); err != nil {
		return t, "", fmt.Errorf("the worker is neither in the config nor an address: %w", err)
	}
	if bare(name) && !hasAlias(sc, name) {
		// A typo of a worker's name would otherwise become a DNS lookup.
		return t, "", fmt.Errorf("worker %q is not in the config (%s) nor an ssh_config alias (%s): give a worker name from the config, or user@host[:port] / ssh://user@host:port for one that is not",
			name, listOrNone(keys(cfg.Workers), cfg.File), listOrNone(aliases(sc), "~/.ssh/config"))
	}
	t.UseAgent = true
	if sc != nil {
		jump, err = applySSHConfig(sc, t.Host, &t, ownKnownHosts)
	}
	return t, jump, err
}

// applyDefaults fills in what the target does not say from d.
func applyDefaults(t *transport.Target, d Defaults, inConfig bool) {
	t.AcceptNew = t.AcceptNew || d.AcceptNew
	if t.User == "" {
		t.User = os.Getenv("USER")
	}
	t.IdentityFiles = append(t.IdentityFiles, d.Identities...)
	if inConfig {
		t.UseAgent = true
	}
	if d.KnownHosts != "" {
		t.KnownHostsFiles = []string{d.KnownHosts}
	} else if len(t.KnownHostsFiles) == 0 {
		t.KnownHostsFiles = defaultKnownHosts(thisHost())
	}
	if t.HostKeyFingerprint == "" {
		t.HostKeyFingerprint = d.Fingerprint
	}
	if !t.Password.IsSet() {
		t.Password = d.Password
	}
	if t.ConnectTimeout == 0 {
		t.ConnectTimeout = d.ConnectTimeout
	}
	if t.KeepAliveInterval == 0 {
		t.KeepAliveInterval = d.KeepAlive
	}
}

// PoolMembers lists the workers of pool, sorted by name.
func PoolMembers(cfg *config.Config, pool string) ([]string, error) {
	if _, ok := cfg.Pools[pool]; !ok {
		return nil, fmt.Errorf("pool %q is not defined in the config (pools: %s)", pool, strings.Join(keys(cfg.Pools), ", "))
	}
	var names []string
	for n, w := range cfg.Workers {
		if w.Pool == pool {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("pool %q has no workers", pool)
	}
	return names, nil
}

func keys[V any](m map[string]V) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// ExpandHome expands a leading ~ on the controller (~\ too on Windows).
func ExpandHome(p string) string {
	return thisHost().ExpandHome(p)
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// bare reports whether name says nothing of being an address: no user@,
// no ssh:// (a worker name, or a typo of one).
func bare(name string) bool {
	return !strings.Contains(name, "@") && !strings.HasPrefix(name, "ssh://")
}

// hasAlias reports whether ssh_config has a Host entry naming alias
// exactly (not by a wildcard).
func hasAlias(sc *ssh_config.Config, alias string) bool {
	for _, a := range aliases(sc) {
		if a == alias {
			return true
		}
	}
	return false
}

// aliases lists ssh_config's Host names without wildcards, sorted.
func aliases(sc *ssh_config.Config) []string {
	if sc == nil {
		return nil
	}
	var out []string
	for _, h := range sc.Hosts {
		for _, p := range h.Patterns {
			if s := p.String(); !strings.ContainsAny(s, "*?!") {
				out = append(out, s)
			}
		}
	}
	sort.Strings(out)
	return out
}

func listOrNone(names []string, where string) string {
	if where == "" {
		where = "no config file"
	}
	if len(names) == 0 {
		return "none in " + where
	}
	return where + ": " + strings.Join(names, ", ")
}

// Candidates are the names a user may give as a worker: the config's
// workers (jump hosts excepted) and ssh_config's Host aliases at
// sshConfig ("" for ~/.ssh/config); and the config's pools. For shell
// completion: what cannot be read is left out.
func Candidates(cfg *config.Config, sshConfig string) (workers, pools []string) {
	if cfg != nil {
		for _, n := range keys(cfg.Workers) {
			if !cfg.IsHop(n) {
				workers = append(workers, n)
			}
		}
		pools = keys(cfg.Pools)
	}
	if sc, err := loadSSHConfigs(thisHost(), sshConfig); err == nil {
		workers = append(workers, aliases(sc)...)
	}
	return workers, pools
}

// LabelProgress labels ctx's progress bars with worker's name when it is
// a worker of cfg: "w1" says more than the deploy@10.0.0.5:22 it reaches.
// An address or an ssh_config alias keeps the SSH target.
func LabelProgress(ctx context.Context, cfg *config.Config, worker string) context.Context {
	if cfg == nil {
		return ctx
	}
	if _, ok := cfg.Workers[worker]; !ok {
		return ctx
	}
	return progress.WithWorker(ctx, worker)
}
