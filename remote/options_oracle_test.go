package remote

import (
	"encoding/csv"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/spf13/pflag"

	"github.com/cuttle-sh/cuttle/internal/shellquote"
)

// helpFlag is a flag as `docker run --help` lists it.
type helpFlag struct {
	short string
	bool  bool
}

// helpLine is one flag of `docker run --help`: -s, --name TYPE  text. A
// flag without a TYPE takes no value.
var helpLine = regexp.MustCompile(`^\s+(?:-(\w), )?--([a-z0-9-]+)(?: ([a-z0-9-]+))?\s{2,}`)

// dockerHelpFlags reads docker run's flags from its help text.
func dockerHelpFlags(t testing.TB, help string) map[string]helpFlag {
	t.Helper()
	flags := map[string]helpFlag{}
	for line := range strings.SplitSeq(help, "\n") {
		if m := helpLine.FindStringSubmatch(line); m != nil {
			flags[m[2]] = helpFlag{short: m[1], bool: m[3] == ""}
		}
	}
	if len(flags) < 90 {
		t.Fatalf("read only %d flags from docker run --help", len(flags))
	}
	return flags
}

// hiddenFlags are docker run flags its help does not list: hidden
// aliases, Windows-only flags, and flags newer than the recorded client
// (docker/cli v29.9 declares them all).
var hiddenFlags = map[string]helpFlag{
	"net": {}, "net-alias": {}, "dns-opt": {}, "health-start-interval": {}, "annotation": {},
	"umask": {}, "cpu-count": {}, "cpu-percent": {}, "io-maxbandwidth": {}, "io-maxiops": {},
}

func recordedHelp(t testing.TB) string {
	b, err := os.ReadFile("testdata/docker_run_help.txt")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFlagTableMatchesDocker: cuttle parses with exactly docker's flags
// (names, shorthands, which take a value), so that a word cuttle reads
// as a value is one docker reads as a value. Against the recorded help,
// and the installed docker client's when there is one.
func TestFlagTableMatchesDocker(t *testing.T) {
	helps := map[string]string{"recorded": recordedHelp(t)}
	if out, err := exec.Command("docker", "run", "--help").Output(); err == nil {
		helps["installed"] = string(out)
	}
	for which, help := range helps {
		docker := dockerHelpFlags(t, help)
		for name, d := range docker {
			f, ok := runFlags[name]
			if !ok {
				t.Errorf("%s docker run has --%s, which cuttle's table lacks", which, name)
				continue
			}
			if f.short != d.short || f.bool != d.bool {
				t.Errorf("%s docker run --%s: shorthand %q, takes no value %v; cuttle's table: %q, %v", which, name, d.short, d.bool, f.short, f.bool)
			}
		}
		for name := range runFlags {
			if _, ok := docker[name]; !ok && which == "recorded" {
				if _, hidden := hiddenFlags[name]; !hidden {
					t.Errorf("cuttle's table has --%s, which docker run does not", name)
				}
			}
		}
	}
}

// oracle re-reads the whole docker run argv cuttle would run, with pflag
// and the flag list from docker's own help (not cuttle's table), and
// checks what docker would do, written apart from ValidateOptions and
// more bluntly.
type oracle struct {
	flags  map[string]helpFlag
	mounts []MountGrant
	hosts  []string // device host paths and CDI names granted
}

func newOracle(t testing.TB, pol ContainerOptionsPolicy) *oracle {
	o := &oracle{flags: dockerHelpFlags(t, recordedHelp(t)), mounts: pol.Mounts}
	for name, f := range hiddenFlags {
		o.flags[name] = f
	}
	for _, d := range pol.Devices {
		o.hosts = append(o.hosts, d.host)
	}
	return o
}

// read parses argv (after `docker run`) into flag -> values and the rest.
func (o *oracle) read(argv []string) (map[string][]string, []string, error) {
	fs := pflag.NewFlagSet("oracle", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SetInterspersed(false)
	got := map[string][]string{}
	for name, f := range o.flags {
		pf := fs.VarPF(recorder{name, new([]setting)}, name, f.short, "")
		if f.bool {
			pf.NoOptDefVal = "true"
		}
	}
	if err := fs.Parse(argv); err != nil {
		return nil, nil, err
	}
	fs.Visit(func(f *pflag.Flag) {
		for _, s := range *f.Value.(recorder).into {
			got[f.Name] = append(got[f.Name], s.value)
		}
	})
	return got, fs.Args(), nil
}

// oracleAllowed are the flags a step may add without allow_privileged,
// from the list; those with a func have their values checked.
var oracleAllowed = map[string]bool{
	"env": true, "label": true, "cpus": true, "cpu-shares": true, "cpu-period": true, "cpu-quota": true,
	"cpuset-cpus": true, "cpuset-mems": true, "memory": true, "memory-reservation": true, "memory-swap": true,
	"memory-swappiness": true, "pids-limit": true, "ulimit": true, "shm-size": true, "blkio-weight": true,
	"blkio-weight-device": true, "device-read-bps": true, "device-write-bps": true, "device-read-iops": true,
	"device-write-iops": true, "tmpfs": true, "read-only": true, "add-host": true, "dns": true, "dns-option": true,
	"dns-opt": true, "dns-search": true, "hostname": true, "domainname": true, "init": true, "user": true,
	"platform": true, "network": true, "net": true, "network-alias": true, "net-alias": true, "volume": true,
	"mount": true, "gpus": true, "stop-timeout": true, "stop-signal": true, "no-healthcheck": true,
	"expose": true, "umask": true, "cap-drop": true, "cap-add": true, "security-opt": true, "ipc": true,
	"cgroupns": true, "device": true, "pid": true, "uts": true, "userns": true,
}

var oracleVolumeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]+$`)

// problem says what is wrong with the argv cuttle builds around words,
// or "".
func (o *oracle) problem(words []string, pol ContainerOptionsPolicy) string {
	plan := runPlan{StepID: "1", Started: "t", Home: "/home/d", WorkDir: pol.Protected[0], BundleDir: pol.Protected[1],
		Image: "img", NoPull: true, Script: "s", Syntax: "bash", OwnerUID: 1, OwnerGID: 1}
	base, _, err := o.read(dockerRunArgs(plan)[2:])
	if err != nil {
		return "cuttle's own argv: " + err.Error()
	}
	plan.Options = words
	full, rest, err := o.read(dockerRunArgs(plan)[2:])
	if err != nil {
		return "docker's flags cannot read the argv: " + err.Error()
	}
	if len(rest) == 0 || rest[0] != "img" {
		return fmt.Sprintf("docker would take %q as the image", rest)
	}
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	for _, name := range slices.Sorted(maps.Keys(full)) {
		vals := full[name]
		added := vals[len(base[name]):]
		if !cmp.Equal(vals[:len(base[name])], base[name], cmpopts.EquateEmpty()) {
			bad("cuttle's own --%s became %q", name, vals)
		}
		if len(added) > 0 && !oracleAllowed[name] {
			bad("it adds --%s %q", name, added)
		}
		for _, v := range added {
			o.value(bad, name, v, pol.Protected)
		}
	}
	if len(problems) == 0 {
		return ""
	}
	return problems[0]
}

func (o *oracle) value(bad func(string, ...any), name, v string, protected []string) {
	target := ""
	switch name {
	case "env":
		if !strings.Contains(v, "=") {
			bad("-e %q copies the worker's environment", v)
		}
	case "label":
		if strings.HasPrefix(v, "io.cuttle.") {
			bad("it sets cuttle's label %q", v)
		}
	case "network", "net":
		t := strings.ToLower(v)
		if strings.Contains(v, "=") {
			rec, _ := csv.NewReader(strings.NewReader(t)).Read()
			for _, f := range rec {
				if k, val, _ := strings.Cut(f, "="); strings.TrimSpace(k) == "name" {
					t = strings.TrimSpace(val)
				} else if strings.TrimSpace(k) != "alias" {
					bad("--network field %q", f)
				}
			}
		}
		if t == "host" || strings.HasPrefix(t, "container:") {
			bad("--network %q", v)
		}
	case "cap-add":
		c := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(v)), "CAP_")
		if !slices.Contains([]string{"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
			"SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"}, c) {
			bad("--cap-add %q", v)
		}
	case "security-opt":
		if !strings.HasPrefix(v, "no-new-privileges") {
			bad("--security-opt %q", v)
		}
	case "ipc", "cgroupns":
		if v != "" && v != "private" && v != "none" {
			bad("--%s %q", name, v)
		}
	case "pid", "uts", "userns":
		// An empty value is docker's default: the step's own namespace.
		if v != "" {
			bad("--%s %q", name, v)
		}
	case "pids-limit":
		if strings.HasPrefix(v, "-") || strings.Trim(v, "0") == "" {
			bad("--pids-limit %q", v)
		}
	case "device":
		host := v
		if arr := strings.Split(v, ":"); strings.HasPrefix(v, "/") {
			host, target = path.Clean(arr[0]), arr[0]
			if len(arr) > 1 && strings.HasPrefix(arr[1], "/") {
				target = arr[1]
			}
		}
		if !slices.Contains(o.hosts, host) {
			bad("--device %q is not listed", v)
		}
	case "tmpfs":
		target, _, _ = strings.Cut(v, ":")
	case "volume":
		parts := strings.Split(v, ":")
		target = parts[0]
		if len(parts) > 1 {
			target = parts[1]
			o.source(bad, "bind", parts[0], target, slices.Contains(strings.Split(parts[len(parts)-1], ","), "ro") && len(parts) == 3)
		}
	case "mount":
		rec, err := csv.NewReader(strings.NewReader(strings.TrimSpace(v))).Read()
		if err != nil {
			bad("--mount %q: %v", v, err)
		}
		typ, src, ro := "volume", "", false
		for _, f := range rec {
			k, val, _ := strings.Cut(f, "=")
			switch strings.ToLower(k) {
			case "type":
				typ = strings.ToLower(val)
			case "src", "source":
				src = val
			case "dst", "target", "destination":
				target = val
			case "ro", "readonly":
				ro = val == "" || val == "1" || val == "true"
			case "volume-opt", "volume-driver", "bind-create-src":
				bad("--mount %q has %s", v, k)
			}
		}
		switch typ {
		case "tmpfs":
		case "volume":
			if src != "" && !oracleVolumeName.MatchString(src) {
				bad("--mount %q: volume %q", v, src)
			}
		case "bind":
			o.source(bad, "bind", src, target, ro)
		default:
			bad("--mount of type %q", typ)
		}
	}
	if target == "" {
		return
	}
	t := path.Clean(target)
	for _, p := range protected {
		if t == p || strings.HasPrefix(t, p+"/") {
			bad("it mounts %q over %s", v, p)
		}
	}
}

// source checks a mount source: a volume name, or a host path an
// allowed_mounts entry lists (target and read-only included).
func (o *oracle) source(bad func(string, ...any), kind, src, target string, ro bool) {
	if !strings.HasPrefix(src, "/") {
		if !oracleVolumeName.MatchString(src) || strings.HasPrefix(src, ".") {
			bad("%s source %q is neither a volume name nor absolute", kind, src)
		}
		return
	}
	for _, g := range o.mounts {
		if path.Clean(src) == g.Source && (g.Target == "" || g.Target == path.Clean(target)) && (ro || !g.ReadOnly) {
			return
		}
	}
	bad("it mounts %q (at %q, read-only %v), which is not listed", src, target, ro)
}

// TestOracleAgrees runs the oracle on every table case: it accepts what
// the policy accepts, so a fuzz failure means the policy let through
// something the oracle would not.
func TestOracleAgrees(t *testing.T) {
	pol := testPolicy(t)
	o := newOracle(t, pol)
	for _, tt := range allowedOptions {
		words, _ := SplitOptions(tt.opts)
		if p := o.problem(words, pol); p != "" {
			t.Errorf("%s: the policy accepts %q, the oracle does not: %s", tt.name, tt.opts, p)
		}
	}
	// And it is not blind: it finds something wrong with every reproduction
	// of the security review.
	for _, tt := range refusedOptions {
		words, _ := SplitOptions(tt.opts)
		if strings.HasPrefix(tt.name, "review:") && o.problem(words, pol) == "" {
			t.Errorf("%s: the oracle accepts %q", tt.name, tt.opts)
		}
	}
}

func FuzzSplitOptions(f *testing.F) {
	for _, s := range []string{"-e A=1", `-e "x y"`, "-v a:b", "$(id)", "a;b", "'", `\`, "-e A\\\nB"} {
		f.Add(s)
	}
	for _, tt := range refusedOptions {
		f.Add(tt.opts)
	}
	for _, tt := range allowedOptions {
		f.Add(tt.opts)
	}
	pol := testPolicy(f)
	o := newOracle(f, pol)
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitOptions(s)
		if err != nil {
			return
		}
		// Quoting the words again and splitting them gives them back:
		// the splitter and the one quoting function agree.
		if line, err := shellquote.Join(words...); err == nil {
			again, err := SplitOptions(line)
			if err != nil || !cmp.Equal(words, again, cmpopts.EquateEmpty()) {
				t.Fatalf("split %q -> %q, quoted %q, split again %q (%v)", s, words, line, again, err)
			}
		}
		// Whatever the policy accepts, docker reads as allowed.
		if ValidateOptions(words, pol) == nil {
			if p := o.problem(words, pol); p != "" {
				t.Fatalf("the policy accepts %q, but %s", words, p)
			}
		}
	})
}
