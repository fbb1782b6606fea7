package remote

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitOptions(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{name: "plain", in: "-e A=1 --memory 512m", want: []string{"-e", "A=1", "--memory", "512m"}},
		{name: "quotes", in: `-e 'A=x y' -e "B=\"q\" \$HOME" -e C=a\ b`, want: []string{"-e", "A=x y", "-e", `B="q" $HOME`, "-e", "C=a b"}},
		{name: "empty", in: "  ", want: nil},
		{name: "newlines", in: "-e A=1\n-e B=2", want: []string{"-e", "A=1", "-e", "B=2"}},
		{name: "glob and tilde stay literal", in: "-v ~/x:/y -e '*'", want: []string{"-v", "~/x:/y", "-e", "*"}},
		{name: "semicolon", in: "-e A=1; rm -rf ~", wantErr: "container options"},
		{name: "and-and", in: "-e A && touch /tmp/x", wantErr: "container options"},
		{name: "pipe", in: "-e A | sh", wantErr: "container options"},
		{name: "command substitution", in: "-e A=$(touch /tmp/pwned)", wantErr: "command substitution"},
		{name: "backticks", in: "-e A=`id`", wantErr: "command substitution"},
		{name: "variable", in: "-e A=$SECRET", wantErr: "$variable"},
		{name: "variable in double quotes", in: `-e "A=${SECRET}"`, wantErr: "$variable"},
		{name: "arithmetic", in: "-e $((1+1))", wantErr: "arithmetic"},
		{name: "unterminated", in: "-e 'A", wantErr: "container options"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SplitOptions(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SplitOptions(%q) = %q, %v; want error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("SplitOptions(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

// testPolicy is a worker whose operator lists one read-only cache (at
// /cache only), a data directory (anywhere, either mode), FUSE and a CDI
// GPU.
func testPolicy(t testing.TB) ContainerOptionsPolicy {
	t.Helper()
	pol := ContainerOptionsPolicy{Worker: "w1", Protected: []string{"/home/d/.cuttle/work/1", "/home/d/.cuttle/bundles/abc"}}
	for _, m := range []string{"/srv/cache:/cache:ro", "/data"} {
		g, err := ParseMountGrant(m)
		if err != nil {
			t.Fatal(err)
		}
		pol.Mounts = append(pol.Mounts, g)
	}
	for _, d := range []string{"/dev/fuse", "nvidia.com/gpu=all"} {
		g, err := ParseDeviceGrant(d)
		if err != nil {
			t.Fatal(err)
		}
		pol.Devices = append(pol.Devices, g)
	}
	return pol
}

// Expected refusals: who can lift them.
const (
	privileged = "set allow_privileged: true for worker w1"
	mountFix   = "to allowed_mounts of worker w1"
	deviceFix  = "to allowed_devices of worker w1"
	never      = "is not allowed:"
)

// notOptions are what docker's parser says of words that are not options.
var notOptions = []string{"is not an option", "unknown flag", "unknown shorthand flag", "bad flag syntax", "needs an argument"}

// refusedOptions are refused without allow_privileged. The first block is
// every instance of the security review (reviews/security.md, critical 1
// and 2, and what it found refused); the others are variants of the same
// classes: other spellings, case, quoting, path tricks.
var refusedOptions = []struct {
	name, opts string
	want       []string // all in the error
}{
	{"review: shadow", "-v /etc/shadow:/s:ro", []string{"--volume /etc/shadow:/s:ro", mountFix, `"/etc/shadow:/s:ro"`}},
	{"review: root ssh", "-v /root/.ssh:/r", []string{"/root/.ssh", mountFix}},
	{"review: mount keys in upper case", "--mount type=bind,SRC=/,dst=/h,readonly", []string{"--mount", "whole file system", privileged}},
	{"review: CSV-quoted mount", `--mount "type=bind,\"src=/\",dst=/h,readonly"`, []string{"whole file system", privileged}},
	{"review: local volume with device=/", "--mount type=volume,dst=/h,volume-driver=local,volume-opt=type=none,volume-opt=o=bind,volume-opt=device=/", []string{"volume-driver reaches beyond", privileged}},
	{"review: worker home", "-v /home/acc:/h", []string{"/home/acc", mountFix}},
	{"review: docker volumes", "-v /var/lib/docker/volumes:/h:ro", []string{"/var/lib/docker/volumes", mountFix}},
	{"review: containerd socket", "-v /run/containerd/containerd.sock:/c.sock", []string{mountFix}},
	{"review: containerd socket under /var/run", "-v /var/run/docker/containerd/containerd.sock:/c.sock", []string{mountFix}},
	{"review: host network", "--network=host", []string{"--network host", "network stack", privileged}},
	{"review: cgroup parent", "--cgroup-parent=/", []string{"--cgroup-parent /", privileged}},
	{"review: security-opt label", "--security-opt label=disable", []string{privileged}},
	{"review: sysctl", "--sysctl net.ipv4.ip_forward=1", []string{"--sysctl", privileged}},
	{"review: runtime", "--runtime runc", []string{"--runtime", privileged}},
	{"review: volumes-from", "--volumes-from cuttle-20261201192251-29750-1", []string{"--volumes-from", privileged}},
	{"review: pid of another step", "--pid container:cuttle-20261201192251-29750-1", []string{"--pid", privileged}},
	{"review: bundle cache", "-v /home/acc/.cuttle/bundles:/b", []string{mountFix}},
	{"review: log driver", "--log-driver json-file", []string{"--log-driver", never}},
	{"review: env-file", "--env-file /etc/shadow", []string{"--env-file", privileged}},
	{"review: label-file", "--label-file /etc/shadow", []string{"--label-file", privileged}},
	{"review: privileged", "--privileged", []string{"--privileged", privileged}},
	{"review: host root", "-v /:/host", []string{"whole file system", privileged}},
	{"review: volume=", "--volume=/:/h", []string{"whole file system"}},
	{"review: mount root", "--mount type=bind,src=/,dst=/h", []string{"whole file system"}},
	{"review: docker socket", "-v /var/run/docker.sock:/s", []string{mountFix}},
	{"review: etc", "-v /etc:/e", []string{mountFix}},
	{"review: pid host", "--pid=host", []string{"shares a namespace", privileged}},
	{"review: ipc host", "--ipc=host", []string{privileged}},
	{"review: uts host", "--uts=host", []string{privileged}},
	{"review: userns host", "--userns=host", []string{privileged}},
	{"review: cap-add ALL", "--cap-add=ALL", []string{"ALL is beyond", privileged}},
	{"review: cap-add SYS_ADMIN", "--cap-add SYS_ADMIN", []string{"CAP_SYS_ADMIN", privileged}},
	{"review: seccomp", "--security-opt seccomp=unconfined", []string{privileged}},
	{"review: device", "--device /dev/sda", []string{"/dev/sda", deviceFix}},
	{"review: combined shorthands", "-itv /:/h", []string{"--interactive", never}},
	{"review: entrypoint", "--entrypoint=/bin/sh", []string{"--entrypoint", never}},

	// Spellings docker reads the same.
	{"attached short value", "-v/etc:/e", []string{"--volume /etc:/e", mountFix}},
	{"short with =", "-v=/etc:/e", []string{"--volume /etc:/e", mountFix}},
	{"after allowed options", "-e A=1 --memory=1g -v /etc:/e", []string{"--volume /etc:/e"}},
	{"net alias of network", "--net=host", []string{"--net host", privileged}},
	{"network in upper case", "--network HOST", []string{"network stack", privileged}},
	{"network long syntax", "--network name=host", []string{"network stack", privileged}},
	{"network long syntax lower-cased by docker", "--network NAME=Host,alias=x", []string{"network stack", privileged}},
	{"network of another container", "--network=container:cuttle-1", []string{"another container", privileged}},
	{"network of another container, long syntax", "--network name=container:cuttle-1", []string{"another container", privileged}},
	{"network with a fixed address", "--network name=n1,ip=10.0.0.5", []string{"ip=", privileged}},
	{"ipc of another container", "--ipc container:cuttle-1", []string{"shares a namespace", privileged}},
	{"ipc shareable", "--ipc shareable", []string{privileged}},
	{"cgroupns host", "--cgroupns host", []string{privileged}},
	{"link", "--link cuttle-1:db", []string{"--link", privileged}},

	// Path tricks: the cleaned source is what docker mounts.
	{"double slash", "-v //etc:/e", []string{"mounts /etc from", mountFix}},
	{"dot-dot", "-v /etc/../etc:/e", []string{"mounts /etc from"}},
	{"out of a listed mount", "-v /srv/cache/../../etc:/cache:ro", []string{"mounts /etc from"}},
	{"trailing slash", "-v /etc/:/e", []string{"mounts /etc from"}},
	{"under a listed mount", "-v /srv/cache/sub:/cache:ro", []string{"mounts /srv/cache/sub from", mountFix}},
	{"listed read-only, asked writable", "-v /srv/cache:/cache", []string{mountFix, `"/srv/cache:/cache"`}},
	{"listed read-only, rw mode", "-v /srv/cache:/cache:rw", []string{mountFix}},
	{"listed target differs", "-v /srv/cache:/elsewhere:ro", []string{mountFix}},
	{"relative source", "-v ./:/h", []string{"relative source", privileged}},
	{"parent directory", "-v ..:/h", []string{"relative source"}},
	{"hidden relative", "-v .ssh:/h", []string{"relative source"}},
	{"tilde is not expanded", "-v ~/.ssh:/h", []string{"volume name", privileged}},
	{"short enough to be taken whole", "-v/:", []string{"neither SOURCE:TARGET", privileged}},
	{"relabel a listed mount", "-v /data:/d:z", []string{"mode z", privileged}},
	{"shared propagation", "-v /data:/d:rshared", []string{"mode rshared reaches beyond", privileged}},

	// --mount: keys in any case, CSV quoting, every way to a host path.
	{"mount type in upper case", "--mount TYPE=BIND,Source=/etc,Target=/e", []string{"mounts /etc from"}},
	{"mount quoted source", `--mount 'type=bind,"source=/etc",target=/e'`, []string{"mounts /etc from"}},
	{"mount quoted whole fields", `--mount '"type=bind","src=//etc/",dst=/e,ro'`, []string{"mounts /etc from"}},
	{"mount listed, not read-only", "--mount type=bind,src=/srv/cache,dst=/cache", []string{mountFix}},
	{"mount listed, readonly=false", "--mount type=bind,src=/srv/cache,dst=/cache,readonly=false", []string{mountFix}},
	{"mount listed, rshared", "--mount type=bind,src=/srv/cache,dst=/cache,ro,bind-propagation=rshared", []string{"bind-propagation=rshared reaches beyond", privileged}},
	{"mount listed, recursive writable", "--mount type=bind,src=/srv/cache,dst=/cache,ro,bind-recursive=writable", []string{"bind-recursive=writable reaches beyond", privileged}},
	{"mount create source", "--mount type=bind,src=/data,dst=/d,bind-create-src", []string{"bind-create-src reaches beyond", privileged}},
	{"volume driver option, any case", "--mount type=volume,src=cache,dst=/x,VOLUME-OPT=device=/", []string{"volume-opt reaches beyond", privileged}},
	{"volume driver", "--mount src=cache,dst=/x,volume-driver=local", []string{"volume-driver reaches beyond", privileged}},
	{"volume subpath", "--mount type=volume,src=cache,dst=/x,volume-subpath=a", []string{"volume-subpath reaches beyond", privileged}},
	{"image mount", "--mount type=image,src=alpine,dst=/i", []string{`type "image"`, privileged}},
	{"relative mount source", "--mount type=bind,src=.,dst=/h", []string{"relative source"}},
	{"volume named like a path", "--mount type=volume,src=./x,dst=/h", []string{"volume name"}},
	{"broken CSV", `--mount 'type=bind,"src=/etc,dst=/e'`, []string{"not a mount docker can read"}},
	{"volume-driver flag", "--volume-driver local -v cache:/x", []string{"--volume-driver", privileged}},

	// Capabilities: with or without CAP_, any case.
	{"cap lower case", "--cap-add sys_admin", []string{"CAP_SYS_ADMIN is beyond"}},
	{"cap with CAP_", "--cap-add CAP_SYS_ADMIN", []string{"CAP_SYS_ADMIN is beyond"}},
	{"cap mixed case", "--cap-add=Cap_Sys_Ptrace", []string{"CAP_SYS_PTRACE"}},
	{"cap all lower", "--cap-add all", []string{"ALL"}},
	{"cap with spaces", "--cap-add ' NET_ADMIN '", []string{"CAP_NET_ADMIN"}},
	{"security-opt colon form", "--security-opt seccomp:unconfined", []string{privileged}},
	{"apparmor", "--security-opt apparmor=unconfined", []string{privileged}},
	{"system paths", "--security-opt systempaths=unconfined", []string{privileged}},

	// Devices.
	{"device under another name", "--device /dev/fuse:/dev/other", []string{deviceFix}},
	{"device dot-dot", "--device /dev/../dev/sda", []string{"device /dev/sda, which"}},
	{"device CDI not listed", "--device nvidia.com/gpu=0", []string{deviceFix}},
	{"device directory", "--device /dev", []string{deviceFix}},
	{"device cgroup rule", "--device-cgroup-rule='c *:* rwm'", []string{privileged}},

	// Cuttle's own flags.
	{"log-opt", "--log-opt max-size=1m", []string{never}},
	{"name", "--name x", []string{"--name x", never}},
	{"rm", "--rm", []string{"--rm", never}},
	{"rm=false", "--rm=false", []string{never}},
	{"detach", "-d", []string{"--detach", never}},
	{"tty after interactive", "-ti", []string{"--tty", never}},
	{"attach", "-a stdout", []string{never}},
	{"restart", "--restart always", []string{never}},
	{"empty entrypoint", "--entrypoint=", []string{never}},
	{"workdir short", "-w /", []string{"--workdir", never}},
	{"sig-proxy", "--sig-proxy=true", []string{never}},
	{"pull", "--pull always", []string{never}},
	{"own label", "--label io.cuttle.step=x", []string{"io.cuttle", never}},
	{"own label attached", "-lio.cuttle.home=/", []string{"io.cuttle", never}},

	// Beyond the container in other ways.
	{"publish", "-p 8080:80", []string{"--publish", privileged}},
	{"publish attached", "-p127.0.0.1:22:22", []string{"--publish"}},
	{"publish all", "-P", []string{"--publish-all"}},
	{"group-add", "--group-add 0", []string{privileged}},
	{"oom score", "--oom-score-adj -1000", []string{privileged}},
	{"no pids limit", "--pids-limit -1", []string{"positive limit", privileged}},
	{"zero pids limit", "--pids-limit=0", []string{privileged}},
	{"realtime ulimit", "--ulimit rtprio=99", []string{privileged}},
	{"tmpfs with devices", "--tmpfs /x:dev,suid", []string{"tmpfs option dev", privileged}},
	{"health check", "--health-cmd 'cat /run/secret'", []string{"health", privileged}},
	{"api socket", "--use-api-socket", []string{privileged}},
	{"annotation", "--annotation x=y", []string{privileged}},
	{"env from the worker", "-e HOME", []string{"=VALUE", privileged}},
	{"env from the worker, attached", "-eSSH_AUTH_SOCK", []string{"=VALUE"}},

	// Not options.
	{"bare word", "alpine", []string{"is not an option"}},
	{"smuggled image", "-e A=1 evil/image sh", []string{`"evil/image" is not an option`}},
	{"double dash", "--", []string{"is not an option"}},
	{"double dash after options", "-e A=1 -- x", []string{"is not an option"}},
	{"missing value", "-e", []string{"needs an argument"}},
	{"unknown flag", "--frobnicate", []string{"unknown flag: --frobnicate"}},
	{"unknown shorthand", "-x", []string{"unknown shorthand flag"}},
	{"bad syntax", "---privileged", []string{"bad flag syntax"}},

	// Over the directories cuttle mounts itself (even with allow_privileged).
	{"over the work dir", "-v /data:/home/d/.cuttle/work/1", []string{"cuttle mounts itself", never}},
	{"under the work dir", "-v vol:/home/d/.cuttle/work/1/sub", []string{"cuttle mounts itself", never}},
	{"into the bundle", "--mount type=volume,src=v,dst=/home/d/.cuttle/bundles/abc/cuttle", []string{"cuttle mounts itself", never}},
	{"tmpfs over the bundle", "--tmpfs /home/d/.cuttle/bundles/abc", []string{"cuttle mounts itself", never}},
	{"work dir after dot-dot", "-v vol:/home/d/.cuttle/x/../work/1", []string{"cuttle mounts itself", never}},
	{"device into the work dir", "--device /dev/fuse:/home/d/.cuttle/work/1/fuse", []string{"cuttle mounts itself", never}},
}

// allowedOptions run without allow_privileged on testPolicy's worker.
var allowedOptions = []struct{ name, opts string }{
	{"environment", "-e A=1 --env=B=2 -eC=3 -e=D=4 -e 'E=$(not expanded)'"},
	{"labels", "--label team=x -l a=b -lc"},
	{"resources", "--memory 1g -m=512m --memory-swap -1 --cpus=1.5 -c 512 --cpuset-cpus 0 --cpu-quota 50000 --pids-limit 100 --shm-size 1g --blkio-weight 300 --ulimit nofile=1024:2048"},
	{"filesystem", "--read-only --tmpfs /run:size=64m,mode=1777,noexec --tmpfs /tmp"},
	{"names and DNS", "--add-host db:10.0.0.2 --dns 1.1.1.1 --dns-search example.com --dns-option ndots:2 -h build --domainname example.com"},
	{"init, user, platform, gpus", "--init -u 1000:1000 --user=nobody --platform linux/amd64 --gpus all"},
	{"stop and health", "--stop-timeout 5 --stop-signal SIGINT --no-healthcheck"},
	{"no network", "--network none"},
	{"default bridge", "--net=bridge --network default"},
	{"user-defined network", "--network build-net --network-alias web"},
	{"network long syntax", "--network name=build-net,alias=web"},
	{"named volumes", "-v cache:/cache -v cache2:/c2:ro,nocopy -v /anonymous"},
	{"volume mounts", "--mount type=volume,src=cache,dst=/cache,volume-label=a=b --mount Type=Volume,Source=c2,Target=/c2,ReadOnly"},
	{"tmpfs mount", "--mount type=tmpfs,dst=/t,tmpfs-size=64m,tmpfs-mode=1770"},
	{"listed read-only mount", "-v /srv/cache:/cache:ro"},
	{"listed mount spelled otherwise", "-v //srv//cache/:/cache/:ro"},
	{"listed mount as --mount", `--mount 'type=bind,"src=/srv/cache",dst=/cache,readonly'`},
	{"listed anywhere, either mode", "-v /data:/anywhere -v /data:/d:ro --mount type=bind,source=/data,target=/d2,bind-recursive=readonly,readonly,bind-propagation=rprivate"},
	{"mount reads one CSV record, as docker", "--mount 'type=volume,dst=/x\ntype=bind,src=/,dst=/h'"},
	{"default capabilities back", "--cap-drop ALL --cap-add net_bind_service --cap-add CAP_CHOWN --cap-add Kill"},
	{"no-new-privileges", "--security-opt no-new-privileges --security-opt no-new-privileges:true"},
	{"private namespaces", "--ipc private --ipc=none --cgroupns private"},
	{"listed devices", "--device /dev/fuse --device=/dev/fuse:/dev/fuse:r --device //dev/fuse --device nvidia.com/gpu=all"},
}

func TestValidateOptions(t *testing.T) {
	pol := testPolicy(t)
	for _, tt := range refusedOptions {
		t.Run("refused/"+tt.name, func(t *testing.T) {
			words, err := SplitOptions(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			err = ValidateOptions(words, pol)
			if err == nil {
				t.Fatalf("ValidateOptions(%q) accepted it", tt.opts)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ValidateOptions(%q) = %v\nwant it to contain %q", tt.opts, err, w)
				}
			}
		})
	}
	for _, tt := range allowedOptions {
		t.Run("allowed/"+tt.name, func(t *testing.T) {
			words, err := SplitOptions(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if err := ValidateOptions(words, pol); err != nil {
				t.Fatalf("ValidateOptions(%q) = %v", tt.opts, err)
			}
		})
	}
}

// TestAllowPrivileged: the operator's grant lifts every refusal except
// cuttle's own flags and the directories cuttle mounts.
func TestAllowPrivileged(t *testing.T) {
	pol := testPolicy(t)
	pol.AllowPrivileged = true
	for _, tt := range refusedOptions {
		t.Run(tt.name, func(t *testing.T) {
			words, err := SplitOptions(tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			err = ValidateOptions(words, pol)
			stays := slices.ContainsFunc(tt.want, func(w string) bool {
				return w == never || slices.ContainsFunc(notOptions, func(n string) bool { return strings.Contains(w, n) })
			})
			if stays && err == nil {
				t.Fatalf("ValidateOptions(%q) with allow_privileged accepted it", tt.opts)
			}
			if !stays && err != nil {
				t.Fatalf("ValidateOptions(%q) with allow_privileged = %v", tt.opts, err)
			}
		})
	}
}

func TestParseGrants(t *testing.T) {
	for _, tt := range []struct {
		in, want, wantErr string
	}{
		{in: "/srv/cache:/cache:ro", want: "/srv/cache:/cache:ro"},
		{in: "/srv/cache/", want: "/srv/cache"},
		{in: "//srv/./cache:/c/../cache:rw", want: "/srv/cache:/cache"},
		{in: "/srv/cache:ro", want: "/srv/cache:ro"},
		{in: "srv/cache", wantErr: "not an absolute path"},
		{in: "/srv:cache", wantErr: "not an absolute path"},
		{in: "/a:/b:/c", wantErr: "want /SOURCE"},
		{in: "/:/host", wantErr: "the worker's root"},
		{in: "/a,b:/x", wantErr: "not an absolute path"},
	} {
		g, err := ParseMountGrant(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.in) {
				t.Errorf("ParseMountGrant(%q) = %v, %v; want an error naming it and %q", tt.in, g, err, tt.wantErr)
			}
			continue
		}
		if err != nil || g.String() != tt.want {
			t.Errorf("ParseMountGrant(%q) = %q, %v; want %q", tt.in, g, err, tt.want)
		}
	}
	for _, bad := range []string{"dev/fuse", "/dev/fuse:rwx", "/dev/fuse:/f:rr", "/dev/fuse:f", "/a:/b:rw:x", "nvidia"} {
		if _, err := ParseDeviceGrant(bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParseDeviceGrant(%q) = %v, want an error naming it", bad, err)
		}
	}
}

// TestGrantMatching: what one allowed_mounts or allowed_devices entry lets
// through, and what not.
func TestGrantMatching(t *testing.T) {
	tests := []struct {
		grant, opts string
		mount       bool // a mount grant, else a device grant
		want        bool
	}{
		{"/srv/cache:/cache:ro", "-v /srv/cache:/cache:ro", true, true},
		{"/srv/cache:/cache:ro", "--mount type=bind,src=/srv/cache/.,dst=/cache/,ro=1", true, true},
		{"/srv/cache:/cache:ro", "-v /srv/cache:/cache", true, false},
		{"/srv/cache:/cache:ro", "-v /srv/cache:/x:ro", true, false},
		{"/srv/cache:/cache:ro", "-v /srv:/cache:ro", true, false},
		{"/srv/cache:/cache:ro", "-v /srv/cache/x:/cache:ro", true, false},
		{"/srv/cache", "-v /srv/cache:/anywhere", true, true},
		{"/srv/cache", "-v /srv/cache:/anywhere:ro", true, true},
		{"/srv/cache:rw", "--mount type=bind,src=/srv/cache,dst=/c,bind-recursive=disabled", true, true},
		{"/srv/cache", "--mount type=bind,src=/srv/cache,dst=/c,bind-create-src", true, false},
		{"/srv/cache", "-v /srv/cache:/c:Z", true, false},
		{"/dev/fuse", "--device /dev/fuse", false, true},
		{"/dev/fuse", "--device /dev/fuse:/dev/fuse:rw", false, true},
		{"/dev/fuse", "--device /dev/fuse:/dev/f", false, false},
		{"/dev/fuse:r", "--device /dev/fuse", false, false},
		{"/dev/fuse:r", "--device /dev/fuse:r", false, true},
		{"/dev/fuse:/dev/f:rw", "--device /dev/fuse:/dev/f:w", false, true},
		{"/dev/dri", "--device /dev/dri/card0", false, false},
		{"vendor.com/gpu=0", "--device vendor.com/gpu=0", false, true},
		{"vendor.com/gpu=0", "--device vendor.com/gpu=1", false, false},
	}
	for _, tt := range tests {
		var pol ContainerOptionsPolicy
		if tt.mount {
			g, err := ParseMountGrant(tt.grant)
			if err != nil {
				t.Fatal(err)
			}
			pol.Mounts = []MountGrant{g}
		} else {
			g, err := ParseDeviceGrant(tt.grant)
			if err != nil {
				t.Fatal(err)
			}
			pol.Devices = []DeviceGrant{g}
		}
		words, err := SplitOptions(tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if err := ValidateOptions(words, pol); (err == nil) != tt.want {
			t.Errorf("grant %q, options %q: ValidateOptions = %v, want allowed %v", tt.grant, tt.opts, err, tt.want)
		}
	}
}
