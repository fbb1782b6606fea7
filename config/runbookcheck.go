package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cuttle-sh/cuttle/wire"

	"github.com/distribution/reference"
)

// checkReferences finds what the step names but cannot be there: a
// script file that does not exist, an image name docker would refuse
// (uppercase letters, a bad tag or digest), checked with
// distribution/reference as docker checks it. Templated names (#{...})
// are checked once they are filled in, when the step runs.
func (rb *Runbook) checkReferences(bad stepProblem) {
	for i, s := range rb.Steps {
		// A script file inside a package is in the package, not here.
		if f := s.Script.File; f != "" && s.Script.Package == "" && !strings.Contains(f, "#{") {
			p := f
			if !filepath.IsAbs(p) {
				p = filepath.Join(rb.Dir, p)
			}
			if st, err := os.Stat(p); err != nil {
				bad(i, s, "script file %s: %v", f, pathError(err))
			} else if st.IsDir() {
				bad(i, s, "script file %s is a directory", f)
			}
		}
		if img := s.Container.Image; img != "" && !strings.Contains(img, "#{") {
			if _, err := reference.ParseNormalizedNamed(img); err != nil {
				bad(i, s, "image %q: %v (image names are lowercase: registry/name:tag or name@sha256:...)", img, err)
			}
		}
		if s.Parameters != "" && s.Script.Parameters != "" {
			bad(i, s, "parameters are given twice, as parameters and script.parameters: keep one")
		}
		for _, p := range s.SubstituteInFiles {
			if err := s.CheckSubstitute(p); err != nil {
				bad(i, s, "%v", err)
			}
		}
	}
}

// CheckSubstitute says what is wrong with a substitute_in_files pattern:
// it must stay in the work directory, and its first directory must be
// one of the step's extracted packages (the only files there before the
// script runs), unless that directory is itself a wildcard.
func (s RunbookStep) CheckSubstitute(p string) error {
	if err := wire.CheckPattern(p); err != nil {
		return fmt.Errorf("substitute_in_files: %w", err)
	}
	first, _, _ := strings.Cut(p, "/")
	if strings.ContainsAny(first, "*?[") {
		return nil
	}
	var names []string
	for _, r := range s.Packages {
		if r.Extract == nil || *r.Extract {
			if r.Name == first {
				return nil
			}
			names = append(names, r.Name)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("substitute_in_files %q: the step has no extracted package; substitution applies to files of packages, written as NAME/path (add a package)", p)
	}
	return fmt.Errorf("substitute_in_files %q: %s is not an extracted package of this step: start the pattern with one of %s", p, first, strings.Join(names, ", "))
}

// pathError is err without the path os.Stat repeats.
func pathError(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

// CheckWorkers names the steps whose worker is neither in the config nor
// an address (user@host, ssh://...) nor one of known (ssh_config's
// aliases): a typo that would otherwise become a DNS lookup when the step
// comes.
func (rb *Runbook) CheckWorkers(cfg *Config, known []string) error {
	var problems []string
	for i, s := range rb.Steps {
		w := s.Worker
		if w == "" || strings.Contains(w, "#{") || strings.Contains(w, "@") || strings.HasPrefix(w, "ssh://") {
			continue
		}
		if _, ok := cfg.Workers[w]; ok {
			continue
		}
		found := false
		for _, k := range known {
			found = found || k == w
		}
		if !found {
			problems = append(problems, fmt.Sprintf("steps[%d] (%s): worker %q is not in the config (%s) nor an ssh_config alias: give a worker name from the config, or user@host[:port]", i, s.Name, w, cfg.File))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("runbook %s: %s", rb.File, strings.Join(problems, "; "))
	}
	return nil
}
