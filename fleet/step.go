package fleet

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/internal/shellquote"
	"github.com/cuttle-sh/cuttle/packages"
	"github.com/cuttle-sh/cuttle/remote"
	"github.com/cuttle-sh/cuttle/wire"
)

// StepInput is what BuildStep needs besides the config.
type StepInput struct {
	Step config.RunbookStep
	// BaseDir resolves relative script and Dockerfile paths.
	BaseDir string
	// Vars are the variables in scope (runbook, step, earlier outputs).
	Vars   *Variables
	Worker string
	// Feed, when set, overrides the container's feed (command-line
	// credentials).
	Feed            *remote.Feed
	AllowPrivileged bool
	// ArtifactsDir is the root: artifacts land in ArtifactsDir/<step>/.
	ArtifactsDir  string
	KeepWorkspace bool
	// External overrides the config's runner.
	External *remote.ExternalRunner
	// ReattachWindow arms the worker-side dead man's switch (0: off).
	ReattachWindow time.Duration
}

// BuildStep turns a runbook step (or `cuttle run`'s flags, which become
// one) into the plan remote.Run executes.
func BuildStep(cfg *config.Config, in StepInput) (remote.Step, error) {
	s := in.Step
	st := remote.Step{Name: s.Name, KeepWorkspace: in.KeepWorkspace, ArtifactsDir: filepath.Join(in.ArtifactsDir, remote.DirName(s.Name)),
		AllowPrivileged: in.AllowPrivileged, ReattachWindow: in.ReattachWindow}
	if err := grantOptions(cfg, in.Worker, &st); err != nil {
		return st, err
	}
	// The step's variables, with Octopus's names for the step and its
	// machine: the fields below are templates over them.
	vars := in.Vars.Clone()
	// In a fixed order: the payload and a dry run are the same each time.
	for _, kv := range [][2]string{
		{"Octopus.Action.Name", s.Name}, {"Octopus.Step.Name", s.Name}, {"Octopus.Machine.Name", in.Worker},
	} {
		if _, set := vars.Get(kv[0]); !set {
			vars.Set(kv[0], kv[1], false)
		}
	}
	if err := stepImage(cfg, in, vars, &st); err != nil {
		return st, err
	}
	if _, set := vars.Get("Octopus.Action.Container.Image"); !set {
		vars.Set("Octopus.Action.Container.Image", st.Image, false)
	}
	if s.Parameters != "" {
		vars.Set(ScriptParametersVariable, s.Parameters, false)
	}
	st.External = in.External
	if st.External == nil && cfg.Runner.Bundle != "" {
		st.External = &remote.ExternalRunner{BundleDir: ExpandHome(cfg.Runner.Bundle), Command: cfg.Runner.Command}
	}
	// Calamari evaluates the variables it is given itself; cuttle's runner
	// gets them evaluated.
	st.Variables = vars.List()
	if st.External == nil {
		st.Variables = vars.evaluated()
	}
	st.FailOnErrorOutput = vars.Template().Flag(FailOnErrorOutputVariable, false)
	var err error
	if st.Proxy, err = proxyFor(cfg, in.Worker, vars.Masks()); err != nil {
		return st, err
	}
	if err := stepOptions(s.Container.Options, vars, &st); err != nil {
		return st, err
	}
	if st.Packages, err = packageRefs(cfg, s.Packages, in.BaseDir); err != nil {
		return st, err
	}
	st.PackageCacheMax = cmp.Or(cfg.Defaults.PackageCacheMB, 10240) << 20
	st.SubstituteInFiles = s.SubstituteInFiles
	sc := s.Script
	if sc.Package != "" && sc.Parameters == "" {
		sc.Parameters = s.Parameters // the step's, as Octopus has one ScriptParameters
	}
	return st, stepScript(sc, in.BaseDir, vars, &st)
}

// stepImage sets st's image: built from a Dockerfile (inline or a file
// beside the runbook) or a Git URL, or pulled by its pull policy with the
// feed's credentials.
func stepImage(cfg *config.Config, in StepInput, vars *Variables, st *remote.Step) error {
	c := in.Step.Container
	var err error
	if c.Image, err = field(vars, "container.image", c.Image); err != nil {
		return err
	}
	switch {
	case c.Dockerfile != "":
		body := c.Dockerfile
		if !strings.Contains(body, "\n") {
			b, err := os.ReadFile(filepath.Join(in.BaseDir, body))
			if err != nil {
				return fmt.Errorf("container.dockerfile: %w", err)
			}
			body = string(b)
		}
		st.Build = &remote.Build{Dockerfile: []byte(body), Args: c.BuildArgs}
		st.Image = remote.BuildRepo
	case c.DockerfileURL != "":
		if strings.HasPrefix(c.DockerfileURL, "-") || strings.ContainsAny(c.DockerfileURL, " \t\n") {
			return fmt.Errorf("dockerfile_url %q: want repo.git#ref:subdir", c.DockerfileURL)
		}
		st.Build = &remote.Build{GitURL: c.DockerfileURL, Args: c.BuildArgs}
		st.Image = remote.BuildRepo
	default:
		if len(c.BuildArgs) > 0 {
			return errors.New("build arguments need a dockerfile or dockerfile_url")
		}
		if err := remote.ValidateImage(c.Image); err != nil {
			return err
		}
		st.Image = c.Image
	}
	for _, a := range c.BuildArgs {
		if k, _, ok := strings.Cut(a, "="); !ok || k == "" {
			return fmt.Errorf("build argument %q: want KEY=VALUE", a)
		}
	}
	if st.Pull, err = remote.ParsePullPolicy(c.Pull, st.Image); err != nil {
		return err
	}
	st.Feed = in.Feed
	if st.Feed == nil {
		if st.Feed, err = feedFor(cfg, c.Feed, remote.RegistryOf(st.Image)); err != nil {
			return err
		}
	}
	return nil
}

// stepOptions sets st's container options: the variable's, then the
// step's, checked against what the operator grants.
func stepOptions(options string, vars *Variables, st *remote.Step) error {
	opts, err := field(vars, "container.options", options)
	if err != nil {
		return err
	}
	if v, ok := vars.Get(ContainerOptionsVariable); ok && v.Value != "" {
		fromVar, err := field(vars, ContainerOptionsVariable, v.Value)
		if err != nil {
			return err
		}
		opts = strings.TrimSpace(fromVar + " " + opts)
	}
	if st.ContainerOptions, err = remote.SplitOptions(opts); err != nil {
		return err
	}
	return remote.ValidateOptions(st.ContainerOptions, st.OptionsPolicy())
}

// stepScript sets st's script (from a package, a file beside the runbook,
// or inline with the variables substituted) and its syntax (bash unless
// said or the script starts #!/bin/sh).
func stepScript(sc config.Script, baseDir string, vars *Variables, st *remote.Step) error {
	var err error
	switch {
	case sc.Package != "":
		if st.Script, err = packageScript(sc, st.Packages); err != nil {
			return err
		}
	case sc.File != "":
		p := sc.File
		if !filepath.IsAbs(p) {
			p = filepath.Join(baseDir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("script file: %w", err)
		}
		st.Script = b
	default:
		text, err := vars.Substitute(sc.Inline)
		if err != nil {
			return err
		}
		st.Script = []byte(text)
	}
	st.Syntax = sc.Syntax
	if st.Syntax == "" {
		st.Syntax = "bash"
		if bytes.HasPrefix(wire.NormalizeScript(st.Script), []byte("#!/bin/sh")) {
			st.Syntax = "sh"
		}
	}
	if st.Syntax != "bash" && st.Syntax != "sh" {
		return fmt.Errorf("script syntax %q: want bash or sh (PowerShell is not supported yet)", st.Syntax)
	}
	return nil
}

// proxyFor is the worker's proxy from the config (nil when none is set);
// its password joins masks.
func proxyFor(cfg *config.Config, worker string, masks *mask.Set) (*remote.Proxy, error) {
	p := cfg.ProxyFor(worker)
	if p == nil {
		return nil, nil
	}
	pw, err := p.Password()
	if err != nil {
		return nil, fmt.Errorf("worker %s: %w", worker, err)
	}
	masks.Add(pw.Reveal())
	// The form HTTP_PROXY carries it in, which may differ from the URL
	// encodings the mask set knows.
	masks.Add(wire.WebUtilityURLEncode(pw.Reveal()))
	return &remote.Proxy{Host: p.Host, Port: p.Port, Username: p.Username, Password: pw, UseDefault: p.UseDefault}, nil
}

// grantOptions gives st what the operator's cuttle.yaml grants the
// worker's container options: its own entry's, its pool's and the
// defaults' (allow_privileged from the worker or its pool). Nothing in a
// runbook adds to it.
func grantOptions(cfg *config.Config, worker string, st *remote.Step) error {
	w, ok := cfg.Workers[worker]
	if !ok {
		return nil // an address, not a worker of the config: --allow-privileged alone
	}
	st.WorkerName = worker
	pool := cfg.Pools[w.Pool]
	st.AllowPrivileged = st.AllowPrivileged || w.AllowPrivileged || pool.AllowPrivileged
	for _, src := range []struct {
		key             string
		mounts, devices []string
	}{
		{"defaults", cfg.Defaults.AllowedMounts, cfg.Defaults.AllowedDevices},
		{"pools." + w.Pool, pool.AllowedMounts, pool.AllowedDevices},
		{"workers." + worker, w.AllowedMounts, w.AllowedDevices},
	} {
		for i, m := range src.mounts {
			g, err := remote.ParseMountGrant(m)
			if err != nil {
				return fmt.Errorf("config %s: %s.allowed_mounts[%d]: %w", cfg.File, src.key, i, err)
			}
			st.AllowedMounts = append(st.AllowedMounts, g)
		}
		for i, d := range src.devices {
			g, err := remote.ParseDeviceGrant(d)
			if err != nil {
				return fmt.Errorf("config %s: %s.allowed_devices[%d]: %w", cfg.File, src.key, i, err)
			}
			st.AllowedDevices = append(st.AllowedDevices, g)
		}
	}
	return nil
}

// feedFor finds credentials: the named feed, or the config's feed whose
// registry is registry (an image's, an OCI source's, an https URL's
// host[:port]).
func feedFor(cfg *config.Config, name, registry string) (*remote.Feed, error) {
	feed, found, err := findFeed(cfg, name, registry)
	if err != nil {
		return nil, err
	}
	if !found || feed.Username == "" {
		return nil, nil
	}
	pw, err := feed.Password()
	if err != nil {
		return nil, err
	}
	return &remote.Feed{Registry: feed.Registry, Username: feed.Username, Password: pw}, nil
}

// packageRefs checks a step's packages and makes them the plan's; their
// files are acquired later (AcquirePackages).
func packageRefs(cfg *config.Config, refs []config.PackageRef, baseDir string) ([]remote.Package, error) {
	var pkgs []remote.Package
	seen := map[string]bool{}
	for _, r := range refs {
		sp, err := packages.FromRef(r.Name, r.Source, r.Extract, r.ID, r.Version, r.Feed, r.Acquisition, baseDir)
		if err != nil {
			return nil, err
		}
		if seen[sp.Name] {
			return nil, fmt.Errorf("package %s: named twice in one step", sp.Name)
		}
		seen[sp.Name] = true
		p := remote.Package{Name: sp.Name, ID: sp.ID, Version: sp.Version, Source: sp.Source.String(),
			FileName: sp.Source.FileName(), Extract: sp.Extract,
			MaxBytes: cfg.Defaults.PackageMaxExtractMB << 20, MaxEntries: cfg.Defaults.PackageMaxEntries,
			MaxDownload: cfg.Defaults.PackageMaxDownloadMB << 20}
		// The named feed, or the one whose registry is the source's (an
		// https URL's host[:port]): its credentials go to that server, as
		// HTTP basic authentication for an https source.
		if reg := sp.Source.Host(); reg != "" {
			if p.Feed, err = feedFor(cfg, sp.Feed, reg); err != nil {
				return nil, fmt.Errorf("package %s: %w", sp.Name, err)
			}
			// A feed named by a runbook lends its credentials only to its
			// own server: a runbook's author could otherwise send any
			// feed's password to a host of theirs.
			if p.Feed != nil && !wire.SameOrigin(&url.URL{Scheme: "https", Host: p.Feed.Registry}, &url.URL{Scheme: "https", Host: reg}) {
				return nil, fmt.Errorf("package %s: feed %s holds credentials for %s, not for %s, the source's server: name the feed whose registry is %s, or give the source on the feed's server", sp.Name, sp.Feed, p.Feed.Registry, reg, reg)
			}
		}
		if p.Fetch, err = workerSource(cfg, sp, r.CAFile, baseDir); err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
	return pkgs, nil
}

// AcquirePackages gets the files of st's packages onto the controller
// through store (once per source for the store's life).
func AcquirePackages(ctx context.Context, store *packages.Store, st *remote.Step) error {
	for i, p := range st.Packages {
		if p.Fetch != nil {
			continue // the worker acquires it
		}
		src, err := packages.ParseSource(p.Source)
		if err != nil {
			return err
		}
		var a *packages.Auth
		if p.Feed != nil {
			a = &packages.Auth{Username: p.Feed.Username, Password: p.Feed.Password}
		}
		f, err := store.Acquire(ctx, packages.Spec{Name: p.Name, Source: src}, a)
		if err != nil {
			return err
		}
		st.Packages[i].Path, st.Packages[i].SHA256, st.Packages[i].Size, st.Packages[i].FileName = f.Path, f.SHA256, f.Size, f.Name
	}
	return nil
}

// packageScript is the step script that runs a script file inside one of
// the step's (extracted) packages: from the package's directory, with the
// parameters as its arguments, sourced so that it has the helpers.
func packageScript(sc config.Script, pkgs []remote.Package) ([]byte, error) {
	if sc.Inline != "" {
		return nil, errors.New("script: give package and file, or inline, not both")
	}
	found := false
	for _, p := range pkgs {
		if p.Name == sc.Package {
			if !p.Extract {
				return nil, fmt.Errorf("script.package %s: the package is not extracted (extract: false)", sc.Package)
			}
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("script.package %s: no such package in the step's packages", sc.Package)
	}
	file := filepath.ToSlash(filepath.Clean(sc.File))
	if sc.File == "" || filepath.IsAbs(sc.File) || file == ".." || strings.HasPrefix(file, "../") {
		return nil, fmt.Errorf("script.file %q: want a path inside package %s", sc.File, sc.Package)
	}
	dir, err := shellquote.Join(sc.Package)
	if err != nil {
		return nil, err
	}
	path, err := shellquote.Join("./" + file)
	if err != nil {
		return nil, err
	}
	// Parameters are shell words the step's author wrote, as Octopus
	// appends them to the script's command line.
	return []byte("cd -- " + dir + " || exit 1\nset -- " + sc.Parameters + "\n. " + path + "\n"), nil
}
