package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"

	"github.com/cuttle-sh/cuttle/internal/progress"
	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// maxFetchAnswer bounds package-fetch's answer (one JSON line).
const maxFetchAnswer = 64 << 10

// fetchRequest is what package-fetch reads on stdin: the source, and the
// feed's credentials. It goes on stdin only: a URL may carry a token.
func fetchRequest(p Package) ([]byte, error) {
	req := wire.PackageFetch{Source: *p.Fetch}
	if p.Feed != nil && p.Feed.Username != "" {
		req.Username, req.Password = p.Feed.Username, p.Feed.Password.Reveal()
	}
	return json.Marshal(req)
}

// fetchPackage has the worker acquire the package itself (acquisition:
// worker): package-fetch downloads it into the worker's cache, unless
// the cache holds it, and places it in the work directory (unless
// CacheOnly). Nothing of the package crosses the controller's link. It
// returns the file's name as the source gave it.
func fetchPackage(ctx context.Context, sh Shell, p Package, facts Facts, runner string, cacheMax int64) (PackageResult, string, error) {
	r := PackageResult{Name: p.Name, ID: p.ID, Version: p.Version, Acquired: AcquiredWorker}
	body, err := fetchRequest(p)
	if err != nil {
		return r, "", err
	}
	var extra []string
	if cacheMax > 0 {
		extra = []string{"--cache-max-bytes", strconv.FormatInt(cacheMax, 10)}
	}
	if p.MaxDownload > 0 {
		extra = append(extra, "--max-download-bytes", strconv.FormatInt(p.MaxDownload, 10))
	}
	extra = append(extra, "--progress")
	out := limitedBuffer{max: maxFetchAnswer}
	tail := &tailBuffer{max: 2048}
	// Its progress lines move a bar, made with the download's size at the
	// first of them; the rest are the messages an error quotes.
	var bar progress.Tracker
	stderr, flush := progress.Filter(tail, func(line []byte) bool {
		done, total, ok := wire.ParseFetchProgress(string(line))
		if !ok {
			return false
		}
		if bar == nil && total > 0 {
			bar = progress.From(ctx).Transfer(sh.String(), p.what()+" (the worker's download)", total)
		} else if bar == nil {
			bar = progress.From(ctx).Count(sh.String(), p.what()+" (the worker's download, bytes)")
		}
		bar.SetCurrent(done)
		return true
	})
	cmd := &transport.Cmd{Args: placeArgs(runner, "package-fetch", p, facts, extra...), Stdin: bytes.NewReader(body), Stdout: &out, Stderr: stderr}
	err = sh.Run(ctx, cmd)
	flush()
	if bar != nil {
		bar.Done()
	}
	if err != nil {
		return r, "", packageErr(ctx, sh, p.what(), "acquiring it on the worker", err, tail)
	}
	var got wire.PackageFetched
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || got.SHA256 == "" || got.FileName == "" {
		return r, "", stepErr(sh.String(), ReasonRunner, "package %s: the worker's step-runner answered %q to package-fetch", p.Name, lastLine(out.String()))
	}
	r.SHA256, r.Cached = got.SHA256, got.Cached
	return r, got.FileName, nil
}
