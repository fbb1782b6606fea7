package wire

import (
	"fmt"
	"strings"
)

// Proxy is a worker's proxy setting, as Tentacle's proxy variables hold
// it (TentacleProxyHost, ...Port, ...Username, ...Password,
// TentacleUseDefaultProxy).
type Proxy struct {
	Host     string `json:"host,omitempty"`
	Port     int    `json:"port,omitempty"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// UseDefault unset means true, as in Tentacle.
	UseDefault *bool `json:"use_default,omitempty"`
}

// WebUtilityURLEncode is System.Net.WebUtility.UrlEncode, the form the
// runner puts proxy credentials in HTTP_PROXY (the controller masks that
// form too): letters, digits and
// -_.!*() stay, a space becomes +, every other byte of the UTF-8 text
// becomes %XX.
func WebUtilityURLEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-_.!*()", c) >= 0:
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
