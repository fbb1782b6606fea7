package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// packageJob gets one step's packages onto a worker: acquired into its
// cache (~/.cuttle/packages) while the image is pulled, then placed in
// the work directory once the image, and so the user the step runs as,
// is known.
type packageJob struct {
	sh       Shell
	facts    Facts
	runner   string // the step runner on the worker
	cacheMax int64
}

// acquireDuringImage runs image (ensureImage: the image's USER, if it
// learnt it) while the step's packages are acquired, and places them.
// When the user the container runs as is known before the image is
// (--user, or the image was already on the worker), acquisition places
// each package in the same call: a cached package costs one call. Else
// acquisition only fills the cache, and one package-place call places
// them all afterwards. The first side to fail cancels the other and its
// error is returned; both have ended when this returns. It fills
// res.Packages, and st.Packages with what a worker's download learnt.
func acquireDuringImage(ctx context.Context, j packageJob, st *Step, res *Result, image func(context.Context) (string, bool, error)) error {
	user, known := userOption(st.ContainerOptions)
	if !known {
		user, known = settledUser(st, j.facts)
	}
	// The acquisition works on its own copy; st is the image's meanwhile.
	pkgs := slices.Clone(st.Packages)
	actx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var rs []PackageResult
	acquired := make(chan struct{})
	go func(place, share bool) {
		defer close(acquired)
		var err error
		if rs, err = j.acquire(actx, pkgs, place, share); err != nil {
			cancel(err)
		}
	}(known, nonRoot(user))
	imageUser, imageKnown, err := image(actx)
	if err != nil {
		cancel(err)
	}
	<-acquired
	st.Packages, res.Packages = pkgs, rs
	// The first failure is the cause; the other side's is its cancellation.
	if err := context.Cause(actx); err != nil {
		return err
	}
	if known {
		return nil
	}
	if user, known = imageUser, imageKnown; !known {
		if user, err = imageUserOf(ctx, j.sh, st.Image); err != nil {
			return err
		}
	}
	gone, err := j.place(ctx, st.Packages, nonRoot(user))
	if err != nil || len(gone) == 0 {
		return err
	}
	// The cache lost some since (a gc during a long pull): acquired again,
	// and placed in the same call now that whom for is known.
	again := make([]Package, len(gone))
	for k, i := range gone {
		again[k] = st.Packages[i]
	}
	rs, err = j.acquire(ctx, again, true, nonRoot(user))
	for k, r := range rs {
		r.BytesSent += res.Packages[gone[k]].BytesSent
		res.Packages[gone[k]] = r
	}
	return err
}

// acquire gets each package into the worker's cache, in order: found
// there, sent whole or as a delta, or downloaded by the worker itself.
// With place it is placed in the work directory in the same call (share:
// for a non-root user); without, it is left for place. It fills in pkgs
// what a worker's download learnt (the sha256 and file name).
func (j packageJob) acquire(ctx context.Context, pkgs []Package, place, share bool) ([]PackageResult, error) {
	var rs []PackageResult
	for i := range pkgs {
		p := &pkgs[i]
		p.Share, p.CacheOnly = share, !place
		var r PackageResult
		var err error
		if p.Fetch != nil {
			r, p.FileName, err = fetchPackage(ctx, j.sh, *p, j.facts, j.runner, j.cacheMax)
			p.SHA256 = r.SHA256
		} else {
			r, err = placePackage(ctx, j.sh, *p, j.facts, j.runner, j.cacheMax)
		}
		if err != nil {
			return rs, err
		}
		rs = append(rs, r)
	}
	return rs, nil
}

// place places packages the worker's cache holds in the work directory,
// all in one package-place call; share gives a non-root user the owner's
// permission bits. It returns the indexes of those the cache no longer
// held.
func (j packageJob) place(ctx context.Context, pkgs []Package, share bool) ([]int, error) {
	list := make([]wire.PackagePlacement, len(pkgs))
	index := map[string]int{}
	names := make([]string, len(pkgs))
	for i, p := range pkgs {
		list[i] = wire.PackagePlacement{Name: p.Name, SHA256: p.SHA256, Extract: p.Extract, MaxBytes: p.MaxBytes, MaxEntries: p.MaxEntries,
			Meta: wire.PackageMeta{ID: p.ID, Version: p.Version, FileName: p.FileName}}
		index[p.Name], names[i] = i, p.Name
	}
	body, err := json.Marshal(list)
	if err != nil {
		return nil, err
	}
	args := []string{j.runner, "step-runner", "package-place", "--home", j.facts.Home, "--workdir", j.facts.WorkDir()}
	if share {
		args = append(args, "--share")
	}
	out := limitedBuffer{max: maxFetchAnswer}
	tail := &tailBuffer{max: 2048}
	if err := j.sh.Run(ctx, &transport.Cmd{Args: args, Stdin: bytes.NewReader(body), Stdout: &out, Stderr: tail}); err != nil {
		return nil, packageErr(ctx, j.sh, "packages "+strings.Join(names, ", "), "placing them in the work directory", err, tail)
	}
	var gone []int
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		i, ok := index[strings.TrimPrefix(line, wire.PackageGone)]
		switch {
		case line == "":
		case ok && strings.HasPrefix(line, wire.PackageGone):
			gone = append(gone, i)
		default:
			return nil, stepErr(j.sh.String(), ReasonRunner, "the worker's step-runner answered %q to package-place", lastLine(line))
		}
	}
	return gone, nil
}
