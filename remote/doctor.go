package remote

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cuttle-sh/cuttle/bundle"
	"github.com/cuttle-sh/cuttle/transport"
	"github.com/cuttle-sh/cuttle/wire"
)

// doctorScript gathers facts about a worker in one round trip. $1 is the
// current bundle digest.
//
//go:embed scripts/doctor.sh
var doctorScript string

// Finding is one check's outcome on a worker.
type Finding struct {
	Check  string `json:"check"`
	Status string `json:"status"` // ok, warn or fail
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// probeTimeout bounds each probe of the doctor script on the worker
// (docker version, docker info, df): a hung engine or mount is reported
// by name within seconds.
const probeTimeout = 10 * time.Second

// Doctor runs the checks on a connected worker. platforms lists the
// runner platforms the controller carries besides b's ("linux/arm64").
func Doctor(ctx context.Context, sh Shell, b bundle.Bundle, controllerNow time.Time, platforms ...string) ([]Finding, error) {
	var out bytes.Buffer
	start := time.Now()
	if err := sh.Run(ctx, &transport.Cmd{Args: []string{"sh", "-c", doctorScript, "sh", b.Digest, strconv.Itoa(int(probeTimeout / time.Second))}, Stdout: &out}); err != nil {
		return nil, fmt.Errorf("running checks: %w", err)
	}
	rtt := time.Since(start)
	return Diagnose(parseKV(out.Bytes()), b, controllerNow.Add(rtt/2), platforms...), nil
}

// Diagnose turns the doctor script's facts into findings. It is pure.
func Diagnose(kv map[string]string, b bundle.Bundle, now time.Time, platforms ...string) []Finding {
	var f []Finding
	add := func(check, status, detail, fix string) {
		f = append(f, Finding{Check: check, Status: status, Detail: detail, Fix: fix})
	}
	switch {
	case kv["docker_missing"] == "yes":
		add("docker", "fail", "docker is not on the SSH user's PATH", "install it (Debian: apt-get install docker.io) or add its directory to PATH in ~/.profile")
	case strings.Contains(kv["docker_error"], "permission denied"):
		add("docker", "fail", "the user may not use the Docker engine (permission denied on the socket)", "usermod -aG docker "+firstWord(kv["groups"])+", then reconnect")
	case kv["docker_error"] != "":
		add("docker", "fail", "the engine does not answer: "+kv["docker_error"], "start it: systemctl start docker")
	default:
		add("docker", "ok", "client "+kv["docker_client"]+", engine "+kv["docker_server"], "")
		if !supportsPullFlag(kv["docker_client"]) {
			add("docker version", "warn", "docker client "+kv["docker_client"]+" predates 20.10 (no docker run --pull)", "upgrade Docker to 20.10 or later")
		}
	}
	if arch := wire.ArchOf(kv["arch"]); arch == b.Arch || slices.Contains(platforms, "linux/"+arch) {
		add("arch", "ok", "linux/"+arch, "")
	} else {
		add("arch", "fail", "worker is linux/"+arch+", and this cuttle carries runners for "+strings.Join(append([]string{"linux/" + b.Arch}, platforms...), " ")+" only",
			"use a release build or make build (both carry linux/amd64 and linux/arm64), or set CUTTLE_RUNNER to a static linux/"+arch+" build of cuttle")
	}
	if kv["home_writable"] != "yes" {
		add("home", "fail", "no writable home directory ("+kv["home"]+")", "give the SSH user a writable $HOME: cuttle keeps ~/.cuttle there")
	}
	if kv["noexec"] == "yes" {
		add("noexec", "fail", "~/.cuttle is on a noexec mount: the step runner cannot start", "remount without noexec, or give the user a home on another filesystem")
	}
	checkFree := func(name, key string) {
		kb, err := strconv.ParseInt(kv[key], 10, 64)
		switch {
		case err != nil:
			add(name, "warn", "could not read free space", "")
		case kb < 1<<20:
			add(name, "fail", fmt.Sprintf("%d MiB free", kb>>10), "free space: cuttle gc, docker image prune")
		case kb < 5<<20:
			add(name, "warn", fmt.Sprintf("%d MiB free", kb>>10), "free space before it runs out: cuttle gc, docker image prune")
		default:
			add(name, "ok", fmt.Sprintf("%d GiB free", kb>>20), "")
		}
	}
	checkFree("disk (home)", "home_free_kb")
	if kv["docker_root_free_kb"] != "" {
		checkFree("disk (docker root)", "docker_root_free_kb")
	}
	if secs, err := strconv.ParseInt(kv["now"], 10, 64); err == nil {
		skew := time.Unix(secs, 0).Sub(now).Round(time.Second)
		if skew < 0 {
			skew = -skew
		}
		if skew > 30*time.Second {
			add("clock", "warn", fmt.Sprintf("worker clock is %s off the controller's", skew), "run NTP (timedatectl set-ntp true): registry tokens and gc ages depend on it")
		} else {
			add("clock", "ok", fmt.Sprintf("within %s", skew+time.Second), "")
		}
	}
	if kv["git"] != "yes" {
		add("git", "warn", "git is missing: builds from a Git URL will fail", "apt-get install git")
	}
	if kv["flock"] != "yes" {
		add("flock", "warn", "flock is missing: per-worker step limits and build locks are not enforced", "apt-get install util-linux")
	}
	if kv["bundle"] == "current" {
		add("bundle", "ok", "this cuttle's runner is cached", "")
	} else {
		add("bundle", "ok", "this cuttle's runner will be uploaded on the first step", "")
	}
	return f
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return "USER"
}

// Healthy reports whether no finding failed.
func Healthy(f []Finding) bool {
	for _, x := range f {
		if x.Status == "fail" {
			return false
		}
	}
	return true
}

// SessionsPerStep is how many SSH sessions a running step holds: docker
// run, the heartbeat, the output follower and the cleanup's session
// opened ahead.
const SessionsPerStep = 4

// SessionsFinding compares sshd's per-connection session limit with what
// steps at once on the worker use.
func SessionsFinding(limit, steps int) Finding {
	need := steps * SessionsPerStep
	if limit >= need {
		return Finding{Check: "ssh sessions", Status: "ok", Detail: fmt.Sprintf("sshd allows at least %d sessions per connection (%d steps at once need %d)", limit, steps, need)}
	}
	return Finding{Check: "ssh sessions", Status: "warn",
		Detail: fmt.Sprintf("sshd allows %d sessions per connection (MaxSessions) but %d steps at once use %d: cuttle opens extra connections, which sshd's MaxStartups may throttle", limit, steps, need),
		Fix:    fmt.Sprintf("set MaxSessions %d in /etc/ssh/sshd_config and reload sshd", need)}
}
