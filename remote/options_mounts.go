package remote

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"unicode"
)

// MountGrant is one allowed_mounts entry: a directory or file of the
// worker that steps may bind-mount, written SOURCE[:TARGET][:ro|rw].
//
// A bind mount is allowed when its source, cleaned (path.Clean), is
// exactly Source: not a path under it, since a writable allowed directory
// may hold a symlink an earlier step planted, and docker follows it on the
// worker. Target, when given, must be the mount's cleaned target; ro
// requires the step to mount it read-only, rw (or nothing) lets it choose.
// Options that would reach further (z/Z relabelling, shared or slave
// propagation, bind-create-src, bind-recursive=writable) are refused.
type MountGrant struct {
	Source   string
	Target   string
	ReadOnly bool
}

// ParseMountGrant reads an allowed_mounts entry.
func ParseMountGrant(s string) (MountGrant, error) {
	parts := strings.Split(s, ":")
	var g MountGrant
	switch last := parts[len(parts)-1]; last {
	case "ro", "rw":
		g.ReadOnly = last == "ro"
		parts = parts[:len(parts)-1]
	}
	if len(parts) < 1 || len(parts) > 2 {
		return g, fmt.Errorf("allowed mount %q: want /SOURCE[:/TARGET][:ro|rw]", s)
	}
	for _, p := range parts {
		if !path.IsAbs(p) || strings.ContainsAny(p, `\,`) {
			return g, fmt.Errorf("allowed mount %q: %q is not an absolute path (want /SOURCE[:/TARGET][:ro|rw])", s, p)
		}
	}
	g.Source = path.Clean(parts[0])
	if len(parts) == 2 {
		g.Target = path.Clean(parts[1])
	}
	if g.Source == "/" {
		return g, fmt.Errorf("allowed mount %q: the worker's root is the whole worker; use allow_privileged if that is meant", s)
	}
	return g, nil
}

// String is the grant as written in cuttle.yaml.
func (g MountGrant) String() string {
	s := g.Source
	if g.Target != "" {
		s += ":" + g.Target
	}
	if g.ReadOnly {
		s += ":ro"
	}
	return s
}

// DeviceGrant is one allowed_devices entry, in --device's own syntax:
// HOST[:CONTAINER][:PERMISSIONS], or a CDI name (vendor.com/class=name).
// A --device is allowed when its host path (cleaned) and its container
// path are the grant's, and its permissions (r, w, m) are among the
// grant's. As in docker, CONTAINER defaults to HOST and PERMISSIONS to rwm.
type DeviceGrant struct{ device }

// ParseDeviceGrant reads an allowed_devices entry.
func ParseDeviceGrant(s string) (DeviceGrant, error) {
	d, err := parseDevice(s)
	if err != nil {
		return DeviceGrant{}, fmt.Errorf("allowed device %q: %w", s, err)
	}
	return DeviceGrant{d}, nil
}

// MarshalText writes the grant as allowed_devices reads it, normalized
// (HOST:CONTAINER:PERMISSIONS, or the CDI name), so that a plan's JSON
// shows it.
func (g DeviceGrant) MarshalText() ([]byte, error) {
	if g.cdi {
		return []byte(g.host), nil
	}
	return []byte(g.host + ":" + g.container + ":" + g.perms), nil
}

// device is a --device value as docker reads it.
type device struct {
	host, container, perms string
	cdi                    bool
}

// parseDevice follows docker's validateLinuxPath and parseLinuxDevice; a
// value that is not an absolute path is a CDI device name.
func parseDevice(s string) (device, error) {
	if !strings.HasPrefix(s, "/") {
		if !strings.Contains(s, "=") || !strings.Contains(s, "/") {
			return device{}, errors.New("want /dev/PATH[:/CONTAINER/PATH][:rwm] or a CDI name vendor/class=name")
		}
		return device{host: s, cdi: true}, nil
	}
	arr := strings.Split(s, ":")
	d := device{host: arr[0], perms: "rwm"}
	switch len(arr) {
	case 1:
	case 2:
		if validDeviceMode(arr[1]) {
			d.perms = arr[1]
		} else {
			d.container = arr[1]
		}
	case 3:
		if !validDeviceMode(arr[2]) {
			return d, fmt.Errorf("bad mode %q (want some of r, w, m)", arr[2])
		}
		d.container, d.perms = arr[1], arr[2]
	default:
		return d, errors.New("too many ':'")
	}
	if d.container == "" {
		d.container = d.host
	}
	if !path.IsAbs(d.container) {
		return d, fmt.Errorf("%q is not an absolute path", d.container)
	}
	d.host, d.container = path.Clean(d.host), path.Clean(d.container)
	return d, nil
}

func validDeviceMode(m string) bool {
	if m == "" {
		return false
	}
	seen := map[rune]bool{}
	for _, c := range m {
		if !strings.ContainsRune("rwm", c) || seen[c] {
			return false
		}
		seen[c] = true
	}
	return true
}

func (g DeviceGrant) allows(d device) bool {
	if g.cdi || d.cdi {
		return g.cdi && d.cdi && g.host == d.host
	}
	if g.host != d.host || g.container != d.container {
		return false
	}
	for _, c := range d.perms {
		if !strings.ContainsRune(g.perms, c) {
			return false
		}
	}
	return true
}

func checkDevice(p *ContainerOptionsPolicy, v string) *refusal {
	d, err := parseDevice(v)
	if err != nil {
		return beyond("it is not a device docker can read: %v", err)
	}
	if !d.cdi {
		if r := p.protectedTarget(d.container); r != nil {
			return r
		}
	}
	for _, g := range p.Devices {
		if g.allows(d) {
			return nil
		}
	}
	return &refusal{why: fmt.Sprintf("it gives the step the worker's device %s, which allowed_devices does not list", d.host), need: needDevice, grant: v}
}

// hostMount is a -v or --mount as the daemon will make it.
type hostMount struct {
	typ      string // bind, volume, tmpfs or another docker mount type
	source   string // a host path (bind) or a volume name ("" for an anonymous volume)
	target   string
	readOnly bool
	// relative: a source the docker client resolves against its own
	// working directory on the worker.
	relative bool
	// looser says which option would reach further than a plain mount.
	looser string
}

// volumeName is what docker's local volume driver accepts.
var volumeName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// checkHostMount applies the policy to one mount: the target first, since
// allow_privileged does not lift that.
func (p *ContainerOptionsPolicy) checkHostMount(m hostMount, spec string) *refusal {
	if !path.IsAbs(strings.ReplaceAll(m.target, `\`, "/")) {
		return beyond("its target %q is not an absolute path", m.target)
	}
	if r := p.protectedTarget(m.target); r != nil {
		return r
	}
	if m.looser != "" {
		return beyond("%s reaches beyond the mount", m.looser)
	}
	switch m.typ {
	case "tmpfs":
		return nil
	case "volume":
		if m.source != "" && !volumeName.MatchString(m.source) {
			return beyond("%q is neither an absolute path nor a volume name", m.source)
		}
		return nil
	case "bind":
	default:
		return beyond("mounts of type %q reach outside the container", m.typ)
	}
	if m.relative {
		return beyond("the docker client resolves the relative source %q in its own directory on the worker; give an absolute path listed in allowed_mounts", m.source)
	}
	src := path.Clean(m.source)
	if src == "/" {
		return beyond("it mounts the worker's whole file system")
	}
	for _, g := range p.Mounts {
		if g.Source == src && (g.Target == "" || g.Target == path.Clean(m.target)) && (m.readOnly || !g.ReadOnly) {
			return nil
		}
	}
	want := MountGrant{Source: src, Target: path.Clean(m.target), ReadOnly: m.readOnly}
	return &refusal{why: fmt.Sprintf("it mounts %s from the worker, which allowed_mounts does not list", src), need: needMount, grant: want.String()}
}

// checkVolume reads -v as docker does: the client decides whether the
// spec has a source (Windows drive letters aside, it splits on ':'), then
// the daemon's Linux parser splits SOURCE:TARGET[:MODE] and takes an
// absolute source for a bind mount and anything else for a volume name.
func checkVolume(p *ContainerOptionsPolicy, spec string) *refusal {
	if !clientSeesSource(spec) {
		// An anonymous volume at spec ("/:" too, which is short enough
		// for the client to take whole: refused, as too close to a bind).
		if strings.Contains(spec, ":") {
			return beyond("%q is neither SOURCE:TARGET nor a plain target", spec)
		}
		return p.checkHostMount(hostMount{typ: "volume", target: spec}, spec)
	}
	arr := strings.SplitN(spec, ":", 4)
	var m hostMount
	mode := ""
	switch {
	case arr[0] == "" || len(arr) == 4 || (len(arr) == 2 && validMountMode(arr[1])):
		return beyond("it is not a volume docker can read (want SOURCE:TARGET[:MODE])")
	case len(arr) == 3:
		mode = arr[2]
	}
	m.source, m.target = arr[0], arr[1]
	if !validMountMode(mode) {
		return beyond("mode %q is not one docker knows", mode)
	}
	m.typ = "volume"
	switch {
	case path.IsAbs(m.source):
		m.typ = "bind"
	case strings.HasPrefix(m.source, "."):
		m.typ, m.relative = "bind", true
	}
	for o := range strings.SplitSeq(mode, ",") {
		switch o {
		case "ro":
			m.readOnly = true
		case "", "rw", "private", "rprivate", "consistent", "cached", "delegated", "nocopy":
		default:
			m.looser = cmp.Or(m.looser, "mode "+o)
		}
	}
	return p.checkHostMount(m, spec)
}

// clientSeesSource is docker's volumespec.Parse deciding whether a -v
// spec names a source: it has two fields or more, where a ':' right after
// a lone letter (a Windows drive) does not separate fields.
func clientSeesSource(spec string) bool {
	if len(spec) <= 2 {
		return false
	}
	var field []rune
	for _, c := range spec {
		if c == ':' && !(len(field) == 1 && unicode.IsLetter(field[0])) {
			return true
		}
		field = append(field, c)
	}
	return false
}

// validMountMode is the daemon's linuxValidMountMode: comma-separated
// modes, at most one of each kind.
func validMountMode(mode string) bool {
	if mode == "" {
		return true
	}
	kinds := map[string]int{}
	for o := range strings.SplitSeq(mode, ",") {
		k := ""
		switch o {
		case "rw", "ro":
			k = "rw"
		case "z", "Z":
			k = "label"
		case "private", "rprivate", "slave", "rslave", "shared", "rshared":
			k = "propagation"
		case "nocopy":
			k = "copy"
		case "consistent", "cached", "delegated":
			k = "consistency"
		default:
			return false
		}
		if kinds[k]++; kinds[k] > 1 {
			return false
		}
	}
	return true
}

// checkMount reads --mount as docker's opts.MountOpt does: one CSV record
// (quotes honoured), keys compared in lower case, type volume by default.
func checkMount(p *ContainerOptionsPolicy, v string) *refusal {
	m, err := parseMountOpt(v)
	if err != nil {
		return beyond("it is not a mount docker can read: %v", err)
	}
	return p.checkHostMount(m, v)
}

func parseMountOpt(v string) (hostMount, error) {
	m := hostMount{typ: "volume"}
	v = strings.TrimSpace(v)
	if v == "" {
		return m, errors.New("value is empty")
	}
	fields, err := csv.NewReader(strings.NewReader(v)).Read()
	if err != nil {
		return m, err
	}
	for _, field := range fields {
		key, val, hasValue, err := mountField(field)
		if err != nil {
			return m, err
		}
		if err := m.set(key, val, hasValue); err != nil {
			return m, err
		}
	}
	if m.typ == "bind" && m.source == "" {
		return m, errors.New("a bind mount needs a source")
	}
	return m, nil
}

// mountField splits one field of --mount into its key (lower case) and
// value, refusing white space around either, an empty value, and a bare
// key that docker does not take alone.
func mountField(field string) (key, val string, hasValue bool, err error) {
	key, val, hasValue = strings.Cut(field, "=")
	if strings.TrimSpace(key) != key || (hasValue && (strings.TrimSpace(val) != val || val == "")) {
		return "", "", false, fmt.Errorf("field %q has white space or no value", field)
	}
	key = strings.ToLower(key)
	if !hasValue {
		switch key {
		case "readonly", "ro", "volume-nocopy", "bind-nonrecursive", "bind-create-src":
		default:
			return "", "", false, fmt.Errorf("field %q must be key=value", field)
		}
	}
	return key, val, hasValue, nil
}

// set reads one key of --mount into m.
func (m *hostMount) set(key, val string, hasValue bool) error {
	switch key {
	case "type":
		m.typ = strings.ToLower(val)
	case "source", "src":
		m.source = val
		m.relative = !path.IsAbs(val) && strings.HasPrefix(val, ".")
	case "target", "dst", "destination":
		m.target = val
	case "readonly", "ro":
		ro, err := mountBool(key, val, hasValue)
		if err != nil {
			return err
		}
		m.readOnly = ro
	case "consistency", "volume-nocopy", "volume-label", "tmpfs-size", "tmpfs-mode":
	case "bind-propagation", "bind-recursive", "bind-create-src", "bind-nonrecursive", "volume-driver", "volume-opt", "volume-subpath", "image-subpath":
		if looser := looserMountKey(key, val); looser != "" {
			m.looser = cmp.Or(m.looser, looser)
		}
	default:
		return fmt.Errorf("unknown option %q", key)
	}
	return nil
}

// mountBool reads readonly's value: bare, 1 or true; 0 or false.
func mountBool(key, val string, hasValue bool) (bool, error) {
	switch {
	case !hasValue || val == "1" || val == "true":
		return true, nil
	case val == "0" || val == "false":
		return false, nil
	}
	return false, fmt.Errorf("%s=%s is not a boolean", key, val)
}

// looserMountKey names what a --mount key loosens beyond a plain private
// bind or volume ("" when this value loosens nothing).
func looserMountKey(key, val string) string {
	switch key {
	case "bind-propagation":
		if p := strings.ToLower(val); p == "private" || p == "rprivate" {
			return ""
		}
		return key + "=" + val
	case "bind-recursive":
		if val == "enabled" || val == "disabled" || val == "readonly" {
			return ""
		}
		return key + "=" + val
	}
	return key
}

// tmpfsOptions are the tmpfs mount options that stay inside the mount.
var tmpfsOptions = map[string]bool{
	"size": true, "mode": true, "uid": true, "gid": true, "nr_inodes": true, "nr_blocks": true,
	"exec": true, "noexec": true, "nosuid": true, "nodev": true, "ro": true, "rw": true,
	"noatime": true, "atime": true, "nodiratime": true, "relatime": true, "strictatime": true,
}

// checkTmpfs reads --tmpfs TARGET[:OPTIONS].
func checkTmpfs(p *ContainerOptionsPolicy, v string) *refusal {
	target, opts, _ := strings.Cut(v, ":")
	m := hostMount{typ: "tmpfs", target: target}
	for o := range strings.SplitSeq(opts, ",") {
		if k, _, _ := strings.Cut(o, "="); o != "" && !tmpfsOptions[k] && m.looser == "" {
			m.looser = "tmpfs option " + o
		}
	}
	return p.checkHostMount(m, v)
}
