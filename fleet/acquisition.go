package fleet

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/packages"
	"github.com/cuttle-sh/cuttle/wire"
)

// findFeed is the feed named, or (none named) the config's feed whose
// registry is registry.
func findFeed(cfg *config.Config, name, registry string) (config.Feed, bool, error) {
	if name != "" {
		feed, found := cfg.Feeds[name]
		if !found {
			return config.Feed{}, false, fmt.Errorf("feed %s: no such feed in the config", name)
		}
		return feed, true, nil
	}
	for _, f := range cfg.Feeds {
		if f.Registry == registry {
			return f, true, nil
		}
	}
	return config.Feed{}, false, nil
}

// workerSource is where the worker downloads sp from itself, when it
// acquires it (acquisition: worker, the package's or else its feed's),
// with the CA bundle of caFile (the package's, relative to baseDir, or
// else its feed's) read here, as the worker may not have the file. It is
// nil when the controller acquires the package.
func workerSource(cfg *config.Config, sp packages.Spec, caFile, baseDir string) (*wire.PackageSource, error) {
	var src wire.PackageSource
	host := sp.Source.Registry
	switch sp.Source.Kind {
	case packages.HTTPS:
		u, err := url.Parse(sp.Source.URL)
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", sp.Name, err)
		}
		host = u.Host
		src = wire.PackageSource{URL: sp.Source.URL, SHA256: sp.Source.SHA256, FileName: sp.Source.FileName()}
	case packages.OCI:
		src = wire.PackageSource{Registry: sp.Source.Registry, Repository: sp.Source.Repository, Reference: sp.Source.Reference}
	default:
		if caFile != "" {
			return nil, fmt.Errorf("package %s: ca_file is for an https or oci source the worker acquires (acquisition: worker)", sp.Name)
		}
		return nil, nil
	}
	feed, _, err := findFeed(cfg, sp.Feed, host)
	if err != nil {
		return nil, fmt.Errorf("package %s: %w", sp.Name, err)
	}
	acq := sp.Acquisition
	if acq == "" {
		acq = packages.Acquisition(feed.Acquisition)
	}
	if acq != packages.AcquireWorker {
		if caFile != "" {
			return nil, fmt.Errorf("package %s: ca_file is for acquisition: worker (the controller trusts its system's CAs, or those of SSL_CERT_FILE): add acquisition: worker or drop ca_file", sp.Name)
		}
		return nil, nil
	}
	if caFile != "" && !filepath.IsAbs(caFile) && baseDir != "" {
		caFile = filepath.Join(baseDir, caFile)
	}
	if caFile == "" {
		caFile = feed.CAFile
	}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("package %s: ca_file: %w", sp.Name, err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("package %s: ca_file %s holds no PEM certificate: give the CA's certificate (-----BEGIN CERTIFICATE-----)", sp.Name, caFile)
		}
		src.CAPEM = string(b)
	}
	return &src, nil
}
