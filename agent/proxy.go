package agent

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/cuttle-sh/cuttle/wire"
)

// noProxyList is what Calamari puts in NO_PROXY beside a proxy.
const noProxyList = "127.0.0.1,localhost,169.254.169.254"

var proxyVariables = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"}

// ProxyEnvironment is what the script's environment gains from p, computed
// as Calamari computes it, given the environment the runner found (lookup):
//   - a proxy variable already there wins: each one is copied to its other
//     spelling (HTTP_PROXY to http_proxy, ...) and nothing else is set;
//   - a host: HTTP_PROXY and HTTPS_PROXY are http://user:password@host:port
//     (user and password URL-encoded as .NET's WebUtility.UrlEncode does),
//     NO_PROXY the loopback and metadata addresses, in both spellings;
//   - use_default (the default): the system proxy, which on Linux is
//     ALL_PROXY in the environment, with p's credentials, or nothing;
//   - otherwise the proxy is bypassed: NO_PROXY=* alone.
//
// The result is NAME=VALUE pairs in a fixed order.
func ProxyEnvironment(p wire.Proxy, lookup func(string) (string, bool)) []string {
	var out []string
	present := map[string]bool{}
	for _, name := range proxyVariables {
		if _, ok := lookup(name); ok {
			present[name] = true
		}
	}
	if len(present) > 0 {
		for _, name := range proxyVariables {
			if !present[name] {
				continue
			}
			value, _ := lookup(name)
			for _, other := range []string{strings.ToUpper(name), strings.ToLower(name)} {
				if !present[other] {
					out = append(out, other+"="+value)
				}
			}
		}
		return out
	}
	if strings.TrimSpace(p.Host) != "" {
		return proxyVariablesFor(p.Host, p.Port, p.Username, p.Password)
	}
	if p.UseDefault == nil || *p.UseDefault {
		host, port, ok := systemProxy(lookup)
		if !ok {
			return nil
		}
		return proxyVariablesFor(host, port, p.Username, p.Password)
	}
	return []string{"NO_PROXY=*"}
}

func proxyVariablesFor(host string, port int, username, password string) []string {
	uri := "http://" + host + ":" + strconv.Itoa(port)
	if username != "" {
		uri = "http://" + wire.WebUtilityURLEncode(username) + ":" + wire.WebUtilityURLEncode(password) + "@" + host + ":" + strconv.Itoa(port)
	}
	return []string{"HTTP_PROXY=" + uri, "http_proxy=" + uri, "HTTPS_PROXY=" + uri, "https_proxy=" + uri,
		"NO_PROXY=" + noProxyList, "no_proxy=" + noProxyList}
}

// systemProxy is .NET's system proxy on Linux once no http(s)_proxy or
// no_proxy variable is set: all_proxy (or ALL_PROXY), whose scheme
// defaults to http and port to 80.
func systemProxy(lookup func(string) (string, bool)) (string, int, bool) {
	v, _ := lookup("all_proxy")
	if strings.TrimSpace(v) == "" {
		v, _ = lookup("ALL_PROXY")
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", 0, false
	}
	if !strings.Contains(v, "://") {
		v = "http://" + v
	}
	u, err := url.Parse(v)
	if err != nil || u.Hostname() == "" {
		return "", 0, false
	}
	port := 80
	if u.Port() != "" {
		if port, err = strconv.Atoi(u.Port()); err != nil {
			return "", 0, false
		}
	} else if u.Scheme == "https" {
		port = 443
	}
	return u.Hostname(), port, true
}
