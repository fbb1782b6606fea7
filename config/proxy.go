package config

import (
	"fmt"
	"os"

	"github.com/cuttle-sh/cuttle/internal/secret"
)

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
