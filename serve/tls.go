package serve

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// LoadTLS reads the page's certificate (with its chain) and key, PEM
// files as --tls-cert and --tls-key name them: both or neither. Neither
// returns nil: plain HTTP. Client certificates are not asked for; the
// token is what clients present.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	switch {
	case certFile == "" && keyFile == "":
		return nil, nil
	case certFile == "":
		return nil, errors.New("--tls-key without --tls-cert: give the certificate too (PEM, leaf first, then its chain)")
	case keyFile == "":
		return nil, errors.New("--tls-cert without --tls-key: give the certificate's private key too (PEM)")
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert %s, --tls-key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}
