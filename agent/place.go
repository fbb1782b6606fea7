//go:build linux

package agent

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cuttle-sh/cuttle/wire"
)

// PackagePlace places packages the cache holds into workDir, extracted or
// unopened, in one call after the image is known: they were acquired
// into the cache (CacheOnly) while it was pulled, and share says now
// whether its user is another, non-root one. The acquisition checked each
// entry's sha256; here it only has to be there still. One the cache no
// longer holds (a gc trimmed it during a long pull) is named on out after
// wire.PackageGone, for the controller to acquire again; nothing else is
// written on out.
func PackagePlace(home, workDir string, share bool, pkgs []wire.PackagePlacement, out io.Writer) error {
	for _, pp := range pkgs {
		p := PackageSpec{Home: home, WorkDir: workDir, SHA256: pp.SHA256, Name: pp.Name, Meta: pp.Meta,
			Extract: pp.Extract, Limits: DefaultLimits, Share: share}
		if pp.MaxBytes > 0 {
			p.Limits.MaxBytes = pp.MaxBytes
		}
		if pp.MaxEntries > 0 {
			p.Limits.MaxEntries = pp.MaxEntries
		}
		if err := p.check(); err != nil {
			return err
		}
		_, err := os.Stat(filepath.Join(p.entry(), wire.PackageFile))
		if errors.Is(err, os.ErrNotExist) {
			if _, err := fmt.Fprintf(out, "%s%s\n", wire.PackageGone, p.Name); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("package %s: the package cache: %w", p.Name, err)
		}
		now := time.Now()
		_ = os.Chtimes(p.entry(), now, now) // gc ages entries out by this
		if err := place(p); err != nil {
			return err
		}
	}
	return nil
}
