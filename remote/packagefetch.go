package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
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
	stderr := &fetchStderr{start: func(total int64) progress.Tracker {
		if total > 0 {
			return progress.From(ctx).Transfer(sh.String(), p.what()+" (the worker's download)", total)
		}
		return progress.From(ctx).Count(sh.String(), p.what()+" (the worker's download, bytes)")
	}, rest: tail}
	cmd := &transport.Cmd{Args: placeArgs(runner, "package-fetch", p, facts, extra...), Stdin: bytes.NewReader(body), Stdout: &out, Stderr: stderr}
	err = sh.Run(ctx, cmd)
	stderr.end()
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

// fetchStderr is package-fetch's stderr: its progress lines move a bar
// (started by start with the download's size on the first of them), the
// rest go to rest, the messages an error quotes.
type fetchStderr struct {
	start   func(total int64) progress.Tracker
	rest    io.Writer
	bar     progress.Tracker
	partial []byte
}

func (f *fetchStderr) Write(b []byte) (int, error) {
	f.partial = append(f.partial, b...)
	for {
		i := bytes.IndexByte(f.partial, '\n')
		if i < 0 {
			break
		}
		line := f.partial[:i+1]
		if done, total, ok := wire.ParseFetchProgress(string(line[:i])); ok {
			if f.bar == nil {
				f.bar = f.start(total)
			}
			f.bar.SetCurrent(done)
		} else {
			f.rest.Write(line)
		}
		f.partial = f.partial[i+1:]
	}
	if len(f.partial) > maxFetchLine {
		f.rest.Write(f.partial) // no progress line is this long
		f.partial = f.partial[:0]
	}
	return len(b), nil
}

// maxFetchLine bounds the unended line fetchStderr keeps.
const maxFetchLine = 4096

// end ends the bar, if a download started one, and passes on what is
// left of an unended line.
func (f *fetchStderr) end() {
	if f.bar != nil {
		f.bar.Done()
	}
	if len(f.partial) > 0 {
		f.rest.Write(f.partial)
		f.partial = nil
	}
}
