package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/viper"

	"github.com/cuttle-sh/cuttle/internal/secret"
)

// Config is cuttle.yaml.
type Config struct {
	Workers map[string]Worker `mapstructure:"workers"`
	Pools   map[string]Pool   `mapstructure:"pools"`
	Feeds   map[string]Feed   `mapstructure:"feeds"`
	// Defaults fill in what a worker's entry leaves out.
	Defaults WorkerDefaults `mapstructure:"defaults"`
	// Runner, when Bundle is set, replaces cuttle's own step runner with
	// one the user brings (Octopus's Calamari).
	Runner Runner `mapstructure:"runner"`
	// File is where the config was read from ("" when none was found).
	File string `mapstructure:"-"`
}

// Worker roles.
const (
	RoleWorker = "worker"
	RoleJump   = "jump"
)

// Worker is one SSH worker.
type Worker struct {
	Host               string `mapstructure:"host"`
	Port               int    `mapstructure:"port"`
	User               string `mapstructure:"user"`
	IdentityFile       string `mapstructure:"identity_file"`
	KnownHosts         string `mapstructure:"known_hosts"`
	HostKeyFingerprint string `mapstructure:"host_key_fingerprint"`
	PasswordEnv        string `mapstructure:"password_env"`
	Jump               string `mapstructure:"jump"`
	Pool               string `mapstructure:"pool"`
	// Role is "worker" (runs steps) or "jump" (only a jump host for
	// others); empty infers jump for a host others jump through that is
	// in no pool.
	Role   string            `mapstructure:"role"`
	Labels map[string]string `mapstructure:"labels"`
	Grants `mapstructure:",squash"`
	// Proxy, when set, is the proxy the worker's steps use (it replaces
	// its pool's).
	Proxy *Proxy `mapstructure:"proxy"`
}

// Grants are what the operator lets steps' container options reach on a
// worker. They come only from cuttle.yaml (or cuttle run's
// --allow-privileged), never from a runbook: see SECURITY.md.
type Grants struct {
	// AllowPrivileged lifts the container-options allowlist (--privileged,
	// host namespaces, any mount).
	AllowPrivileged bool `mapstructure:"allow_privileged"`
	// AllowedMounts are host paths steps may bind-mount,
	// SOURCE[:TARGET][:ro|rw].
	AllowedMounts []string `mapstructure:"allowed_mounts"`
	// AllowedDevices are host devices steps may use,
	// HOST[:CONTAINER][:rwm] or a CDI name.
	AllowedDevices []string `mapstructure:"allowed_devices"`
}

// WorkerDefaults apply to every worker that does not set the field.
type WorkerDefaults struct {
	User              string `mapstructure:"user"`
	Port              int    `mapstructure:"port"`
	IdentityFile      string `mapstructure:"identity_file"`
	KnownHosts        string `mapstructure:"known_hosts"`
	Jump              string `mapstructure:"jump"`
	Pool              string `mapstructure:"pool"`
	MaxStepsPerWorker int    `mapstructure:"max_steps_per_worker"`
	// AllowedMounts and AllowedDevices apply to every worker, on top of
	// its own and its pool's.
	AllowedMounts  []string `mapstructure:"allowed_mounts"`
	AllowedDevices []string `mapstructure:"allowed_devices"`
	// PackageCacheMB caps each worker's package cache: past it, the
	// least recently used packages go (0: 10240).
	PackageCacheMB int64 `mapstructure:"package_cache_mb"`
	// PackageMaxExtractMB and PackageMaxEntries bound what one package may
	// extract to on a worker (0: 4096 MiB and 100000 entries): an archive
	// past them is refused, as a size bomb.
	PackageMaxExtractMB int64 `mapstructure:"package_max_extract_mb"`
	PackageMaxEntries   int   `mapstructure:"package_max_entries"`
	// PackageMaxDownloadMB bounds a package a worker downloads itself
	// (acquisition: worker; 0: 10240 MiB): a bigger download is refused.
	PackageMaxDownloadMB int64 `mapstructure:"package_max_download_mb"`
}

// Runner is an external step runner: a local bundle directory and a
// command template ({bundle}, {workdir}, {script}, {variables}, {password}).
type Runner struct {
	Bundle  string `mapstructure:"bundle"`
	Command string `mapstructure:"command"`
}

// Pool groups workers.
type Pool struct {
	MaxStepsPerWorker int    `mapstructure:"max_steps_per_worker"`
	Selection         string `mapstructure:"selection"`
	// Grants apply to every worker of the pool, on top of its own.
	Grants `mapstructure:",squash"`
	// Proxy is the proxy of the pool's workers that set none.
	Proxy *Proxy `mapstructure:"proxy"`
}

// Feed is a container registry (or, for https packages, a host[:port])
// with credentials given by reference.
type Feed struct {
	Registry     string `mapstructure:"registry"`
	Username     string `mapstructure:"username"`
	PasswordEnv  string `mapstructure:"password_env"`
	PasswordFile string `mapstructure:"password_file"`
	// Acquisition is where the feed's packages (https or oci sources) are
	// downloaded, unless a package says: controller (the default) or
	// worker.
	Acquisition string `mapstructure:"acquisition"`
	// CAFile is a PEM file of CA certificates a worker trusts when it
	// downloads the feed's packages itself; its contents go to the worker
	// with the request.
	CAFile string `mapstructure:"ca_file"`
}

// Password reads the feed's password from its environment variable or
// file.
func (f Feed) Password() (secret.Value, error) {
	switch {
	case f.PasswordEnv != "":
		v, ok := os.LookupEnv(f.PasswordEnv)
		if !ok {
			return secret.Value{}, fmt.Errorf("feed %s: environment variable %s (password_env) is not set", f.Registry, f.PasswordEnv)
		}
		return secret.New(v), nil
	case f.PasswordFile != "":
		b, err := os.ReadFile(f.PasswordFile)
		if err != nil {
			return secret.Value{}, fmt.Errorf("feed %s: password_file: %w", f.Registry, err)
		}
		return secret.New(strings.TrimRight(string(b), "\r\n")), nil
	}
	return secret.Value{}, fmt.Errorf("feed %s: no password_env or password_file", f.Registry)
}

// DefaultPaths are searched in order when no --config is given.
func DefaultPaths() []string {
	return ThisHost().ConfigPaths()
}

// Load reads file, or the first of DefaultPaths that exists when file is
// "". A missing default file gives an empty config; a missing named file
// is an error.
func Load(file string) (*Config, error) {
	if file == "" {
		for _, p := range DefaultPaths() {
			if _, err := os.Stat(p); err == nil {
				file = p
				break
			}
		}
		if file == "" {
			return &Config{}, nil
		}
	}
	v := viper.New()
	v.SetConfigFile(file)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	sh, err := readShape(file)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	var c Config
	if err := v.UnmarshalExact(&c); err != nil {
		return nil, fmt.Errorf("config %s: %w (check the key names against the README)", file, err)
	}
	c.File = file
	for _, p := range sh.pools { // viper drops `name: {}`
		if _, ok := c.Pools[p]; !ok {
			if c.Pools == nil {
				c.Pools = map[string]Pool{}
			}
			c.Pools[p] = Pool{}
		}
	}
	c.inferHops()
	c.applyDefaults()
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	return &c, nil
}

func (c *Config) applyDefaults() {
	d := c.Defaults
	for name, w := range c.Workers {
		if w.User == "" {
			w.User = d.User
		}
		if w.Port == 0 {
			w.Port = d.Port
		}
		if w.IdentityFile == "" {
			w.IdentityFile = d.IdentityFile
		}
		if w.KnownHosts == "" {
			w.KnownHosts = d.KnownHosts
		}
		if w.Jump == "" && d.Jump != name {
			w.Jump = d.Jump
		}
		if w.Pool == "" && w.Role != RoleJump {
			w.Pool = d.Pool
		}
		c.Workers[name] = w
	}
	for name, p := range c.Pools {
		if p.MaxStepsPerWorker == 0 {
			p.MaxStepsPerWorker = d.MaxStepsPerWorker
			c.Pools[name] = p
		}
	}
}

func (c *Config) validate() error {
	var problems []string
	for _, name := range sortedKeys(c.Workers) {
		w := c.Workers[name]
		if w.Host == "" {
			problems = append(problems, fmt.Sprintf("workers.%s.host is required", name))
		}
		if w.Port < 0 || w.Port > 65535 {
			problems = append(problems, fmt.Sprintf("workers.%s.port %d is not a port number", name, w.Port))
		}
		if w.Jump != "" {
			for _, hop := range strings.Split(w.Jump, ",") {
				if _, ok := c.Workers[hop]; !ok && !strings.Contains(hop, "@") && !strings.Contains(hop, ":") {
					problems = append(problems, fmt.Sprintf("workers.%s.jump names %q, which is not a worker in this file (or give user@host:port)", name, hop))
				}
			}
		}
		if w.Pool != "" {
			if _, ok := c.Pools[w.Pool]; !ok {
				problems = append(problems, fmt.Sprintf("workers.%s.pool %q is not defined under pools:", name, w.Pool))
			}
		}
		switch w.Role {
		case "", RoleWorker, RoleJump:
		default:
			problems = append(problems, fmt.Sprintf("workers.%s.role %q: want worker or jump", name, w.Role))
		}
		if w.Role == RoleJump && w.Pool != "" {
			problems = append(problems, fmt.Sprintf("workers.%s is role jump but in pool %s: a jump host runs no steps (drop one of them)", name, w.Pool))
		}
		problems = append(problems, w.Proxy.problems("workers."+name)...)
	}
	for _, name := range sortedKeys(c.Pools) {
		problems = append(problems, c.Pools[name].Proxy.problems("pools."+name)...)
	}
	for _, name := range sortedKeys(c.Feeds) {
		f := c.Feeds[name]
		if f.Registry == "" {
			problems = append(problems, fmt.Sprintf("feeds.%s.registry is required", name))
		}
		if f.Username != "" && f.PasswordEnv == "" && f.PasswordFile == "" {
			problems = append(problems, fmt.Sprintf("feeds.%s has a username but no password_env or password_file (passwords are never written in the file)", name))
		}
		switch f.Acquisition {
		case "", "controller", "worker":
		default:
			problems = append(problems, fmt.Sprintf("feeds.%s.acquisition %q: want controller or worker", name, f.Acquisition))
		}
	}
	if (c.Runner.Bundle == "") != (c.Runner.Command == "") {
		problems = append(problems, "runner needs both bundle and command")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
