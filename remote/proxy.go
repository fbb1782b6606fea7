package remote

import (
	"github.com/cuttle-sh/cuttle/internal/secret"
	"github.com/cuttle-sh/cuttle/wire"
)

// Proxy is a worker's proxy, as cuttle.yaml gives it; the runner computes
// the script's proxy variables from it as Calamari does.
type Proxy struct {
	Host       string
	Port       int
	Username   string
	Password   secret.Value
	UseDefault *bool
}

// payloadProxy is p as the runner receives it (on stdin).
func (p *Proxy) payloadProxy() *wire.Proxy {
	if p == nil {
		return nil
	}
	return &wire.Proxy{Host: p.Host, Port: p.Port, Username: p.Username, Password: p.Password.Reveal(), UseDefault: p.UseDefault}
}
