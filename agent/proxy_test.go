package agent

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cuttle-sh/cuttle/wire"
)

func TestProxyEnvironment(t *testing.T) {
	yes, no := true, false
	custom := []string{"HTTP_PROXY=http://proxy:8888", "http_proxy=http://proxy:8888", "HTTPS_PROXY=http://proxy:8888", "https_proxy=http://proxy:8888",
		"NO_PROXY=127.0.0.1,localhost,169.254.169.254", "no_proxy=127.0.0.1,localhost,169.254.169.254"}
	for _, c := range []struct {
		name  string
		proxy wire.Proxy
		env   map[string]string
		want  []string
	}{
		// Calamari's ScriptProxyFixtureBase, on a machine with no system proxy.
		{name: "bypass", proxy: wire.Proxy{UseDefault: &no}, want: []string{"NO_PROXY=*"}},
		{name: "system proxy, none set", proxy: wire.Proxy{UseDefault: &yes}},
		{name: "system proxy with credentials, none set", proxy: wire.Proxy{UseDefault: &yes, Username: "some@:/user", Password: "some@:/password"}},
		{name: "custom", proxy: wire.Proxy{Host: "proxy", Port: 8888}, want: custom},
		{name: "custom with credentials", proxy: wire.Proxy{Host: "h", Port: 1, Username: "some@:/user", Password: "some@:/password"},
			want: []string{"HTTP_PROXY=http://some%40%3A%2Fuser:some%40%3A%2Fpassword@h:1", "http_proxy=http://some%40%3A%2Fuser:some%40%3A%2Fpassword@h:1",
				"HTTPS_PROXY=http://some%40%3A%2Fuser:some%40%3A%2Fpassword@h:1", "https_proxy=http://some%40%3A%2Fuser:some%40%3A%2Fpassword@h:1",
				"NO_PROXY=127.0.0.1,localhost,169.254.169.254", "no_proxy=127.0.0.1,localhost,169.254.169.254"}},
		// Nothing configured is Tentacle's default: use the system proxy.
		{name: "nothing configured", proxy: wire.Proxy{}},
		{name: "blank host is no host", proxy: wire.Proxy{Host: "  ", Port: 3, UseDefault: &no}, want: []string{"NO_PROXY=*"}},
		// A proxy variable already in the environment wins over any setting.
		{name: "existing variable copied to its other spelling", proxy: wire.Proxy{Host: "proxy", Port: 8888},
			env:  map[string]string{"http_proxy": "http://env:1", "NO_PROXY": "x"},
			want: []string{"HTTP_PROXY=http://env:1", "no_proxy=x"}},
		{name: "both spellings present", proxy: wire.Proxy{UseDefault: &no}, env: map[string]string{"HTTPS_PROXY": "a", "https_proxy": "b"}},
		{name: "empty variable counts as present", proxy: wire.Proxy{UseDefault: &no}, env: map[string]string{"NO_PROXY": ""}, want: []string{"no_proxy="}},
		// .NET's system proxy on Linux once no http(s)_proxy is set.
		{name: "system proxy from all_proxy", proxy: wire.Proxy{Username: "u", Password: "p w"}, env: map[string]string{"ALL_PROXY": "sys.example:3128"},
			want: []string{"HTTP_PROXY=http://u:p+w@sys.example:3128", "http_proxy=http://u:p+w@sys.example:3128", "HTTPS_PROXY=http://u:p+w@sys.example:3128",
				"https_proxy=http://u:p+w@sys.example:3128", "NO_PROXY=127.0.0.1,localhost,169.254.169.254", "no_proxy=127.0.0.1,localhost,169.254.169.254"}},
		{name: "all_proxy ignored when bypassing", proxy: wire.Proxy{UseDefault: &no}, env: map[string]string{"all_proxy": "http://sys:1"}, want: []string{"NO_PROXY=*"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ProxyEnvironment(c.proxy, func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
