package octostache

import (
	"net"
	"net/url"
	"strconv"
	"strings"
)

var defaultPorts = map[string]int{"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443, "ldap": 389, "gopher": 70, "nntp": 119, "news": -1, "mailto": 25, "file": -1}

// uriPart is UriPart: one part of a URI, named as .NET's Uri names them
// (Host, Port, Path, Query, ...). Errors are written in place, as
// Octostache writes them.
func uriPart(in *string, opts []string) *string {
	if in == nil {
		return nil
	}
	if len(opts) == 0 {
		return str("[UriPart error: no argument given]")
	}
	u, err := url.Parse(strings.TrimSpace(*in))
	if err != nil {
		return in
	}
	part := strings.ToLower(opts[0])
	absolute := u.Scheme != "" && (u.Host != "" || u.Opaque != "" || strings.Contains(*in, ":/"))
	if !absolute {
		if part == "isabsoluteuri" {
			return str("false")
		}
		if _, known := uriParts[part]; known {
			return str("[UriPart " + opts[0] + " error: This operation is not supported for a relative URI.]")
		}
	}
	f, ok := uriParts[part]
	if !ok {
		return str("[UriPart " + opts[0] + " error: argument '" + opts[0] + "' not supported]")
	}
	return str(f(uriInfo{u}))
}

type uriInfo struct{ u *url.URL }

func (x uriInfo) port() int {
	if p := x.u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return n
	}
	if p, ok := defaultPorts[strings.ToLower(x.u.Scheme)]; ok {
		return p
	}
	return -1
}

func (x uriInfo) isDefaultPort() bool {
	p, ok := defaultPorts[strings.ToLower(x.u.Scheme)]
	return x.u.Port() == "" || ok && x.port() == p
}

func (x uriInfo) host() string {
	h := strings.ToLower(x.u.Hostname())
	if strings.Contains(h, ":") {
		return "[" + h + "]"
	}
	return h
}

func (x uriInfo) authority() string {
	if x.isDefaultPort() {
		return x.host()
	}
	return x.host() + ":" + strconv.Itoa(x.port())
}

func (x uriInfo) path() string {
	p := x.u.EscapedPath()
	if p == "" && x.u.Opaque == "" {
		return "/"
	}
	if x.u.Opaque != "" {
		return x.u.Opaque
	}
	return p
}

func (x uriInfo) query() string {
	if x.u.RawQuery == "" {
		return ""
	}
	return "?" + x.u.RawQuery
}

func (x uriInfo) fragment() string {
	if x.u.Fragment == "" {
		return ""
	}
	return "#" + x.u.EscapedFragment()
}

func (x uriInfo) schemeAndServer() string {
	return strings.ToLower(x.u.Scheme) + "://" + x.authority()
}

func (x uriInfo) userInfo() string {
	if x.u.User == nil {
		return ""
	}
	return x.u.User.String()
}

func (x uriInfo) loopback() bool {
	h := x.u.Hostname()
	if strings.EqualFold(h, "localhost") || h == "" && strings.EqualFold(x.u.Scheme, "file") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

var uriParts = map[string]func(uriInfo) string{
	"absolutepath": uriInfo.path,
	"absoluteuri": func(x uriInfo) string {
		user := ""
		if x.u.User != nil {
			user = x.userInfo() + "@"
		}
		return strings.ToLower(x.u.Scheme) + "://" + user + x.authority() + x.path() + x.query() + x.fragment()
	},
	"authority":   uriInfo.authority,
	"dnssafehost": func(x uriInfo) string { return strings.ToLower(x.u.Hostname()) },
	"fragment":    uriInfo.fragment,
	"host":        uriInfo.host,
	"hostandport": func(x uriInfo) string { return x.host() + ":" + strconv.Itoa(x.port()) },
	"hostnametype": func(x uriInfo) string {
		h := x.u.Hostname()
		ip := net.ParseIP(h)
		switch {
		case h == "":
			return "Basic"
		case ip != nil && ip.To4() != nil && !strings.Contains(h, ":"):
			return "IPv4"
		case ip != nil:
			return "IPv6"
		}
		return "Dns"
	},
	"isabsoluteuri": func(uriInfo) string { return "true" },
	"isdefaultport": func(x uriInfo) string { return strconv.FormatBool(x.isDefaultPort()) },
	"isfile":        func(x uriInfo) string { return strconv.FormatBool(strings.EqualFold(x.u.Scheme, "file")) },
	"isloopback":    func(x uriInfo) string { return strconv.FormatBool(x.loopback()) },
	"isunc": func(x uriInfo) string {
		return strconv.FormatBool(strings.EqualFold(x.u.Scheme, "file") && x.u.Host != "" && !x.loopback())
	},
	"path": func(x uriInfo) string {
		p, err := url.PathUnescape(x.path())
		if err != nil {
			return x.path()
		}
		return p
	},
	"pathandquery":    func(x uriInfo) string { return x.path() + x.query() },
	"port":            func(x uriInfo) string { return strconv.Itoa(x.port()) },
	"query":           uriInfo.query,
	"scheme":          func(x uriInfo) string { return strings.ToLower(x.u.Scheme) },
	"schemeandserver": uriInfo.schemeAndServer,
	"userinfo":        uriInfo.userInfo,
}
