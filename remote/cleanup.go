package remote

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hashicorp/go-multierror"

	"github.com/cuttle-sh/cuttle/transport"
)

// cleanupScript removes a step's container and work directory. "No such
// container" counts as removed. $1 container, $2 work dir, $3 stop|-, $4 keep|-,
// $5 probe|- (report whether the container ever started).
//
//go:embed scripts/cleanup.sh
var cleanupScript string

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
		// Files the step created as another user that the runner could not
		// hand back: remove them as root in a throwaway container.
		err := sh.Run(ctx, &transport.Cmd{Args: removeTreeArgs(p)})
		if err == nil {
			err = sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", `rm -rf -- "$1" && rm -f "$HOME/.cuttle/runs/${1##*/}.json"`, "sh", p.WorkDir}})
		}
		if err != nil {
			result = multierror.Append(result, fmt.Errorf("work directory %s: %v", p.WorkDir, err))
		}
	}
	if result != nil {
		return started, fmt.Errorf("%w: worker %s: %v", ErrCleanup, sh, result)
	}
	return started, nil
}

// recordPath is the step's per-run record on the worker.
func recordPath(home, stepID string) string { return home + "/.cuttle/runs/" + stepID + ".json" }

// recorded runs args after appending entry (a JSON object) to the step's
// record, so the record lists what args may create before it exists.
func recorded(record string, entry map[string]any, args []string) []string {
	b, _ := json.Marshal(entry)
	return append([]string{"sh", "-c", `printf '%s\n' "$1" >> "$2" && shift 2 && exec "$@"`, "sh", string(b), record}, args...)
}
