package remote

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/internal/shellquote"
)

// Placeholders a dry run prints for what only the worker's preflight
// learns.
const (
	dryHome   = "$HOME"
	dryStepID = "<step-id>"
	dryOwner  = "<uid>:<gid>"
	dryStart  = "<started>"
)

// DryRun writes what Run would do with st on worker, without reaching
// it: the step's worker, image, options and mounts, and the commands that
// would run on the worker, with masks (the run's) applied to all of it.
// It refuses what Run would refuse before reaching the worker. What only
// the worker knows (its home, the step's id, the owner) is a placeholder.
func (c *Controller) DryRun(w io.Writer, worker string, b bundle.Bundle, st Step, masks *mask.Set) error {
	e := &Execution{ctl: c, b: b, st: st, out: Output{Masks: masks}}
	if err := e.validate(worker); err != nil {
		return err
	}
	st = e.st
	home := dryHome
	p := runPlan{
		StepID: dryStepID, Started: dryStart, Home: home, WorkDir: home + "/.cuttle/work/" + dryStepID,
		BundleDir: home + "/.cuttle/bundles/" + b.Digest, Image: st.Image, NoPull: true,
		Script: ScriptName, Syntax: st.Syntax, Options: st.ContainerOptions,
		LogOnly: st.External == nil && st.ReattachWindow > 0, EngineWait: st.ReattachWindow,
	}
	if st.External != nil {
		p.ExternalDir = home + "/.cuttle/bundles/" + st.External.Digest
		p.Command = []string{"<" + st.External.Command + ">"}
	}
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "worker:\t%s\n", worker)
	fmt.Fprintf(tw, "step:\t%s\n", st.Name)
	fmt.Fprintf(tw, "image:\t%s\n", dryImage(st))
	fmt.Fprintf(tw, "runner:\t%s\n", dryRunner(st))
	fmt.Fprintf(tw, "path:\t%s\n", dryPath(st))
	fmt.Fprintf(tw, "options:\t%s\n", dryJoin(st.ContainerOptions, "none"))
	fmt.Fprintf(tw, "mounts:\t%s\n", dryJoin(dryMounts(p), "none"))
	if st.ReattachWindow > 0 {
		fmt.Fprintf(tw, "reattach window:\t%s\n", st.ReattachWindow)
	}
	if st.Slots > 0 {
		fmt.Fprintf(tw, "slots:\t%d per worker (docker run waits for one, by flock under %s/.cuttle/locks)\n", st.Slots, home)
	}
	for _, v := range st.Variables {
		value := v.Value
		if v.Sensitive {
			value = "********"
		}
		fmt.Fprintf(tw, "variable:\t%s=%s\n", v.Name, value)
	}
	tw.Flush()
	sb.WriteString("commands on the worker:\n")
	sb.WriteString("  preflight: records the step, makes its work directory, checks the bundle and the image\n")
	if st.Build != nil {
		sb.WriteString("  build: docker build on the worker (tag by content)\n")
	} else if st.Pull == PullAlways || st.Feed != nil && st.Feed.Username != "" {
		sb.WriteString("  " + dryArgs(dockerPullArgs(st.Image)) + "\n")
	}
	run := dockerRunArgs(p)
	for i := range run {
		if run[i] == "--owner" && i+1 < len(run) {
			run[i+1] = dryOwner
		}
	}
	sb.WriteString("  " + dryArgs(run) + "\n")
	sb.WriteString("  cleanup: docker rm -f -v " + ContainerName(dryStepID) + "; rm -rf " + p.WorkDir + "\n")
	sb.WriteString("script (" + st.Syntax + "):\n")
	for _, line := range strings.Split(strings.TrimRight(string(st.Script), "\n"), "\n") {
		sb.WriteString("  | " + line + "\n")
	}
	_, err := io.WriteString(w, e.out.Masks.Mask(sb.String()))
	return err
}

func dryImage(st Step) string {
	switch {
	case st.Build != nil && st.Build.GitURL != "":
		return "built on the worker from " + st.Build.GitURL
	case st.Build != nil:
		return st.Image + " (built on the worker from the Dockerfile)"
	}
	s := st.Image + " (pull " + string(st.Pull)
	if st.Feed != nil && st.Feed.Username != "" {
		s += ", as " + st.Feed.Username
	}
	return s + ")"
}

func dryRunner(st Step) string {
	if st.External != nil {
		return "external: " + st.External.Command
	}
	return "cuttle step-runner (the variables on the container's stdin)"
}

func dryPath(st Step) string {
	if fastPathOK(st) {
		return "fast when the bundle and the image are on the worker (the preflight launches the step), else full"
	}
	return "full"
}

// dryMounts are the -v options of a docker run argv.
func dryMounts(p runPlan) []string {
	var mounts []string
	args := dockerRunArgs(p)
	for i := 0; i+1 < len(args) && args[i] != "--"; i++ {
		if args[i] == "-v" || args[i] == "--volume" || args[i] == "--mount" {
			mounts = append(mounts, args[i+1])
		}
	}
	return mounts
}

func dryJoin(s []string, none string) string {
	if len(s) == 0 {
		return none
	}
	return dryArgs(s)
}

func dryArgs(args []string) string {
	s, err := shellquote.Join(args...)
	if err != nil {
		return fmt.Sprintf("%q", args)
	}
	return s
}
