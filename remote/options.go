package remote

import (
	"fmt"
	"path"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// SplitOptions splits extra `docker run` options the way a shell splits
// words (quotes and backslashes), with mvdan.cc/sh's parser. Nothing is
// expanded: $VAR, $(...), backticks and operators such as ';' are refused,
// so the string can never run anything on either machine.
func SplitOptions(s string) ([]string, error) {
	var words []string
	p := syntax.NewParser(syntax.Variant(syntax.LangPOSIX))
	for w, err := range p.WordsSeq(strings.NewReader(s)) {
		if err != nil {
			return nil, fmt.Errorf("container options %q: %v (quote characters such as ; | & < > ( ))", s, err)
		}
		v, err := literal(w)
		if err != nil {
			return nil, fmt.Errorf("container options %q: %w", s, err)
		}
		words = append(words, v)
	}
	return words, nil
}

// literal is the value of a word made only of literal text and quotes.
func literal(w *syntax.Word) (string, error) {
	var b strings.Builder
	for _, part := range w.Parts {
		switch p := part.(type) {
		case *syntax.Lit:
			b.WriteString(unescape(p.Value, false))
		case *syntax.SglQuoted:
			if p.Dollar {
				return "", fmt.Errorf("$'...' quoting is not supported")
			}
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			for _, in := range p.Parts {
				lit, ok := in.(*syntax.Lit)
				if !ok {
					return "", fmt.Errorf("expansions are not allowed in container options (found %s inside double quotes); use single quotes for a literal $", kind(in))
				}
				b.WriteString(unescape(lit.Value, true))
			}
		default:
			return "", fmt.Errorf("expansions are not allowed in container options (found %s)", kind(part))
		}
	}
	return b.String(), nil
}

func kind(n syntax.Node) string {
	switch n.(type) {
	case *syntax.ParamExp:
		return "a $variable"
	case *syntax.CmdSubst:
		return "a command substitution"
	case *syntax.ArithmExp:
		return "arithmetic"
	case *syntax.ProcSubst:
		return "a process substitution"
	case *syntax.ExtGlob:
		return "an extended glob"
	}
	return fmt.Sprintf("%T", n)
}

// unescape removes shell backslash escapes: all of them outside quotes,
// only before $ ` " \ and newline inside double quotes.
func unescape(s string, dq bool) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		next := s[i+1]
		switch {
		case next == '\n':
			i++
		case !dq || strings.IndexByte("$`\"\\", next) >= 0:
			b.WriteByte(next)
			i++
		default:
			b.WriteByte('\\')
		}
	}
	return b.String()
}

// dockerRunBoolFlags are the `docker run` flags that take no value.
var dockerRunBoolFlags = map[string]bool{
	"d": true, "detach": true, "i": true, "interactive": true, "t": true, "tty": true,
	"init": true, "no-healthcheck": true, "oom-kill-disable": true, "P": true, "publish-all": true,
	"privileged": true, "read-only": true, "rm": true, "sig-proxy": true, "disable-content-trust": true,
	"q": true, "quiet": true, "help": true, "use-api-socket": true,
}

// contractFlags would break how cuttle runs and removes the step.
var contractFlags = map[string]string{
	"rm": "cuttle removes the container itself", "name": "cuttle names the container cuttle-<step id>",
	"entrypoint": "the step runner is the container's process", "w": "the work directory is the working directory",
	"workdir": "the work directory is the working directory", "i": "cuttle uses stdin to hand the runner its variables",
	"interactive": "cuttle uses stdin to hand the runner its variables", "t": "steps have no terminal", "tty": "steps have no terminal",
	"d": "cuttle follows the step to its end", "detach": "cuttle follows the step to its end",
	"pull": "use cuttle's --pull", "a": "cuttle attaches stdout and stderr", "attach": "cuttle attaches stdout and stderr",
	"cidfile": "cuttle tracks the container by name", "help": "not an option for a step",
}

// ContainerOptionsPolicy is what the worker allows.
type ContainerOptionsPolicy struct {
	AllowPrivileged bool
	// Protected paths may not be mount targets: the work directory and
	// the bundle directory.
	Protected []string
}

// ValidateOptions checks split options against the contract. Every word
// must be an option or the value of the option before it.
func ValidateOptions(opts []string, pol ContainerOptionsPolicy) error {
	for i := 0; i < len(opts); i++ {
		o := opts[i]
		if !strings.HasPrefix(o, "-") || o == "-" || o == "--" {
			return fmt.Errorf("container option %q is not an option: extra docker run options must start with '-' (the image and command are cuttle's)", o)
		}
		var name, value string
		hasValue := false
		if long, ok := strings.CutPrefix(o, "--"); ok {
			name, value, hasValue = strings.Cut(long, "=")
		} else {
			// Shorthands may be combined (-it) or carry a value (-eA=b).
			j := 1
			for ; j < len(o); j++ {
				name = o[j : j+1]
				if err := checkFlag(name, "", false, pol); err != nil {
					return err
				}
				if !dockerRunBoolFlags[name] {
					break
				}
			}
			if j >= len(o) {
				continue
			}
			if j+1 < len(o) {
				value, hasValue = strings.TrimPrefix(o[j+1:], "="), true
			}
		}
		if !hasValue && !dockerRunBoolFlags[name] {
			if i+1 >= len(opts) {
				return fmt.Errorf("container option %s needs a value", o)
			}
			i++
			value, hasValue = opts[i], true
		}
		if err := checkFlag(name, value, hasValue, pol); err != nil {
			return err
		}
	}
	return nil
}

func checkFlag(name, value string, hasValue bool, pol ContainerOptionsPolicy) error {
	if why, ok := contractFlags[name]; ok {
		return fmt.Errorf("container option %s is not allowed: %s", flagName(name), why)
	}
	if name == "label" || name == "l" {
		if strings.HasPrefix(value, "io.cuttle.") {
			return fmt.Errorf("container option --label %s: io.cuttle.* labels are cuttle's own", value)
		}
	}
	var priv string
	switch name {
	case "privileged", "cap-add", "device", "device-cgroup-rule":
		priv = flagName(name)
	case "pid", "ipc", "uts", "userns", "cgroupns":
		if value == "host" {
			priv = "--" + name + " host"
		}
	case "security-opt":
		if strings.Contains(value, "unconfined") {
			priv = "--security-opt " + value
		}
	case "v", "volume", "mount":
		src, dst := mountPaths(name, value)
		for _, p := range pol.Protected {
			if dst != "" && (dst == p || strings.HasPrefix(dst, p+"/")) {
				return fmt.Errorf("container option %s %s would replace %s, which cuttle mounts itself", flagName(name), value, p)
			}
		}
		if sensitiveHostPath(src) {
			priv = "a mount of " + src
		}
	}
	if priv != "" && !pol.AllowPrivileged {
		return fmt.Errorf("container option %s is refused: it gives the step control of the worker; set allow_privileged: true for this worker to permit it", priv)
	}
	return nil
}

func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// mountPaths reads the host source and container target of -v/--mount.
func mountPaths(flag, value string) (src, dst string) {
	if flag == "mount" {
		for _, kv := range strings.Split(value, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch strings.TrimSpace(k) {
			case "source", "src":
				src = v
			case "target", "dst", "destination":
				dst = v
			}
		}
	} else {
		parts := strings.Split(value, ":")
		switch len(parts) {
		case 1:
			dst = parts[0]
		default:
			src, dst = parts[0], parts[1]
		}
	}
	if dst != "" {
		dst = path.Clean(dst)
	}
	if src != "" && strings.HasPrefix(src, "/") {
		src = path.Clean(src)
	}
	return src, dst
}

func sensitiveHostPath(src string) bool {
	switch src {
	case "/", "/etc", "/root", "/boot", "/proc", "/sys", "/dev", "/var/run/docker.sock", "/run/docker.sock", "/var/run", "/run", "/var/lib/docker", "/home":
		return true
	}
	return false
}
