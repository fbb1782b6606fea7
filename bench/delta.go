package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cuttle-sh/cuttle/wire"
)

// deltaBench: a new version of a 100 MiB package the worker holds, 1 %
// of its bytes changed in pieces (-delta-piece KiB) spread through it, sent by cuttle
// (rsync's method: signatures on the worker, a delta from the controller)
// and by rsync over ssh, in the same run. Time is cuttle's image and
// packages phases (the package is acquired while the image is made ready;
// the step's other phases are not a transfer) against rsync's whole run;
// the bytes each sent are in the notes.
func (e *env) deltaBench(r *report) error {
	const size = 100 << 20
	piece := *deltaPiece << 10
	v1, v2 := filepath.Join(e.dir, "Acme.Big.1.0.0.tar"), filepath.Join(e.dir, "Acme.Big.1.0.1.tar")
	if err := randomFile(v1, size); err != nil {
		return err
	}
	b, err := os.ReadFile(v1)
	if err != nil {
		return err
	}
	pieces := size / 100 / piece // 1 % of the bytes
	for i := range pieces {
		at := i * (size / pieces)
		rand.Read(b[at : at+piece])
	}
	if err := os.WriteFile(v2, b, 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(b)
	cache := filepath.Join(e.w.User.Home, ".cuttle", "packages", hex.EncodeToString(sum[:]))
	dest := filepath.Join(e.w.User.Home, "rsync-big.tar")
	defer os.RemoveAll(cache)
	defer os.Remove(dest)
	pkgArgs := func(p string) []string {
		return append(e.runArgs("true"), "--package", "Big="+p+",extract=false")
	}
	// The worker holds v1, as after an earlier deployment.
	if _, err := e.runCuttle(pkgArgs(v1)...); err != nil {
		return fmt.Errorf("placing v1: %w", err)
	}
	if _, err := exec.LookPath("rsync"); err != nil {
		return fmt.Errorf("rsync is not installed (make deps): %w", err)
	}
	var cuttleSent, rsyncSent, rsyncReceived int64
	repFile := filepath.Join(e.dir, "delta-report.json")
	rsyncArgs := func(src string) []string {
		return []string{"--stats", "--no-whole-file", "-e", "ssh " + strings.Join(e.sshOpts(e.sshd.KnownHosts), " ") + " -p " + strconv.Itoa(e.sshd.Port),
			src, e.user + "@127.0.0.1:" + dest}
	}
	if _, err := output(exec.Command("rsync", rsyncArgs(v1)...)); err != nil {
		return fmt.Errorf("rsync of v1: %w", err)
	}
	sentRE := regexp.MustCompile(`Total bytes sent: ([\d,]+)`)
	receivedRE := regexp.MustCompile(`Total bytes received: ([\d,]+)`)
	s, err := rounds(*heavyRuns,
		func() (time.Duration, error) {
			if err := os.RemoveAll(cache); err != nil {
				return 0, err
			}
			if _, err := e.runCuttle(append(pkgArgs(v2), "--report", repFile)...); err != nil {
				return 0, err
			}
			var rep struct {
				Steps []struct {
					Phases   map[string]int64 `json:"phases"`
					Packages []struct {
						BytesSent int64 `json:"bytes_sent"`
						Delta     bool  `json:"delta"`
					} `json:"packages"`
				} `json:"steps"`
			}
			raw, err := os.ReadFile(repFile)
			if err == nil {
				err = json.Unmarshal(raw, &rep)
			}
			if err != nil || len(rep.Steps) != 1 || len(rep.Steps[0].Packages) != 1 || !rep.Steps[0].Packages[0].Delta {
				return 0, fmt.Errorf("cuttle's report does not show a delta (%v): %s", err, tail(raw))
			}
			cuttleSent = rep.Steps[0].Packages[0].BytesSent
			// The package is acquired while the image is made ready, so
			// both phases count (the image is present here: a lookup).
			ph := rep.Steps[0].Phases
			return time.Duration(ph["image"]+ph["packages"]) * time.Millisecond, nil
		},
		func() (time.Duration, error) {
			// Back to v1 (untimed), as the worker held it.
			if _, err := output(exec.Command("rsync", rsyncArgs(v1)...)); err != nil {
				return 0, err
			}
			var out []byte
			d, err := timed(func() error {
				var err error
				out, err = output(exec.Command("rsync", rsyncArgs(v2)...))
				return err
			})
			m, mr := sentRE.FindSubmatch(out), receivedRE.FindSubmatch(out)
			if err == nil && (m == nil || mr == nil) {
				err = fmt.Errorf("rsync --stats printed no byte count: %s", tail(out))
			}
			if err == nil {
				rsyncSent, err = strconv.ParseInt(strings.ReplaceAll(string(m[1]), ",", ""), 10, 64)
			}
			if err == nil {
				rsyncReceived, err = strconv.ParseInt(strings.ReplaceAll(string(mr[1]), ",", ""), 10, 64)
			}
			if err == nil {
				err = checkSize("rsync", dest, size)
			}
			return d, err
		})
	if err != nil {
		return err
	}
	r.add(row{name: fmt.Sprintf("package delta: 100 MiB, 1 %% changed in %d KiB pieces", *deltaPiece), cuttle: s[0], peer: s[1], peerName: "rsync over ssh",
		note: fmt.Sprintf("bytes sent: cuttle %d (%.2f %% of the file), rsync %d; cuttle/rsync %.2fx; the other way (block signatures): cuttle %d, rsync %d",
			cuttleSent, 100*float64(cuttleSent)/size, rsyncSent, float64(cuttleSent)/float64(rsyncSent), wire.SignatureSize(size), rsyncReceived)})
	r.method("package delta: v1 of a 100 MiB uncompressed package is on the worker (cuttle's cache; rsync's destination file); v2 differs in evenly spread pieces (-delta-piece KiB) making up 1 %% of it. " +
		"cuttle: `cuttle run --package Big=v2,extract=false`, timed by its report's image and packages phases (the package is acquired while the image is made ready; signatures on the worker, the delta, the rebuild and sha256 check, placing the file); " +
		"rsync: `rsync --stats --no-whole-file -e ssh v2 worker:dest`, whole process timed. Bytes are cuttle's report's bytes_sent and rsync's \"Total bytes sent\"; " +
		"the other way, cuttle's signature's size (computed: the report does not carry it) and rsync's \"Total bytes received\" (its block checksums and protocol).")
	return nil
}
