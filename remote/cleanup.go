package remote

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/go-multierror"

	"github.com/cuttle-sh/cuttle/transport"
)

// cleanupScript removes a step's container and work directory. "No such
// container" counts as removed. $1 container, $2 work dir, $3 stop|gone|-
// (gone: docker run --rm removed it), $4 keep|-, $5 probe|- (report
// whether the container ever started).
const cleanupScript = `set -u
if [ "$3" = stop ]; then docker stop -t 10 "$1" >/dev/null 2>&1; fi
if [ "${5:--}" = probe ]; then echo "started=$(docker inspect --format '{{.State.StartedAt}}' "$1" 2>/dev/null)"; fi
cfail=
# -v: the anonymous volumes the step created (an image's VOLUME, a
# --mount without a source) go with it; named volumes stay.
if [ "$3" != gone ] && ! out=$(docker rm -f -v "$1" 2>&1); then
  case "$out" in
  *"No such container"*) ;;
  *"is already in progress"*)
    # docker run --rm's own removal is under way (a controller that
    # reattached did not see docker run return): the step is done once
    # the engine has finished it, 10 s at most.
    n=0
    while docker container inspect "$1" >/dev/null 2>&1; do
      n=$((n+1))
      if [ "$n" -gt 100 ]; then echo "container=its removal by the engine was still under way after 10 s"; cfail=1; break; fi
      sleep 0.1
    done ;;
  *) echo "container=$out"; cfail=1 ;;
  esac
fi
# Registry credentials go even when the work directory is kept (the pull
# or build removed them already, unless it was cut short).
cfg=$HOME/.cuttle/cfg/${2##*/}
rm -rf "$cfg" 2>/dev/null
if [ -n "$cfail" ]; then
  # The container may still run in it (an engine that is away): the work
  # directory and the heartbeat stay, and the worker's dead man's switch
  # removes both once the engine answers again.
  echo "workdir=left"
else
  rm -f "$2/.cuttle-heartbeat"
  if [ "$4" != keep ]; then
    rm -rf "$2" 2>/dev/null
    if [ -e "$2" ]; then echo "workdir=left"; fi
  fi
fi
# The run's record goes last, once what it lists is gone.
if [ -z "$cfail" ] && [ ! -e "$cfg" ] && { [ "$4" = keep ] || [ ! -e "$2" ]; }; then
  rm -f "$HOME/.cuttle/runs/${2##*/}.json"
fi
`

// cleanup removes what a step created. stop asks the container to stop
// gracefully first (the step was interrupted). It is idempotent and safe
// after a failed setup. It reports whether the container ever started,
// which tells docker's own exit codes 125-127 from the script's.
func cleanup(ctx context.Context, sh Shell, p runPlan, stop, keep, probe bool) (started bool, err error) {
	var out bytes.Buffer
	if err := sh.Run(ctx, &transport.Cmd{Args: cleanupArgs(p, stop, keep, probe), Stdout: &out}); err != nil {
		return false, fmt.Errorf("%w: worker %s: container %s and work directory %s: %v", ErrCleanup, sh, ContainerName(p.StepID), p.WorkDir, err)
	}
	return cleanupReport(ctx, sh, p, out.Bytes())
}

// cleanupArgs runs cleanupScript.
func cleanupArgs(p runPlan, stop, keep, probe bool) []string {
	flagStop, flagKeep, flagProbe := "-", "-", "-"
	if probe {
		flagProbe = "probe"
	}
	if stop {
		flagStop = "stop"
	} else if p.Removed {
		flagStop = "gone"
	}
	if keep {
		flagKeep = "keep"
	}
	return []string{"sh", "-c", cleanupScript, "sh", ContainerName(p.StepID), p.WorkDir, flagStop, flagKeep, flagProbe}
}

// cleanupReport reads what cleanupScript printed, removing as root what
// the SSH user could not.
func cleanupReport(ctx context.Context, sh Shell, p runPlan, report []byte) (started bool, err error) {
	kv := parseKV(report)
	started = kv["started"] != "" && !strings.HasPrefix(kv["started"], "0001-01-01")
	var result error
	if c := kv["container"]; c != "" {
		result = multierror.Append(result, fmt.Errorf("container %s: %s", ContainerName(p.StepID), c))
	}
	if kv["workdir"] == "left" {
		if err := removeAsRoot(ctx, sh, p); err != nil {
			result = multierror.Append(result, fmt.Errorf("work directory %s: %w", p.WorkDir, err))
		}
	}
	if result != nil {
		return started, fmt.Errorf("%w: worker %s: %v", ErrCleanup, sh, result)
	}
	return started, nil
}

// removeAsRoot removes a work directory holding files the SSH user cannot
// remove (the step created them as another user, and the runner could
// not hand them back): as root in a throwaway container of p.Image that
// runs the bundle's runner, then the directory and the run's record.
func removeAsRoot(ctx context.Context, sh Shell, p runPlan) error {
	tail := &tailBuffer{max: 1024}
	if err := sh.Run(ctx, &transport.Cmd{Args: removeTreeArgs(p), Stderr: tail}); err != nil {
		return fmt.Errorf("removing its files as root in a container of %s: %w: %s", p.Image, err, lastLine(tail.String()))
	}
	tail = &tailBuffer{max: 1024}
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", `rm -rf -- "$1" && rm -f "$HOME/.cuttle/runs/${1##*/}.json"`, "sh", p.WorkDir}, Stderr: tail}); err != nil {
		return fmt.Errorf("rm -rf: %w: %s", err, lastLine(tail.String()))
	}
	return nil
}

// recordPath is the step's per-run record on the worker.
func recordPath(home, stepID string) string { return home + "/.cuttle/runs/" + stepID + ".json" }

// recorded runs args after appending entry (a JSON object) to the step's
// record, so the record lists what args may create before it exists.
func recorded(record string, entry map[string]any, args []string) []string {
	b, _ := json.Marshal(entry)
	return append([]string{"sh", "-c", `printf '%s\n' "$1" >> "$2" && shift 2 && exec "$@"`, "sh", string(b), record}, args...)
}
