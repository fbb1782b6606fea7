package remote

import (
	"encoding/csv"
	"regexp"
	"strconv"
	"strings"
)

// runFlag is one `docker run` flag as docker declares it (docker/cli
// v29.9, cli/command/container/opts.go and run.go), and what a step may do
// with it. Exactly one of contract, beyond and check is set, or none: the
// flag is then allowed as it is.
type runFlag struct {
	short string
	bool  bool
	// contract: cuttle relies on this flag; nobody may set it.
	contract string
	// beyond: what the flag reaches outside the step's container; only
	// allow_privileged permits it.
	beyond string
	// check decides on the value.
	check func(p *ContainerOptionsPolicy, value string) *refusal
}

// Reasons shared by several flags.
const (
	whyStdin     = "cuttle uses stdin to hand the runner its variables"
	whyLogs      = "the step's output reaches cuttle through the attach, masked; a log driver would keep it unmasked on the worker"
	whyPull      = "cuttle pulls the image itself (use cuttle's --pull)"
	whyHealth    = "a health check runs a command whose output docker keeps, unmasked, in the container's state on the worker's disk"
	whyAddresses = "it pins an address on a network other containers share"
	whyWindows   = "it is for Windows containers"
)

// runFlags is the allowlist. The flags allowed as they are cannot reach
// beyond the container: environment, labels, resources, DNS and host
// names, the user, the platform, --init, --read-only, --gpus, health
// checks off, stop signal and timeout.
var runFlags = map[string]runFlag{
	// Allowed as they are.
	"add-host": {}, "dns": {}, "dns-option": {}, "dns-opt": {}, "dns-search": {},
	"hostname": {short: "h"}, "domainname": {},
	"user": {short: "u"}, "platform": {}, "init": {bool: true}, "read-only": {bool: true},
	"gpus": {}, "expose": {}, "network-alias": {}, "net-alias": {},
	"no-healthcheck": {bool: true}, "stop-signal": {}, "stop-timeout": {}, "umask": {},
	"cpus": {}, "cpu-shares": {short: "c"}, "cpu-period": {}, "cpu-quota": {},
	"cpuset-cpus": {}, "cpuset-mems": {},
	"memory": {short: "m"}, "memory-reservation": {}, "memory-swap": {}, "memory-swappiness": {},
	"shm-size": {}, "blkio-weight": {}, "blkio-weight-device": {},
	"device-read-bps": {}, "device-write-bps": {}, "device-read-iops": {}, "device-write-iops": {},
	"cap-drop": {},

	// Allowed with some values.
	"env":          {short: "e", check: checkEnv},
	"label":        {short: "l", check: checkLabel},
	"network":      {check: checkNetwork},
	"net":          {check: checkNetwork},
	"volume":       {short: "v", check: checkVolume},
	"mount":        {check: checkMount},
	"tmpfs":        {check: checkTmpfs},
	"device":       {check: checkDevice},
	"cap-add":      {check: checkCapAdd},
	"security-opt": {check: checkSecurityOpt},
	"ipc":          {check: namespace("private", "none")},
	"cgroupns":     {check: namespace("private")},
	"pid":          {check: namespace()},
	"uts":          {check: namespace()},
	"userns":       {check: namespace()},
	"pids-limit":   {check: checkPidsLimit},
	"ulimit":       {check: checkUlimit},

	// Cuttle's own: never.
	"name":                  {contract: "cuttle names the container cuttle-<step id>"},
	"rm":                    {bool: true, contract: "cuttle removes the container itself"},
	"entrypoint":            {contract: "the step runner is the container's process"},
	"workdir":               {short: "w", contract: "the step runs in its work directory (cd in the script instead)"},
	"interactive":           {short: "i", bool: true, contract: whyStdin},
	"attach":                {short: "a", contract: "cuttle attaches stdout and stderr"},
	"tty":                   {short: "t", bool: true, contract: "steps have no terminal"},
	"detach":                {short: "d", bool: true, contract: "cuttle follows the step to its end"},
	"detach-keys":           {contract: "cuttle follows the step to its end"},
	"sig-proxy":             {bool: true, contract: "the step outlives a lost link, so the docker client keeps its signals"},
	"restart":               {contract: "a step runs once, and cuttle removes its container"},
	"pull":                  {contract: whyPull},
	"quiet":                 {short: "q", bool: true, contract: whyPull},
	"disable-content-trust": {bool: true, contract: whyPull},
	"cidfile":               {contract: "cuttle tracks the container by name"},
	"help":                  {bool: true, contract: "not an option for a step"},
	"log-driver":            {contract: whyLogs},
	"log-opt":               {contract: whyLogs},

	// Beyond the container: allow_privileged only.
	"privileged":            {bool: true, beyond: "it gives the step every device and capability of the worker"},
	"use-api-socket":        {bool: true, beyond: "it mounts the Docker API socket, which controls the worker"},
	"volumes-from":          {beyond: "it mounts another container's volumes (another step's work directory)"},
	"link":                  {beyond: "it connects to another container by name"},
	"volume-driver":         {beyond: "a volume driver can mount any path of the worker"},
	"device-cgroup-rule":    {beyond: "it opens the worker's devices to the step"},
	"cgroup-parent":         {beyond: "it moves the step out of docker's cgroup, and its limits"},
	"runtime":               {beyond: "it runs the step under another runtime than the worker's default"},
	"isolation":             {beyond: whyWindows},
	"sysctl":                {beyond: "it changes kernel settings"},
	"env-file":              {beyond: "the docker client reads the file on the worker, as the SSH user"},
	"label-file":            {beyond: "the docker client reads the file on the worker, as the SSH user"},
	"storage-opt":           {beyond: "it changes the storage driver's settings"},
	"oom-kill-disable":      {bool: true, beyond: "it protects the step from the OOM killer at the worker's expense"},
	"oom-score-adj":         {beyond: "it changes the OOM killer's choice at the worker's expense"},
	"cpu-rt-period":         {beyond: "real-time scheduling can starve the worker"},
	"cpu-rt-runtime":        {beyond: "real-time scheduling can starve the worker"},
	"kernel-memory":         {beyond: "it is deprecated and has no effect"},
	"cpu-count":             {beyond: whyWindows},
	"cpu-percent":           {beyond: whyWindows},
	"io-maxbandwidth":       {beyond: whyWindows},
	"io-maxiops":            {beyond: whyWindows},
	"publish":               {short: "p", beyond: "it opens a port on the worker's network interfaces"},
	"publish-all":           {short: "P", bool: true, beyond: "it opens ports on the worker's network interfaces"},
	"group-add":             {beyond: "supplementary groups are the worker's group ids, which may own files of the worker"},
	"ip":                    {beyond: whyAddresses},
	"ip6":                   {beyond: whyAddresses},
	"link-local-ip":         {beyond: whyAddresses},
	"mac-address":           {beyond: whyAddresses},
	"annotation":            {beyond: "annotations go to the OCI runtime, which may act on them"},
	"health-cmd":            {beyond: whyHealth},
	"health-interval":       {beyond: whyHealth},
	"health-retries":        {beyond: whyHealth},
	"health-timeout":        {beyond: whyHealth},
	"health-start-period":   {beyond: whyHealth},
	"health-start-interval": {beyond: whyHealth},
}

func checkEnv(_ *ContainerOptionsPolicy, v string) *refusal {
	// NAME alone copies the docker client's own environment: the SSH
	// session's on the worker.
	if name, _, ok := strings.Cut(v, "="); !ok || name == "" {
		return beyond("a variable without =VALUE is copied from the docker client's environment on the worker; give NAME=VALUE")
	}
	return nil
}

func checkLabel(_ *ContainerOptionsPolicy, v string) *refusal {
	if key, _, _ := strings.Cut(v, "="); strings.HasPrefix(key, "io.cuttle.") {
		return &refusal{why: "io.cuttle.* labels are cuttle's own (gc finds steps by them)", need: needNever}
	}
	return nil
}

// longNetworkSyntax is how docker tells --network name=x,alias=y from a
// plain name (opts.NetworkOpt): unanchored, so any k=v inside counts.
var (
	longNetworkSyntax = regexp.MustCompile(`\w+=\w+(,\w+=\w+)*`)
	networkName       = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
)

// checkNetwork allows none, bridge, default and a user-defined network
// by name, in both of docker's syntaxes.
func checkNetwork(_ *ContainerOptionsPolicy, v string) *refusal {
	target := v
	if longNetworkSyntax.MatchString(v) {
		// As docker: the first CSV record, each field lower-cased.
		fields, err := csv.NewReader(strings.NewReader(v)).Read()
		if err != nil {
			return beyond("it is not a network docker can read: %v", err)
		}
		target = ""
		for _, field := range fields {
			key, val, ok := strings.Cut(strings.ToLower(field), "=")
			key, val = strings.TrimSpace(key), strings.TrimSpace(val)
			switch {
			case !ok || key == "":
				return beyond("field %q is not key=value", field)
			case key == "name":
				target = val
			case key == "alias":
			default:
				return beyond("its %s= field pins an address on a shared network or passes options to the network driver", key)
			}
		}
	}
	switch low := strings.ToLower(target); {
	case low == "host":
		return beyond("it puts the step on the worker's own network stack, with the services the worker listens to on localhost")
	case strings.HasPrefix(low, "container:"):
		return beyond("it joins another container's network namespace (another step's)")
	case !networkName.MatchString(target):
		return beyond("%q is not a network name", target)
	}
	return nil
}

// defaultCapabilities are those docker gives every container (moby
// oci/caps): adding one back after --cap-drop ALL reaches no further.
var defaultCapabilities = map[string]bool{
	"CAP_CHOWN": true, "CAP_DAC_OVERRIDE": true, "CAP_FSETID": true, "CAP_FOWNER": true,
	"CAP_MKNOD": true, "CAP_NET_RAW": true, "CAP_SETGID": true, "CAP_SETUID": true,
	"CAP_SETFCAP": true, "CAP_SETPCAP": true, "CAP_NET_BIND_SERVICE": true,
	"CAP_SYS_CHROOT": true, "CAP_KILL": true, "CAP_AUDIT_WRITE": true,
}

// normalizeCapability is docker's opts.NormalizeCapability: upper case,
// CAP_ added, ALL and RESET kept.
func normalizeCapability(c string) string {
	c = strings.ToUpper(strings.TrimSpace(c))
	if c == "ALL" || c == "RESET" || strings.HasPrefix(c, "CAP_") {
		return c
	}
	return "CAP_" + c
}

func checkCapAdd(_ *ContainerOptionsPolicy, v string) *refusal {
	if c := normalizeCapability(v); !defaultCapabilities[c] {
		return beyond("%s is beyond docker's default capabilities and reaches into the worker's kernel", c)
	}
	return nil
}

// checkSecurityOpt allows no-new-privileges, which only confines further.
func checkSecurityOpt(_ *ContainerOptionsPolicy, v string) *refusal {
	k, val, ok := strings.Cut(v, "=")
	if !ok && k != "no-new-privileges" {
		k, val, _ = strings.Cut(v, ":")
	}
	if k == "no-new-privileges" {
		if _, err := strconv.ParseBool(val); val == "" || err == nil {
			return nil
		}
	}
	return beyond("security options other than no-new-privileges loosen the container's confinement")
}

// namespace allows the given modes of a namespace flag (and the default,
// ""); host and container:NAME share the worker's or another step's.
func namespace(modes ...string) func(*ContainerOptionsPolicy, string) *refusal {
	return func(_ *ContainerOptionsPolicy, v string) *refusal {
		if v == "" {
			return nil
		}
		for _, m := range modes {
			if v == m {
				return nil
			}
		}
		return beyond("it shares a namespace of the worker or of another container")
	}
}

func checkPidsLimit(_ *ContainerOptionsPolicy, v string) *refusal {
	if n, err := strconv.ParseInt(v, 10, 64); err != nil || n <= 0 {
		return beyond("only a positive limit is allowed: 0 and -1 lift the worker's default limit")
	}
	return nil
}

func checkUlimit(_ *ContainerOptionsPolicy, v string) *refusal {
	name, _, _ := strings.Cut(v, "=")
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "rtprio", "rttime", "nice":
		return beyond("real-time or raised priority can starve the worker")
	}
	return nil
}
