package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/cuttle-sh/cuttle/remote"
)

// TestMain lets the test binary be cuttle itself: testscript puts a copy
// named cuttle on the scripts' PATH, and running that copy calls run.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"cuttle": func() {
			os.Exit(run(context.Background(), os.Args[1:], stdio{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}))
		},
	})
}

// TestScripts runs testdata/script/*.txtar. None needs root, Docker or a
// network: where cuttle dials, it dials $CLOSED, a loopback port nothing
// listens on.
//
// Besides testscript's own commands, scripts have:
//
//	dir DIR                    list DIR's entries (dot files too) on stdout, one a line
//	exits CODE PROG ARGS...    run PROG and require exit code CODE
//	expand FILE...             replace $VAR and ${VAR} in the files with the script's environment
//	jsonlines stdout|stderr    every line is a JSON object with level, time and message
//	ticket ID [live]           write a step ticket under $CUTTLE_STATE_DIR; live: its
//	                           controller is this test process, alive on this host
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		Setup:               setupScript,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"dir":       cmdDir,
			"exits":     cmdExits,
			"expand":    cmdExpand,
			"jsonlines": cmdJSONLines,
			"jsonarray": cmdJSONArray,
			"ticket":    cmdTicket,
		},
	})
}

func setupScript(env *testscript.Env) error {
	port, err := closedPort()
	if err != nil {
		return err
	}
	env.Setenv("CLOSED", port)
	// A step runner that is a static Linux executable as far as cuttle
	// looks before it dials (the test binary may be linked dynamically).
	// It is never uploaded: no worker answers.
	runner := filepath.Join(env.WorkDir, ".runner")
	if err := os.WriteFile(runner, minimalELF(), 0o755); err != nil {
		return err
	}
	env.Setenv("CUTTLE_RUNNER", runner)
	env.Setenv("CUTTLE_RUNNER_ARCH", "amd64")
	env.Setenv("CUTTLE_STATE_DIR", filepath.Join(env.WorkDir, ".state"))
	env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".xdg-none"))
	return nil
}

// closedPort is a loopback port that was free a moment ago: it refuses
// connections.
func closedPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	return port, ln.Close()
}

// minimalELF is a 64-bit little-endian ELF header with no program
// headers, so no interpreter: what package bundle takes for a static runner.
func minimalELF() []byte {
	b := make([]byte, 64)
	copy(b, "\x7fELF")
	b[4], b[5], b[6] = 2, 1, 1 // ELFCLASS64, little-endian, EV_CURRENT
	le := binary.LittleEndian
	le.PutUint16(b[16:], 2)  // ET_EXEC
	le.PutUint16(b[18:], 62) // EM_X86_64
	le.PutUint32(b[20:], 1)  // EV_CURRENT
	le.PutUint16(b[52:], 64) // header size
	le.PutUint16(b[54:], 56) // program header entry size
	le.PutUint16(b[58:], 64) // section header entry size
	return b
}

func cmdExits(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exits CODE PROGRAM [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exits: code %q: %v", args[0], err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exits: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited with %d, want %d", args[1], got, want)
	}
}

func cmdDir(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: dir DIR")
	}
	entries, err := os.ReadDir(ts.MkAbs(args[0]))
	ts.Check(err)
	for _, e := range entries {
		fmt.Fprintln(ts.Stdout(), e.Name())
	}
}

func cmdExpand(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: expand FILE...")
	}
	for _, f := range args {
		p := ts.MkAbs(f)
		ts.Check(os.WriteFile(p, []byte(os.Expand(ts.ReadFile(f), ts.Getenv)), 0o600))
	}
}

func cmdJSONLines(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || (args[0] != "stdout" && args[0] != "stderr") {
		ts.Fatalf("usage: jsonlines stdout|stderr")
	}
	text := ts.ReadFile(args[0])
	var bad string
	n := 0
	for line := range strings.Lines(text) {
		n++
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			bad = fmt.Sprintf("line %d is not JSON: %q", n, line)
			break
		}
		for _, k := range []string{"level", "time", "message"} {
			if _, ok := m[k].(string); !ok {
				bad = fmt.Sprintf("line %d has no %q: %q", n, k, line)
			}
		}
		if _, err := time.Parse(time.RFC3339, fmt.Sprint(m["time"])); bad == "" && err != nil {
			bad = fmt.Sprintf("line %d: time is not RFC 3339: %q", n, line)
		}
		if bad != "" {
			break
		}
	}
	if n == 0 && bad == "" {
		bad = "no lines"
	}
	switch {
	case neg && bad == "":
		ts.Fatalf("%s is JSON lines", args[0])
	case !neg && bad != "":
		ts.Fatalf("%s: %s", args[0], bad)
	}
}

func cmdTicket(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 || (len(args) == 2 && args[1] != "live") {
		ts.Fatalf("usage: ticket ID [live]")
	}
	t := remote.Ticket{Worker: "ssh://u@127.0.0.1:" + ts.Getenv("CLOSED"), Name: "deploy", StepID: args[0],
		WorkDir: "/home/u/.cuttle/work/" + args[0], Started: time.Date(2026, 11, 27, 7, 33, 30, 0, time.UTC)}
	if len(args) == 2 {
		// This test process stays alive while the script runs, and it is
		// not the cuttle process that reads the ticket.
		t.ControllerHost, _ = os.Hostname()
		t.ControllerPID = os.Getpid()
	}
	b, err := json.Marshal(t)
	ts.Check(err)
	dir := filepath.Join(ts.Getenv("CUTTLE_STATE_DIR"), "tickets")
	ts.Check(os.MkdirAll(dir, 0o700))
	ts.Check(os.WriteFile(filepath.Join(dir, args[0]+".json"), b, 0o600))
}

// cmdJSONArray: `jsonarray stdout|stderr N` checks that the file is one
// JSON array of N elements.
func cmdJSONArray(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 || (args[0] != "stdout" && args[0] != "stderr") {
		ts.Fatalf("usage: jsonarray stdout|stderr N")
	}
	var arr []json.RawMessage
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &arr); err != nil {
		ts.Fatalf("%s is not a JSON array: %v", args[0], err)
	}
	if fmt.Sprint(len(arr)) != args[1] {
		ts.Fatalf("%s has %d elements, want %s", args[0], len(arr), args[1])
	}
}
