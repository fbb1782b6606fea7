package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// Worker is one SSH worker.
type Worker struct {
	Host               string            `mapstructure:"host"`
	Port               int               `mapstructure:"port"`
	User               string            `mapstructure:"user"`
	IdentityFile       string            `mapstructure:"identity_file"`
	KnownHosts         string            `mapstructure:"known_hosts"`
	HostKeyFingerprint string            `mapstructure:"host_key_fingerprint"`
	PasswordEnv        string            `mapstructure:"password_env"`
	Jump               string            `mapstructure:"jump"`
	Pool               string            `mapstructure:"pool"`
	AllowPrivileged    bool              `mapstructure:"allow_privileged"`
	Labels             map[string]string `mapstructure:"labels"`
	// Proxy, when set, is the proxy the worker's steps use (it replaces
	// its pool's).
	Proxy *Proxy `mapstructure:"proxy"`
}

// Proxy is the HTTP proxy a worker's steps reach the network through, as
// Tentacle's proxy settings give it: a host and port (with a username and
// a password read from the environment), or use_default (the proxy the
// container's environment names, if any), or use_default: false to bypass
// any proxy. The script gets HTTP_PROXY, HTTPS_PROXY and NO_PROXY as
// Calamari computes them.
type Proxy struct {
	Host        string `mapstructure:"host"`
	Port        int    `mapstructure:"port"`
	Username    string `mapstructure:"username"`
	PasswordEnv string `mapstructure:"password_env"`
	UseDefault  *bool  `mapstructure:"use_default"`
}

// Password reads the proxy password from its environment variable ("" when
// there is none).
func (p Proxy) Password() (secret.Value, error) {
	if p.PasswordEnv == "" {
		return secret.Value{}, nil
	}
	v, ok := os.LookupEnv(p.PasswordEnv)
	if !ok {
		return secret.Value{}, fmt.Errorf("proxy %s: environment variable %s (password_env) is not set", p.Host, p.PasswordEnv)
	}
	return secret.New(v), nil
}

func (p *Proxy) problems(where string) []string {
	if p == nil {
		return nil
	}
	var out []string
	switch {
	case p.Host != "" && p.UseDefault != nil && *p.UseDefault:
		out = append(out, where+".proxy: give either host and port or use_default: true, not both")
	case p.Host != "" && (p.Port <= 0 || p.Port > 65535):
		out = append(out, fmt.Sprintf("%s.proxy.port %d: give the proxy's port (1-65535)", where, p.Port))
	case p.Host == "" && p.Port != 0:
		out = append(out, where+".proxy.port needs a host")
	}
	if p.PasswordEnv != "" && p.Username == "" {
		out = append(out, where+".proxy.password_env needs a username")
	}
	return out
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
	// Proxy is the proxy of the pool's workers that set none.
	Proxy *Proxy `mapstructure:"proxy"`
}

// ProxyFor is the proxy of worker name: its own, else its pool's (nil
// when neither sets one).
func (c *Config) ProxyFor(name string) *Proxy {
	w, ok := c.Workers[name]
	if !ok {
		return nil
	}
	if w.Proxy != nil {
		return w.Proxy
	}
	return c.Pools[w.Pool].Proxy
}

// Feed is a container registry with credentials given by reference.
type Feed struct {
	Registry     string `mapstructure:"registry"`
	Username     string `mapstructure:"username"`
	PasswordEnv  string `mapstructure:"password_env"`
	PasswordFile string `mapstructure:"password_file"`
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
	paths := []string{"cuttle.yaml"}
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		paths = append(paths, filepath.Join(x, "cuttle", "cuttle.yaml"))
	} else if h, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(h, ".config", "cuttle", "cuttle.yaml"))
	}
	return paths
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
	var c Config
	if err := v.UnmarshalExact(&c); err != nil {
		return nil, fmt.Errorf("config %s: %w (check the key names against the README)", file, err)
	}
	c.File = file
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
		if w.Pool == "" {
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
