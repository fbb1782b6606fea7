package importer

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Options steer a conversion.
type Options struct {
	// PoolMap maps Octopus worker pools (or target roles, or "default"
	// for the default pool) to cuttle pools; FeedMap maps Octopus feeds
	// to cuttle feeds. An unmapped name is kept, with a warning.
	PoolMap, FeedMap map[string]string
	// DefaultImage runs steps that had no execution container.
	DefaultImage string
}

// The statuses of a step in the report.
const (
	StatusConverted    = "converted"
	StatusWarnings     = "converted with warnings"
	StatusNotConverted = "not converted"
)

// Convert compiles p into a runbook, with vars (may be nil) as its
// variables, and says what it did for each action. It returns a nil
// runbook when no step converted.
func Convert(p *Process, vars *Variables, opt Options) (*Runbook, ProcessReport) {
	c := &converter{opt: opt, vars: vars, names: map[string]bool{}}
	rep := ProcessReport{File: p.File, Name: p.Name}
	rb := &Runbook{Name: p.Name, Environments: p.Environments}
	for _, s := range p.Steps {
		for i, a := range s.Actions {
			st, sr := c.action(s, i, a)
			rep.Steps = append(rep.Steps, sr)
			if st != nil {
				rb.Steps = append(rb.Steps, *st)
			}
		}
	}
	c.variables(rb, &rep)
	if len(rb.Steps) == 0 {
		return nil, rep
	}
	rep.Needs = Unsupported(rb)
	return rb, rep
}

type converter struct {
	opt   Options
	vars  *Variables
	names map[string]bool
}

// notConverted says why an action type has no cuttle equivalent.
func notConverted(actionType string) string {
	switch {
	case actionType == "Octopus.Manual":
		return "manual intervention: cuttle has no approvals; gate the run outside cuttle"
	case actionType == "process template":
		return "Platform Hub process template: its steps live in Octopus; export them and import those"
	case actionType == "Octopus.KubernetesRunScript", actionType == "Octopus.AwsRunScript", actionType == "Octopus.AzurePowerShell",
		actionType == "Octopus.GoogleCloudScripting":
		return "script with a platform's login: rewrite it as an Octopus.Script step that logs in itself (credentials as sensitive variables)"
	case actionType == "":
		return "no action type"
	default:
		return "platform step with no cuttle equivalent: rewrite it as a script step"
	}
}

var syntaxes = map[string]string{"bash": "bash", "sh": "sh", "powershell": "pwsh"}

func (c *converter) action(s Step, i int, a Action) (*RunbookStep, StepReport) {
	sr := StepReport{Name: a.Name, ActionType: a.ActionType, Status: StatusNotConverted}
	props := a.Properties
	if sr.ActionType == "" && props["Octopus.Action.Template.Id"] != "" {
		sr.ActionType = "step template"
	}
	switch {
	case a.Disabled:
		sr.Reason = "disabled in Octopus"
		return nil, sr
	case props["Octopus.Action.Template.Id"] != "":
		sr.Reason = fmt.Sprintf("step template %s: its script lives in Octopus's library; paste its body into an Octopus.Script step", props["Octopus.Action.Template.Id"])
		return nil, sr
	case a.ActionType != "Octopus.Script":
		sr.Reason = notConverted(a.ActionType)
		return nil, sr
	}
	warn := func(format string, args ...any) { sr.Warnings = append(sr.Warnings, fmt.Sprintf(format, args...)) }
	syntaxName := props["Octopus.Action.Script.Syntax"]
	if syntaxName == "" {
		syntaxName = "PowerShell" // Octopus's default
	}
	syntax, ok := syntaxes[strings.ToLower(syntaxName)]
	if !ok {
		sr.Reason = fmt.Sprintf("%s scripts: cuttle runs bash, sh and pwsh", syntaxName)
		return nil, sr
	}
	st := &RunbookStep{Name: c.uniqueName(a.Name), Script: RunbookScript{Syntax: syntax}}
	if syntax == "pwsh" {
		warn("PowerShell: the image must provide pwsh, and Octopus's PowerShell helpers (Set-OctopusVariable...) are not provided")
	}
	switch src := props["Octopus.Action.Script.ScriptSource"]; src {
	case "", "Inline":
		st.Script.Inline = props["Octopus.Action.Script.ScriptBody"]
	case "Package":
		st.Script.File = props["Octopus.Action.Script.ScriptFileName"]
		st.Script.Package = primaryPackageName(a)
	default:
		sr.Reason = fmt.Sprintf("script source %s: cuttle takes scripts inline or from a package", src)
		return nil, sr
	}
	if i == 0 {
		c.condition(s, st, warn)
		if s.StartTrigger == "StartWithPrevious" {
			st.ParallelWith = "previous"
		}
	}
	st.Pool = c.pool(s, a, warn)
	c.container(a, st, warn)
	c.packages(a, st, warn)
	c.properties(s, a, st, warn)
	if len(a.Environments) > 0 || len(a.ExcludedEnvironments) > 0 {
		st.Environments, st.ExcludedEnvironments = a.Environments, a.ExcludedEnvironments
	}
	if len(a.Channels) > 0 {
		warn("channels %s: cuttle has no channels; the step runs on every run", strings.Join(a.Channels, ", "))
	}
	if len(a.TenantTags) > 0 {
		warn("tenant tags %s: cuttle has no tenants; the step runs on every run", strings.Join(a.TenantTags, ", "))
	}
	sr.Status = StatusConverted
	if len(sr.Warnings) > 0 {
		sr.Status = StatusWarnings
	}
	if st.Name != a.Name {
		warn("renamed %s: step names must be unique", st.Name)
		sr.Status = StatusWarnings
	}
	return st, sr
}

func (c *converter) uniqueName(name string) string {
	if name == "" {
		name = "step"
	}
	n := name
	for i := 2; c.names[strings.ToLower(n)]; i++ {
		n = fmt.Sprintf("%s-%d", name, i)
	}
	c.names[strings.ToLower(n)] = true
	return n
}

// condition maps Octopus's run condition. A Variable condition has no
// runbook field: the step runs always and its script first evaluates the
// expression (an Octopus template, which cuttle evaluates in inline
// scripts) and ends with success when it is false.
func (c *converter) condition(s Step, st *RunbookStep, warn func(string, ...any)) {
	switch strings.ToLower(s.Condition) {
	case "", "success":
	case "failure":
		st.Condition = "failure"
	case "always":
		st.Condition = "always"
	case "variable":
		st.Condition = "always"
		if st.Script.Inline == "" {
			warn("variable condition %q not converted: the script comes from a package; wrap the step's script yourself", s.ConditionExpression)
			return
		}
		st.Script.Inline = conditionGuard(s.ConditionExpression, st.Script.Syntax) + st.Script.Inline
		warn("variable condition: evaluated at the top of the script, which ends with success when it is false (the step shows as run, not skipped)")
	default:
		warn("condition %q not converted", s.Condition)
	}
}

// conditionGuard is the script's first lines for a Variable condition.
// The expression goes through a quoted heredoc, so its value is never
// read as shell. Octopus runs the step unless the value is empty, False,
// 0, No or Off.
func conditionGuard(expr, syntax string) string {
	if syntax == "pwsh" {
		return "$cuttleCondition = @'\n" + expr + "\n'@\n" +
			"if (@('', 'false', '0', 'no', 'off') -contains $cuttleCondition.Trim().ToLower()) { Write-Host 'Octopus condition is false: step skipped'; exit 0 }\n"
	}
	return "cuttle_condition=$(cat <<'CUTTLE_CONDITION'\n" + expr + "\nCUTTLE_CONDITION\n)\n" +
		"case \"$(printf %s \"$cuttle_condition\" | tr '[:upper:]' '[:lower:]' | tr -d '[:space:]')\" in\n" +
		"  ''|false|0|no|off) echo 'Octopus condition is false: step skipped'; exit 0 ;;\nesac\n"
}

func (c *converter) pool(s Step, a Action, warn func(string, ...any)) string {
	key, what := "default", "the default worker pool"
	switch {
	case a.WorkerPool != "":
		key, what = a.WorkerPool, "worker pool "+a.WorkerPool
	case a.WorkerPoolVariable != "":
		key, what = a.WorkerPoolVariable, "the worker pool in variable "+a.WorkerPoolVariable
		if _, ok := c.opt.PoolMap[key]; !ok {
			if v, ok := c.unscoped(a.WorkerPoolVariable); ok {
				key, what = v, "worker pool "+v+" (variable "+a.WorkerPoolVariable+")"
			}
		}
	case s.Properties["Octopus.Action.TargetRoles"] != "" && !strings.EqualFold(a.Properties["Octopus.Action.RunOnServer"], "true"):
		key = s.Properties["Octopus.Action.TargetRoles"]
		what = "deployment targets with role " + key
		warn("ran on %s: runs on one worker of the pool instead (run_on: all for every worker)", what)
	}
	if p, ok := c.opt.PoolMap[key]; ok {
		return p
	}
	warn("pool %s: %s is not mapped; pass --worker-pool-map %s=POOL", key, what, key)
	return key
}

// unscoped is the variable's one unscoped, non-sensitive value.
func (c *converter) unscoped(name string) (string, bool) {
	if c.vars == nil {
		return "", false
	}
	for _, v := range c.vars.List {
		if v.Name == name && !v.Sensitive && len(v.Environments) == 0 && v.OtherScope == "" {
			return v.Value, true
		}
	}
	return "", false
}

func (c *converter) feed(feed string, warn func(string, ...any)) string {
	if feed == "" {
		return ""
	}
	if f, ok := c.opt.FeedMap[feed]; ok {
		return f
	}
	warn("feed %s is not mapped; define it in cuttle.yaml or pass --feed-map %s=FEED", feed, feed)
	return feed
}

func (c *converter) container(a Action, st *RunbookStep, warn func(string, ...any)) {
	if a.Container.Image == "" {
		st.Container.Image = c.opt.DefaultImage
		warn("no execution container: Octopus ran the script on the worker itself; it runs in %s, which must have the tools it uses", c.opt.DefaultImage)
		return
	}
	st.Container.Image = a.Container.Image
	st.Container.Feed = c.feed(a.Container.Feed, warn)
	if strings.Contains(a.Container.Image, "#{") {
		warn("image %s is an Octopus expression: give the image itself", a.Container.Image)
	}
}

// primaryPackageName is the name the runbook gives the action's primary
// (unnamed) package: its package ID.
func primaryPackageName(a Action) string {
	for _, p := range a.Packages {
		if p.Name == "" {
			return packageName(p.PackageID)
		}
	}
	return packageName(a.Properties["Octopus.Action.Package.PackageId"])
}

// packageName makes a package ID a reference name cuttle accepts (the
// directory the package is extracted to): a GitHub feed's owner/repo
// becomes owner-repo.
func packageName(id string) string {
	b := []byte(id)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	return string(b)
}

func (c *converter) packages(a Action, st *RunbookStep, warn func(string, ...any)) {
	pkgs := a.Packages
	if len(pkgs) == 0 && a.Properties["Octopus.Action.Package.PackageId"] != "" {
		pkgs = []Package{{PackageID: a.Properties["Octopus.Action.Package.PackageId"], Feed: a.Properties["Octopus.Action.Package.FeedId"]}}
	}
	for _, p := range pkgs {
		name := p.Name
		if name == "" {
			name = packageName(p.PackageID)
		}
		if p.AcquisitionLocation == "NotAcquired" || p.Properties["Purpose"] == "DockerImageReference" {
			warn("package %s is a Docker image reference, not acquired: not converted", name)
			continue
		}
		rp := RunbookPackage{Name: name, ID: p.PackageID, Feed: c.feed(p.Feed, warn)}
		if strings.EqualFold(p.Properties["Extract"], "False") {
			f := false
			rp.Extract = &f
		}
		if p.AcquisitionLocation == "ExecutionTarget" {
			// Downloaded by the worker, as by Octopus's target.
			rp.Acquisition = "worker"
			warn("package %s: Octopus chose its version at release time; set its source: (https://...#sha256= or oci://, which the worker downloads itself; for a local archive, drop acquisition: worker)", name)
		} else {
			warn("package %s: Octopus chose its version at release time; set its source: (a local archive, https://...#sha256=, or oci://)", name)
		}
		st.Packages = append(st.Packages, rp)
	}
}

// handled are the properties the conversion reads or that mean nothing
// on a cuttle worker.
var handled = map[string]bool{
	"Octopus.Action.Script.ScriptBody": true, "Octopus.Action.Script.Syntax": true,
	"Octopus.Action.Script.ScriptSource": true, "Octopus.Action.Script.ScriptFileName": true,
	"Octopus.Action.Script.ScriptParameters": true, "Octopus.Action.FailScriptOnErrorOutput": true,
	"Octopus.Action.AutoRetry.MaximumCount": true, "Octopus.Action.AutoRetry.MinimumBackoff": true,
	"Octopus.Action.AutoRetry.BackoffType": true,
	"Octopus.Action.RunOnServer":           true, "OctopusUseBundledTooling": true,
	"Octopus.Action.ExecutionTimeout.Minutes": true, "Octopus.Action.Package.PackageId": true,
	"Octopus.Action.Package.FeedId": true, "Octopus.Action.Package.DownloadOnTentacle": true,
	"Octopus.Action.EnabledFeatures": true, "Octopus.Action.SubstituteInFiles.TargetFiles": true,
	"Octopus.Action.SubstituteInFiles.Enabled": true,
}

func (c *converter) properties(s Step, a Action, st *RunbookStep, warn func(string, ...any)) {
	p := a.Properties
	st.Parameters = p["Octopus.Action.Script.ScriptParameters"]
	if v := p["Octopus.Action.FailScriptOnErrorOutput"]; v != "" {
		st.Variables = map[string]string{"Octopus.Action.FailScriptOnErrorOutput": v}
	}
	if v := p["Octopus.Action.AutoRetry.MaximumCount"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			warn("AutoRetry.MaximumCount %q is not a count: not converted", v)
		} else {
			st.Retries = n
		}
	}
	if v := p["Octopus.Action.AutoRetry.MinimumBackoff"]; v != "" && st.Retries > 0 {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			st.RetryDelay = strconv.Itoa(n) + "s"
		}
	}
	if v := p["Octopus.Action.ExecutionTimeout.Minutes"]; v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			st.Timeout = strconv.Itoa(n) + "m"
		}
	}
	c.features(p, st, warn)
	var unknown []string
	for k := range p {
		if !handled[k] && !strings.HasPrefix(k, "Octopus.Action.Template.") {
			unknown = append(unknown, k)
		}
	}
	for k := range s.Properties {
		if k != "Octopus.Action.TargetRoles" && k != "Octopus.Step.ConditionVariableExpression" {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	for _, k := range unknown {
		warn("property %s not converted", k)
	}
}

// substituteFeature is Octopus's "Substitute Variables in Templates".
const substituteFeature = "Octopus.Features.SubstituteInFiles"

// features converts the step's enabled features: substitution in files
// becomes substitute_in_files (its target files, one per line, with /
// for \, under the script package's directory when the script comes from
// one); the others are warnings.
func (c *converter) features(p map[string]string, st *RunbookStep, warn func(string, ...any)) {
	// Octopus extracts a script's own package into the working directory,
	// cuttle into $PWD/NAME: its target files are relative to it.
	prefix := ""
	if st.Script.Package != "" {
		prefix = st.Script.Package + "/"
	}
	var other []string
	for _, f := range strings.Split(p["Octopus.Action.EnabledFeatures"], ",") {
		switch f = strings.TrimSpace(f); f {
		case "":
		case substituteFeature:
			for _, line := range strings.Split(p["Octopus.Action.SubstituteInFiles.TargetFiles"], "\n") {
				if line = strings.TrimSpace(strings.ReplaceAll(line, `\`, "/")); line != "" {
					st.SubstituteInFiles = append(st.SubstituteInFiles, prefix+strings.TrimPrefix(line, "./"))
				}
			}
			if len(st.SubstituteInFiles) == 0 {
				warn("%s is enabled with no target files: nothing to substitute", substituteFeature)
			}
		default:
			other = append(other, f)
		}
	}
	if len(other) > 0 {
		warn("features %s not converted", strings.Join(other, ","))
	}
}

// variables makes project variables the runbook's: unscoped values as
// variables, environment-scoped ones per environment, sensitive ones as
// sensitive_variables read from an environment variable.
func (c *converter) variables(rb *Runbook, rep *ProcessReport) {
	if c.vars == nil {
		return
	}
	for _, v := range c.vars.List {
		switch {
		case v.Sensitive:
			if rb.SensitiveVariables == nil {
				rb.SensitiveVariables = map[string]string{}
			}
			if _, ok := rb.SensitiveVariables[v.Name]; !ok {
				env := EnvName(v.Name)
				rb.SensitiveVariables[v.Name] = env
				rep.Sensitive = append(rep.Sensitive, SensitiveReport{Name: v.Name, Env: env})
			}
		case v.OtherScope != "":
			rep.Skipped = append(rep.Skipped, fmt.Sprintf("%s (scoped to %s)", v.Name, v.OtherScope))
		case len(v.Environments) > 0:
			if rb.EnvironmentVariables == nil {
				rb.EnvironmentVariables = map[string]map[string]string{}
			}
			for _, e := range v.Environments {
				if rb.EnvironmentVariables[e] == nil {
					rb.EnvironmentVariables[e] = map[string]string{}
				}
				rb.EnvironmentVariables[e][v.Name] = v.Value
			}
		default:
			if rb.Variables == nil {
				rb.Variables = map[string]string{}
			}
			rb.Variables[v.Name] = v.Value
			if v.Prompted {
				rep.Prompted = append(rep.Prompted, v.Name)
			}
		}
	}
	sort.Slice(rep.Sensitive, func(i, j int) bool { return rep.Sensitive[i].Name < rep.Sensitive[j].Name })
}

// EnvName is the environment variable a sensitive variable is read from:
// its name in upper case, other characters as _ (Azure.Password is
// AZURE_PASSWORD).
func EnvName(name string) string {
	var sb strings.Builder
	for _, r := range name {
		switch {
		case 'a' <= r && r <= 'z':
			sb.WriteRune(r - 'a' + 'A')
		case 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
			sb.WriteRune(r)
		default:
			sb.WriteByte('_')
		}
	}
	s := sb.String()
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		s = "_" + s
	}
	return s
}
