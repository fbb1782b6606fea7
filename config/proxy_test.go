package config

import (
	"strings"
	"testing"
)

func TestProxy(t *testing.T) {
	base := "workers:\n  w1: {host: h, pool: p%s}\n  w2: {host: h, pool: p, proxy: {use_default: false}}\n  w3: {host: h}\npools:\n  p: {max_steps_per_worker: 1%s}\n"
	for _, c := range []struct {
		name, worker, pool, wantErr string
		w1                          string // w1's proxy host, or "default"/"bypass"
	}{
		{name: "worker proxy", worker: ", proxy: {host: proxy, port: 3128, username: u, password_env: PW}", w1: "proxy"},
		{name: "pool proxy inherited", pool: ", proxy: {host: poolproxy, port: 8080}", w1: "poolproxy"},
		{name: "worker's wins over the pool's", worker: ", proxy: {use_default: true}", pool: ", proxy: {host: poolproxy, port: 8080}", w1: "default"},
		{name: "host needs a port", worker: ", proxy: {host: proxy}", wantErr: "workers.w1.proxy.port 0"},
		{name: "host and use_default", worker: ", proxy: {host: proxy, port: 1, use_default: true}", wantErr: "not both"},
		{name: "password without user", pool: ", proxy: {host: proxy, port: 1, password_env: PW}", wantErr: "pools.p.proxy.password_env needs a username"},
		{name: "typo", worker: ", proxy: {hots: x}", wantErr: "hots"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, strings.Replace(strings.Replace(base, "%s", c.worker, 1), "%s", c.pool, 1))
			cfg, err := Load(p)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Load error = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := cfg.ProxyFor("w1")
			switch {
			case got == nil:
				t.Fatal("w1 has no proxy")
			case c.w1 == "default" && (got.UseDefault == nil || !*got.UseDefault || got.Host != ""):
				t.Errorf("w1 proxy = %+v, want use_default", got)
			case c.w1 != "default" && got.Host != c.w1:
				t.Errorf("w1 proxy host = %q, want %q", got.Host, c.w1)
			}
			if w2 := cfg.ProxyFor("w2"); w2 == nil || w2.UseDefault == nil || *w2.UseDefault {
				t.Errorf("w2 proxy = %+v, want use_default: false", w2)
			}
			if w3 := cfg.ProxyFor("w3"); w3 != nil {
				t.Errorf("w3 (no pool, no proxy) = %+v", w3)
			}
		})
	}
}

func TestProxyPassword(t *testing.T) {
	t.Setenv("CUTTLE_TEST_PROXY_PW", "s3cret")
	pw, err := Proxy{Host: "h", Username: "u", PasswordEnv: "CUTTLE_TEST_PROXY_PW"}.Password()
	if err != nil || pw.Reveal() != "s3cret" {
		t.Fatalf("Password = %v, %v", pw, err)
	}
	if _, err := (Proxy{Host: "h", Username: "u", PasswordEnv: "CUTTLE_TEST_PROXY_UNSET"}).Password(); err == nil || !strings.Contains(err.Error(), "CUTTLE_TEST_PROXY_UNSET") {
		t.Fatalf("unset password_env: %v", err)
	}
}
