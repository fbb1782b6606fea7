package fleet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/remote"
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
// one) into the plan remote.Controller.Run executes.
func BuildStep(cfg *config.Config, in StepInput) (remote.Step, error) {
	s := in.Step
	st := remote.Step{Name: s.Name, KeepWorkspace: in.KeepWorkspace, ArtifactsDir: filepath.Join(in.ArtifactsDir, remote.DirName(s.Name)),
		AllowPrivileged: in.AllowPrivileged, ReattachWindow: in.ReattachWindow}
	if err := grantOptions(cfg, in.Worker, &st); err != nil {
		return st, err
	}
	if err := stepImage(cfg, in, &st); err != nil {
		return st, err
	}
	vars := in.Vars.Clone()
	// In a fixed order: the payload and a dry run are the same each time.
	for _, kv := range [][2]string{
		{"Octopus.Action.Name", s.Name}, {"Octopus.Step.Name", s.Name},
		{"Octopus.Machine.Name", in.Worker}, {"Octopus.Action.Container.Image", st.Image},
	} {
		if _, set := vars.Get(kv[0]); !set {
			vars.Set(kv[0], kv[1], false)
		}
	}
	st.Variables, st.Masks = vars.List(), vars.Masks()
	st.External = in.External
	if st.External == nil && cfg.Runner.Bundle != "" {
		st.External = &remote.ExternalRunner{BundleDir: ExpandHome(cfg.Runner.Bundle), Command: cfg.Runner.Command}
	}
	if err := stepOptions(s.Container.Options, vars, &st); err != nil {
		return st, err
	}
	err := stepScript(s, in.BaseDir, vars, &st)
	return st, err
}

// stepImage sets the step's image or build, its pull policy and feed.
func stepImage(cfg *config.Config, in StepInput, st *remote.Step) error {
	c := in.Step.Container
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
	var err error
	if st.Pull, err = remote.ParsePullPolicy(c.Pull, st.Image); err != nil {
		return err
	}
	st.Feed = in.Feed
	if st.Feed == nil {
		st.Feed, err = feedFor(cfg, c.Feed, st.Image)
	}
	return err
}

// stepOptions sets the step's container options: the variable's, then
// the step's own.
func stepOptions(opts string, vars *Variables, st *remote.Step) error {
	if v, ok := vars.Get(ContainerOptionsVariable); ok && v.Value != "" {
		opts = strings.TrimSpace(v.Value + " " + opts)
	}
	var err error
	if st.ContainerOptions, err = remote.SplitOptions(opts); err != nil {
		return err
	}
	return remote.ValidateOptions(st.ContainerOptions, st.OptionsPolicy())
}

// stepScript sets the step's script and its syntax.
func stepScript(s config.RunbookStep, baseDir string, vars *Variables, st *remote.Step) error {
	switch {
	case s.Script.File != "":
		p := s.Script.File
		if !filepath.IsAbs(p) {
			p = filepath.Join(baseDir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("script file: %w", err)
		}
		st.Script = b
	default:
		text, err := vars.Substitute(s.Script.Inline)
		if err != nil {
			return err
		}
		st.Script = []byte(text)
	}
	st.Syntax = s.Script.Syntax
	if st.Syntax == "" {
		st.Syntax = "bash"
		if strings.HasPrefix(string(st.Script), "#!/bin/sh") {
			st.Syntax = "sh"
		}
	}
	if st.Syntax != "bash" && st.Syntax != "sh" {
		return fmt.Errorf("script syntax %q: want bash or sh (PowerShell is not supported yet)", st.Syntax)
	}
	return nil
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
// registry is the image's.
func feedFor(cfg *config.Config, name, image string) (*remote.Feed, error) {
	var feed config.Feed
	found := false
	if name != "" {
		if feed, found = cfg.Feeds[name]; !found {
			return nil, fmt.Errorf("feed %s: no such feed in the config", name)
		}
	} else {
		for _, f := range cfg.Feeds {
			if f.Registry == remote.RegistryOf(image) {
				feed, found = f, true
			}
		}
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
