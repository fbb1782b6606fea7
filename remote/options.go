package remote

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/spf13/pflag"
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

// ContainerOptionsPolicy is what the operator lets a step's extra docker
// run options do on one worker. The step author writes the options; only
// the operator (cuttle.yaml, or whoever runs cuttle with
// --allow-privileged) widens what they may do.
type ContainerOptionsPolicy struct {
	// AllowPrivileged lifts the allowlist: every docker run option is
	// allowed except those cuttle itself relies on (runFlags' contract).
	AllowPrivileged bool
	// Mounts and Devices are the host paths the operator lets steps use
	// (allowed_mounts, allowed_devices).
	Mounts  []MountGrant
	Devices []DeviceGrant
	// Protected paths may not be mount targets: the work directory and
	// the bundle directory.
	Protected []string
	// Worker names the worker in messages (its name in cuttle.yaml).
	Worker string
}

// OptionsPolicy is what the step's container options may do, with
// protected the paths cuttle mounts itself.
func (st Step) OptionsPolicy(protected ...string) ContainerOptionsPolicy {
	return ContainerOptionsPolicy{AllowPrivileged: st.AllowPrivileged, Mounts: st.AllowedMounts,
		Devices: st.AllowedDevices, Protected: protected, Worker: st.WorkerName}
}

// ValidateOptions checks split options against the policy. They are parsed
// as docker parses them (spf13/pflag with docker run's flags), so every
// spelling (--flag=value, -v/x:/y, -e=X, combined shorthands) reaches the
// same check. Every word must be an option or the value of one. Anything
// not on the allowlist is refused with the option named and the fix.
func ValidateOptions(opts []string, pol ContainerOptionsPolicy) error {
	settings, err := parseRunFlags(opts)
	if err != nil {
		return err
	}
	for _, s := range settings {
		f := runFlags[s.flag]
		var r *refusal
		switch {
		case f.contract != "":
			r = &refusal{why: f.contract, need: needNever}
		case f.beyond != "":
			r = &refusal{why: f.beyond, need: needPrivileged}
		case f.check != nil:
			r = f.check(&pol, s.value)
		}
		if r != nil && (r.need == needNever || !pol.AllowPrivileged) {
			return pol.explain(s, r)
		}
	}
	return nil
}

// setting is one flag as docker's parser read it, in order.
type setting struct {
	flag, value string
}

func (s setting) String() string {
	f := runFlags[s.flag]
	switch {
	case f.bool && s.value == "true":
		return "--" + s.flag
	case f.bool:
		return "--" + s.flag + "=" + s.value
	}
	return "--" + s.flag + " " + s.value
}

// recorder is a pflag.Value that keeps every value given to its flag.
type recorder struct {
	flag string
	into *[]setting
}

func (r recorder) Set(v string) error {
	*r.into = append(*r.into, setting{r.flag, v})
	return nil
}
func (recorder) String() string { return "" }
func (recorder) Type() string   { return "string" }

// parseRunFlags reads opts with docker's own flag parser and docker run's
// flag table: what it returns is what docker would see.
func parseRunFlags(opts []string) ([]setting, error) {
	fs := pflag.NewFlagSet("docker run", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SetInterspersed(false) // docker run stops at the image
	var got []setting
	for name, f := range runFlags {
		pf := fs.VarPF(recorder{name, &got}, name, f.short, "")
		if f.bool {
			pf.NoOptDefVal = "true"
		}
	}
	if err := fs.Parse(opts); err != nil {
		return nil, fmt.Errorf("container options: %w (docker run --help lists the options)", err)
	}
	if fs.ArgsLenAtDash() >= 0 {
		return nil, fmt.Errorf("container option %q is not an option: extra docker run options must start with '-' (the image and command are cuttle's)", "--")
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("container option %q is not an option: extra docker run options must start with '-' (the image and command are cuttle's)", fs.Arg(0))
	}
	return got, nil
}

// need says who may lift a refusal.
type need int

const (
	needNever      need = iota // cuttle relies on it: nobody
	needPrivileged             // the operator, with allow_privileged
	needMount                  // the operator, with allowed_mounts (or allow_privileged)
	needDevice                 // the operator, with allowed_devices (or allow_privileged)
)

// refusal is why one option is not allowed.
type refusal struct {
	why  string
	need need
	// grant is the allowed_mounts or allowed_devices entry that would
	// permit it.
	grant string
}

func (p *ContainerOptionsPolicy) explain(s setting, r *refusal) error {
	if r.need == needNever {
		return fmt.Errorf("container option %s is not allowed: %s", s, r.why)
	}
	worker := "this worker"
	if p.Worker != "" {
		worker = "worker " + p.Worker
	}
	fix := fmt.Sprintf("set allow_privileged: true for %s (or its pool) in cuttle.yaml, or run cuttle run with --allow-privileged", worker)
	switch r.need {
	case needMount:
		fix = fmt.Sprintf("add %q to allowed_mounts of %s (or of its pool, or defaults) in cuttle.yaml, or set allow_privileged: true there, or run cuttle run with --allow-privileged", r.grant, worker)
	case needDevice:
		fix = fmt.Sprintf("add %q to allowed_devices of %s (or of its pool, or defaults) in cuttle.yaml, or set allow_privileged: true there, or run cuttle run with --allow-privileged", r.grant, worker)
	}
	return fmt.Errorf("container option %s is refused: %s. Only the worker's operator can allow it: %s", s, r.why, fix)
}

// beyond is a refusal the operator can lift with allow_privileged.
func beyond(format string, a ...any) *refusal {
	return &refusal{why: fmt.Sprintf(format, a...), need: needPrivileged}
}

// protectedTarget refuses a container path over one cuttle mounts itself.
func (p *ContainerOptionsPolicy) protectedTarget(target string) *refusal {
	t := path.Clean(strings.ReplaceAll(target, `\`, "/"))
	for _, pr := range p.Protected {
		if t == pr || strings.HasPrefix(t, pr+"/") {
			return &refusal{why: fmt.Sprintf("it would mount over %s, which cuttle mounts itself", pr), need: needNever}
		}
	}
	return nil
}
