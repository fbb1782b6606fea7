package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/config"
	"github.com/cuttle-sh/cuttle/internal/mask"
	"github.com/cuttle-sh/cuttle/remote"
	"github.com/cuttle-sh/cuttle/transport"
)

// ticketDir is where `cuttle run` keeps the tickets of its running steps:
// tickets/ in the state directory.
func ticketDir() (string, error) {
	base, err := stateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "tickets"), nil
}

// bundleTrust keeps the fingerprints of the bundles this controller
// checked in bundles/ in the state directory (in memory without one).
func bundleTrust() *remote.BundleTrust {
	base, err := stateDir()
	if err != nil {
		return remote.NewBundleTrust("")
	}
	return remote.NewBundleTrust(filepath.Join(base, "bundles"))
}

// newController is the process's controller, with its bundle caches and
// the runners for every worker architecture this build carries.
func newController() *remote.Controller {
	ctl := remote.NewController()
	ctl.Trust, ctl.Runners = bundleTrust(), bundle.Available()
	return ctl
}

// stateDir is $CUTTLE_STATE_DIR, else $XDG_STATE_HOME/cuttle, else
// ~/.local/state/cuttle.
func stateDir() (string, error) {
	base := os.Getenv("CUTTLE_STATE_DIR")
	if base == "" {
		if x := os.Getenv("XDG_STATE_HOME"); x != "" {
			base = filepath.Join(x, "cuttle")
		} else {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("no state directory: set CUTTLE_STATE_DIR (%w)", err)
			}
			base = filepath.Join(home, ".local", "state", "cuttle")
		}
	}
	return base, nil
}

// validStepID keeps a step id from naming a path outside the ticket
// directory.
func validStepID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
			return false
		}
	}
	return true
}

// saveTicket writes t whole (temp file and rename), readable by the user
// alone; it returns the function that removes it.
func saveTicket(t remote.Ticket) (remove func(), err error) {
	dir, err := ticketDir()
	if err != nil {
		return func() {}, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return func() {}, err
	}
	b, err := json.Marshal(t)
	if err != nil {
		return func() {}, err
	}
	f, err := os.CreateTemp(dir, ".ticket-*")
	if err != nil {
		return func() {}, err
	}
	_, werr := f.Write(b)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	path := filepath.Join(dir, t.StepID+".json")
	if werr == nil {
		werr = os.Rename(f.Name(), path)
	}
	if werr != nil {
		os.Remove(f.Name())
		return func() {}, werr
	}
	return func() { os.Remove(path) }, nil
}

func loadTicket(id string) (remote.Ticket, string, error) {
	var t remote.Ticket
	dir, err := ticketDir()
	if err != nil {
		return t, "", err
	}
	if !validStepID(id) {
		return t, "", fmt.Errorf("%q is not a step id (they look like 20261127073330-14254-1; `cuttle attach` lists them)", id)
	}
	path := filepath.Join(dir, id+".json")
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return t, path, fmt.Errorf("no ticket for step %s in %s: it ended, or was started by another user or machine (`cuttle attach` lists the tickets here)", id, dir)
	}
	if err != nil {
		return t, path, err
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return t, path, fmt.Errorf("ticket %s: %w", path, err)
	}
	return t, path, nil
}

// ticketRow is one line of attach's list.
type ticketRow struct {
	StepID  string    `json:"step_id"`
	Name    string    `json:"name"`
	Worker  string    `json:"worker"`
	Started time.Time `json:"started"`
	// Controller is "running (pid N)", or "gone" when attach may take
	// the step over.
	Controller string `json:"controller"`
	PID        int    `json:"pid,omitempty"`
}

// listTickets prints the tickets of steps whose controller did not end
// them (killed, or still running): a table, or JSON.
func listTickets(io stdio, asJSON bool) error {
	dir, err := ticketDir()
	if err != nil {
		return err
	}
	entries, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	sort.Strings(entries)
	rows := []ticketRow{}
	for _, e := range entries {
		var t remote.Ticket
		if b, err := os.ReadFile(e); err == nil && json.Unmarshal(b, &t) == nil {
			row := ticketRow{StepID: t.StepID, Name: t.Name, Worker: t.Worker, Started: t.Started.UTC(), Controller: "gone"}
			if alive(t) {
				row.Controller, row.PID = "running", t.ControllerPID
			}
			rows = append(rows, row)
		}
	}
	if asJSON {
		return writeJSON(io.Out, rows)
	}
	if len(rows) == 0 {
		fmt.Fprintf(io.Out, "no step tickets in %s: nothing to attach to\n", dir)
		return nil
	}
	fmt.Fprintf(io.Out, "%-28s %-20s %-30s %-21s %s\n", "STEP", "NAME", "WORKER", "STARTED", "CONTROLLER")
	for _, r := range rows {
		state := "gone: cuttle attach " + r.StepID
		if r.Controller == "running" {
			state = fmt.Sprintf("running (pid %d)", r.PID)
		}
		fmt.Fprintf(io.Out, "%-28s %-20s %-30s %-21s %s\n", r.StepID, r.Name, r.Worker, r.Started.Format(time.RFC3339), state)
	}
	return nil
}

func newAttachCmd(io stdio) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "attach [STEP-ID]",
		Short: "Follow a running step that a killed cuttle run started: its whole output, exit code, artifacts and cleanup",
		Long: `attach takes over a step whose controller is gone (killed, or its machine
rebooted) while the step still runs on the worker, within its reattach
window: it replays the output from the start, masked, then follows it to
the end, takes the script's exit code, downloads the artifacts and cleans
up, as cuttle run would have. Without a step id it lists the steps it can
attach to. Ctrl-C detaches and leaves the step running.`,
		Args: cobra.MaximumNArgs(1),
	}
	f := cmd.Flags()
	f.String("worker", "", "the worker (default: the one the step was started on)")
	connectionFlags(f)
	f.String("artifacts", "", "where artifacts land, as DIR/<step name>/<artifact name> (default: where the killed run would have put them)")
	f.String("report", "", "write a JSON report to this file")
	f.Bool("verbose", false, "show the script's verbose lines (write_verbose)")
	f.Bool("force", false, "attach even though the process that started the step seems alive")
	f.String("output", "text", "the list as text or json (a takeover prints the step's output; its report is --report)")
	cmd.RunE = withFlags(func(ctx context.Context, fl *config.Flags, args []string) error {
		asJSON, err := jsonOutput(fl)
		if err != nil {
			return err
		}
		if len(args) == 0 {
			return listTickets(io, asJSON)
		}
		if asJSON {
			return inputError("--output json is for the list (cuttle attach with no step id); a takeover streams the step's output: give --report FILE for its result as JSON")
		}
		return attachStep(ctx, io, fl, args[0])
	})
	return cmd
}

func attachStep(ctx context.Context, io stdio, fl *config.Flags, id string) error {
	t, path, err := loadTicket(id)
	if err != nil {
		return inputError("%w", err)
	}
	if alive(t) && !fl.Bool("force") {
		return inputError("step %s is still followed by its controller (pid %d on %s): two controllers would both clean it up; stop that one first, or give --force if that pid is not cuttle", id, t.ControllerPID, t.ControllerHost)
	}
	_, target, err := resolveWorker(fl, orDefault(fl.String("worker"), t.Worker))
	if err != nil {
		return err
	}
	// Without a runner of its own (a non-Linux controller without
	// CUTTLE_RUNNER) this cuttle cannot check the step's bundle.
	self, _ := bundle.Self()
	artifacts := t.ArtifactsDir
	if a := fl.String("artifacts"); a != "" || artifacts == "" {
		artifacts = filepath.Join(orDefault(a, "artifacts"), remote.DirName(t.Name))
	}
	return oneStep(ctx, fl, target, stepReport{Name: t.Name, Worker: target.String()}, func(conn *transport.Conn) (remote.Result, error, *mask.Set) {
		// Filled from the step's masks file and its output: the report
		// and errors are masked with it as well.
		masks := mask.NewSet()
		res, err := remote.NewController().Resume(ctx, conn, self, t, artifacts, masks, stepOutput(io, fl))
		var se *remote.StepError
		if err == nil || errors.As(err, &se) && (se.Reason == remote.ReasonWorkspace || se.Reason == remote.ReasonDocker) {
			os.Remove(path) // the step is over: nothing left to attach to
		}
		return res, err, masks
	})
}

// alive reports whether the controller that started t still runs, as far
// as this machine can tell.
func alive(t remote.Ticket) bool {
	host, _ := os.Hostname()
	if t.ControllerPID <= 0 || t.ControllerHost != host || t.ControllerPID == os.Getpid() {
		return false
	}
	return processAlive(t.ControllerPID)
}

// keepTicket saves a running step's ticket (its artifacts directory made
// absolute, so attach finds it from anywhere) and returns what drops it;
// a ticket that cannot be kept costs a warning, not the step.
func keepTicket(log *zerolog.Logger) func(remote.Ticket) func() {
	return func(t remote.Ticket) func() {
		t.ControllerHost, _ = os.Hostname()
		t.ControllerPID = os.Getpid()
		if abs, err := filepath.Abs(t.ArtifactsDir); err == nil {
			t.ArtifactsDir = abs
		}
		remove, err := saveTicket(t)
		if err != nil {
			log.Warn().Err(err).Msg("could not keep the step's ticket: if this controller dies, cuttle attach cannot take the step over")
			return func() {}
		}
		log.Debug().Str("step_id", t.StepID).Msg("ticket kept: cuttle attach " + t.StepID + " takes the step over if this controller dies")
		return remove
	}
}
